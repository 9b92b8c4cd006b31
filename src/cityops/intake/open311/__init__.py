"""Open311 GeoReport v2 server (with mySociety's servicerequestupdates) over the case workflow."""

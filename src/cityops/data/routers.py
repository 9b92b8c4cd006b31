"""Every router of the data feature, for the application to take in one line."""

from __future__ import annotations

from cityops.data.ckan_views import router as ckan_router
from cityops.data.ckan_views import unversioned
from cityops.data.exchange_views import reports_router
from cityops.data.exchange_views import router as exchange_router
from cityops.data.grant_views import router as grant_router
from cityops.data.views import dcat_router
from cityops.data.views import router as catalogue_router

routers = (catalogue_router, grant_router, reports_router, dcat_router, ckan_router, unversioned, exchange_router)

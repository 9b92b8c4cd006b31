-- Datastreams belong to the sensor user (gateway) that writes them: a gateway writes only its
-- own over MQTT, and a sensor token only its own or unowned ones over HTTP. NULL: unowned.
ALTER TABLE sta_datastream ADD COLUMN owner TEXT;

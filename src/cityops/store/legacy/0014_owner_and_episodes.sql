-- Datastreams belong to the sensor user (gateway) that writes them: a gateway writes only its
-- own over MQTT, and a sensor token only its own or unowned ones over HTTP. NULL: unowned.
ALTER TABLE sta_datastream ADD COLUMN owner TEXT;

-- A congestion case is one episode of one detector: the last reading time of that episode, so
-- that a later detection joins the case while the episode goes on and opens a new one after.
ALTER TABLE detection_case ADD COLUMN episode_end INTEGER;

-- SensorThings Observation.resultTime (OGC 18-088 §8.2.7, issue 23): stored as the client gave
-- it, NULL when it gave none. Readings are not rows (0009: one segment row holds a batch's
-- readings of one datastream), so a result_time column on observation_segment could hold one
-- time per batch, not one per reading. The times live beside the segments instead, one row per
-- reading whose client gave a resultTime, under the reading's key (datastream, t in ms):
-- readings without one (gateways, batches, MQTT: nearly all) cost no row and no write, and a
-- read finds a reading's resultTime with one seek of this primary key.
CREATE TABLE observation_result_time (
    datastream INTEGER NOT NULL,
    t INTEGER NOT NULL,          -- the reading's phenomenonTime, ms since the epoch (its key)
    result_time INTEGER,         -- microseconds since the epoch (store/codec.py to_us)
    PRIMARY KEY (datastream, t)
);

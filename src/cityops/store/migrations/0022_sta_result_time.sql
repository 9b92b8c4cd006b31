-- An Observation's own SensorThings members (OGC 18-088 §8.2.7, issue 23): its resultTime, as
-- the client gave it (NULL when it gave none), and its FeatureOfInterest where that is not its
-- Datastream's (sta_datastream.feature_id: the one made from the Thing's Location, which every
-- other reading of the Datastream has). Readings are not rows (0009: one segment row holds a
-- batch's readings of one datastream), so a column on observation_segment could hold one value
-- per batch, not one per reading. They live beside the segments instead, one row per reading
-- that has either, under the reading's key (datastream, t in ms): readings without them
-- (gateways, batches, MQTT: nearly all) cost no row and no write, and a read finds a reading's
-- with one seek of the primary key.
CREATE TABLE sta_observation (
    datastream INTEGER NOT NULL,
    t INTEGER NOT NULL,          -- the reading's phenomenonTime, ms since the epoch (its key)
    result_time INTEGER,         -- microseconds since the epoch (store/codec.py to_us); NULL: none given
    feature_id INTEGER REFERENCES sta_feature(id),  -- NULL: its Datastream's
    PRIMARY KEY (datastream, t)
);
-- A FeatureOfInterest's Observations (FeaturesOfInterest(id)/Observations, its DELETE).
CREATE INDEX sta_observation_feature ON sta_observation(feature_id);

-- SensorThings HistoricalLocations (OGC 18-088 §8.2.3, issue 23): when a Thing's Location
-- changes, a HistoricalLocation records the time and the Location(s) it was then at.
CREATE TABLE sta_historical_location (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thing_id INTEGER NOT NULL REFERENCES sta_thing(id),
    time INTEGER NOT NULL  -- ms since the epoch
);
CREATE INDEX sta_historical_location_thing ON sta_historical_location(thing_id, time);

CREATE TABLE sta_historical_location_location (
    historical_location_id INTEGER NOT NULL REFERENCES sta_historical_location(id),
    location_id INTEGER NOT NULL REFERENCES sta_location(id),
    PRIMARY KEY (historical_location_id, location_id)
) WITHOUT ROWID;
CREATE INDEX sta_historical_location_location_location ON sta_historical_location_location(location_id);

-- The Things located before this migration: one HistoricalLocation each, at its time.
INSERT INTO sta_historical_location (thing_id, time)
    SELECT DISTINCT thing_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM sta_thing_location ORDER BY thing_id;
INSERT INTO sta_historical_location_location (historical_location_id, location_id)
    SELECT h.id, tl.location_id FROM sta_historical_location h JOIN sta_thing_location tl ON tl.thing_id = h.thing_id;

-- SensorThings ids are never reused (issue 18, item 13): a client that deleted Things(7) and
-- still holds its link must not reach a new, unrelated Thing through it. INTEGER PRIMARY KEY
-- alone takes max(id) + 1, so deleting the newest entity handed its id to the next one;
-- AUTOINCREMENT keeps the highest id ever used (sqlite_sequence). SQLite cannot add it to a
-- table in place: each table is copied aside, dropped (the children first, so that no foreign
-- key is ever left dangling), made again with AUTOINCREMENT and filled from its copy.
CREATE TEMP TABLE m_thing AS SELECT * FROM sta_thing;
CREATE TEMP TABLE m_location AS SELECT * FROM sta_location;
CREATE TEMP TABLE m_thing_location AS SELECT * FROM sta_thing_location;
CREATE TEMP TABLE m_sensor AS SELECT * FROM sta_sensor;
CREATE TEMP TABLE m_observed_property AS SELECT * FROM sta_observed_property;
CREATE TEMP TABLE m_feature AS SELECT * FROM sta_feature;
CREATE TEMP TABLE m_datastream AS SELECT * FROM sta_datastream;

DROP TABLE sta_thing_location;
DROP TABLE sta_datastream;
DROP TABLE sta_thing;
DROP TABLE sta_location;
DROP TABLE sta_sensor;
DROP TABLE sta_observed_property;
DROP TABLE sta_feature;

CREATE TABLE sta_thing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_location (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    encoding_type TEXT NOT NULL DEFAULT 'application/geo+json',
    lon REAL,
    lat REAL,
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_thing_location (
    thing_id INTEGER NOT NULL REFERENCES sta_thing(id),
    location_id INTEGER NOT NULL REFERENCES sta_location(id),
    PRIMARY KEY (thing_id, location_id)
) WITHOUT ROWID;

CREATE TABLE sta_sensor (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    encoding_type TEXT NOT NULL DEFAULT 'text/html',
    metadata TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_observed_property (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    definition TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_feature (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    encoding_type TEXT NOT NULL DEFAULT 'application/geo+json',
    lon REAL,
    lat REAL,
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_datastream (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    thing_id INTEGER NOT NULL REFERENCES sta_thing(id),
    sensor_id INTEGER NOT NULL REFERENCES sta_sensor(id),
    observed_property_id INTEGER NOT NULL REFERENCES sta_observed_property(id),
    feature_id INTEGER REFERENCES sta_feature(id),
    unit TEXT NOT NULL DEFAULT '{}',
    observation_type TEXT NOT NULL
        DEFAULT 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement',
    kind TEXT NOT NULL DEFAULT 'other',
    point TEXT,
    grid TEXT,
    district TEXT,
    lon REAL,
    lat REAL,
    yellow REAL,
    red REAL,
    properties TEXT NOT NULL DEFAULT '{}',
    owner TEXT  -- 0014: the sensor user (gateway) that owns it; NULL: unowned
);
CREATE INDEX sta_datastream_point ON sta_datastream(point);
-- The navigations $expand follows, one query over many parents (issue 24).
CREATE INDEX sta_datastream_thing ON sta_datastream(thing_id);
CREATE INDEX sta_thing_location_location ON sta_thing_location(location_id);

INSERT INTO sta_thing SELECT * FROM m_thing;
INSERT INTO sta_location SELECT * FROM m_location;
INSERT INTO sta_thing_location SELECT * FROM m_thing_location;
INSERT INTO sta_sensor SELECT * FROM m_sensor;
INSERT INTO sta_observed_property SELECT * FROM m_observed_property;
INSERT INTO sta_feature SELECT * FROM m_feature;
INSERT INTO sta_datastream SELECT * FROM m_datastream;

DROP TABLE m_thing;
DROP TABLE m_location;
DROP TABLE m_thing_location;
DROP TABLE m_sensor;
DROP TABLE m_observed_property;
DROP TABLE m_feature;
DROP TABLE m_datastream;

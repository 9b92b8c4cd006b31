-- Sensing (观测): SensorThings entities, the observation time series, detection ↔ case links.
-- Entity tables follow OGC SensorThings API 1.1; `properties` columns hold JSON objects.
CREATE TABLE sta_thing (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_location (
    id INTEGER PRIMARY KEY,
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
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    encoding_type TEXT NOT NULL DEFAULT 'text/html',
    metadata TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_observed_property (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    definition TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE sta_feature (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    encoding_type TEXT NOT NULL DEFAULT 'application/geo+json',
    lon REAL,
    lat REAL,
    properties TEXT NOT NULL DEFAULT '{}'
);

-- kind: water_depth (cm), speed (km/h), rain (mm per interval), other. point: the waterlogging
-- point or road segment it watches; grid/district from the city pack; yellow/red thresholds.
CREATE TABLE sta_datastream (
    id INTEGER PRIMARY KEY,
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
    properties TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX sta_datastream_point ON sta_datastream(point);

-- One row per reading. t: phenomenonTime in milliseconds since the Unix epoch (UTC).
-- (datastream, t) is the key: the first reading stored for it wins; later ones are duplicates.
CREATE TABLE observation (
    datastream INTEGER NOT NULL,
    t INTEGER NOT NULL,
    result REAL NOT NULL,
    PRIMARY KEY (datastream, t)
) WITHOUT ROWID;

-- Counters (accepted, duplicates, rejected:<reason>) kept in the same transaction as the rows.
CREATE TABLE sensing_counter (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- A detection opens a case or joins the open one for the same key (point, segment, gauge).
CREATE TABLE detection_case (
    key TEXT PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    detections INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE INDEX detection_case_case ON detection_case(case_id);

-- Every detection, joined to a case or not (recurrent congestion, say).
CREATE TABLE detection_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    level TEXT NOT NULL,
    value REAL,
    datastream INTEGER,
    case_id INTEGER,
    detail TEXT NOT NULL DEFAULT '{}'
);

-- Observations as columnar segments (issue #8, ingest speed): one row per datastream per
-- ingest batch instead of one row per reading. A segment holds its readings as a JSON array
-- of [t, result] pairs sorted by t (t in ms since the Unix epoch, UTC); t0/t1 are its first
-- and last time. A (datastream, t) is stored at most once across all segments: the writer
-- drops readings whose key is already stored (the first write wins), so segments of one
-- datastream never share a time. A rowid table (not WITHOUT ROWID): a segment of a few
-- kilobytes fits in its leaf page instead of spilling into overflow pages.
CREATE TABLE observation_segment (
    id INTEGER PRIMARY KEY,
    datastream INTEGER NOT NULL,
    t0 INTEGER NOT NULL,
    t1 INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data TEXT NOT NULL
);
-- Which segments reach into a time range (the duplicate check, last_seen): by their end.
CREATE INDEX observation_segment_end ON observation_segment(datastream, t1);

-- Existing readings move over as one segment per datastream and week, exactly: results are
-- written with 17 significant digits (json_array would round them to 15).
INSERT INTO observation_segment (datastream, t0, t1, n, data)
SELECT datastream, min(t), max(t), count(*),
       '[' || group_concat('[' || t || ',' || printf('%!.17g', result) || ']', ',') || ']'
FROM (SELECT datastream, t, result FROM observation ORDER BY datastream, t)
GROUP BY datastream, t / 604800000;

DROP TABLE observation;

-- The reading-per-row shape SQL readers (SensorThings queries, tests, reports) keep using.
CREATE VIEW observation (datastream, t, result) AS
SELECT s.datastream, CAST(j.value ->> 0 AS INTEGER), CAST(j.value ->> 1 AS REAL)
FROM observation_segment AS s, json_each(s.data) AS j;

-- Each traffic detector's speed profile, learned from its own history (detect/congestion.py:
-- free-flow speed, typical speed per weekday/weekend and 5-minute slot), kept so that every
-- ingest batch of speeds runs the congestion detector against it. Saved as one set.
CREATE TABLE speed_profile (
    datastream INTEGER PRIMARY KEY,
    segment TEXT NOT NULL,
    free_flow REAL NOT NULL,
    typical TEXT NOT NULL,
    slot_ms INTEGER NOT NULL,
    utc_offset_ms INTEGER NOT NULL
);

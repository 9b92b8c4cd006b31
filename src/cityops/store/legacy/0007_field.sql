-- Field work: photos on cases, inspectors' GPS tracks, drone detections.
-- Photos are stored content-addressed next to the database (see cityops/field/blobs.py);
-- a row points at the cleaned image (no EXIF) and its thumbnail by SHA-256.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,                 -- random, unguessable
    case_id INTEGER NOT NULL REFERENCES cases(id),
    stage TEXT NOT NULL,                 -- before | after | verify | evidence
    sha256 TEXT NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    taken_at INTEGER,                    -- µs since epoch, from EXIF, before stripping
    photo_lon REAL,
    photo_lat REAL,
    distance_m REAL,
    flags TEXT NOT NULL DEFAULT '[]',    -- JSON: [{code, message, message_zh}]
    uploaded_by TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL
);
CREATE INDEX attachments_case ON attachments(case_id, stage);
CREATE INDEX attachments_sha ON attachments(sha256);
CREATE INDEX attachments_thumb ON attachments(thumb_sha256);

-- Inspectors' GPS tracks (巡查轨迹): points as JSON [[lon, lat, t_us], ...].
CREATE TABLE patrol_tracks (
    id INTEGER PRIMARY KEY,
    inspector TEXT NOT NULL,
    patrol_grid TEXT NOT NULL,
    day TEXT NOT NULL,                   -- city-local date, YYYY-MM-DD
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    length_m REAL NOT NULL,
    points TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    client_key TEXT UNIQUE               -- the phone's idempotency key
);
CREATE INDEX patrol_tracks_day ON patrol_tracks(day, patrol_grid);

-- Drone detections taken in, with the case each opened or joined.
CREATE TABLE drone_detections (
    key TEXT PRIMARY KEY,                -- flight:frame:track identity
    flight TEXT NOT NULL,
    label TEXT NOT NULL,
    matter_code TEXT NOT NULL,
    confidence REAL NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    seen_at INTEGER NOT NULL,
    case_id INTEGER REFERENCES cases(id)
) WITHOUT ROWID;

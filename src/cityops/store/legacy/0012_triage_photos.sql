-- The photo (Open311 `media`) of a catch-all request the classifier was unsure of: cleaned and
-- stored like a case photo, held here with its triage item (one photo per request) until a
-- person's pick makes the case; then it moves to `attachments` with the same id, so the
-- request's media_url keeps working. While the item is open this row keeps the files from
-- orphan cleanup (cityops.field.attachments). Columns as in `attachments`, less case_id.
CREATE TABLE intel_triage_photos (
    triage_id INTEGER PRIMARY KEY REFERENCES intel_triage(id),
    id TEXT NOT NULL UNIQUE,             -- the attachment id it will keep
    stage TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    taken_at INTEGER,
    photo_lon REAL,
    photo_lat REAL,
    distance_m REAL,
    flags TEXT NOT NULL DEFAULT '[]',
    uploaded_by TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    duration_s REAL
);
CREATE INDEX intel_triage_photos_sha ON intel_triage_photos(sha256);
CREATE INDEX intel_triage_photos_thumb ON intel_triage_photos(thumb_sha256);

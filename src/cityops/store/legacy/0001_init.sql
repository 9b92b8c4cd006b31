-- cityops schema, release 1. Times are INTEGER microseconds since the Unix epoch, UTC.
CREATE TABLE cases (
    id INTEGER PRIMARY KEY,  -- taken as max(id) + 1 inside the write transaction; never reused: cases are never deleted
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    matter_code TEXT NOT NULL,
    description TEXT NOT NULL,
    lon REAL,  -- NULL only for imported records that came without a location
    lat REAL,
    district TEXT NOT NULL,
    grid TEXT NOT NULL,
    area_class TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    reporter TEXT NOT NULL DEFAULT '',
    department TEXT,
    registered_at INTEGER,
    dispatched_at INTEGER,
    accepted_at INTEGER,
    due_at INTEGER,
    disposed_at INTEGER,
    overdue_disposed INTEGER,
    closed_at INTEGER,
    rework_count INTEGER NOT NULL DEFAULT 0,
    return_count INTEGER NOT NULL DEFAULT 0,
    extension_count INTEGER NOT NULL DEFAULT 0,
    pending_extension TEXT,
    suspended_from TEXT,
    suspended_at INTEGER,
    merged_into INTEGER REFERENCES cases(id),
    report_count INTEGER NOT NULL DEFAULT 1,
    escalated INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER,
    version INTEGER NOT NULL DEFAULT 0,
    history_count INTEGER NOT NULL DEFAULT 0,
    history_head TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX cases_status ON cases(status);
CREATE INDEX cases_department ON cases(department, status);
CREATE INDEX cases_district ON cases(district);
CREATE INDEX cases_grid ON cases(grid);
CREATE INDEX cases_matter ON cases(matter_code);
CREATE INDEX cases_reported ON cases(reported_at);
CREATE INDEX cases_due ON cases(due_at) WHERE due_at IS NOT NULL;

CREATE TABLE case_history (
    case_id INTEGER NOT NULL REFERENCES cases(id),
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

-- Append-only: the application never updates or deletes history. Someone with the file can
-- drop these triggers, which is why the chain is verified as well.
CREATE TRIGGER case_history_no_update BEFORE UPDATE ON case_history
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;
CREATE TRIGGER case_history_no_delete BEFORE DELETE ON case_history
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    department TEXT,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users(name),
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

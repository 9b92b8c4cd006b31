-- Early warning (预警): per-point back-test skill, warnings with approval and dispatch to
-- districts (预警下派), outside CAP alerts ingested, webhook subscribers.
CREATE TABLE warning_skill (
    point TEXT NOT NULL,            -- waterlogging point or gauge code
    forecast TEXT NOT NULL,         -- none | perfect (rain forecast mode)
    threshold REAL NOT NULL,
    events INTEGER NOT NULL,
    warned INTEGER NOT NULL,
    false_alarms INTEGER NOT NULL,
    recall REAL NOT NULL,
    precision REAL NOT NULL,
    median_lead_min REAL NOT NULL,
    baselines TEXT NOT NULL,        -- JSON: persistence and always-warn figures
    protocol TEXT NOT NULL,         -- JSON: split, horizon, window, gap, step, record span
    computed_at INTEGER NOT NULL,
    PRIMARY KEY (point, forecast)
) WITHOUT ROWID;

CREATE TABLE warnings (
    id INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    msg_type TEXT NOT NULL,         -- Alert | Update | Cancel
    status TEXT NOT NULL,           -- draft | approved | issued | superseded | cancelled
    level TEXT NOT NULL,            -- red | orange | yellow | blue
    point TEXT,
    districts TEXT NOT NULL,        -- JSON list of adcodes
    headline_zh TEXT NOT NULL,
    headline_en TEXT NOT NULL,
    description_zh TEXT NOT NULL,
    description_en TEXT NOT NULL,
    onset INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    refs TEXT NOT NULL DEFAULT '[]',-- JSON list of "sender,identifier,sent" (CAP references)
    replaces INTEGER REFERENCES warnings(id),
    params TEXT NOT NULL DEFAULT '{}',
    sent INTEGER,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    approved_by TEXT,
    approved_at INTEGER,
    issued_by TEXT,
    cap_xml BLOB
);
CREATE INDEX warnings_status ON warnings(status, expires);

CREATE TABLE warning_dispatch (
    warning_id INTEGER NOT NULL REFERENCES warnings(id),
    district TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    PRIMARY KEY (warning_id, district)
) WITHOUT ROWID;

CREATE TABLE cap_incoming (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    valid INTEGER NOT NULL,
    reason TEXT NOT NULL,
    identifier TEXT,
    sender TEXT,
    sent TEXT,
    msg_type TEXT,
    headline TEXT,
    received_at INTEGER NOT NULL,
    xml BLOB NOT NULL
);

CREATE TABLE warning_webhooks (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

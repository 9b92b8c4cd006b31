-- City intelligence: classifier versions, the triage queue, and corrections kept as training data.
CREATE TABLE intel_models (
    version INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,          -- Unix seconds
    file TEXT NOT NULL,                   -- under the data dir next to the database
    n_train INTEGER NOT NULL,
    n_corrections INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,    -- exactly one row is active once any exists
    note TEXT NOT NULL DEFAULT ''
);

-- Reports whose classification fell below the city's threshold: a person picks the code.
CREATE TABLE intel_triage (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    text TEXT NOT NULL,
    lon REAL,
    lat REAL,
    source TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    reporter TEXT NOT NULL DEFAULT '',
    suggested TEXT,                       -- the model's first choice
    confidence REAL NOT NULL,
    top_k TEXT NOT NULL,                  -- JSON [[code, p], ...]
    model_version INTEGER,
    reason TEXT NOT NULL,                 -- low_confidence | no_location
    status TEXT NOT NULL DEFAULT 'open',  -- open | done
    matter_code TEXT,
    case_id INTEGER REFERENCES cases(id),
    decided_by TEXT,
    decided_at INTEGER
);
CREATE INDEX intel_triage_open ON intel_triage(status, id);

-- Every code a person chose for a text: training data for the next version.
CREATE TABLE intel_corrections (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    text TEXT NOT NULL,
    matter_code TEXT NOT NULL,
    predicted TEXT,
    confidence REAL,
    actor TEXT NOT NULL,
    origin TEXT NOT NULL                  -- triage | case
);

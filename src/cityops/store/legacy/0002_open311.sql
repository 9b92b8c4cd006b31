-- Open311 GeoReport v2: API keys (stored only as SHA-256 digests) and request tokens.
CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL DEFAULT 'report',  -- report: POST requests; backoffice: also POST updates
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- tokens/{token}: a stable opaque id for each request posted through Open311.
CREATE TABLE open311_tokens (
    token TEXT PRIMARY KEY,
    case_id INTEGER NOT NULL UNIQUE REFERENCES cases(id)
) WITHOUT ROWID;

-- servicerequestupdates lists history by time.
CREATE INDEX case_history_at ON case_history(at);

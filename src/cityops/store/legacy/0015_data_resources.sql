-- The data-resource catalogue (一本账), authorised operation (授权运营) and exchange (cityops.data).
-- One row per resource, with the core items of the government data-resource catalogue;
-- `source` is 'cityops' for what this platform describes itself, else who registered it.
CREATE TABLE data_resource (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL,
    provider_code TEXT NOT NULL DEFAULT '',
    classification TEXT NOT NULL DEFAULT '',
    theme TEXT NOT NULL DEFAULT '',
    items TEXT NOT NULL DEFAULT '[]',          -- JSON [{name, type, description}]
    sharing TEXT NOT NULL,                     -- 无条件共享 | 有条件共享 | 不予共享
    sharing_condition TEXT NOT NULL DEFAULT '',
    openness TEXT NOT NULL,                    -- 开放 | 有条件开放 | 不开放
    openness_condition TEXT NOT NULL DEFAULT '',
    update_cycle TEXT NOT NULL DEFAULT '不定期',
    format TEXT NOT NULL DEFAULT 'CSV',
    keywords TEXT NOT NULL DEFAULT '',
    published TEXT NOT NULL,                   -- ISO date
    modified INTEGER NOT NULL,                 -- µs since the epoch, UTC
    source TEXT NOT NULL DEFAULT 'registered'
);
CREATE INDEX data_resource_provider ON data_resource(provider);
CREATE INDEX data_resource_modified ON data_resource(modified);

-- Chinese full-text search: the text as overlapping character bigrams (the CJK bigram
-- scheme of Lucene's CJKAnalyzer), so two-character words (供水, 停车) are found through the
-- index without word segmentation. Kept by cityops.data.catalogue, rowid = data_resource.id.
CREATE VIRTUAL TABLE data_resource_fts USING fts5(terms);

-- Data users (数据使用方): companies and other cities, an account kind apart from staff users.
CREATE TABLE data_user (
    name TEXT PRIMARY KEY,
    org_name TEXT NOT NULL,
    org_code TEXT NOT NULL DEFAULT '',         -- 统一社会信用代码
    kind TEXT NOT NULL DEFAULT 'company',      -- company | city
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE data_application (
    id INTEGER PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES data_user(name),
    product TEXT NOT NULL,
    domain TEXT NOT NULL,
    purpose TEXT NOT NULL,
    user_product TEXT NOT NULL,                -- the applicant's own product or scenario
    status TEXT NOT NULL DEFAULT 'pending',    -- pending | granted | rejected
    created_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER
);

CREATE TABLE data_grant (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL UNIQUE REFERENCES data_application(id),
    user_name TEXT NOT NULL,
    product TEXT NOT NULL,
    purpose TEXT NOT NULL,
    scope TEXT NOT NULL,                       -- JSON {fields, districts, start, end}
    mode TEXT NOT NULL,                        -- rows | inside (可用不可见)
    protection TEXT NOT NULL,                  -- JSON {min_cell, epsilon, budget}
    spent REAL NOT NULL DEFAULT 0,             -- privacy budget used
    credential_hash TEXT NOT NULL UNIQUE,
    granted_by TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Every access and exchange, hash-chained like the case history (one chain).
CREATE TABLE data_access_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    grant_id INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- Reports received by a provincial instance (三级联网).
CREATE TABLE data_report_in (
    id INTEGER PRIMARY KEY,
    sender TEXT NOT NULL,
    day TEXT NOT NULL,
    mapping TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL
);

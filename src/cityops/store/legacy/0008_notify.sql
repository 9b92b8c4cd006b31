-- The citizen's side of the loop: who hears of a case, what is queued for them, return visits.

-- Who hears of a case's public steps, in which channel. `token` is the unsubscribe secret.
CREATE TABLE notify_subscriptions (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    channel TEXT NOT NULL,  -- email | sms | webhook
    address TEXT NOT NULL,  -- private: an e-mail address, a phone number or a URL
    origin TEXT NOT NULL,   -- reporter | subscriber
    lang TEXT NOT NULL DEFAULT 'zh',
    token TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    unsubscribed_at INTEGER,
    UNIQUE (case_id, channel, address)
);

-- The outbox: one row per (case, history step, subscription, channel), written in the same
-- transaction as the step; the sender claims rows with a lease, sends, then marks them sent.
CREATE TABLE notify_outbox (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL REFERENCES notify_subscriptions(id),
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | failed | cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (case_id, seq, subscription_id, channel)
);
CREATE INDEX notify_outbox_due ON notify_outbox(status, next_at);

-- 回访: one return visit per closure of a case (a case closed again after rework gets another).
CREATE TABLE revisits (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    closed_seq INTEGER NOT NULL,
    mode TEXT NOT NULL,               -- auto (link sent to the reporter) | call (operators call back)
    token TEXT NOT NULL UNIQUE,       -- the secret in /r/{token}
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | answered | review
    created_at INTEGER NOT NULL,
    window_until INTEGER NOT NULL,    -- an unsatisfied answer before this reopens the case
    answered_at INTEGER,
    answered_by TEXT,
    solved INTEGER,
    satisfaction TEXT,                -- satisfied | basic | unsatisfied
    comment TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT '', -- '' | reopened | review | escalated
    UNIQUE (case_id, closed_seq)
);
CREATE INDEX revisits_status ON revisits(status, mode);
CREATE INDEX revisits_case ON revisits(case_id);

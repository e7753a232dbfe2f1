-- Rampart backend schema (SQLite). Times are epoch nanoseconds (BIGINT); JSON is stored as TEXT.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'responder', 'viewer')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Login sessions and API tokens; only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'responder', 'viewer')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

CREATE TABLE enrollment_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    version TEXT NOT NULL,
    enrollment_token_id INTEGER REFERENCES enrollment_tokens(id) ON DELETE SET NULL,
    enrolled_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    matches_received INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);

-- Metadata of the agent rules that agents report (remediation shows on signals).
CREATE TABLE agent_rules (
    rule_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    tags TEXT NOT NULL,
    remediation TEXT NOT NULL,
    policy TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Backend rules added through the API (the default ones are embedded in the binary).
CREATE TABLE backend_rules (
    id TEXT PRIMARY KEY,
    yaml TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL
);

-- Every rule match an agent reported, once: (agent, event id, rule id) is the idempotency key.
CREATE TABLE matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    event_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    container_id TEXT NOT NULL,
    process_pid INTEGER NOT NULL,
    process_path TEXT NOT NULL,
    lineage TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (agent_id, event_id, rule_id)
);
CREATE INDEX matches_ts ON matches (ts);

CREATE TABLE signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL CHECK (source IN ('agent', 'backend')),
    rule_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    hostname TEXT NOT NULL,
    container_id TEXT NOT NULL,
    process_path TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'under_review', 'archived')),
    assignee_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (source, rule_id, group_key, window_start)
);
CREATE INDEX signals_last_seen ON signals (last_seen);
CREATE INDEX signals_first_seen ON signals (first_seen);
CREATE INDEX signals_host ON signals (hostname, last_seen);
CREATE INDEX signals_container ON signals (container_id, last_seen);

-- The first N matches of each signal (its samples).
CREATE TABLE signal_matches (
    signal_id INTEGER NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    match_id INTEGER NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
    PRIMARY KEY (signal_id, match_id)
);

CREATE TABLE signal_comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id INTEGER NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    author_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX signal_comments_signal ON signal_comments (signal_id);

-- Backend-rule state, all derived from stored matches so that replicas share it through the database.
CREATE TABLE backend_hits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id TEXT NOT NULL,
    query TEXT NOT NULL,
    group_key TEXT NOT NULL,
    ts INTEGER NOT NULL,
    match_id INTEGER NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
    UNIQUE (rule_id, query, match_id)
);
CREATE INDEX backend_hits_group ON backend_hits (rule_id, group_key, ts);

-- One row per (backend rule, group): locked while a group is evaluated, so replicas serialise on it.
CREATE TABLE backend_groups (
    rule_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (rule_id, group_key)
);

CREATE TABLE backend_new_values (
    rule_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    value TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (rule_id, group_key, value)
);

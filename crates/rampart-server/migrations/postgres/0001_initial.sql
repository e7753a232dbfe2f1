-- Rampart backend schema (PostgreSQL). Times are epoch nanoseconds (BIGINT); JSON is stored as TEXT.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'responder', 'viewer')),
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Login sessions and API tokens; only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'responder', 'viewer')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);

CREATE TABLE enrollment_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses BIGINT,
    uses BIGINT NOT NULL DEFAULT 0,
    revoked BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE agents (
    id BIGSERIAL PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    version TEXT NOT NULL,
    enrollment_token_id BIGINT REFERENCES enrollment_tokens(id) ON DELETE SET NULL,
    enrolled_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    matches_received BIGINT NOT NULL DEFAULT 0,
    revoked BIGINT NOT NULL DEFAULT 0
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
    updated_at BIGINT NOT NULL
);

-- Backend rules added through the API (the default ones are embedded in the binary).
CREATE TABLE backend_rules (
    id TEXT PRIMARY KEY,
    yaml TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL
);

-- Every rule match an agent reported, once: (agent, event id, rule id) is the idempotency key.
CREATE TABLE matches (
    id BIGSERIAL PRIMARY KEY,
    agent_id BIGINT NOT NULL REFERENCES agents(id),
    event_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    hostname TEXT NOT NULL,
    container_id TEXT NOT NULL,
    process_pid BIGINT NOT NULL,
    process_path TEXT NOT NULL,
    lineage TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (agent_id, event_id, rule_id)
);
CREATE INDEX matches_ts ON matches (ts);

CREATE TABLE signals (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('agent', 'backend')),
    rule_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    hostname TEXT NOT NULL,
    container_id TEXT NOT NULL,
    process_path TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'under_review', 'archived')),
    assignee_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (source, rule_id, group_key, window_start)
);
CREATE INDEX signals_last_seen ON signals (last_seen);
CREATE INDEX signals_first_seen ON signals (first_seen);
CREATE INDEX signals_host ON signals (hostname, last_seen);
CREATE INDEX signals_container ON signals (container_id, last_seen);

-- The first N matches of each signal (its samples).
CREATE TABLE signal_matches (
    signal_id BIGINT NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    match_id BIGINT NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
    PRIMARY KEY (signal_id, match_id)
);

CREATE TABLE signal_comments (
    id BIGSERIAL PRIMARY KEY,
    signal_id BIGINT NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX signal_comments_signal ON signal_comments (signal_id);

-- Backend-rule state, all derived from stored matches so that replicas share it through the database.
CREATE TABLE backend_hits (
    id BIGSERIAL PRIMARY KEY,
    rule_id TEXT NOT NULL,
    query TEXT NOT NULL,
    group_key TEXT NOT NULL,
    ts BIGINT NOT NULL,
    match_id BIGINT NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
    UNIQUE (rule_id, query, match_id)
);
CREATE INDEX backend_hits_group ON backend_hits (rule_id, group_key, ts);

-- One row per (backend rule, group): locked while a group is evaluated, so replicas serialise on it.
CREATE TABLE backend_groups (
    rule_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (rule_id, group_key)
);

CREATE TABLE backend_new_values (
    rule_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    value TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (rule_id, group_key, value)
);

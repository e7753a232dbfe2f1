-- Notifications (SQLite): channels, rules, and the outbox that is also the delivery log.
CREATE TABLE notification_channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('slack', 'pagerduty', 'webhook', 'email', 'teams', 'opsgenie')),
    -- The kind's settings as JSON, secrets included (the API never returns them).
    config TEXT NOT NULL,
    -- Optional {title, body} template; NULL: the default one.
    template TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    rate_per_minute INTEGER NOT NULL DEFAULT 60,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE notification_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    -- The rule as JSON (matchers, channel ids, events, optional template).
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per (signal, event, channel): the unique key makes enqueueing idempotent, so a signal event is
-- delivered at most once per channel however many rules or replicas see it. A worker owns a row while
-- lease_until is in the future; delivering clears the lease in the same UPDATE.
CREATE TABLE notification_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id INTEGER NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    -- `created`, `escalated:<severity>` or `resolved`.
    event_key TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('created', 'escalated', 'resolved')),
    severity TEXT NOT NULL,
    channel_id INTEGER NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    rule_id INTEGER REFERENCES notification_rules(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    last_status INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (signal_id, event_key, channel_id)
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);
CREATE INDEX notification_outbox_signal_channel ON notification_outbox (signal_id, channel_id, status);
CREATE INDEX notification_outbox_channel ON notification_outbox (channel_id, id);

-- Notifications (PostgreSQL): channels, rules, and the outbox that is also the delivery log.
CREATE TABLE notification_channels (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('slack', 'pagerduty', 'webhook', 'email', 'teams', 'opsgenie')),
    -- The kind's settings as JSON, secrets included (the API never returns them).
    config TEXT NOT NULL,
    -- Optional {title, body} template; NULL: the default one.
    template TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    rate_per_minute BIGINT NOT NULL DEFAULT 60,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE notification_rules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enabled BIGINT NOT NULL DEFAULT 1,
    -- The rule as JSON (matchers, channel ids, events, optional template).
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per (signal, event, channel): the unique key makes enqueueing idempotent, so a signal event is
-- delivered at most once per channel however many rules or replicas see it. A worker owns a row while
-- lease_until is in the future; delivering clears the lease in the same UPDATE.
CREATE TABLE notification_outbox (
    id BIGSERIAL PRIMARY KEY,
    signal_id BIGINT NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    -- `created`, `escalated:<severity>` or `resolved`.
    event_key TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('created', 'escalated', 'resolved')),
    severity TEXT NOT NULL,
    channel_id BIGINT NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    rule_id BIGINT REFERENCES notification_rules(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    last_status BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (signal_id, event_key, channel_id)
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);
CREATE INDEX notification_outbox_signal_channel ON notification_outbox (signal_id, channel_id, status);
CREATE INDEX notification_outbox_channel ON notification_outbox (channel_id, id);

-- Web UI: the container image of a signal (a facet and a filter), the history of triage changes, and the
-- indexes the explorer's filtered, keyset-paginated queries use (newest first: last_seen DESC, id DESC).
ALTER TABLE signals ADD COLUMN image TEXT NOT NULL DEFAULT '';

CREATE TABLE signal_history (
    id BIGSERIAL PRIMARY KEY,
    signal_id BIGINT NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX signal_history_signal ON signal_history (signal_id, id);

CREATE INDEX signals_seen_id ON signals (last_seen, id);
CREATE INDEX signals_severity ON signals (severity, last_seen);
CREATE INDEX signals_state ON signals (state, last_seen);
CREATE INDEX signals_rule ON signals (rule_id, last_seen);
CREATE INDEX signals_image ON signals (image, last_seen);

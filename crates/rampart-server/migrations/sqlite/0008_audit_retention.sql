-- The audit log: who did what, when, from where, with a bounded, secret-free description of the change.
-- The actor's name is copied (not a foreign key): an entry outlives the user it names.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'agent', 'system', 'anonymous')),
    actor_id BIGINT,
    actor TEXT NOT NULL,
    ip TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- Delivery log: what the receiver answered, kept apart from Rampart's own error text (admins only).
ALTER TABLE notification_outbox ADD COLUMN last_response TEXT;

-- Retention purges by server time in small batches: each pass needs an index on its time column, and the
-- cascades from a purged match need an index on the referencing column.
CREATE INDEX matches_received_at ON matches (received_at);
CREATE INDEX signal_matches_match ON signal_matches (match_id);
CREATE INDEX backend_hits_match ON backend_hits (match_id);
CREATE INDEX activity_snapshots_received ON activity_snapshots (received_at);
CREATE INDEX notification_outbox_updated ON notification_outbox (updated_at);

-- Agent health, reported by each agent every few seconds: the kernel it runs, events its probe delivered and
-- dropped (ring buffer full), and the previous drop count and report time, so the UI shows the recent change.
ALTER TABLE agents ADD COLUMN kernel_release TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN events_delivered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN events_dropped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN status_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN previous_dropped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN previous_status_at BIGINT NOT NULL DEFAULT 0;

-- Remote configuration: every change of the fleet's configuration is a new revision holding the whole
-- configuration (policies, custom rules, overrides) as JSON, so any revision can be restored as it was.
CREATE TABLE config_revisions (
    revision BIGINT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    author TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The server's signing keys (shared by every replica through the database).
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    public TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- What each agent runs: its tags (targeting), the revision it applied last and how that went.
ALTER TABLE agents ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN config_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN config_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE agents ADD COLUMN config_errors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN config_updated_at BIGINT NOT NULL DEFAULT 0;

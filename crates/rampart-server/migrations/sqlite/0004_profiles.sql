-- Security profiles: agents send activity snapshots of their workloads; each is merged into the profile of
-- its (image name, image tag) — or (systemd:<unit>, version) for host services.
CREATE TABLE activity_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    snapshot_id TEXT NOT NULL,
    workload TEXT NOT NULL,
    image_name TEXT NOT NULL,
    image_tag TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    events INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    behaviors INTEGER NOT NULL,
    body TEXT NOT NULL,
    profile_id INTEGER,
    received_at INTEGER NOT NULL,
    UNIQUE (agent_id, snapshot_id)
);
CREATE INDEX activity_snapshots_image ON activity_snapshots (image_name, image_tag);

CREATE TABLE security_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_name TEXT NOT NULL,
    image_tag TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('learning', 'stable')),
    snapshots INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    stable_at INTEGER,
    -- JSON: behaviour key -> number of snapshots that contain it
    nodes TEXT NOT NULL,
    -- JSON: behaviour key -> example (arguments, counts) from a snapshot
    examples TEXT NOT NULL,
    UNIQUE (image_name, image_tag)
);

-- Activity dumps asked for through the API (beyond the agents' automatic ones).
CREATE TABLE dump_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER REFERENCES agents(id),
    container_id TEXT NOT NULL,
    duration_ns INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'cancelled')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Security profiles: agents send activity snapshots of their workloads; each is merged into the profile of
-- its (image name, image tag) — or (systemd:<unit>, version) for host services.
CREATE TABLE activity_snapshots (
    id BIGSERIAL PRIMARY KEY,
    agent_id BIGINT NOT NULL REFERENCES agents(id),
    snapshot_id TEXT NOT NULL,
    workload TEXT NOT NULL,
    image_name TEXT NOT NULL,
    image_tag TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    events BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    behaviors BIGINT NOT NULL,
    body TEXT NOT NULL,
    profile_id BIGINT,
    received_at BIGINT NOT NULL,
    UNIQUE (agent_id, snapshot_id)
);
CREATE INDEX activity_snapshots_image ON activity_snapshots (image_name, image_tag);

CREATE TABLE security_profiles (
    id BIGSERIAL PRIMARY KEY,
    image_name TEXT NOT NULL,
    image_tag TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('learning', 'stable')),
    snapshots BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    stable_at BIGINT,
    -- JSON: behaviour key -> number of snapshots that contain it
    nodes TEXT NOT NULL,
    -- JSON: behaviour key -> example (arguments, counts) from a snapshot
    examples TEXT NOT NULL,
    UNIQUE (image_name, image_tag)
);

-- Activity dumps asked for through the API (beyond the agents' automatic ones).
CREATE TABLE dump_requests (
    id BIGSERIAL PRIMARY KEY,
    agent_id BIGINT REFERENCES agents(id),
    container_id TEXT NOT NULL,
    duration_ns BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'cancelled')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

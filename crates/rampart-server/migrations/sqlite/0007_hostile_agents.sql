-- An agent's word is its own (issue 20): what one agent credential says must not change what others see.

-- Rule metadata an agent reports is kept per agent and never shown as the rule's (a rule's description,
-- severity and remediation come from the server's own configuration). The fleet-wide table any agent could
-- overwrite goes; agents send their report again at their next start.
DROP TABLE agent_rules;
CREATE TABLE agent_rule_reports (
    agent_id BIGINT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL,
    version TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    tags TEXT NOT NULL,
    remediation TEXT NOT NULL,
    policy TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, rule_id)
);
CREATE INDEX agent_rule_reports_rule ON agent_rule_reports (rule_id);

-- The agent whose matches a signal groups (NULL for backend signals and those from before).
ALTER TABLE signals ADD COLUMN agent_id BIGINT;

-- The workloads each agent says it runs (its health reports): its activity snapshots must be of these.
CREATE TABLE agent_workloads (
    agent_id BIGINT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    workload_id TEXT NOT NULL,
    image_name TEXT NOT NULL,
    image_tag TEXT NOT NULL,
    first_reported_at BIGINT NOT NULL,
    last_reported_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, workload_id, image_name, image_tag)
);
-- Per-agent snapshot rate, and the distinct agents behind a profile.
CREATE INDEX activity_snapshots_agent ON activity_snapshots (agent_id, received_at);
CREATE INDEX activity_snapshots_profile ON activity_snapshots (profile_id, agent_id);
-- Behaviour key -> the first few agents whose snapshots had it (a behaviour is part of a stable profile only
-- when enough distinct agents saw it). NULL: learnt before this was tracked (rebuilt from the snapshots).
ALTER TABLE security_profiles ADD COLUMN node_agents TEXT;

-- A revoked host stays out until an admin readmits it.
ALTER TABLE agents ADD COLUMN revoked_at BIGINT;
ALTER TABLE agents ADD COLUMN readmitted_at BIGINT;
CREATE INDEX agents_hostname ON agents (hostname);

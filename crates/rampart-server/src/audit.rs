//! Security-relevant actions (who did what to what), all recorded through [`record`]: today a structured
//! log line (target `rampart::audit`); the audit log that stores and serves them hooks in here.

use serde_json::Value;

/// Who acted: a user (by name) or an agent (by id), or the server itself.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    User(&'a str),
    Agent(i64),
    Server,
}

impl std::fmt::Display for Actor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::User(name) => write!(f, "user:{name}"),
            Actor::Agent(id) => write!(f, "agent:{id}"),
            Actor::Server => f.write_str("server"),
        }
    }
}

/// Records one action: `action` is a stable dotted name (`agent.revoke`), `target` what it acted on,
/// `detail` what changed (never a secret).
pub fn record(actor: Actor<'_>, action: &str, target: &str, detail: Value) {
    tracing::info!(target: "rampart::audit", %actor, action, target, %detail, "audit");
}

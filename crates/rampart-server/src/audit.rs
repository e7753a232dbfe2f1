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

// hostile-a's login records (merged; the DB-backed audit log replaces both)
use std::net::IpAddr;

use crate::state::AppState;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A sign-in with a wrong user name or password.
    LoginFailed,
    /// Repeated failures locked a user name or a client address out of signing in.
    LoginLockedOut,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginFailed => "login_failed",
            Action::LoginLockedOut => "login_locked_out",
        }
    }
}

/// One entry: who (as far as known), from where, what, and the detail.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a str,
    pub source: Option<IpAddr>,
    pub action: Action,
    pub detail: String,
}

/// Records `entry`.
pub fn record_login(state: &AppState, entry: Entry<'_>) {
    let m = &state.metrics;
    match entry.action {
        Action::LoginFailed => m.login_failures.inc(),
        Action::LoginLockedOut => m.login_lockouts.inc(),
    }
    let source = entry.source.map(|ip| ip.to_string()).unwrap_or_default();
    // Attacker-chosen text (the user name) goes in a field, where the log formatter escapes it.
    tracing::warn!(
        target: "rampart::audit",
        action = entry.action.as_str(),
        actor = entry.actor,
        source = source.as_str(),
        detail = entry.detail.as_str(),
        "audit"
    );
}

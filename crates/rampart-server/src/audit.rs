//! Security-relevant actions are recorded here, and only here: [`record`] is the one place an entry is made
//! (today a log line and a counter per action; the audit log stores them).

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
pub fn record(state: &AppState, entry: Entry<'_>) {
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

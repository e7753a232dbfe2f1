//! Who is calling: users (argon2 passwords) with login sessions and API tokens carrying a role, and agents
//! holding a credential obtained by enrolling with an enrollment token. Secrets are random 256-bit values;
//! only their SHA-256 is stored (they are high-entropy, so a fast hash is enough and lookups stay cheap).

pub mod agent_status;
pub mod extract;
pub mod login_guard;
pub mod secrets;
pub mod server_keys;
pub mod store;

use serde::{Deserialize, Serialize};

/// A user's or token's role. Order matters: each role can do everything the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An authenticated user request.
#[derive(Debug, Clone, Serialize)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub token_id: i64,
    /// Where the request came from (the TCP peer), for the audit log.
    #[serde(skip)]
    pub ip: Option<std::net::IpAddr>,
}

/// An authenticated agent request.
#[derive(Debug, Clone, Serialize)]
pub struct AgentCaller {
    pub agent_id: i64,
    pub uid: String,
    pub hostname: String,
}

//! Who is calling: users (argon2 passwords) with login sessions and API tokens carrying a role, and agents
//! holding a credential obtained by enrolling with an enrollment token. Secrets are random 256-bit values;
//! only their SHA-256 is stored (they are high-entropy, so a fast hash is enough and lookups stay cheap).

pub mod agent_status;
pub mod extract;
pub mod login_guard;
pub mod secrets;
pub mod server_keys;
pub mod store;

use serde::Serialize;

/// A user's or token's role (the API's type).
pub use rampart_api::users::Role;

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

//! The audit log: every admin and responder action, sign-ins that failed, and what agents and the server
//! changed on their own, recorded with who, when, from where (the client's address) and what changed.
//!
//! One function writes an entry: [`record`]. Handlers call it with the same executor as the change (a
//! transaction where the change has one, so both commit or neither does):
//!
//! ```ignore
//! audit::record(&mut *w.tx, &caller, Action::ChannelUpdated, &format!("channel {id}"), details::diff(&old, &new)).await?;
//! ```
//!
//! `details` is free JSON but stored bounded and secret-free: [`details::sanitize`] blanks every value
//! under a secret-looking key and clips long strings (see `details.rs`). Entries are readable by admins
//! only (`GET /api/v1/audit`, `/ui/audit`); nothing in the API edits or deletes them (retention does,
//! after `--retain-audit`).

pub mod api;
pub mod details;

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::auth::{AgentCaller, Caller};
use crate::storage::now_ns;

/// Who acted.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's or agent's id, when there is one.
    pub id: Option<i64>,
    /// The user name (or the name a failed sign-in tried), the agent's host name, or the server's part.
    pub name: String,
    /// The client's address (the TCP peer), when the action came over the network.
    pub ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Agent,
    /// The server itself (a profile promoted to stable, retention).
    System,
    /// Nobody signed in (a failed sign-in, an enrolment).
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Agent => "agent",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

impl Actor {
    pub fn system(part: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: part.into(),
            ip: None,
        }
    }

    /// A user who is not a request's caller yet (a sign-in that succeeded).
    pub fn user(id: i64, name: &str, ip: Option<IpAddr>) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(id),
            name: name.into(),
            ip,
        }
    }

    /// Someone not signed in; `claimed` is the name they gave (clipped, never trusted).
    pub fn anonymous(claimed: &str, ip: Option<IpAddr>) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
            name: details::clip(claimed, 64),
            ip,
        }
    }

    pub fn agent(a: &AgentCaller, ip: Option<IpAddr>) -> Actor {
        Actor {
            kind: ActorKind::Agent,
            id: Some(a.agent_id),
            name: a.hostname.clone(),
            ip,
        }
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(c.user_id),
            name: c.username.clone(),
            ip: c.ip,
        }
    }
}

impl From<&Actor> for Actor {
    fn from(a: &Actor) -> Actor {
        a.clone()
    }
}

/// What was done. The string forms are stable: they are stored and filtered on (`action=user.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    /// Too many failed sign-ins: the account or address is locked out for a while.
    LoginLockedOut,
    Logout,
    UserCreated,
    UserUpdated,
    UserDeleted,
    TokenCreated,
    TokenRevoked,
    /// A session ended by someone other than its owner (or all of a user's).
    SessionRevoked,
    EnrollmentTokenCreated,
    EnrollmentTokenRevoked,
    AgentEnrolled,
    AgentRevoked,
    /// A revoked agent's host let back in (it may enroll again).
    AgentReadmitted,
    ChannelCreated,
    ChannelUpdated,
    ChannelDeleted,
    ChannelTested,
    NotificationRuleCreated,
    NotificationRuleUpdated,
    NotificationRuleDeleted,
    DeliveryRetried,
    BackendRulesStored,
    BackendRuleUpdated,
    BackendRuleDeleted,
    /// A new configuration revision: policies, custom rules, overrides, suppressions, rollback, profiles.
    ConfigChanged,
    SignalTriaged,
    SignalCommented,
    DumpStarted,
    DumpStopped,
    /// Retention deleted data older than its configured age.
    DataPurged,
}

impl Action {
    pub const ALL: [Action; 32] = [
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::LoginLockedOut,
        Action::Logout,
        Action::UserCreated,
        Action::UserUpdated,
        Action::UserDeleted,
        Action::TokenCreated,
        Action::TokenRevoked,
        Action::SessionRevoked,
        Action::EnrollmentTokenCreated,
        Action::EnrollmentTokenRevoked,
        Action::AgentEnrolled,
        Action::AgentRevoked,
        Action::AgentReadmitted,
        Action::ChannelCreated,
        Action::ChannelUpdated,
        Action::ChannelDeleted,
        Action::ChannelTested,
        Action::NotificationRuleCreated,
        Action::NotificationRuleUpdated,
        Action::NotificationRuleDeleted,
        Action::DeliveryRetried,
        Action::BackendRulesStored,
        Action::BackendRuleUpdated,
        Action::BackendRuleDeleted,
        Action::ConfigChanged,
        Action::SignalTriaged,
        Action::SignalCommented,
        Action::DumpStarted,
        Action::DumpStopped,
        Action::DataPurged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login",
            Action::LoginFailed => "auth.login_failed",
            Action::LoginLockedOut => "auth.lockout",
            Action::Logout => "auth.logout",
            Action::UserCreated => "user.create",
            Action::UserUpdated => "user.update",
            Action::UserDeleted => "user.delete",
            Action::TokenCreated => "token.create",
            Action::TokenRevoked => "token.revoke",
            Action::SessionRevoked => "session.revoke",
            Action::EnrollmentTokenCreated => "enrollment_token.create",
            Action::EnrollmentTokenRevoked => "enrollment_token.revoke",
            Action::AgentEnrolled => "agent.enroll",
            Action::AgentRevoked => "agent.revoke",
            Action::AgentReadmitted => "agent.readmit",
            Action::ChannelCreated => "channel.create",
            Action::ChannelUpdated => "channel.update",
            Action::ChannelDeleted => "channel.delete",
            Action::ChannelTested => "channel.test",
            Action::NotificationRuleCreated => "notification_rule.create",
            Action::NotificationRuleUpdated => "notification_rule.update",
            Action::NotificationRuleDeleted => "notification_rule.delete",
            Action::DeliveryRetried => "delivery.retry",
            Action::BackendRulesStored => "backend_rule.store",
            Action::BackendRuleUpdated => "backend_rule.update",
            Action::BackendRuleDeleted => "backend_rule.delete",
            Action::ConfigChanged => "config.change",
            Action::SignalTriaged => "signal.triage",
            Action::SignalCommented => "signal.comment",
            Action::DumpStarted => "dump.start",
            Action::DumpStopped => "dump.stop",
            Action::DataPurged => "retention.purge",
        }
    }
}

/// Records one entry. `exec` is the change's transaction (`&mut *w.tx`) where it has one, else the pool.
pub async fn record<'c, E>(
    exec: E,
    actor: impl Into<Actor>,
    action: Action,
    target: &str,
    details: Value,
) -> anyhow::Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let actor = actor.into();
    sqlx::query(
        "INSERT INTO audit_log (created_at, actor_kind, actor_id, actor, ip, action, target, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ns())
    .bind(actor.kind.as_str())
    .bind(actor.id)
    .bind(&actor.name)
    .bind(actor.ip.map(|ip| ip.to_string()))
    .bind(action.as_str())
    .bind(details::clip(target, 256))
    .bind(details::sanitize(details).to_string())
    .execute(exec)
    .await?;
    Ok(())
}

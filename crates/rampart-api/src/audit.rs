//! `GET /api/v1/audit`: the audit log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub created_at: i64,
    /// `user`, `agent` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub ip: Option<String>,
    /// `user.create`, `signal.triage`, ...
    pub action: String,
    pub target: String,
    /// What changed: its shape depends on the action (`{changes: {field: [old, new]}}` for edits), so it
    /// stays open.
    pub details: Value,
}

/// A page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// `before=<next>` continues after this page (null at the end).
    pub next: Option<i64>,
}

//! What an agent sends the server and gets back besides its matches: enrolment, its health, and the
//! metadata of the rules it loaded. Every field the agent sends is attacker-controlled: the server bounds
//! and checks it after decoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /api/v1/agents/enroll`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The single-use enrollment token (the credential of this request).
    pub token: String,
    pub hostname: String,
    /// The agent's version.
    #[serde(default)]
    pub version: String,
    /// Targeting tags (`env:prod`, `team:payments`): which remotely configured policies the agent runs.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The agent's credential, and the key that signs its configuration bundles (which the agent pins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    pub agent_id: i64,
    pub uid: String,
    /// The bearer secret of the agent's later requests.
    pub secret: String,
    /// Hex ed25519 public key of the configuration signer.
    pub config_public_key: String,
}

/// `PUT /api/v1/agents/status`: the agent's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    #[serde(default)]
    pub kernel_release: String,
    /// Kernel events delivered since the agent started.
    pub events_delivered: i64,
    /// Kernel events lost since the agent started.
    pub events_dropped: i64,
    /// The workloads the agent profiles now (older agents send none).
    #[serde(default)]
    pub workloads: Vec<ReportedWorkload>,
}

/// A workload as its activity snapshots name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportedWorkload {
    pub id: String,
    pub image_name: String,
    #[serde(default)]
    pub image_tag: String,
}

/// `PUT /api/v1/agents/rules`: the metadata of the agent's loaded rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulesReport {
    pub rules: Vec<RuleMetadata>,
}

/// One loaded rule, as its policy describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleMetadata {
    pub id: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// Empty: the severity is `tags.severity`.
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub remediation: String,
    #[serde(default)]
    pub policy: String,
}

/// The answer to [`RulesReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesStored {
    /// Distinct rule ids kept.
    pub stored: usize,
}

/// An enrolled agent, as `GET /api/v1/agents` and `GET /api/v1/agents/{id}` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentInfo {
    pub id: i64,
    pub uid: String,
    pub hostname: String,
    pub version: String,
    pub enrolled_at: i64,
    pub last_seen_at: i64,
    pub matches_received: i64,
    pub revoked: bool,
    /// When the agent was revoked, and when an admin let its host enroll again.
    pub revoked_at: Option<i64>,
    pub readmitted_at: Option<i64>,
    /// Health the agent last reported (`PUT /api/v1/agents/status`); empty/zero until its first report.
    pub kernel_release: String,
    pub events_delivered: i64,
    pub events_dropped: i64,
    pub status_at: i64,
    pub previous_dropped: i64,
    pub previous_status_at: i64,
}

impl AgentInfo {
    /// Kernel events dropped between the last two health reports, and over how long (ns); None before the
    /// second report. A count lower than the previous one means the agent restarted: all of it is new.
    pub fn recent_drops(&self) -> Option<(i64, i64)> {
        if self.previous_status_at == 0 {
            return None;
        }
        let delta = if self.events_dropped >= self.previous_dropped {
            self.events_dropped - self.previous_dropped
        } else {
            self.events_dropped
        };
        Some((delta, self.status_at - self.previous_status_at))
    }
}

/// `GET /api/v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
}

/// `GET /api/v1/agents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentDetail {
    pub agent: AgentInfo,
}

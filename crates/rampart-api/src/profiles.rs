//! Security profiles and activity-dump requests.

use serde::{Deserialize, Serialize};

/// One profile in `GET /api/v1/profiles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileSummary {
    pub id: i64,
    pub image_name: String,
    pub image_tag: String,
    /// `learning` or `stable`.
    pub status: String,
    pub snapshots: i64,
    /// How many behaviours the profile holds.
    pub behaviors: usize,
    pub score: f64,
    pub first_seen: i64,
    pub last_updated: i64,
    pub stable_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileList {
    pub profiles: Vec<ProfileSummary>,
}

/// `GET /api/v1/profiles/{id}` (and its JSON export): the profile with every behaviour parsed and scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileDetail {
    pub id: i64,
    pub image_name: String,
    pub image_tag: String,
    /// `learning` or `stable`.
    pub status: String,
    pub snapshots: i64,
    pub first_seen: i64,
    pub last_updated: i64,
    pub stable_at: Option<i64>,
    pub score: f64,
    pub behaviors: Vec<ProfileBehavior>,
}

/// One behaviour of a profile: what ran, did or reached, and in how many of the workload's snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileBehavior {
    /// `process`, `file`, `dns`, `connect`, `bind`, `accept` or `event`.
    pub kind: String,
    /// Executables from the workload's first process to the acting one, joined by ` > `.
    pub process: String,
    /// The file operation and path, DNS name, peer or kernel event type; empty for `process`.
    pub detail: String,
    /// The share of snapshots that saw it (0 to 1).
    pub commonality: f64,
    /// One event that showed it, as the agent described it.
    #[serde(default)]
    pub example: Option<String>,
}

/// A suppression suggestion: the signal's behaviours are all in its image's stable profile, so the rule
/// could leave that image's containers alone for this behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub profile_id: i64,
    pub image_name: String,
    pub image_tag: String,
    pub rule_id: String,
    /// The signal's behaviours, with their commonality in the profile (`example` is never set here).
    pub behaviors: Vec<ProfileBehavior>,
    /// The SECL to subtract from the rule.
    pub expression: String,
}

/// `GET /api/v1/signals/{id}/suggestion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestionAnswer {
    /// Null when the signal's behaviour is not (all) in a stable profile.
    pub suggestion: Option<Suggestion>,
}

/// One activity snapshot merged into a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotInfo {
    pub id: i64,
    pub agent_id: i64,
    pub snapshot_id: String,
    pub workload: String,
    pub started_at: i64,
    pub ended_at: i64,
    pub events: i64,
    pub dropped: i64,
    pub behaviors: i64,
}

/// `GET /api/v1/profiles/{id}/snapshots`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotList {
    pub snapshots: Vec<SnapshotInfo>,
}

/// `POST /api/v1/snapshots`: what became of an agent's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotIngested {
    pub duplicate: bool,
    pub profile_id: Option<i64>,
    /// The profile was stable already: the snapshot is kept but not merged (stable profiles are immutable).
    pub profile_stable: bool,
    /// The snapshot made the profile stable.
    pub became_stable: bool,
}

/// `POST /api/v1/dumps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DumpRequest {
    /// The container's hex id.
    pub container_id: String,
    /// Only this agent (default: whichever agent runs the container).
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// Seconds (default 1800, at most 86400).
    #[serde(default)]
    pub duration: Option<u64>,
}

/// An activity-dump request and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dump {
    pub id: i64,
    pub agent_id: Option<i64>,
    pub container_id: String,
    pub duration_ns: i64,
    /// `pending`, `running`, `done` or `cancelled`.
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `POST /api/v1/dumps` and `DELETE /api/v1/dumps/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DumpDetail {
    pub dump: Dump,
}

/// `GET /api/v1/dumps` (newest first) and the agents' `GET /api/v1/agents/dumps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DumpList {
    pub dumps: Vec<Dump>,
}

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

//! `POST /api/v1/ingest`: a batch of an agent's matches and the server's acknowledgement.

use serde::{Deserialize, Serialize};

use crate::report::MatchReport;

/// The body of `POST /api/v1/ingest` (gzip or identity). The agent writes it from its spooled
/// [`MatchReport`] lines; the server bounds the JSON (size, matches, values, depth) before decoding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestBatch {
    pub matches: Vec<MatchReport>,
}

/// What the server did with a batch. Every match is counted once, as new or as a duplicate (a re-sent
/// batch), so an agent that gets this answer may forget the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestAck {
    /// Matches newly stored.
    pub accepted: usize,
    /// Matches already stored before (a re-sent batch), ignored.
    pub duplicates: usize,
    pub signals_created: usize,
    pub signals_updated: usize,
    pub backend_triggers: usize,
    /// Notifications queued for the new and escalated signals.
    pub notifications_queued: usize,
}

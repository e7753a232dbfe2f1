//! Signals: the list, facets and histogram of the explorer, a signal's detail, triage and comments
//! (`/api/v1/signals…`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rules::AgentRuleReport;

/// Who a signal is assigned to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignee {
    pub id: i64,
    /// Null once the user is deleted.
    pub username: Option<String>,
}

/// Matches of one rule grouped (per agent, host, container, process...) over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signal {
    pub id: i64,
    /// `agent` or `backend`.
    pub source: String,
    pub rule_id: String,
    pub group_key: String,
    pub severity: String,
    pub title: String,
    pub hostname: String,
    pub container_id: String,
    /// The container's image (`name:tag`), empty outside containers.
    pub image: String,
    pub process_path: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: i64,
    /// `open`, `under_review` or `archived`.
    pub state: String,
    pub assignee: Option<Assignee>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The agent whose matches an agent signal groups (None for backend signals).
    pub agent_id: Option<i64>,
}

/// `GET /api/v1/signals`: one page, newest first, and how many match the filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalList {
    pub signals: Vec<Signal>,
    pub total: i64,
}

/// How many signals have one value of a facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FacetCount {
    pub value: String,
    pub count: i64,
}

/// `GET /api/v1/signals/facets`: the 50 most common values of each facet, most common first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalFacets {
    pub state: Vec<FacetCount>,
    pub severity: Vec<FacetCount>,
    pub rule_id: Vec<FacetCount>,
    pub source: Vec<FacetCount>,
    pub hostname: Vec<FacetCount>,
    pub container_id: Vec<FacetCount>,
    pub image: Vec<FacetCount>,
}

impl SignalFacets {
    /// The facets' names, which are also the signal fields they count.
    pub const NAMES: [&'static str; 7] = [
        "state",
        "severity",
        "rule_id",
        "source",
        "hostname",
        "container_id",
        "image",
    ];

    /// The counts of facet `name` (one of [`Self::NAMES`]).
    pub fn counts_mut(&mut self, name: &str) -> Option<&mut Vec<FacetCount>> {
        Some(match name {
            "state" => &mut self.state,
            "severity" => &mut self.severity,
            "rule_id" => &mut self.rule_id,
            "source" => &mut self.source,
            "hostname" => &mut self.hostname,
            "container_id" => &mut self.container_id,
            "image" => &mut self.image,
            _ => return None,
        })
    }

    pub fn counts(&self, name: &str) -> &[FacetCount] {
        match name {
            "state" => &self.state,
            "severity" => &self.severity,
            "rule_id" => &self.rule_id,
            "source" => &self.source,
            "hostname" => &self.hostname,
            "container_id" => &self.container_id,
            "image" => &self.image,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistogramBucket {
    /// Epoch ns.
    pub start: i64,
    pub count: i64,
}

/// `GET /api/v1/signals/histogram`: signals per bucket of first-seen time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Histogram {
    pub interval_ns: i64,
    pub buckets: Vec<HistogramBucket>,
}

/// A rule match grouped into a signal, as its agent (or the backend) reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sample {
    pub match_id: i64,
    pub received_at: i64,
    /// The match report as stored (its event body is open: each event type has its own fields).
    #[serde(rename = "match")]
    pub report: Value,
}

/// One triage change of a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub actor: String,
    /// `state` or `assignee`.
    pub field: String,
    pub old_value: String,
    pub new_value: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comment {
    pub id: i64,
    pub signal_id: i64,
    /// Null once the author is deleted.
    pub author_id: Option<i64>,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

/// Another signal on the same host within the related window, and the closest link between the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelatedSignal {
    pub id: i64,
    /// `process_tree`, `container` or `host`.
    pub relation: String,
    pub rule_id: String,
    pub source: String,
    pub severity: String,
    pub title: String,
    pub container_id: String,
    pub process_path: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: i64,
    pub state: String,
}

/// What the rule behind a signal says. A backend rule's come from the server's rule set; an agent rule's
/// from the server's configuration (`defined_by: "server"`); a rule the server does not define (an agent's
/// local policy) has only what the signal's agent reported, under `agent_report`, never as the rule's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalRule {
    pub id: String,
    /// `agent` or `backend`.
    pub source: String,
    /// Agent rules only: `server`, or null when the server's configuration does not define the rule.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub defined_by: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Backend rules: their method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// What the signal's agent reported about a rule the server does not define (its word only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_report: Option<AgentRuleReport>,
}

/// `GET /api/v1/signals/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalDetail {
    pub signal: Signal,
    pub rule: SignalRule,
    /// The rule's remediation (null if it has none).
    pub remediation: Option<String>,
    /// Oldest first.
    pub samples: Vec<Sample>,
    pub comments: Vec<Comment>,
    /// Closest links first.
    pub related: Vec<RelatedSignal>,
    /// State and assignee changes, oldest first.
    pub history: Vec<Change>,
    /// The suppression suggestion of `GET /api/v1/signals/{id}/suggestion` (null if none).
    pub suggestion: Option<crate::profiles::Suggestion>,
}

/// `PATCH /api/v1/signals/{id}` and the answers that carry one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalOne {
    pub signal: Signal,
}

/// Triage: the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignalUpdate {
    /// `open`, `under_review` or `archived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A user id to assign, or null to unassign (absent: unchanged).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub assignee: Option<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelatedList {
    pub related: Vec<RelatedSignal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentList {
    pub comments: Vec<Comment>,
}

/// `POST /api/v1/signals/{id}/comments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1 to 10000 bytes of text, no NUL.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentCreated {
    pub comment: Comment,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defined_by_is_null_for_an_undefined_agent_rule_and_absent_for_a_backend_rule() {
        let agent = SignalRule {
            id: "r".into(),
            source: "agent".into(),
            defined_by: Some(None),
            ..SignalRule::default()
        };
        assert_eq!(
            serde_json::to_value(&agent).unwrap(),
            json!({"id": "r", "source": "agent", "defined_by": null})
        );
        let backend = SignalRule {
            source: "backend".into(),
            defined_by: None,
            ..agent.clone()
        };
        let v = serde_json::to_value(&backend).unwrap();
        assert!(v.get("defined_by").is_none(), "{v}");
        // And back: null stays null, absent stays absent.
        let back: SignalRule =
            serde_json::from_value(json!({"id": "r", "source": "agent", "defined_by": null}))
                .unwrap();
        assert_eq!(back, agent);
    }

    #[test]
    fn an_update_tells_unassign_from_unchanged() {
        let u: SignalUpdate = serde_json::from_str(r#"{"assignee": null}"#).unwrap();
        assert_eq!(u.assignee, Some(None));
        let u: SignalUpdate = serde_json::from_str(r#"{"state": "open"}"#).unwrap();
        assert_eq!(u.assignee, None);
        let e = serde_json::from_str::<SignalUpdate>(r#"{"owner": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `owner`"), "{e}");
    }
}

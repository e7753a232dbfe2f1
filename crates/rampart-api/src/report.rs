//! A rule match as the agent reports it, `monitor --json` and `rules test` print it and the server stores
//! it (DESIGN.md's match shape): a typed envelope (which rule, what its actions did, the anomaly or
//! Active Protection notice it stands for) around the event's own JSON, kept open because every event type
//! has its own fields (`event`, `process`, `container`, `exec`, `open`, ...).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{"rule": {...}, "actions": [...], "event": {...}, "process": {...}, "<payload>": {...}, ...}`.
///
/// The envelope's own fields are typed; every other top-level key is the event's. No `deny_unknown_fields`
/// here (serde cannot combine it with the open body): a renamed envelope key still fails, as a missing
/// `rule` or as an unknown key inside [`RuleHeader`] or an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchReport {
    pub rule: RuleHeader,
    /// What the rule's actions did or asked for (absent in an Active Protection notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<ActionReport>>,
    /// What was new, for a match of the anomaly rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<AnomalyReport>,
    /// The kill rule an Active Protection notice is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disarmed_rule: Option<String>,
    /// Why an Active Protection notice was raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The event's JSON: `event` (`id`, `type`, `timestamp`, `hostname`, ...), `process`, `container` and the
    /// event type's payload, as `rampart_model::Event` serialises them. Attacker-controlled throughout.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: Map<String, Value>,
}

impl MatchReport {
    /// A report of `rule` about the event whose JSON is `event`, with nothing else in the envelope.
    pub fn for_event(rule: RuleHeader, event: Map<String, Value>) -> MatchReport {
        MatchReport {
            rule,
            actions: None,
            anomaly: None,
            disarmed_rule: None,
            reason: None,
            event,
        }
    }
}

/// The rule that matched, as the match carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleHeader {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `info`, `low`, `medium`, `high` or `critical` (also readable from `tags.severity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The rule's tags (`severity`, `category`, `mitre`, ...); `null` reads as none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The policy that defined the rule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy: String,
}

/// An action a match took or requested (`actions[]`), with the agent's outcome for a kill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionReport {
    /// A variable was set. Values of `private` variables are not reported.
    Set {
        name: String,
        scope: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
        values: Vec<Value>,
        append: bool,
    },
    /// A signal sent to the scope (`process`, `container` or `cgroup`), and what came of it.
    Kill {
        signal: String,
        signal_number: i32,
        scope: String,
        /// What the agent did (absent where nothing acted on the request, as in `rules test`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<KillOutcome>,
        /// Processes the signal was sent to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pids: Option<Vec<u32>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The file at `field` (`exec.file`, `open.file`, ...) is to be hashed.
    Hash { field: String },
}

/// What happened to one kill action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KillOutcome {
    /// The kernel sent the signal at exec, before the new image ran.
    KilledInKernel,
    /// Sent from user space.
    Killed,
    /// The process was gone before the signal could be sent.
    AlreadyExited,
    /// The pid now belongs to another process (the event's exited and the pid was reused): not sent.
    PidRecycled,
    /// On the never-kill list.
    Spared,
    /// The rule's kills are disarmed.
    Disarmed,
    /// `dry_run`: nothing was sent.
    DryRun,
    /// Container scope for a process outside any container.
    NoContainer,
    Failed,
}

/// A behaviour outside a workload's stable security profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnomalyReport {
    /// The new behaviour (a profile entry: what ran, was opened, was connected to, ...).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub behavior: Value,
    pub profile: ProfileRef,
}

/// The security profile an anomaly was checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileRef {
    pub id: i64,
    pub image_name: String,
    pub image_tag: String,
    /// The profile's API path (`/api/v1/profiles/{id}`).
    pub url: String,
}

impl ProfileRef {
    pub fn new(id: i64, image_name: &str, image_tag: &str) -> ProfileRef {
        ProfileRef {
            id,
            image_name: image_name.into(),
            image_tag: image_tag.into(),
            url: format!("/api/v1/profiles/{id}"),
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_envelope_is_typed_and_the_event_body_stays_open() {
        let wire = json!({
            "rule": {"id": "r", "version": "1.0.0", "severity": "high", "tags": {"severity": "high"}},
            "actions": [{"type": "kill", "signal": "SIGKILL", "signal_number": 9, "scope": "process",
                         "outcome": "killed_in_kernel", "pids": [42]}],
            "event": {"id": "e", "type": "exec", "timestamp": 1},
            "exec": {"file": {"path": "/x", "any_new_field": [1, 2]}},
        });
        let report: MatchReport = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(report.rule.severity.as_deref(), Some("high"));
        assert!(matches!(
            &report.actions.as_ref().unwrap()[0],
            ActionReport::Kill {
                outcome: Some(KillOutcome::KilledInKernel),
                ..
            }
        ));
        assert_eq!(report.event["exec"]["file"]["any_new_field"], json!([1, 2]));
        // Byte-for-byte the same JSON back: nothing the envelope lacks is added (no empty `version`,
        // `anomaly`, `disarmed_rule`...), nothing of the body is lost.
        assert_eq!(serde_json::to_value(&report).unwrap(), wire);
    }

    #[test]
    fn a_misspelt_envelope_field_is_refused_by_name() {
        let bad = json!({"rule": {"id": "r", "sevrity": "high"}, "event": {}});
        let err = serde_json::from_value::<MatchReport>(bad).unwrap_err();
        assert!(err.to_string().contains("`sevrity`"), "{err}");
        let renamed = json!({"rules": {"id": "r"}, "event": {}});
        let err = serde_json::from_value::<MatchReport>(renamed).unwrap_err();
        assert!(err.to_string().contains("`rule`"), "{err}");
        // `tags: null` (older agents) reads as no tags.
        let null_tags = json!({"rule": {"id": "r", "tags": null}});
        let report: MatchReport = serde_json::from_value(null_tags).unwrap();
        assert!(report.rule.tags.is_empty());
    }
}

//! Remote configuration: the fleet's configuration and its history, the policies and custom rules it holds,
//! what publishing or checking a change answers, and each agent's configuration status.
//!
//! The stored types ([`StoredPolicy`], [`CustomRule`], [`StoredOverride`], [`Suppression`]) are also the
//! server's storage format of a revision (deny_unknown_fields: a stored revision with a field this build
//! does not know fails loudly rather than losing it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StoredPolicy {
    /// The policy file's YAML.
    pub content: String,
    #[serde(default)]
    pub description: String,
    /// An agent gets the policy when it has every one of these tags (none: every agent).
    #[serde(default)]
    pub target_tags: Vec<String>,
    pub updated_by: String,
    pub updated_at: i64,
}

/// A rule defined field by field rather than in a policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    pub expression: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Other tags (`mitre`, `category`, ...).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub remediation: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub target_tags: Vec<String>,
    #[serde(default)]
    pub updated_by: String,
    #[serde(default)]
    pub updated_at: i64,
}

fn default_severity() -> String {
    "medium".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StoredOverride {
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub suppressions: Vec<Suppression>,
    /// Agents the override applies to (none: every agent).
    #[serde(default)]
    pub target_tags: Vec<String>,
    #[serde(default)]
    pub updated_by: String,
    #[serde(default)]
    pub updated_at: i64,
}

/// A match of the rule that also satisfies `expression` is not reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    pub expression: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub created_at: i64,
}

/// One rule or macro that does not load, or a policy file that does not parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    pub policy: String,
    /// Rule or macro id; empty for a whole-file error.
    pub id: String,
    pub error: String,
}

/// What the compiler says of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub ok: bool,
    pub rules_loaded: usize,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// `GET /api/v1/config` and `GET /api/v1/config/revisions/{id}`: one revision, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigRevision {
    pub revision: i64,
    pub author: String,
    pub summary: String,
    pub created_at: i64,
    pub include_default: bool,
    pub policies: BTreeMap<String, StoredPolicy>,
    pub custom_rules: BTreeMap<String, CustomRule>,
    pub overrides: BTreeMap<String, StoredOverride>,
}

/// A revision without its content (history listings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionInfo {
    pub revision: i64,
    pub author: String,
    pub summary: String,
    pub created_at: i64,
}

/// `GET /api/v1/config/revisions`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionList {
    pub revisions: Vec<RevisionInfo>,
}

/// What every change of the configuration answers: the revision stored and the compiler's report of it
/// (none when the change needed no compile, e.g. a forced rollback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    pub revision: i64,
    pub report: Option<Report>,
}

/// `GET /api/v1/policies/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyDetail {
    pub name: String,
    pub revision: i64,
    pub policy: StoredPolicy,
}

/// `GET /api/v1/custom-rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomRuleList {
    pub revision: i64,
    pub rules: BTreeMap<String, CustomRule>,
}

/// `GET /api/v1/custom-rules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomRuleDetail {
    pub id: String,
    pub rule: CustomRule,
}

/// `GET /api/v1/config/public-key`: the key that signs configuration bundles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKey {
    /// Always `ed25519`.
    pub algorithm: String,
    /// Hex.
    pub key: String,
}

/// `POST /api/v1/policies/validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidateResult {
    pub report: Report,
}

/// `POST /api/v1/policies/test`: the candidate's report, and what it matches among recent stored events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestResult {
    pub report: Report,
    /// Stored events replayed.
    pub events: usize,
    /// Stored events that no longer decode as an event.
    pub unreadable: usize,
    /// At most 200.
    pub matches: Vec<ReplayMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayMatch {
    pub rule_id: String,
    /// Id of the stored match whose event matched.
    pub stored_match: i64,
    /// The match report the candidate rule would send (open: the event's own fields).
    pub event: Value,
}

/// `GET /api/v1/fleet`: the newest revision, and each agent's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fleet {
    pub revision: i64,
    pub agents: Vec<FleetAgent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetAgent {
    pub id: i64,
    pub hostname: String,
    pub version: String,
    pub tags: Vec<String>,
    pub config_revision: i64,
    /// `applied`, `failed`, `refused`, or `none` before the agent's first report.
    pub config_status: String,
    /// As the agent reported them (its word: shown, never interpreted).
    pub config_errors: Vec<Value>,
    pub config_updated_at: i64,
    pub last_seen_at: i64,
    pub revoked: bool,
}

/// `POST /api/v1/config/rollback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub revision: i64,
}

/// `PUT /api/v1/config/default-policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DefaultPolicyRequest {
    pub include_default: bool,
}

/// `PUT /api/v1/policies/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    pub content: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub target_tags: Vec<String>,
    /// Publish even if some rule does not compile (agents will refuse it and keep their rules).
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/v1/policies/validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    pub content: String,
    /// The policy this content would replace (its current version is left out of the check).
    #[serde(default)]
    pub name: Option<String>,
}

/// `PUT /api/v1/custom-rules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomRuleRequest {
    pub expression: String,
    #[serde(default)]
    pub description: String,
    /// Default `medium`.
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub remediation: String,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub target_tags: Vec<String>,
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/v1/policies/test`: either a policy file or one rule's expression.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// A policy file to test, or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// one rule's expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// How many of the most recent stored events to replay (default 1000, at most 10000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `PUT /api/v1/rule-overrides/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub target_tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_refuse_unknown_fields_and_default_the_optional_ones() {
        let p: PolicyRequest = serde_json::from_str(r#"{"content":"x"}"#).unwrap();
        assert_eq!((p.description.as_str(), p.force), ("", false));
        let e =
            serde_json::from_str::<PolicyRequest>(r#"{"content":"x","contents":"y"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `contents`"), "{e}");
        // A test request carries only the one of `content`/`expression` given (the server refuses both).
        let t = TestRequest {
            expression: Some("a == 1".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"expression":"a == 1","limit":null}"#
        );
    }

    #[test]
    fn a_renamed_field_is_a_decode_error_naming_it() {
        let e = serde_json::from_str::<RevisionInfo>(
            r#"{"revision":1,"writer":"a","summary":"s","created_at":0}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("missing field `author`"), "{e}");
    }
}

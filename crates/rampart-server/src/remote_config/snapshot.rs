//! One configuration revision's content, and the bundle it makes for one agent.

use std::collections::BTreeMap;

use rampart_policy::bundle::{Bundle, BundlePolicy, RuleOverride};
use serde::{Deserialize, Serialize};

/// The name of the policy custom rules are rendered into.
pub const CUSTOM_RULES_POLICY: &str = "custom-rules";

/// The whole fleet configuration at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Agents load Rampart's embedded default policy first.
    pub include_default: bool,
    /// Custom policy files by name.
    #[serde(default)]
    pub policies: BTreeMap<String, StoredPolicy>,
    /// Rules edited one by one (API, CLI, UI), by id.
    #[serde(default)]
    pub custom_rules: BTreeMap<String, CustomRule>,
    /// Per-rule overrides by rule id.
    #[serde(default)]
    pub overrides: BTreeMap<String, StoredOverride>,
    /// Ids of the stable security profiles pushed to agents (anomaly detection).
    #[serde(default)]
    pub stable_profiles: std::collections::BTreeSet<i64>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            include_default: true,
            policies: BTreeMap::new(),
            custom_rules: BTreeMap::new(),
            overrides: BTreeMap::new(),
            stable_profiles: Default::default(),
        }
    }
}

// The stored parts of a revision are wire types too (the configuration routes return them as stored).
pub use rampart_api::config::{CustomRule, StoredOverride, StoredPolicy, Suppression};

/// Whether an item targeted at `targets` applies to an agent with `agent_tags`.
pub fn targets(targets: &[String], agent_tags: &[String]) -> bool {
    targets.iter().all(|t| agent_tags.contains(t))
}

impl Snapshot {
    /// The custom rules as one policy file (YAML written by serde: values are quoted as needed, so an
    /// expression or description can never break out of its field).
    pub fn custom_rules_policy(&self, agent_tags: Option<&[String]>) -> Option<String> {
        let rules: Vec<serde_json::Value> = self
            .custom_rules
            .iter()
            .filter(|(_, r)| r.enabled && agent_tags.is_none_or(|t| targets(&r.target_tags, t)))
            .map(|(id, r)| {
                let mut tags = serde_json::Map::new();
                tags.insert("severity".into(), r.severity.clone().into());
                for (k, v) in &r.tags {
                    tags.insert(k.clone(), v.clone().into());
                }
                serde_json::json!({
                    "id": id, "version": "1.0.0", "description": r.description, "expression": r.expression,
                    "tags": tags, "remediation": r.remediation,
                })
            })
            .collect();
        if rules.is_empty() {
            return None;
        }
        let doc = serde_json::json!({"version": "1.0.0", "rules": rules});
        serde_yaml_ng::to_string(&doc).ok()
    }

    /// Every policy of the configuration as (name, YAML), custom rules last, for validation.
    pub fn all_policies(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .policies
            .iter()
            .map(|(n, p)| (n.clone(), p.content.clone()))
            .collect();
        if let Some(custom) = self.custom_rules_policy(None) {
            out.push((CUSTOM_RULES_POLICY.into(), custom));
        }
        out
    }

    /// The suppressions of the overrides, by rule id (what agents subtract from each rule).
    pub fn suppressions(&self) -> BTreeMap<String, Vec<String>> {
        self.overrides
            .iter()
            .filter(|(_, o)| !o.suppressions.is_empty())
            .map(|(id, o)| {
                (
                    id.clone(),
                    o.suppressions
                        .iter()
                        .map(|s| s.expression.clone())
                        .collect(),
                )
            })
            .collect()
    }

    /// The bundle an agent with `agent_tags` runs at `revision`; `profiles` are the stable profiles the
    /// snapshot lists, loaded by the caller.
    pub fn bundle_for(
        &self,
        revision: i64,
        issued_at: i64,
        agent_tags: &[String],
        profiles: Vec<rampart_policy::bundle::BundleProfile>,
    ) -> Bundle {
        let mut policies: Vec<BundlePolicy> = self
            .policies
            .iter()
            .filter(|(_, p)| targets(&p.target_tags, agent_tags))
            .map(|(name, p)| BundlePolicy {
                name: name.clone(),
                content: p.content.clone(),
            })
            .collect();
        if let Some(content) = self.custom_rules_policy(Some(agent_tags)) {
            policies.push(BundlePolicy {
                name: CUSTOM_RULES_POLICY.into(),
                content,
            });
        }
        let overrides = self
            .overrides
            .iter()
            .filter(|(_, o)| targets(&o.target_tags, agent_tags))
            .map(|(id, o)| RuleOverride {
                rule_id: id.clone(),
                disabled: o.disabled,
                suppressions: o
                    .suppressions
                    .iter()
                    .map(|s| s.expression.clone())
                    .collect(),
            })
            .collect();
        Bundle {
            revision,
            issued_at,
            include_default: self.include_default,
            policies,
            overrides,
            profiles,
            agent_id: None,
            expires_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_follow_targeting_and_custom_rules_are_safe_yaml() {
        let mut s = Snapshot::default();
        s.policies.insert(
            "prod-only".into(),
            StoredPolicy {
                content: "rules: []\n".into(),
                description: String::new(),
                target_tags: vec!["env:prod".into()],
                updated_by: "admin".into(),
                updated_at: 1,
            },
        );
        s.custom_rules.insert(
            "mine".into(),
            CustomRule {
                expression: "exec.file.name == \"x\"\nrules: [broken]".into(),
                description: "a: b # not a comment".into(),
                severity: "high".into(),
                tags: BTreeMap::new(),
                remediation: String::new(),
                enabled: true,
                target_tags: vec![],
                updated_by: String::new(),
                updated_at: 0,
            },
        );
        let dev = s.bundle_for(3, 0, &["env:dev".into()], vec![]);
        assert_eq!(
            dev.policies
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            [CUSTOM_RULES_POLICY]
        );
        let prod = s.bundle_for(3, 0, &["env:prod".into(), "team:a".into()], vec![]);
        assert_eq!(prod.policies.len(), 2);
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&dev.policies[0].content).unwrap();
        assert_eq!(
            yaml["rules"][0]["expression"],
            "exec.file.name == \"x\"\nrules: [broken]"
        );
        assert_eq!(yaml["rules"][0]["tags"]["severity"], "high");
    }
}

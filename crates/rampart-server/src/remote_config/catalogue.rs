//! The agent rules the server itself defines, with their metadata (description, severity, tags,
//! remediation): Rampart's default policy when the configuration includes it, the configuration's custom
//! policies and custom rules, and the rules agents raise themselves (anomalies). A signal shows its rule's
//! metadata from here only. What an agent reports about its rules is that agent's word: kept per agent
//! (`agent_rule_reports`) and shown as such, never as the rule's.

use std::collections::BTreeMap;

use rampart_policy::schema::{scalar_string, PolicyDoc, RuleDef};

use super::snapshot::Snapshot;

pub use rampart_api::rules::RuleMeta;

/// The rules of one configuration revision.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub revision: i64,
    rules: BTreeMap<String, RuleMeta>,
}

impl Catalogue {
    /// Reads the rule definitions of `snapshot` (YAML only, nothing compiled: a rule whose expression does
    /// not compile, or that host filters leave out on some agents, is still the server's rule).
    pub fn build(revision: i64, snapshot: &Snapshot) -> Catalogue {
        let mut c = Catalogue {
            revision,
            rules: BTreeMap::new(),
        };
        if snapshot.include_default {
            let default = rampart_policy::default_policy();
            c.add_policy(&default.name, &default.text);
        }
        for (name, yaml) in snapshot.all_policies() {
            c.add_policy(&name, &yaml);
        }
        for b in rampart_policy::builtin::BUILTIN_RULES {
            c.rules.entry(b.id.to_string()).or_insert_with(|| RuleMeta {
                id: b.id.into(),
                version: b.version.into(),
                description: b.description.into(),
                severity: b.severity().into(),
                tags: b.tag_map(),
                remediation: b.remediation.into(),
                policy: b.policy.into(),
            });
        }
        c
    }

    /// A rule's metadata is its first definition's, as the loader merges (`combine: override` replaces the
    /// expression, not the description or remediation).
    fn add_policy(&mut self, policy: &str, yaml: &str) {
        let Ok(doc) = serde_yaml_ng::from_str::<PolicyDoc>(yaml) else {
            return;
        };
        for value in doc.rules {
            let Ok(def) = serde_yaml_ng::from_value::<RuleDef>(value) else {
                continue;
            };
            if def.id.is_empty() || self.rules.contains_key(&def.id) {
                continue;
            }
            let tags: BTreeMap<String, String> = def
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), scalar_string(v)))
                .collect();
            self.rules.insert(
                def.id.clone(),
                RuleMeta {
                    severity: tags.get("severity").cloned().unwrap_or_default(),
                    version: def.version.as_ref().map(scalar_string).unwrap_or_default(),
                    id: def.id,
                    description: def.description,
                    tags,
                    remediation: def.remediation,
                    policy: policy.to_string(),
                },
            );
        }
    }

    pub fn get(&self, id: &str) -> Option<&RuleMeta> {
        self.rules.get(id)
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_config::snapshot::CustomRule;

    #[test]
    fn holds_the_default_policy_custom_rules_and_builtins() {
        let mut s = Snapshot::default();
        s.custom_rules.insert(
            "mine".into(),
            CustomRule {
                expression: "exec.file.name == \"x\"".into(),
                description: "Mine".into(),
                severity: "high".into(),
                tags: Default::default(),
                remediation: "Do this.".into(),
                enabled: true,
                target_tags: vec![],
                updated_by: String::new(),
                updated_at: 0,
            },
        );
        let c = Catalogue::build(4, &s);
        let mine = c.get("mine").unwrap();
        assert_eq!(
            (mine.severity.as_str(), mine.remediation.as_str()),
            ("high", "Do this.")
        );
        assert!(c.rules().count() > 10, "the default policy's rules");
        assert_eq!(c.get("anomaly_detection").unwrap().severity, "medium");
        s.include_default = false;
        let without = Catalogue::build(5, &s);
        assert!(without.rules().count() < c.rules().count());
        assert!(without.get("nope").is_none());
    }
}

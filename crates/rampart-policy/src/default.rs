//! Rampart's default policy, embedded in the binary, and the table of real-world tests that covers each of its
//! rules (`policies/default.tests.yaml`): a trigger that performs the behaviour for real and a benign look-alike.
//!
//! `rampart monitor` loads the default policy when no `--policy` is given; `rampart rules coverage` checks that
//! every rule has both test scripts; `crates/rampart/tests/default_policy.rs` runs them on the kernel.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::PolicySource;

/// The default policy's YAML text.
pub const DEFAULT_POLICY: &str = include_str!("../policies/default.policy");
/// The default policy's test table (YAML).
pub const DEFAULT_TESTS: &str = include_str!("../policies/default.tests.yaml");

/// The default policy as a loadable source (name `default`).
pub fn default_policy() -> PolicySource {
    PolicySource {
        name: "default".into(),
        file: "<embedded>/default.policy".into(),
        text: DEFAULT_POLICY.into(),
    }
}

/// The embedded test table of the default policy.
pub fn default_tests() -> Result<TestTable, String> {
    TestTable::parse(DEFAULT_TESTS)
}

/// A table of per-rule test cases.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TestTable {
    /// Helper programs (name → file content) put on the scripts' `PATH`.
    pub helpers: BTreeMap<String, String>,
    /// Rule id → its test case.
    pub cases: BTreeMap<String, TestCase>,
}

/// The scripts that exercise one rule.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TestCase {
    /// Performs the behaviour for real: the rule must match an event it causes.
    pub trigger: Option<String>,
    /// A look-alike that must not make the rule match.
    pub benign: Option<String>,
    /// What the case needs beyond root (`podman`, `dns`, `kernel_modules`: a kernel with loadable modules,
    /// `unhooked_credential_calls`: a monitor that does not see set*id and capset calls).
    pub needs: Vec<String>,
    /// Seconds each script may run (default 20).
    pub timeout: Option<u64>,
}

impl TestTable {
    pub fn parse(text: &str) -> Result<TestTable, String> {
        serde_yaml_ng::from_str(text).map_err(|e| format!("invalid test table: {e}"))
    }

    /// Coverage of `rule_ids` by this table.
    pub fn coverage<'a>(&self, rule_ids: impl IntoIterator<Item = &'a str>) -> Coverage {
        let mut cov = Coverage::default();
        let mut seen = BTreeSet::new();
        for id in rule_ids {
            seen.insert(id.to_string());
            cov.rules += 1;
            let case = self.cases.get(id);
            let has = |s: Option<&String>| s.is_some_and(|s| !s.trim().is_empty());
            let trigger = has(case.and_then(|c| c.trigger.as_ref()));
            let benign = has(case.and_then(|c| c.benign.as_ref()));
            if trigger && benign {
                cov.covered += 1;
            } else {
                cov.missing.push(Missing {
                    id: id.to_string(),
                    trigger: !trigger,
                    benign: !benign,
                });
            }
        }
        cov.unknown = self
            .cases
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        cov
    }
}

/// Which rules lack tests.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub rules: usize,
    pub covered: usize,
    /// Rules without a trigger or a benign case.
    pub missing: Vec<Missing>,
    /// Test cases naming no loaded rule (renamed or removed rules).
    pub unknown: Vec<String>,
}

impl Coverage {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unknown.is_empty()
    }
}

/// A rule without full tests.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Missing {
    pub id: String,
    /// No trigger script.
    pub trigger: bool,
    /// No benign script.
    pub benign: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_sources, LoadOptions};

    #[test]
    fn default_policy_loads_without_errors() {
        let loaded = load_sources(&[default_policy()], &LoadOptions::default());
        let errors: Vec<String> = loaded.report.errors().map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(loaded.report.policy_errors().next().is_none());
        let counts = loaded.report.counts();
        assert!(counts.loaded >= 80, "{counts:?}");
        assert_eq!(
            counts.loaded, counts.rules,
            "every default rule loads: {counts:?}"
        );
    }

    #[test]
    fn every_default_rule_is_documented() {
        let loaded = load_sources(&[default_policy()], &LoadOptions::default());
        let mut problems = Vec::new();
        for rule in loaded.ruleset.rules() {
            let m = &rule.meta;
            let id = &rule.id;
            if m.description.trim().is_empty() {
                problems.push(format!("{id}: no description"));
            }
            if m.remediation.trim().is_empty() {
                problems.push(format!("{id}: no remediation"));
            }
            if m.version.is_empty() {
                problems.push(format!("{id}: no version"));
            }
            match m.tags.get("severity").map(String::as_str) {
                Some("low" | "medium" | "high" | "critical") => {}
                other => problems.push(format!("{id}: severity {other:?}")),
            }
            let mitre = m.tags.get("mitre").map(String::as_str).unwrap_or("");
            let valid = mitre.len() >= 5
                && mitre.starts_with('T')
                && mitre[1..5].chars().all(|c| c.is_ascii_digit())
                && (mitre.len() == 5
                    || (mitre.as_bytes()[5] == b'.'
                        && mitre[6..].chars().all(|c| c.is_ascii_digit())));
            if !valid {
                problems.push(format!("{id}: MITRE technique `{mitre}`"));
            }
            if !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                problems.push(format!("{id}: id is not snake_case"));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn miner_rules_kill() {
        let loaded = load_sources(&[default_policy()], &LoadOptions::default());
        let miners: Vec<_> = loaded
            .ruleset
            .rules()
            .iter()
            .filter(|r| r.id.starts_with("miner_"))
            .collect();
        assert!(miners.len() >= 4);
        for id in [
            "miner_stratum_url_in_args",
            "miner_cli_options",
            "miner_known_binary",
            "miner_pool_domain_lookup",
        ] {
            let rule = miners
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("{id} missing"));
            assert!(
                rule.kill_actions().next().is_some(),
                "{id} has no kill action"
            );
        }
    }

    #[test]
    fn the_default_policy_is_fully_covered_by_its_tests() {
        let loaded = load_sources(&[default_policy()], &LoadOptions::default());
        let table = default_tests().unwrap();
        let cov = table.coverage(loaded.ruleset.rules().iter().map(|r| r.id.as_str()));
        assert!(cov.is_complete(), "{cov:#?}");
        assert_eq!(cov.covered, cov.rules);
    }

    #[test]
    fn coverage_lists_rules_without_cases() {
        let table = TestTable::parse(
            "cases:\n  a: {trigger: 'true', benign: 'true'}\n  b: {trigger: 'true'}\n  gone: {trigger: x}\n",
        )
        .unwrap();
        let cov = table.coverage(["a", "b", "c"]);
        assert_eq!(cov.rules, 3);
        assert_eq!(cov.covered, 1);
        assert_eq!(
            cov.missing,
            vec![
                Missing {
                    id: "b".into(),
                    trigger: false,
                    benign: true
                },
                Missing {
                    id: "c".into(),
                    trigger: true,
                    benign: true
                },
            ]
        );
        assert_eq!(cov.unknown, vec!["gone".to_string()]);
        assert!(!cov.is_complete());
        assert!(
            TestTable::parse("cases:\n  a: {trigger: x, oops: 1}\n").is_err(),
            "unknown keys are rejected"
        );
    }
}

//! Checking a configuration with the agents' own rule compiler before it is published.

use rampart_policy::{load_sources, LoadOptions, PolicySource, Status};
use serde::Serialize;

use super::snapshot::Snapshot;

/// One rule or macro that does not load, or a policy file that does not parse.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub policy: String,
    /// Rule or macro id; empty for a whole-file error.
    pub id: String,
    pub error: String,
}

/// What the compiler says of a configuration.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub ok: bool,
    pub rules_loaded: usize,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// Compiles `policies` (name, YAML) after the default policy when `include_default`, as an agent would
/// load them together.
pub fn check_policies(include_default: bool, policies: &[(String, String)]) -> Report {
    check_with(include_default, policies, Default::default())
}

fn check_with(
    include_default: bool,
    policies: &[(String, String)],
    suppressions: std::collections::BTreeMap<String, Vec<String>>,
) -> Report {
    let mut sources = Vec::new();
    if include_default {
        sources.push(rampart_policy::default_policy());
    }
    for (name, text) in policies {
        sources.push(PolicySource {
            name: name.clone(),
            file: name.clone(),
            text: text.clone(),
        });
    }
    let options = LoadOptions {
        suppressions,
        ..LoadOptions::default()
    };
    let loaded = load_sources(&sources, &options);
    let mut report = Report {
        rules_loaded: loaded.report.counts().loaded,
        ..Default::default()
    };
    for p in loaded.report.policy_errors() {
        report.problems.push(Problem {
            policy: p.name.clone(),
            id: String::new(),
            error: p.error.clone().unwrap_or_default(),
        });
    }
    for e in &loaded.report.entries {
        if let Status::Error { .. } = &e.status {
            report.problems.push(Problem {
                policy: e.policy.clone(),
                id: e.id.clone(),
                error: e.to_string(),
            });
        }
        for w in &e.warnings {
            report.warnings.push(Problem {
                policy: e.policy.clone(),
                id: e.id.clone(),
                error: w.to_string(),
            });
        }
    }
    report.ok = report.problems.is_empty();
    report
}

/// The whole configuration, every policy and custom rule at once (targeting aside).
/// Suppressions are compiled into their rules, as agents do.
pub fn check(snapshot: &Snapshot) -> Report {
    check_with(
        snapshot.include_default,
        &snapshot.all_policies(),
        snapshot.suppressions(),
    )
}

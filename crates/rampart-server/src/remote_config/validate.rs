//! Checking a configuration with the agents' own rule compiler before it is published. Compiles run on the
//! blocking pool behind the state's compile gate, each within the time budget: a policy written to be slow
//! to compile (thousands of costly regexes) gets its problems reported, and holds one thread for at most
//! the budget.

use std::time::Instant;

use rampart_policy::{load_sources, LoadOptions, PolicySource, Status};

use super::snapshot::Snapshot;
use crate::error::ApiResult;
use crate::state::AppState;

pub use rampart_api::config::{Problem, Report};

/// Compiles `policies` (name, YAML) after the default policy when `include_default`, as an agent would
/// load them together.
pub async fn check_policies(
    s: &AppState,
    include_default: bool,
    policies: Vec<(String, String)>,
) -> ApiResult<Report> {
    behind_gate(s, include_default, policies, Default::default()).await
}

/// [`compile_report`] on the compile gate's threads, within the time budget (counted from when it starts).
async fn behind_gate(
    s: &AppState,
    include_default: bool,
    policies: Vec<(String, String)>,
    suppressions: std::collections::BTreeMap<String, Vec<String>>,
) -> ApiResult<Report> {
    let budget = s.config.limits.compile_budget;
    s.compile_gate
        .run(move || {
            compile_report(
                include_default,
                &policies,
                suppressions,
                Instant::now() + budget,
            )
        })
        .await
}

/// The compiler's report on `policies` (after the default policy when `include_default`), compiled on this
/// thread, stopping at `deadline`. The async checks above run it behind the compile gate.
pub fn compile_report(
    include_default: bool,
    policies: &[(String, String)],
    suppressions: std::collections::BTreeMap<String, Vec<String>>,
    deadline: Instant,
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
        deadline: Some(deadline),
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
                error: w.clone(),
            });
        }
    }
    report.ok = report.problems.is_empty();
    report
}

/// The whole configuration, every policy and custom rule at once (targeting aside).
/// Suppressions are compiled into their rules, as agents do.
pub async fn check(s: &AppState, snapshot: &Snapshot) -> ApiResult<Report> {
    behind_gate(
        s,
        snapshot.include_default,
        snapshot.all_policies(),
        snapshot.suppressions(),
    )
    .await
}

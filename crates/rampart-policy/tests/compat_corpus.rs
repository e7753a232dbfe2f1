//! The Datadog default policy (319 rules) must compile at ≥ 95 %. The file lives beside the repository
//! (`../shared/reference/datadog-policies/default.policy`) and is never copied into it.

use std::path::PathBuf;

use rampart_policy::{load_paths, HostInfo, LoadOptions, Status};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/datadog-policies/default.policy")
}

#[test]
fn datadog_default_policy_compiles() {
    let path = corpus();
    assert!(
        path.exists(),
        "compatibility corpus missing: {} (clone the repository with `shared/` beside it)",
        path.display()
    );
    let opts = LoadOptions {
        host: HostInfo { kernel: (6, 18, 0), ..HostInfo::default() },
        agent_version: None,
        typecheck_filtered: true,
    };
    let loaded = load_paths(&[path], &opts).expect("read corpus");
    let report = &loaded.report;
    assert!(report.policy_errors().next().is_none(), "{:?}", report.policies);
    let c = report.counts();
    let mut failing = Vec::new();
    for e in &report.entries {
        match &e.status {
            Status::Error { reason } => failing.push(format!("{} {}:{}: {reason}", e.id, e.line, e.col)),
            Status::Filtered { check: Some(reason), .. } => {
                failing.push(format!("{} (filtered) {}:{}: {reason}", e.id, e.line, e.col))
            }
            _ => {}
        }
    }
    let compiled = c.loaded + c.filtered_ok;
    eprintln!(
        "corpus: {} rules; {} loaded for Linux, {} filtered by `filters` of which {} type-check, {} failed; \
         {compiled}/{} compile ({:.1} %)",
        c.rules,
        c.loaded,
        c.filtered,
        c.filtered_ok,
        c.rules - compiled,
        c.rules,
        100.0 * compiled as f64 / c.rules as f64
    );
    for f in &failing {
        eprintln!("  FAIL {f}");
    }
    assert_eq!(c.rules, 319, "the corpus has 319 rules");
    assert_eq!(c.macro_errors, 0, "macros must all compile: {failing:#?}");
    assert!(compiled * 100 >= c.rules * 95, "only {compiled}/{} rules compile:\n{}", c.rules, failing.join("\n"));
    // Linux rules alone must meet the floor too (the Windows rules are filtered on Linux).
    let linux = c.rules - 37;
    assert!(c.loaded * 100 >= linux * 95, "only {}/{linux} Linux rules load", c.loaded);
}

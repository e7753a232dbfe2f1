//! Item 1: a policy whose expression is a chain of 5,000 `process.pid == N ||` terms (100 KB) sent to
//! `POST /api/v1/policies/validate` aborted the server (`has overflowed its stack`): the parser built a
//! tree 5,000 deep and the compiler recursed once per term.

use serde_json::{json, Value};

use super::{addr_of, assert_healthz_fast};
use crate::common::{TestDb, TestServer};

fn chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("process.pid == {i}"))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// A policy with the chain, 10,000 nested parentheses, and one benign rule.
fn hostile_policy() -> String {
    let parens = format!(
        "{}exec.file.name == \"sh\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    format!(
        "version: 1.0.0\nrules:\n\
         - id: benign_rule\n  expression: exec.file.name == \"nc\"\n\
         - id: long_chain\n  expression: exec.file.name == \"x\" && ({})\n\
         - id: deep_parens\n  expression: '{parens}'\n",
        chain(5000)
    )
}

fn problem<'a>(report: &'a Value, id: &str) -> &'a str {
    report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == id)
        .and_then(|p| p["error"].as_str())
        .unwrap_or_else(|| panic!("no problem for {id}: {report}"))
}

async fn deep_and_long_rules_are_refused_with_reasons(db: TestDb) {
    let s = TestServer::start(&db).await;
    let token = s.admin.clone();
    let policy = hostile_policy();
    assert!(policy.len() > 100_000);

    let (st, v) = s
        .call(
            "POST",
            "/api/v1/policies/validate",
            Some(&token),
            Some(json!({"content": policy})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let report = &v["report"];
    assert_eq!(report["ok"], false);
    assert!(problem(report, "long_chain").contains("more than 4096 operators"));
    assert!(problem(report, "deep_parens").contains("nested too deeply"));
    assert!(report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != "benign_rule"));

    // Publishing it is refused with the same reasons, and nothing is stored.
    let revisions = s.count("config_revisions").await;
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/policies/hostile",
            Some(&s.admin),
            Some(json!({"content": hostile_policy()})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(problem(&v, "long_chain").contains("operators"), "{v}");
    let (st, _) = s
        .call("GET", "/api/v1/policies/hostile", Some(&s.admin), None)
        .await;
    assert_eq!(st, 404);
    let expression = format!("exec.file.name == \"x\" && ({})", chain(5000));
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/custom-rules/chain",
            Some(&s.admin),
            Some(json!({"expression": expression})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(
        s.count("config_revisions").await,
        revisions,
        "nothing stored"
    );

    // The benign twin publishes.
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/custom-rules/chain",
            Some(&s.admin),
            Some(json!({"expression": format!("exec.file.name == \"x\" && ({})", chain(50))})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(deep_and_long_rules_are_refused_with_reasons);

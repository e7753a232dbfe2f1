//! Item 5: 200 rules with `(\w{1,100}){1,50}` in one 16 KB validate request took 21.7 s to compile, on
//! the async workers, and blocked `/healthz` for 37 s.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{addr_of, healthz_during};
use crate::common::{call, config, TestDb, TestServer};

/// A policy of `n` rules, rule `i` being `expression(i)`.
fn policy(n: usize, expression: impl Fn(usize) -> String) -> String {
    let mut p = String::from("version: 1.0.0\nrules:\n");
    for i in 0..n {
        p.push_str(&format!(
            "- id: rule_{i}\n  expression: '{}'\n",
            expression(i)
        ));
    }
    p
}

fn problems(v: &Value) -> Vec<&str> {
    v["report"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["error"].as_str())
        .collect()
}

async fn costly_regexes_are_refused_without_blocking_the_server(db: TestDb) {
    let mut c = config(&db.url());
    // The default budget is 10 s; an unoptimised build compiles regexes ~6 times slower than a release.
    c.limits.compile_budget = Duration::from_secs(3);
    let s = TestServer::start_with(c).await;
    let content = policy(200, |_| r#"exec.file.name =~ r"(\w{1,100}){1,50}""#.into());
    assert!(content.len() < 16 << 10);
    let started = Instant::now();
    let ((st, v), worst) = healthz_during(
        addr_of(&s.base),
        s.call(
            "POST",
            "/api/v1/policies/validate",
            Some(&s.admin),
            Some(json!({"content": content})),
        ),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(st, 200, "{v}");
    let problems = problems(&v);
    assert_eq!(problems.len(), 200, "{v}");
    // Each regex is refused at the size budget (4 ms each in a release build); an unoptimised build
    // refuses those it reaches within the time budget and reports the others as past it.
    let refused = problems.iter().filter(|p| p.contains("size limit")).count();
    assert!(refused > 0, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| p.contains("size limit") || p.contains("compile time budget exceeded")),
        "{problems:?}"
    );
    let budget = s.state.config.limits.compile_budget;
    assert!(took < budget + Duration::from_secs(5), "{took:?}");
    assert!(
        worst < super::HEALTHZ_BOUND,
        "/healthz took {worst:?} during the compile"
    );
    eprintln!("200 costly regexes: {refused} refused for size, all answered in {took:?}; /healthz worst {worst:?}");
    s.stop().await;
}
both!(costly_regexes_are_refused_without_blocking_the_server);

async fn compiles_stop_at_the_time_budget_and_queue_boundedly(db: TestDb) {
    let mut c = config(&db.url());
    c.limits.compile_budget = Duration::from_millis(300);
    c.limits.compile_concurrency = 1;
    let s = TestServer::start_with(c).await;
    let token = s.admin.clone();
    // Thousands of distinct, legal regexes: more work than the budget allows.
    let content = policy(1500, |i| {
        format!(r#"exec.file.name =~ r"^[a-z]{{1,30}}[0-9]{{2,20}}x{i}$""#)
    });
    let validate = || {
        s.call(
            "POST",
            "/api/v1/policies/validate",
            Some(&token),
            Some(json!({"content": content})),
        )
    };
    let started = Instant::now();
    let (st, v) = validate().await;
    let took = started.elapsed();
    assert_eq!(st, 200, "{v}");
    assert!(
        problems(&v)
            .iter()
            .any(|p| p.contains("compile time budget exceeded")),
        "{v}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // One compile at a time, eight callers waiting at most: the others are told to retry.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = format!("{}/api/v1/policies/validate", s.base);
        let (token, body) = (token.clone(), json!({"content": content}).to_string());
        calls.spawn(
            async move { call(&url, "POST", Some(&token), Some(body.into_bytes()), &[]).await },
        );
    }
    let all = calls.join_all().await;
    let busy: Vec<&(u16, Value)> = all.iter().filter(|(st, _)| *st == 503).collect();
    assert!(busy.len() >= 20 - 1 - 8, "{} busy of 20", busy.len());
    assert!(busy.iter().all(|(_, v)| v["message"]
        .as_str()
        .unwrap_or_default()
        .contains("policy compiles")));
    assert!(all.iter().all(|(st, _)| *st == 200 || *st == 503));
    super::assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(compiles_stop_at_the_time_budget_and_queue_boundedly);

//! Remote configuration over HTTP against SQLite and a real PostgreSQL: roles, validation that stores
//! nothing on refusal, signed per-agent bundles with tag targeting, concurrent publishers, and a long poll
//! on one replica woken by a change made through another replica of the same database.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{TestDb, TestServer};
use rampart_policy::bundle::SignedBundle;
use serde_json::{json, Value};

const RULE: &str =
    "version: 1.0.0\nrules:\n  - id: rc_test\n    expression: exec.file.name == \"nc\"\n";

/// Enrolls an agent with `tags`; returns (credential, pinned key).
async fn enroll(s: &TestServer, host: &str, tags: &[&str]) -> (String, String) {
    let (_, t) = s
        .call(
            "POST",
            "/api/v1/enrollment-tokens",
            Some(&s.admin),
            Some(json!({"name": host})),
        )
        .await;
    let (code, v) = s
        .call(
            "POST",
            "/api/v1/agents/enroll",
            None,
            Some(json!({"token": t["token"], "hostname": host, "tags": tags})),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    (
        v["secret"].as_str().unwrap().into(),
        v["config_public_key"].as_str().unwrap().into(),
    )
}

async fn bundle(s: &TestServer, agent: &str, query: &str) -> (u16, Value) {
    s.call(
        "GET",
        &format!("/api/v1/agents/config{query}"),
        Some(agent),
        None,
    )
    .await
}

async fn roles_validation_and_targeting(db: TestDb) {
    let s = TestServer::start(&db).await;
    let viewer = s.user_token("v", "viewer").await;
    let responder = s.user_token("r", "responder").await;
    let policy = json!({"content": RULE, "target_tags": ["env:prod"]});

    let (code, _) = s
        .call(
            "PUT",
            "/api/v1/policies/p1",
            Some(&viewer),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(code, 403, "a viewer cannot publish");
    let (code, _) = s
        .call(
            "PUT",
            "/api/v1/policies/p1",
            Some(&responder),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(code, 403, "a responder cannot publish");
    let (code, v) = s
        .call(
            "POST",
            "/api/v1/policies/validate",
            Some(&responder),
            Some(json!({"content": RULE})),
        )
        .await;
    assert_eq!((code, &v["report"]["ok"]), (200, &json!(true)), "{v}");

    // Refused publications store nothing.
    for (name, body, want) in [
        (
            "bad",
            json!({"content": "rules: [{id: x, expression: 'exec.file.name == 1'}]"}),
            422,
        ),
        ("bad", json!({"content": RULE, "unknown": 1}), 422),
        ("bad name!", json!({"content": RULE}), 422),
        (
            "bad",
            json!({"content": RULE, "target_tags": ["bad tag"]}),
            422,
        ),
    ] {
        let path = format!("/api/v1/policies/{}", name.replace(' ', "%20"));
        let (code, v) = s.call("PUT", &path, Some(&s.admin), Some(body)).await;
        assert_eq!(code, want, "{name}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert_eq!(s.count("config_revisions").await, 0);

    let (code, v) = s
        .call("PUT", "/api/v1/policies/p1", Some(&s.admin), Some(policy))
        .await;
    assert_eq!((code, &v["revision"]), (200, &json!(1)), "{v}");
    let (code, v) = s.call("GET", "/api/v1/config", Some(&viewer), None).await;
    assert_eq!(code, 200);
    assert_eq!(v["policies"]["p1"]["target_tags"], json!(["env:prod"]));

    // Bundles: signed with the key given at enrollment, targeted by tags.
    let (prod, key) = enroll(&s, "prod-1", &["env:prod", "team:a"]).await;
    let (dev, _) = enroll(&s, "dev-1", &["env:dev"]).await;
    let (code, v) = bundle(&s, &prod, "").await;
    assert_eq!(code, 200);
    let signed: SignedBundle = serde_json::from_value(v).unwrap();
    let b = signed.verify(&key).expect("signed by the pinned key");
    assert_eq!(b.revision, 1);
    assert_eq!(b.policies.len(), 1);
    let (_, v) = bundle(&s, &dev, "").await;
    let b = serde_json::from_value::<SignedBundle>(v)
        .unwrap()
        .verify(&key)
        .unwrap();
    assert!(b.policies.is_empty(), "not targeted at env:dev");
    let (code, _) = bundle(&s, &prod, "?since=1&wait=1").await;
    assert_eq!(code, 204, "nothing newer");
    let (code, _) = bundle(&s, &s.admin, "").await;
    assert_eq!(code, 401, "only agents poll");

    // Status reports reach the fleet view; bad ones are refused.
    let (code, _) = s
        .call(
            "PUT",
            "/api/v1/agents/config-status",
            Some(&prod),
            Some(json!({"revision": 1, "status": "failed", "errors": [{"rule_id": "x", "error": "e"}]})),
        )
        .await;
    assert_eq!(code, 204);
    let (code, _) = s
        .call(
            "PUT",
            "/api/v1/agents/config-status",
            Some(&prod),
            Some(json!({"revision": 1, "status": "whatever"})),
        )
        .await;
    assert_eq!(code, 422);
    let (_, fleet) = s.call("GET", "/api/v1/fleet", Some(&viewer), None).await;
    let a = fleet["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["hostname"] == "prod-1")
        .unwrap()
        .clone();
    assert_eq!(
        (&a["config_status"], &a["config_errors"][0]["rule_id"]),
        (&json!("failed"), &json!("x"))
    );
    s.stop().await;
}
both!(roles_validation_and_targeting);

async fn concurrent_publishers_each_get_a_revision(db: TestDb) {
    let s = TestServer::start(&db).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (base, admin) = (s.base.clone(), s.admin.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"expression": format!("exec.file.name == \"tool{i}\"")});
            common::call(
                &format!("{base}/api/v1/custom-rules/rule_{i}"),
                "PUT",
                Some(&admin),
                Some(serde_json::to_vec(&body).unwrap()),
                &[],
            )
            .await
        }));
    }
    let mut revisions = Vec::new();
    for t in tasks {
        let (code, v) = t.await.unwrap();
        assert_eq!(code, 200, "{v}");
        revisions.push(v["revision"].as_i64().unwrap());
    }
    revisions.sort_unstable();
    assert_eq!(
        revisions,
        (1..=8).collect::<Vec<_>>(),
        "one revision each, none lost"
    );
    let (_, v) = s
        .call("GET", "/api/v1/custom-rules", Some(&s.admin), None)
        .await;
    assert_eq!(v["rules"].as_object().unwrap().len(), 8);
    s.stop().await;
}
both!(concurrent_publishers_each_get_a_revision);

/// Two replicas on one PostgreSQL database: an agent long-polling replica B sees a change published
/// through replica A within about a second, and both sign with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_wakes_polls_on_another() {
    rampart_testkit::require!(postgres);
    let db = TestDb::postgres();
    let a = TestServer::start(&db).await;
    let b = TestServer::start(&db).await;
    let (agent, key) = enroll(&b, "host", &[]).await;
    let (base, agent2) = (b.base.clone(), agent.clone());
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let r = common::call(
            &format!("{base}/api/v1/agents/config?since=0&wait=20"),
            "GET",
            Some(&agent2),
            None,
            &[],
        )
        .await;
        (r, started)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let published = Instant::now();
    let (code, v) = a
        .call(
            "PUT",
            "/api/v1/custom-rules/from_a",
            Some(&a.admin),
            Some(json!({"expression": "exec.file.name == \"x\""})),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let ((code, v), started) = poll.await.unwrap();
    assert_eq!(code, 200, "{v}");
    let woke = published.elapsed();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        woke < Duration::from_secs(3),
        "woken {woke:?} after the publish"
    );
    let bundle = serde_json::from_value::<SignedBundle>(v)
        .unwrap()
        .verify(&key)
        .expect("replica B signs with the shared key");
    assert_eq!(bundle.revision, 1);
    a.stop().await;
    b.stop().await;
}

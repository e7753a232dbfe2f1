//! Issue 20, item 10 (bundles): the configuration bundle an agent receives is bound to that agent and
//! expires, so one agent's bundle replayed to another, or held back, is refused by the agent (whose side
//! — strict signatures, the persisted revision floor — `rampart-agent/tests/remote_client.rs` performs).

use rampart_policy::bundle::{BundleError, SignedBundle, CLOCK_SKEW_NS};
use serde_json::{json, Value};

use super::{addr_of, assert_healthz_fast, now_ns};
use crate::common::{TestDb, TestServer};

async fn enroll(s: &TestServer, host: &str) -> (i64, String, String) {
    let token = s.enrollment_token().await;
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/agents/enroll",
            None,
            Some(json!({"token": token, "hostname": host})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    (
        v["agent_id"].as_i64().unwrap(),
        v["secret"].as_str().unwrap().to_string(),
        v["config_public_key"].as_str().unwrap().to_string(),
    )
}

async fn poll(s: &TestServer, secret: &str, query: &str) -> SignedBundle {
    let (st, v) = s
        .agent_call(
            secret,
            "GET",
            &format!("/api/v1/agents/config{query}"),
            Value::Null,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    serde_json::from_value(v).unwrap()
}

async fn bundles_are_bound_to_their_agent_and_expire(db: TestDb) {
    let s = TestServer::start(&db).await;
    let (a, a_secret, key) = enroll(&s, "web-1").await;
    let (b, _, _) = enroll(&s, "web-2").await;
    let before = now_ns();
    let signed = poll(&s, &a_secret, "?bound=true").await;
    let bundle = signed.verify_for(&key, a).expect("A's own bundle");
    assert_eq!(bundle.agent_id, Some(a));
    let expires = bundle.expires_at.unwrap();
    assert!(
        expires > before && expires <= now_ns() + 3_600_000_000_000,
        "{expires}"
    );
    bundle.check_fresh(now_ns()).unwrap();
    assert!(matches!(
        bundle.check_fresh(expires + CLOCK_SKEW_NS + 1),
        Err(BundleError::Expired { .. })
    ));
    // Replayed to agent B: refused.
    assert!(matches!(
        signed.verify_for(&key, b),
        Err(BundleError::WrongAgent { issued_to: Some(x), agent }) if x == a && agent == b
    ));
    // Agents from before binding get the format they understand, and current agents refuse it.
    let legacy = poll(&s, &a_secret, "").await;
    assert!(!legacy.bundle.contains("agent_id") && !legacy.bundle.contains("expires_at"));
    assert!(legacy.verify_for(&key, a).is_err());
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(bundles_are_bound_to_their_agent_and_expire);

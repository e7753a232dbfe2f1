//! Issue 20, item 9: revocation revokes. A revoked host cannot enroll again (with the token left on its
//! disk, or a new one) until an admin readmits it; enrollment tokens are single use and expire unless
//! the admin says otherwise; the real agent removes its token once enrolled; `rampart up`'s local token
//! exists only until its agent enrolled.

use std::time::Duration;

use rampart_agent::report::{Reporter, ReporterConfig};
use rampart_server::{auth::store, bootstrap};
use serde_json::json;

use super::{addr_of, assert_healthz_fast, now_ns, scalar};
use crate::common::{as_report, mk_match, TestDb, TestServer};

async fn enroll(s: &TestServer, token: &str, host: &str) -> (u16, serde_json::Value) {
    s.call(
        "POST",
        "/api/v1/agents/enroll",
        None,
        Some(json!({"token": token, "hostname": host})),
    )
    .await
}

async fn revoke(s: &TestServer, agent_id: i64) {
    let (st, v) = s
        .call(
            "DELETE",
            &format!("/api/v1/agents/{agent_id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 204, "{v}");
}

async fn a_revoked_host_stays_out_until_readmitted(db: TestDb) {
    let s = TestServer::start(&db).await;
    let token = s.enrollment_token().await;
    let (st, first) = enroll(&s, &token, "web-1").await;
    assert_eq!(st, 201, "{first}");
    // Tokens are single use and expire by default.
    let (st, v) = enroll(&s, &token, "web-2").await;
    assert_eq!(st, 401, "{v}");
    let (_, tokens) = s
        .call("GET", "/api/v1/enrollment-tokens", Some(&s.admin), None)
        .await;
    let t = &tokens["enrollment_tokens"][0];
    assert_eq!(
        (t["max_uses"].as_i64(), t["uses"].as_i64()),
        (Some(1), Some(1))
    );
    let ttl = t["expires_at"].as_i64().unwrap() - now_ns();
    assert!(ttl > 0 && ttl <= 24 * 3600 * 1_000_000_000, "{t}");
    for bad in [
        json!({"name": "x", "max_uses": 0}),
        json!({"name": "x", "max_uses": 1_000_001}),
    ] {
        let (st, v) = s
            .call(
                "POST",
                "/api/v1/enrollment-tokens",
                Some(&s.admin),
                Some(bad),
            )
            .await;
        assert_eq!(st, 422, "{v}");
    }

    let agent_id = first["agent_id"].as_i64().unwrap();
    let secret = first["secret"].as_str().unwrap();
    revoke(&s, agent_id).await;
    let (st, _) = s
        .ingest(
            secret,
            &[mk_match("r", "e1", now_ns(), "web-1", None, 1, "/bin/sh")],
        )
        .await;
    assert_eq!(st, 401);
    // The host comes back with a valid token: refused, and the refusal does not use the token up.
    let fresh = s.enrollment_token().await;
    let (st, v) = enroll(&s, &fresh, "web-1").await;
    assert_eq!(st, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("readmit"), "{v}");
    let agents: i64 = scalar(&s.state.db, "SELECT COUNT(*) FROM agents").await;
    assert_eq!(agents, 1, "nothing enrolled");
    let uses: i64 = scalar(
        &s.state.db,
        "SELECT MAX(uses) FROM enrollment_tokens WHERE id = 2",
    )
    .await;
    assert_eq!(uses, 0);
    assert_eq!(s.count("matches").await, 0);

    // The admin lets it back: the same token now enrolls it (a new credential; the old one stays dead).
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/agents/{agent_id}/readmit"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, v) = enroll(&s, &fresh, "web-1").await;
    assert_eq!(st, 201, "{v}");
    assert_ne!(v["agent_id"].as_i64(), Some(agent_id));
    let (st, _) = s
        .ingest(
            secret,
            &[mk_match("r", "e2", now_ns(), "web-1", None, 1, "/bin/sh")],
        )
        .await;
    assert_eq!(st, 401, "the revoked credential stays revoked");
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(a_revoked_host_stays_out_until_readmitted);

/// The real reporter: it enrolls with the token file, removes it, and once revoked cannot come back.
async fn the_agent_spends_its_token_and_stays_out_once_revoked(db: TestDb) {
    let s = TestServer::start(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, s.enrollment_token().await).unwrap();
    let mut config = ReporterConfig::new(dir.path().join("spool"), &s.base, &token_file);
    config.flush_interval = Duration::from_millis(20);
    config.backoff.initial = Duration::from_millis(20);
    let reporter = tokio::task::spawn_blocking(move || {
        let r = Reporter::new(config).unwrap();
        r.submit(&as_report(&mk_match(
            "r",
            "e1",
            now_ns(),
            "h",
            None,
            1,
            "/bin/sh",
        )))
        .unwrap();
        assert!(
            r.flush(Duration::from_secs(10)),
            "the match reached the server"
        );
        r
    })
    .await
    .unwrap();
    assert!(!token_file.exists(), "the spent token is removed");
    assert!(dir.path().join("spool/credentials.json").exists());
    assert_eq!(s.count("matches").await, 1);

    let id: i64 = scalar(&s.state.db, "SELECT MAX(id) FROM agents").await;
    revoke(&s, id).await;
    let reporter = tokio::task::spawn_blocking(move || {
        reporter
            .submit(&as_report(&mk_match(
                "r",
                "e2",
                now_ns(),
                "h",
                None,
                1,
                "/bin/sh",
            )))
            .unwrap();
        // It cannot deliver: refused, then nothing to enroll with.
        assert!(!reporter.flush(Duration::from_millis(1500)));
        reporter
    })
    .await
    .unwrap();
    let why = reporter.stats().last_error.lock().unwrap().clone();
    assert!(why.contains("no enrollment token"), "{why}");
    assert_eq!(
        reporter
            .stats()
            .enrollments
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(s.count("matches").await, 1, "nothing after the revocation");
    let agents: i64 = scalar(&s.state.db, "SELECT COUNT(*) FROM agents").await;
    assert_eq!(agents, 1, "it did not enroll itself again");
    tokio::task::spawn_blocking(move || drop(reporter))
        .await
        .unwrap();
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(the_agent_spends_its_token_and_stays_out_once_revoked);

/// The tokens the server writes for agents on its own host: bounded, replaced when spent or unbounded;
/// `rampart up`'s exists only until its agent enrolled.
async fn local_token_files_are_bounded_and_go_once_used(db: TestDb) {
    let s = TestServer::start(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent-enrollment.token");
    // An unbounded token written by an older version: revoked and replaced.
    let (legacy, _) = store::create_enrollment_token(&s.state.db, "old", None, None, None)
        .await
        .unwrap();
    std::fs::write(&path, &legacy).unwrap();
    bootstrap::ensure_enrollment_token_file(&s.state.db, dir.path())
        .await
        .unwrap();
    let token = std::fs::read_to_string(&path).unwrap();
    assert_ne!(token, legacy);
    let (st, _) = enroll(&s, &legacy, "h-legacy").await;
    assert_eq!(st, 401, "the unbounded token is revoked");
    let (bounded, _) = store::usable_enrollment_token(&s.state.db, &token)
        .await
        .unwrap()
        .map(|(id, b)| (b, id))
        .unwrap();
    assert!(bounded);
    // Still good: kept across restarts.
    bootstrap::ensure_enrollment_token_file(&s.state.db, dir.path())
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token);

    // `rampart up` restarted after its agent enrolled: the token file goes, its token with it.
    bootstrap::local_agent_token(&s.state.db, dir.path(), true)
        .await
        .unwrap();
    assert!(!path.exists());
    let (st, _) = enroll(&s, &token, "h").await;
    assert_eq!(st, 401);
    bootstrap::local_agent_token(&s.state.db, dir.path(), true)
        .await
        .unwrap();
    assert!(
        !path.exists(),
        "and no new one while the agent has its credential"
    );
    bootstrap::local_agent_token(&s.state.db, dir.path(), false)
        .await
        .unwrap();
    assert!(path.exists(), "a new one while it has none");
    s.stop().await;
}
both!(local_token_files_are_bounded_and_go_once_used);

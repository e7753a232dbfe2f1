//! Issue 20, item 8: an agent enrolled as one host posts matches claiming another host and absurd times.
//! They stay its own (the signal key holds the agent), under its enrolled name, at a time within a window
//! around receipt; what it claimed is kept in the match, marked as its claim.

use serde_json::Value;

use super::{addr_of, assert_healthz_fast, now_ns, scalar};
use crate::common::{mk_match, TestDb, TestServer};

/// The signals of rule `r`, newest first.
async fn signals(s: &TestServer, rule: &str) -> Vec<Value> {
    let (st, list) = s
        .call(
            "GET",
            &format!("/api/v1/signals?rule_id={rule}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    list["signals"].as_array().unwrap().clone()
}

async fn another_hosts_name_does_not_join_its_signals(db: TestDb) {
    let s = TestServer::start(&db).await;
    let victim = s.enroll("web-1").await;
    let attacker = s.enroll("evil-1").await;
    let t = now_ns();
    let (st, v) = s
        .ingest(
            &victim,
            &[mk_match("r", "v1", t, "web-1", None, 7, "/bin/sh")],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // Same rule, same executable, same window, the victim's host name.
    let forged: Vec<Value> = (0..5)
        .map(|i| mk_match("r", &format!("f{i}"), t + i, "web-1", None, 7, "/bin/sh"))
        .collect();
    let (st, v) = s.ingest(&attacker, &forged).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["signals_created"], 1, "a signal of its own: {v}");

    let list = signals(&s, "r").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let of = |host: &str| list.iter().find(|x| x["hostname"] == host).cloned();
    assert_eq!(of("web-1").expect("the victim's")["count"], 1);
    assert_eq!(
        of("evil-1").expect("the attacker's, under its name")["count"],
        5
    );
    // Stored under the enrolled name; the claim kept, marked as such.
    let n: i64 = scalar(
        &s.state.db,
        "SELECT COUNT(*) FROM matches WHERE hostname = 'web-1'",
    )
    .await;
    assert_eq!(n, 1);
    let body: String = scalar(
        &s.state.db,
        "SELECT body FROM matches WHERE event_id = 'f0'",
    )
    .await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            body["event"]["hostname"].as_str(),
            body["event"]["reported_hostname"].as_str()
        ),
        (Some("evil-1"), Some("web-1"))
    );
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(another_hosts_name_does_not_join_its_signals);

async fn absurd_times_are_clamped_around_receipt(db: TestDb) {
    let mut config = crate::common::config(&db.url());
    config.signals.max_match_age = std::time::Duration::from_secs(30 * 86400);
    let skew = config.signals.max_clock_skew.as_nanos() as i64;
    let s = TestServer::start_with(config).await;
    let honest = s.enroll("web-1").await;
    let attacker = s.enroll("evil-1").await;
    let before = now_ns();
    let forged = [
        mk_match(
            "far_future",
            "f1",
            i64::MAX - 1,
            "evil-1",
            None,
            7,
            "/bin/sh",
        ),
        mk_match("long_ago", "f2", 1, "evil-1", None, 7, "/bin/sh"),
    ];
    let (st, v) = s.ingest(&attacker, &forged).await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = s
        .ingest(
            &honest,
            &[mk_match(
                "recent",
                "h1",
                now_ns(),
                "web-1",
                None,
                8,
                "/bin/x",
            )],
        )
        .await;
    assert_eq!(st, 200);
    let after = now_ns();

    let future = &signals(&s, "far_future").await[0];
    let last_seen = future["last_seen"].as_i64().unwrap();
    assert!(
        (before..=after + skew).contains(&last_seen),
        "{last_seen} not within receipt + {skew} ns"
    );
    let old = &signals(&s, "long_ago").await[0];
    let first_seen = old["first_seen"].as_i64().unwrap();
    assert!(first_seen >= before - 30 * 86_400 * 1_000_000_000, "{old}");
    // The explorer's newest-first order is not the attacker's to decide forever: a match seen after the
    // forged one's clamped time sorts above it.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let later = now_ns() + skew + 1_000_000;
    let (st, _) = s
        .ingest(
            &honest,
            &[mk_match("recent", "h2", later, "web-1", None, 8, "/bin/x")],
        )
        .await;
    assert_eq!(st, 200);
    let (_, list) = s.call("GET", "/api/v1/signals", Some(&s.admin), None).await;
    assert_ne!(list["signals"][0]["rule_id"], "far_future", "{list}");
    // What the agent sent is kept, marked as its claim.
    let body: String = scalar(
        &s.state.db,
        "SELECT body FROM matches WHERE event_id = 'f1'",
    )
    .await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["event"]["reported_timestamp"], i64::MAX - 1);
    assert_eq!(body["event"]["timestamp"], last_seen);
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(absurd_times_are_clamped_around_receipt);

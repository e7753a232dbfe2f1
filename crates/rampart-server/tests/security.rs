//! Every route refuses missing, invalid and insufficient credentials; hostile bodies get a 4xx with a reason
//! and store nothing.

mod common;

use common::{call, gzip, mk_match, TestDb, TestServer, T0};
use rampart_server::api::{routes, Access};
use serde_json::json;

/// (what, body, headers, expected status)
type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, u16);

fn path(p: &str) -> String {
    p.replace("{id}", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_credentials_and_role() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let agent = s.enroll("h").await;
    let viewer = s.user_token("v", "viewer").await;
    let responder = s.user_token("r", "responder").await;
    let fake_user = format!("rpu_{}", "0".repeat(64));
    let fake_agent = format!("rpa_{}", "0".repeat(64));
    let mut checked = 0;
    for r in routes() {
        let mut url = format!("{}{}", s.base, path(r.path));
        if (r.method, r.path) == ("DELETE", "/api/v1/tokens/{id}") {
            // Token 1 is the admin's own session, which the later routes still need: revoke a spare one.
            let (st, v) = s
                .call(
                    "POST",
                    "/api/v1/tokens",
                    Some(&s.admin),
                    Some(json!({"name": "spare", "role": "viewer"})),
                )
                .await;
            assert_eq!(st, 201, "{v}");
            url = format!("{}/api/v1/tokens/{}", s.base, v["info"]["id"]);
        }
        let body = Some(b"{}".to_vec());
        let expect = |who: &str, got: (u16, serde_json::Value), want: u16| {
            assert_eq!(got.0, want, "{} {} with {who}: {}", r.method, r.path, got.1);
            assert!(
                got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
                "a reason: {}",
                got.1
            );
        };
        match r.access {
            Access::Public | Access::EnrollmentToken => continue,
            // UI routes take a session cookie, not a Bearer token: `tests/ui_http.rs` walks them.
            _ if r.is_ui() => continue,
            _ => {}
        }
        checked += 1;
        expect(
            "no credentials",
            call(&url, r.method, None, body.clone(), &[]).await,
            401,
        );
        expect(
            "an unknown user token",
            call(&url, r.method, Some(&fake_user), body.clone(), &[]).await,
            401,
        );
        expect(
            "an unknown agent token",
            call(&url, r.method, Some(&fake_agent), body.clone(), &[]).await,
            401,
        );
        expect(
            "a malformed token",
            call(&url, r.method, Some("' OR 1=1 --"), body.clone(), &[]).await,
            401,
        );
        expect(
            "a basic auth header",
            call(
                &url,
                r.method,
                None,
                body.clone(),
                &[("authorization", "Basic YWRtaW46YWRtaW4=")],
            )
            .await,
            401,
        );
        match r.access {
            Access::Agent => {
                // User tokens, even admin ones, cannot act as an agent.
                expect(
                    "an admin token",
                    call(&url, r.method, Some(&s.admin), body.clone(), &[]).await,
                    401,
                );
                let got = call(&url, r.method, Some(&agent), body.clone(), &[]).await;
                assert!(
                    ![401, 403].contains(&got.0),
                    "{} {} refused the agent: {got:?}",
                    r.method,
                    r.path
                );
            }
            access => {
                expect(
                    "an agent credential",
                    call(&url, r.method, Some(&agent), body.clone(), &[]).await,
                    401,
                );
                let (too_low, enough) = match access {
                    Access::Viewer => (vec![], &viewer),
                    Access::Responder => (vec![&viewer], &responder),
                    _ => (vec![&viewer, &responder], &s.admin),
                };
                for t in too_low {
                    expect(
                        "a lower role",
                        call(&url, r.method, Some(t), body.clone(), &[]).await,
                        403,
                    );
                }
                // Logging out ends the session used: give it one of its own.
                let fresh;
                let enough = if r.path == "/api/v1/auth/logout" {
                    fresh = rampart_server::auth::store::login(
                        &s.state.db,
                        "v",
                        "long-enough-password",
                        3_600_000_000_000,
                    )
                    .await
                    .unwrap()
                    .0;
                    &fresh
                } else {
                    enough
                };
                let got = call(&url, r.method, Some(enough), body.clone(), &[]).await;
                assert!(
                    ![401, 403].contains(&got.0),
                    "{} {} refused the right role: {got:?}",
                    r.method,
                    r.path
                );
            }
        }
    }
    assert!(checked >= 34, "{checked} protected routes");
    // An expired session is refused.
    use sqlx::Row;
    sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE kind = 'session'")
        .execute(&s.state.db.pool)
        .await
        .unwrap();
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&viewer), None).await;
    assert_eq!(st, 401);
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM matches")
        .fetch_one(&s.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 0, "the probing stored nothing");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_ingest_bodies_are_refused_and_store_nothing() {
    let db = TestDb::sqlite();
    let mut config = common::config(&db.url());
    config.limits.max_body_bytes = 1 << 20;
    config.limits.max_decompressed_bytes = 4 << 20;
    config.limits.max_batch_matches = 1000;
    config.limits.max_match_bytes = 64 << 10;
    let s = TestServer::start_with(config).await;
    let agent = s.enroll("h").await;
    let url = format!("{}/api/v1/ingest", s.base);
    let good = mk_match("r", "e1", T0, "h", None, 1, "/x");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut m = good.clone();
        f(&mut m);
        serde_json::to_vec(&json!({"matches": [good.clone(), m]})).unwrap()
    };
    let bomb = gzip(&vec![b' '; 8 << 20]);
    let deep = format!(
        "{{\"matches\": [{}1{}]}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let many = serde_json::to_vec(&json!({"matches": vec![good.clone(); 1001]})).unwrap();
    let cases: Vec<Case<'_>> = vec![
        ("oversized body", vec![b'x'; 2 << 20], vec![], 413),
        ("gzip bomb", bomb, vec![("content-encoding", "gzip")], 413),
        (
            "not gzip",
            b"plain".to_vec(),
            vec![("content-encoding", "gzip")],
            400,
        ),
        (
            "unknown encoding",
            b"{}".to_vec(),
            vec![("content-encoding", "br")],
            415,
        ),
        ("not JSON", b"\x00\xff garbage".to_vec(), vec![], 400),
        ("JSON array", b"[]".to_vec(), vec![], 400),
        ("deep nesting", deep.into_bytes(), vec![], 400),
        ("too many matches", many, vec![], 413),
        (
            "unknown top-level key",
            br#"{"matches": [], "drop": "tables"}"#.to_vec(),
            vec![],
            400,
        ),
        (
            "missing rule id",
            with(&|m| m["rule"] = json!({})),
            vec![],
            422,
        ),
        (
            "numeric event id",
            with(&|m| m["event"]["id"] = json!(5)),
            vec![],
            422,
        ),
        (
            "string timestamp",
            with(&|m| m["event"]["timestamp"] = json!("now")),
            vec![],
            422,
        ),
        (
            "negative timestamp",
            with(&|m| m["event"]["timestamp"] = json!(-5)),
            vec![],
            422,
        ),
        (
            "NUL in rule id",
            with(&|m| m["rule"]["id"] = json!("a\u{0}b")),
            vec![],
            422,
        ),
        (
            "huge rule id",
            with(&|m| m["rule"]["id"] = json!("r".repeat(300))),
            vec![],
            422,
        ),
        (
            "oversized match",
            with(&|m| m["blob"] = json!("x".repeat(100 << 10))),
            vec![],
            422,
        ),
        (
            "tags not an object",
            with(&|m| m["rule"]["tags"] = json!([1])),
            vec![],
            422,
        ),
    ];
    for (what, body, headers, want) in cases {
        let (st, v) = call(&url, "POST", Some(&agent), Some(body), &headers).await;
        assert_eq!(st, want, "{what}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: a reason: {v}"
        );
        assert_eq!(s.count("matches").await, 0, "{what} stored a match");
        assert_eq!(s.count("signals").await, 0, "{what} stored a signal");
    }
    // A NUL inside free text is stored safely (PostgreSQL refuses NUL in TEXT: it is replaced).
    let mut m = good.clone();
    m["event"]["hostname"] = json!("h\u{0}x");
    m["process"]["file"]["path"] = json!("/x\u{0}y");
    let (st, v) = s.ingest(&agent, &[m]).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.count("matches").await, 1);
    let (st, v) = s
        .call(
            "GET",
            "/api/v1/signals?q=%27%3B%20DROP%20TABLE%20signals%3B--",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        (st, v["total"].as_i64()),
        (200, Some(0)),
        "SQL in a filter is data"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_api_bodies_are_refused() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let users = format!("{}/api/v1/users", s.base);
    let admin = Some(s.admin.as_str());
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed JSON", b"{\"username\":".to_vec(), 400),
        (
            "unknown field",
            br#"{"username":"x","password":"long-enough-pw","role":"viewer","is_root":true}"#
                .to_vec(),
            422,
        ),
        (
            "bad role",
            br#"{"username":"x","password":"long-enough-pw","role":"root"}"#.to_vec(),
            422,
        ),
        (
            "bad username",
            br#"{"username":"x y\n","password":"long-enough-pw","role":"viewer"}"#.to_vec(),
            422,
        ),
        ("oversized", vec![b' '; 2 << 20], 413),
    ];
    for (what, body, want) in cases {
        let (st, v) = call(&users, "POST", admin, Some(body), &[]).await;
        assert_eq!(st, want, "{what}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {v}"
        );
    }
    assert_eq!(s.count("users").await, 1, "only the admin exists");
    let (st, _) = call(
        &format!("{}/api/v1/signals/abc", s.base),
        "GET",
        admin,
        None,
        &[],
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = call(
        &format!("{}/api/v1/signals?limit=100000", s.base),
        "GET",
        admin,
        None,
        &[],
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = call(
        &format!("{}/api/v1/signals?nope=1", s.base),
        "GET",
        admin,
        None,
        &[],
    )
    .await;
    assert_eq!(st, 400);
    let (st, v) = call(
        &format!("{}/api/v1/backend-rules", s.base),
        "POST",
        admin,
        Some(b"rules: [{id: x, method: threshold, queries: {a: {}}, window: 1m, cases: [{if: 'a > 1', severity: low}]}]".to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(s.count("backend_rules").await, 0);
    let (st, v) = call(
        &format!("{}/api/v1/agents/enroll", s.base),
        "POST",
        None,
        Some(br#"{"token":"rpe_x","hostname":"h"}"#.to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(s.count("agents").await, 0);
    s.stop().await;
}

/// A match report whose envelope field is renamed, misspelt or unknown is refused with a 4xx that names the
/// field, and nothing of its batch is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_or_unknown_envelope_fields_are_refused_by_name() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let agent = s.enroll("h").await;
    let good = mk_match("r", "e1", T0, "h", None, 1, "/x");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut m = good.clone();
        f(&mut m);
        vec![good.clone(), m]
    };
    let kill = json!({"type": "kill", "signal": "SIGKILL", "signal_number": 9, "scope": "process"});
    let cases: Vec<(&str, Vec<serde_json::Value>, &str)> = vec![
        (
            "rule renamed rules",
            with(&|m| {
                let rule = m["rule"].take();
                m.as_object_mut().unwrap().remove("rule");
                m["rules"] = rule;
            }),
            "`rule`",
        ),
        (
            "rule.severity misspelt",
            with(&|m| {
                let sev = m["rule"]
                    .as_object_mut()
                    .unwrap()
                    .remove("severity")
                    .unwrap();
                m["rule"]["sevrity"] = sev;
            }),
            "`sevrity`",
        ),
        (
            "unknown key in a kill action",
            with(&|m| {
                let mut k = kill.clone();
                k["outcom"] = json!("killed");
                m["actions"] = json!([k]);
            }),
            "`outcom`",
        ),
        (
            "unknown action type",
            with(&|m| m["actions"] = json!([{"type": "exec_shell", "command": "id"}])),
            "`exec_shell`",
        ),
        (
            "unknown kill outcome",
            with(&|m| {
                let mut k = kill.clone();
                k["outcome"] = json!("vanished");
                m["actions"] = json!([k]);
            }),
            "`vanished`",
        ),
        (
            "unknown key in an anomaly's profile",
            with(&|m| {
                m["anomaly"] = json!({"behavior": {}, "profile": {"id": 1, "image_name": "a", "image_tag": "b",
                                                                  "url": "/api/v1/profiles/1", "owner": "x"}})
            }),
            "`owner`",
        ),
    ];
    for (what, matches, field) in cases {
        let (st, v) = s.ingest(&agent, &matches).await;
        assert_eq!(st, 422, "{what}: {v}");
        let msg = v["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("matches[1]") && msg.contains(field),
            "{what}: the reason names the match and {field}: {v}"
        );
        assert_eq!(s.count("matches").await, 0, "{what} stored a match");
    }
    // The batch envelope: a renamed `matches` is refused by name too.
    let (st, v) = call(
        &format!("{}/api/v1/ingest", s.base),
        "POST",
        Some(&agent),
        Some(serde_json::to_vec(&json!({"match": [good.clone()]})).unwrap()),
        &[],
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("match"), "{v}");
    // The well-formed match alone is taken.
    let (st, v) = s.ingest(&agent, &[good]).await;
    assert_eq!((st, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    s.stop().await;
}

/// The reports the agent's own code builds (a policy match with its kill outcome, an anomaly, an Active
/// Protection notice) decode on the server as the contract, are acknowledged as `IngestAck`, and are stored
/// with their envelope intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_built_reports_round_trip_through_ingest() {
    use rampart_agent::protect::{KillOutcome, KillReport, NoticeKind, ProtectNotice};
    use rampart_api::report::MatchReport;

    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let agent = s.enroll("rt-host").await;
    let policy = rampart_policy::PolicySource {
        name: "rt".into(),
        file: "rt.policy".into(),
        text: "rules:\n  - id: rt_kill\n    version: 1.2.0\n    description: a miner ran\n    expression: \
               exec.file.name == \"rt-miner\"\n    actions:\n      - kill:\n          signal: SIGKILL\n    \
               tags:\n      severity: high\n      category: crypto\n"
            .into(),
    };
    let loaded = rampart_policy::load_sources(&[policy], &rampart_policy::LoadOptions::default());
    let mut process = rampart_model::Process {
        file: rampart_model::FileInfo::from_path("/tmp/rt-miner"),
        ..Default::default()
    };
    process.pid = 4242;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut event = rampart_model::Event::exec(now, rampart_model::ProcessNode::new(process, None));
    event.event.id = "rt-1".into();
    event.event.hostname = "rt-host".into();
    let matched = loaded
        .ruleset
        .evaluate(&event, &rampart_secl::MemoryStore::new())
        .remove(0);
    let kill = KillReport {
        outcome: KillOutcome::Killed,
        pids: vec![4242],
        detail: String::new(),
    };
    let report = rampart_agent::runtime::match_report(&matched, &[kill], &event);
    let anomaly = rampart_agent::profiles::Anomaly {
        profile_id: 7,
        image_name: "nginx".into(),
        image_tag: "1.25".into(),
        behavior: rampart_model::behavior::Behavior {
            kind: "process".into(),
            process: "nginx > rt-miner".into(),
            detail: String::new(),
        },
    };
    let anomaly = rampart_agent::daemon::anomaly_report(&anomaly, &event);
    let mut header = rampart_agent::runtime::notice_event();
    header.insert("id".into(), "disarm-rt".into());
    header.insert("timestamp".into(), now.into());
    let notice = rampart_agent::runtime::notice_report(
        &ProtectNotice {
            kind: NoticeKind::Disarmed,
            rule: "rt_kill".into(),
            reason: "killed 5 times in 60s".into(),
        },
        header,
    );
    let sent = [&report, &anomaly, &notice].map(|r| serde_json::to_value(r).unwrap());
    let (st, v) = s.ingest(&agent, &sent).await;
    assert_eq!(st, 200, "{v}");
    let ack: rampart_api::ingest::IngestAck = serde_json::from_value(v).unwrap();
    assert_eq!((ack.accepted, ack.duplicates), (3, 0));

    use sqlx::Row;
    for original in [&report, &anomaly, &notice] {
        let body: String = sqlx::query("SELECT body FROM matches WHERE rule_id = $1")
            .bind(&original.rule.id)
            .fetch_one(&s.state.db.pool)
            .await
            .unwrap()
            .get("body");
        let stored: MatchReport = serde_json::from_str(&body).unwrap();
        assert_eq!(stored.rule, original.rule);
        assert_eq!(stored.actions, original.actions);
        assert_eq!(stored.anomaly, original.anomaly);
        assert_eq!(
            (&stored.disarmed_rule, &stored.reason),
            (&original.disarmed_rule, &original.reason)
        );
        assert_eq!(stored.event["event"]["hostname"], "rt-host");
    }
    let stored_kill = &report.actions.as_ref().unwrap()[0];
    assert!(
        matches!(
            stored_kill,
            rampart_api::report::ActionReport::Kill { outcome: Some(KillOutcome::Killed), pids: Some(p), .. }
                if p == &[4242]
        ),
        "{stored_kill:?}"
    );
    s.stop().await;
}

//! The REST API end to end over HTTP, against SQLite and against a real PostgreSQL server.

#[macro_use]
mod common;

use common::{mk_match, tagged, TestDb, TestServer, T0};
use serde_json::json;

const MIN: i64 = 60_000_000_000;

async fn ingest_groups_matches_into_signals_once(db: TestDb) {
    let s = TestServer::start(&db).await;
    let agent = s.enroll("web-1").await;
    let batch = vec![
        mk_match(
            "shell_in_container",
            "run-1",
            T0,
            "web-1",
            Some("c1"),
            10,
            "/bin/sh",
        ),
        mk_match(
            "shell_in_container",
            "run-2",
            T0 + MIN,
            "web-1",
            Some("c1"),
            11,
            "/bin/sh",
        ),
        mk_match(
            "shell_in_container",
            "run-3",
            T0 + 2 * MIN,
            "web-1",
            Some("c1"),
            12,
            "/bin/bash",
        ),
        mk_match(
            "shell_in_container",
            "run-4",
            T0 + 2 * MIN,
            "web-1",
            Some("c2"),
            13,
            "/bin/sh",
        ),
        mk_match(
            "passwd_read",
            "run-5",
            T0 + 3 * MIN,
            "web-1",
            None,
            11,
            "/usr/bin/cat",
        ),
    ];
    let (st, out) = s.ingest(&agent, &batch).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(
        (out["accepted"].as_u64(), out["duplicates"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(out["signals_created"], 3);

    // Re-sending (an agent retrying after a lost acknowledgement) changes nothing.
    let (st, out) = s.ingest(&agent, &batch).await;
    assert_eq!(st, 200);
    assert_eq!(
        (out["accepted"].as_u64(), out["duplicates"].as_u64()),
        (Some(0), Some(5))
    );
    assert_eq!(s.count("matches").await, 5);

    let (st, list) = s
        .call(
            "GET",
            "/api/v1/signals?rule_id=shell_in_container",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["total"], 2);
    let c1 = list["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["container_id"] == "c1")
        .unwrap();
    assert_eq!(c1["count"], 3);
    assert_eq!(c1["first_seen"], T0);
    assert_eq!(c1["last_seen"], T0 + 2 * MIN);
    assert_eq!(c1["severity"], "high");
    assert_eq!(c1["state"], "open");

    // A match in the next window (1 h) opens a new signal for the same group.
    let (_, out) = s
        .ingest(
            &agent,
            &[mk_match(
                "shell_in_container",
                "run-6",
                T0 + 61 * MIN,
                "web-1",
                Some("c1"),
                14,
                "/bin/sh",
            )],
        )
        .await;
    assert_eq!(out["signals_created"], 1);

    // The agent reports its rules' metadata: the signal shows the remediation.
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/agents/rules",
            Some(&agent),
            Some(json!({"rules": [{"id": "shell_in_container", "version": "1.0.0", "description": "A shell ran in a container",
                "tags": {"severity": "high", "mitre": "T1059"}, "remediation": "Isolate the container.", "policy": "default"}]})),
        )
        .await;
    assert_eq!(st, 200);
    let id = c1["id"].as_i64().unwrap();
    let signal_path = format!("/api/v1/signals/{id}");
    let (st, detail) = s.call("GET", &signal_path, Some(&s.admin), None).await;
    assert_eq!(st, 200, "{detail}");
    // The agent's report is its own word: shown apart, never as the rule's remediation.
    assert_eq!(detail["remediation"], json!(null), "{detail}");
    let report = &detail["rule"]["agent_report"];
    assert_eq!(report["remediation"], "Isolate the container.");
    assert_eq!(report["tags"]["mitre"], "T1059");
    assert_eq!(report["hostname"], "web-1");
    // Once the server's configuration defines the rule, its metadata is the rule's.
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/custom-rules/shell_in_container",
            Some(&s.admin),
            Some(
                json!({"expression": "exec.file.name == \"sh\"", "severity": "high",
                        "tags": {"mitre": "T1059"}, "remediation": "Isolate the container."}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, detail) = s.call("GET", &signal_path, Some(&s.admin), None).await;
    assert_eq!(detail["remediation"], "Isolate the container.");
    assert_eq!(detail["rule"]["tags"]["mitre"], "T1059");
    assert_eq!(detail["rule"]["defined_by"], "server");
    let samples = detail["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0]["match"]["event"]["id"], "run-1");
    // Related: pid 11 (passwd_read) is in the same process tree as run-2 (pid 11); c2 shares the host and the
    // sshd parent (pid 100) with c1's samples.
    let related = detail["related"].as_array().unwrap();
    assert!(
        related
            .iter()
            .any(|r| r["rule_id"] == "passwd_read" && r["relation"] == "process_tree"),
        "{related:?}"
    );

    let (_, facets) = s
        .call("GET", "/api/v1/signals/facets", Some(&s.admin), None)
        .await;
    let rules = facets["rule_id"].as_array().unwrap();
    assert!(
        rules.contains(&json!({"value": "shell_in_container", "count": 3})),
        "{facets}"
    );
    let (st, hist) = s
        .call(
            "GET",
            "/api/v1/signals/histogram?interval=1h",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{hist}");
    let total: i64 = hist["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4);
    let (_, q) = s
        .call(
            "GET",
            "/api/v1/signals?q=PASSWD&hostname=web-1",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(q["total"], 1);
    let (_, agents) = s.call("GET", "/api/v1/agents", Some(&s.admin), None).await;
    assert_eq!(agents["agents"][0]["matches_received"], 6);
    s.stop().await;
}
both!(ingest_groups_matches_into_signals_once);

async fn triage_state_assignee_comments(db: TestDb) {
    let s = TestServer::start(&db).await;
    let agent = s.enroll("h").await;
    s.ingest(&agent, &[mk_match("r", "e1", T0, "h", None, 5, "/bin/x")])
        .await;
    let responder = s.user_token("rita", "responder").await;
    let viewer = s.user_token("victor", "viewer").await;
    let (_, list) = s.call("GET", "/api/v1/signals", Some(&viewer), None).await;
    let id = list["signals"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/signals/{id}");

    let (st, _) = s
        .call(
            "PATCH",
            &path,
            Some(&viewer),
            Some(json!({"state": "archived"})),
        )
        .await;
    assert_eq!(st, 403);
    let rita = s.user_id("rita").await;
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&responder),
            Some(json!({"state": "under_review", "assignee": rita})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["signal"]["state"], "under_review");
    assert_eq!(v["signal"]["assignee"]["username"], "rita");
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&responder),
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    let (st, _) = s
        .call(
            "PATCH",
            &path,
            Some(&responder),
            Some(json!({"assignee": 9999})),
        )
        .await;
    assert_eq!(st, 422);
    let (_, v) = s
        .call(
            "PATCH",
            &path,
            Some(&responder),
            Some(json!({"state": "archived", "assignee": null})),
        )
        .await;
    assert_eq!(
        (
            v["signal"]["state"].as_str(),
            v["signal"]["assignee"].is_null()
        ),
        (Some("archived"), true)
    );
    let (_, v) = s
        .call(
            "PATCH",
            &path,
            Some(&responder),
            Some(json!({"state": "open"})),
        )
        .await;
    assert_eq!(v["signal"]["state"], "open");

    let (st, c) = s
        .call(
            "POST",
            &format!("{path}/comments"),
            Some(&responder),
            Some(json!({"body": "looking"})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let (st, _) = s
        .call(
            "POST",
            &format!("{path}/comments"),
            Some(&viewer),
            Some(json!({"body": "x"})),
        )
        .await;
    assert_eq!(st, 403);
    let (_, c) = s
        .call("GET", &format!("{path}/comments"), Some(&viewer), None)
        .await;
    assert_eq!(c["comments"][0]["author"], "rita");
    assert_eq!(c["comments"][0]["body"], "looking");
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?state=open&assignee=none",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(l["total"], 1);
    let (st, _) = s
        .call("GET", "/api/v1/signals?state=bogus", Some(&viewer), None)
        .await;
    assert_eq!(st, 400);
    s.stop().await;
}
both!(triage_state_assignee_comments);

async fn users_sessions_and_api_tokens(db: TestDb) {
    let s = TestServer::start(&db).await;
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "wrong-password-x"})),
        )
        .await;
    assert_eq!(st, 401, "{v}");
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "wrong-password-x"})),
        )
        .await;
    assert_eq!(
        (st, v["message"].as_str()),
        (401, Some("wrong user name or password"))
    );
    let viewer = s.user_token("vera", "viewer").await;
    let (_, me) = s.call("GET", "/api/v1/auth/me", Some(&viewer), None).await;
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("vera"), Some("viewer"))
    );

    // Passwords are argon2 hashes in the database.
    use sqlx::Row;
    let hash: String = sqlx::query("SELECT password_hash FROM users WHERE username = 'vera'")
        .fetch_one(&s.state.db.pool)
        .await
        .unwrap()
        .get("password_hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    let (st, v) = s
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "ci", "role": "responder"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let api = v["token"].as_str().unwrap().to_string();
    let (_, me) = s.call("GET", "/api/v1/auth/me", Some(&api), None).await;
    assert_eq!(me["role"], "responder");
    let (st, _) = s.call("GET", "/api/v1/users", Some(&api), None).await;
    assert_eq!(st, 403);
    let token_id = v["info"]["id"].as_i64().unwrap();
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&api), None).await;
    assert_eq!(st, 401, "a revoked token stops working");

    // Disabling a user ends its sessions; logout ends one.
    let (_, users) = s.call("GET", "/api/v1/users", Some(&s.admin), None).await;
    let vera = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "vera")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (st, _) = s
        .call(
            "PATCH",
            &format!("/api/v1/users/{vera}"),
            Some(&s.admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&viewer), None).await;
    assert_eq!(st, 401);
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/users",
            Some(&s.admin),
            Some(json!({"username": "vera", "password": "long-enough-password", "role": "viewer"})),
        )
        .await;
    assert_eq!(st, 409);
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/users",
            Some(&s.admin),
            Some(json!({"username": "short", "password": "short", "role": "viewer"})),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = s
        .call("POST", "/api/v1/auth/logout", Some(&s.admin), None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&s.admin), None).await;
    assert_eq!(st, 401);
    s.stop().await;
}
both!(users_sessions_and_api_tokens);

async fn enrollment_tokens_and_agent_revocation(db: TestDb) {
    let s = TestServer::start(&db).await;
    let (_, v) = s
        .call(
            "POST",
            "/api/v1/enrollment-tokens",
            Some(&s.admin),
            Some(json!({"name": "one", "max_uses": 1})),
        )
        .await;
    let token = v["token"].as_str().unwrap().to_string();
    let enroll = json!({"token": token, "hostname": "h1"});
    let (st, a) = s
        .call("POST", "/api/v1/agents/enroll", None, Some(enroll.clone()))
        .await;
    assert_eq!(st, 201, "{a}");
    let (st, _) = s
        .call("POST", "/api/v1/agents/enroll", None, Some(enroll))
        .await;
    assert_eq!(st, 401, "a single-use token works once");
    let agent = a["secret"].as_str().unwrap().to_string();
    let (st, _) = s
        .ingest(&agent, &[mk_match("r", "e", T0, "h1", None, 1, "/x")])
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/agents/{}", a["agent_id"]),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .ingest(&agent, &[mk_match("r", "e2", T0, "h1", None, 1, "/x")])
        .await;
    assert_eq!(st, 401, "a revoked agent cannot report");
    let (_, list) = s
        .call("GET", "/api/v1/enrollment-tokens", Some(&s.admin), None)
        .await;
    assert_eq!(list["enrollment_tokens"][0]["uses"], 1);
    assert!(
        list["enrollment_tokens"][0].get("token").is_none(),
        "secrets are never listed"
    );
    s.stop().await;
}
both!(enrollment_tokens_and_agent_revocation);

async fn backend_rules_threshold_sequence_new_value(db: TestDb) {
    let s = TestServer::start(&db).await;
    let agent = s.enroll("db-1").await;
    // fim_burst: 5 persistence matches within 10 minutes on one host -> high; 4 do not trigger.
    let fim: Vec<_> = (0..4)
        .map(|i| {
            tagged(
                "cron_job_modified",
                "persistence",
                &format!("f{i}"),
                T0 + i * MIN,
                "db-1",
                None,
                false,
            )
        })
        .collect();
    s.ingest(&agent, &fim).await;
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?source=backend&rule_id=fim_burst",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(l["total"], 0);
    // The fifth arrives late (out of order) but falls within the window.
    let (_, out) = s
        .ingest(
            &agent,
            &[tagged(
                "systemd_unit_modified",
                "persistence",
                "f4",
                T0 + 30_000_000_000,
                "db-1",
                None,
                false,
            )],
        )
        .await;
    assert_eq!(out["backend_triggers"], 1, "{out}");
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?source=backend&rule_id=fim_burst",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(l["total"], 1, "{l}");
    assert_eq!(l["signals"][0]["severity"], "high");
    let id = l["signals"][0]["id"].as_i64().unwrap();
    let (_, d) = s
        .call(
            "GET",
            &format!("/api/v1/signals/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(d["samples"].as_array().unwrap().len(), 5);
    assert!(d["remediation"].as_str().unwrap().contains("known-good"));
    // More within keep-alive extend the same signal.
    s.ingest(
        &agent,
        &[tagged(
            "cron_job_modified",
            "persistence",
            "f5",
            T0 + 5 * MIN,
            "db-1",
            None,
            false,
        )],
    )
    .await;
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?source=backend&rule_id=fim_burst",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        (l["total"].as_i64(), l["signals"][0]["count"].as_i64()),
        (Some(1), Some(2))
    );

    // Sequence: miner killed, then a miner again on the same host.
    let (_, out) = s
        .ingest(
            &agent,
            &[tagged(
                "miner_known_binary",
                "crypto_mining",
                "m1",
                T0,
                "db-1",
                None,
                true,
            )],
        )
        .await;
    assert_eq!(out["backend_triggers"], 0);
    let (_, out) = s
        .ingest(
            &agent,
            &[tagged(
                "miner_known_binary",
                "crypto_mining",
                "m2",
                T0 + 2 * MIN,
                "db-1",
                None,
                true,
            )],
        )
        .await;
    assert_eq!(out["backend_triggers"], 1, "{out}");
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?rule_id=miner_killed_then_restarted",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(l["signals"][0]["severity"], "critical");
    // Shell then outbound connection in one container; the reverse order does not trigger.
    s.ingest(
        &agent,
        &[tagged(
            "shell_outbound_connection",
            "reverse_shell",
            "o1",
            T0,
            "db-1",
            Some("k1"),
            false,
        )],
    )
    .await;
    let (_, out) = s
        .ingest(
            &agent,
            &[tagged(
                "web_server_spawns_shell",
                "web_shell",
                "s1",
                T0 + MIN,
                "db-1",
                Some("k1"),
                false,
            )],
        )
        .await;
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?rule_id=container_shell_then_outbound",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        l["total"], 0,
        "outbound before shell is not the sequence: {out}"
    );
    s.ingest(
        &agent,
        &[tagged(
            "shell_outbound_connection",
            "reverse_shell",
            "o2",
            T0 + 2 * MIN,
            "db-1",
            Some("k1"),
            false,
        )],
    )
    .await;
    let (_, l) = s
        .call(
            "GET",
            "/api/v1/signals?rule_id=container_shell_then_outbound",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(l["total"], 1);

    // A custom new_value rule through the API: values seen while learning are the baseline.
    let rule = "rules:\n  - id: new_exe\n    method: new_value\n    queries: {a: {rule_ids: [exec_seen]}}\n    group_by: [host]\n    new_value: {query: a, field: process.file.path, learning: 10m}\n    window: 1h\n    cases: [{severity: medium}]\n";
    let (st, v) = common::call(
        &format!("{}/api/v1/backend-rules", s.base),
        "POST",
        Some(&s.admin),
        Some(rule.as_bytes().to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let m = |id: &str, t: i64, exe: &str| mk_match("exec_seen", id, t, "db-1", None, 7, exe);
    let (_, out) = s
        .ingest(
            &agent,
            &[m("n1", T0, "/bin/ls"), m("n2", T0 + MIN, "/bin/ps")],
        )
        .await;
    assert_eq!(out["backend_triggers"], 0);
    let (_, out) = s.ingest(&agent, &[m("n3", T0 + 20 * MIN, "/bin/ls")]).await;
    assert_eq!(out["backend_triggers"], 0, "a known value");
    let (_, out) = s
        .ingest(&agent, &[m("n4", T0 + 21 * MIN, "/tmp/evil")])
        .await;
    assert_eq!(out["backend_triggers"], 1, "a new value after learning");

    // An invalid rule file is refused whole, with the reason.
    let bad = "rules:\n  - {id: ok_rule, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: 'a > 1', severity: low}]}\n  - {id: broken, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: 'z > 1', severity: low}]}\n";
    let (st, v) = common::call(
        &format!("{}/api/v1/backend-rules", s.base),
        "POST",
        Some(&s.admin),
        Some(bad.as_bytes().to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 422);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("broken: cases[0].if: no query named z"),
        "{v}"
    );
    let (_, rules) = s
        .call("GET", "/api/v1/backend-rules", Some(&s.admin), None)
        .await;
    let ids: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"new_exe") && !ids.contains(&"ok_rule") && ids.len() >= 13,
        "{ids:?}"
    );
    s.stop().await;
}
both!(backend_rules_threshold_sequence_new_value);

/// Several server replicas on one database ingesting the same batches concurrently (agents retrying against
/// another replica): every match stored once, signal counts exact.
async fn replicas_share_one_database(db: TestDb) {
    let a = TestServer::start(&db).await;
    let b = TestServer::start(&db).await;
    let mut agents = Vec::new();
    for i in 0..4 {
        agents.push(a.enroll(&format!("host-{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        for round in 0..5 {
            let batch: Vec<_> = (0..50)
                .map(|k| {
                    let n = round * 50 + k;
                    tagged(
                        "cron_job_modified",
                        "persistence",
                        &format!("e{n}"),
                        T0 + n * 1_000_000_000,
                        &format!("host-{i}"),
                        None,
                        false,
                    )
                })
                .collect();
            for server in [&a, &b] {
                let (base, agent, batch) = (server.base.clone(), agent.clone(), batch.clone());
                tasks.push(tokio::spawn(async move {
                    let body =
                        common::gzip(&serde_json::to_vec(&json!({"matches": batch})).unwrap());
                    common::call(
                        &format!("{base}/api/v1/ingest"),
                        "POST",
                        Some(&agent),
                        Some(body),
                        &[("content-encoding", "gzip")],
                    )
                    .await
                }));
            }
        }
    }
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert_eq!(st, 200, "{v}");
    }
    assert_eq!(a.count("matches").await, 4 * 250);
    let (_, l) = b
        .call("GET", "/api/v1/signals?source=agent", Some(&b.admin), None)
        .await;
    assert_eq!(l["total"], 4, "{l}");
    for s in l["signals"].as_array().unwrap() {
        assert_eq!(s["count"], 250, "{s}");
    }
    let (_, l) = b
        .call(
            "GET",
            "/api/v1/signals?rule_id=fim_burst",
            Some(&b.admin),
            None,
        )
        .await;
    assert_eq!(l["total"], 4, "one backend signal per host: {l}");
    a.stop().await;
    b.stop().await;
}
both!(replicas_share_one_database);

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let (st, doc) = s.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = rampart_server::api::routes();
    assert!(routes.len() >= 40);
    for r in &routes {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        if r.is_ui() {
            assert!(
                op.is_null(),
                "the web UI's pages are not API operations: {}",
                r.path
            );
            continue;
        }
        assert_eq!(
            op["x-rampart-access"],
            r.access.as_str(),
            "{} {}",
            r.method,
            r.path
        );
        // The route exists in the router (no 404/405 from routing).
        let path = r.path.replace("{id}", "1");
        let (st, v) = s.call(r.method, &path, Some(&s.admin), None).await;
        assert!(
            st != 405 && !(st == 404 && v["message"] == "no such route"),
            "{} {} -> {st} {v}",
            r.method,
            r.path
        );
    }
    // `/` is the web UI's front door.
    let (st, h, _) = common::raw(&format!("{}/", s.base), "GET", &[], vec![]).await;
    assert_eq!((st, h["location"].to_str().unwrap()), (303, "/ui/"));
    s.stop().await;
}

/// `schema` with its `$ref` followed and an `allOf` (a flattened struct's parts) merged into one object
/// schema: every part's properties, every part's required keys.
fn object_schema(doc: &serde_json::Value, schema: &serde_json::Value) -> serde_json::Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return object_schema(doc, &doc["components"]["schemas"][name]);
    }
    let Some(parts) = schema["allOf"].as_array() else {
        return schema.clone();
    };
    let (mut properties, mut required) = (serde_json::Map::new(), Vec::new());
    for part in parts.iter().map(|p| object_schema(doc, p)) {
        if let Some(p) = part["properties"].as_object() {
            properties.extend(p.clone());
        }
        required.extend(part["required"].as_array().cloned().unwrap_or_default());
    }
    json!({"type": "object", "properties": properties, "required": required})
}

/// Whether `v` has the shape `schema` gives it (objects: no key the schema lacks, every required key;
/// following `$ref`, `allOf`, `oneOf`, `items` and `additionalProperties`): the document describes what
/// the handlers send, not what someone once wrote down.
fn conforms(doc: &serde_json::Value, schema: &serde_json::Value, v: &serde_json::Value) -> bool {
    if schema["$ref"].is_string() || schema["allOf"].is_array() {
        return conforms(doc, &object_schema(doc, schema), v);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        return variants.iter().any(|s| conforms(doc, s, v));
    }
    match v {
        // `"type": "null"` or `"type": ["integer", "null"]`, or an open body (no type: anything).
        serde_json::Value::Null => {
            schema["type"].is_null()
                || schema["type"] == "null"
                || schema["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("null")))
        }
        serde_json::Value::Array(items) => items.iter().all(|i| conforms(doc, &schema["items"], i)),
        serde_json::Value::Object(map) if schema["properties"].is_object() => {
            let props = &schema["properties"];
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            required
                .iter()
                .all(|k| map.contains_key(k.as_str().unwrap_or("")))
                && map
                    .iter()
                    .all(|(k, x)| !props[k].is_null() && conforms(doc, &props[k], x))
        }
        serde_json::Value::Object(map) if schema["additionalProperties"].is_object() => map
            .values()
            .all(|x| conforms(doc, &schema["additionalProperties"], x)),
        // Scalars and open bodies (`serde_json::Value`).
        _ => true,
    }
}

/// Each call (method, the path as the document names it, the path called, the body) succeeds as an admin,
/// and its answer conforms to the response schema the document gives that operation.
async fn answers_conform(
    s: &TestServer,
    doc: &serde_json::Value,
    calls: impl IntoIterator<Item = (&str, &str, &str, Option<serde_json::Value>)>,
) {
    for (method, template, path, body) in calls {
        let (st, v) = s.call(method, path, Some(&s.admin), body).await;
        assert!(st == 200 || st == 201, "{method} {path}: {st} {v}");
        let schema = &doc["paths"][template][method.to_ascii_lowercase()]["responses"]["200"]
            ["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {template} has a response schema"
        );
        assert!(
            conforms(doc, schema, &v),
            "{method} {path}: {v}\nschema {schema}"
        );
    }
}

#[tokio::test]
async fn openapi_schemas_describe_the_typed_bodies_as_sent() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let doc = rampart_server::api::openapi::document();
    let routes = rampart_server::api::routes();

    // Every route whose handler takes or returns a `rampart_api` type refers to its schema, which exists.
    let mut typed = 0;
    for r in routes.iter().filter(|r| !r.is_ui()) {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        let places = [
            (
                r.response,
                &op["responses"]["200"]["content"]["application/json"]["schema"],
            ),
            (
                r.request,
                &op["requestBody"]["content"]["application/json"]["schema"],
            ),
        ];
        for (declared, schema) in places {
            let Some(declared) = declared else { continue };
            typed += 1;
            let name = (declared.name)();
            assert_eq!(
                schema["$ref"],
                format!("#/components/schemas/{name}"),
                "{} {}",
                r.method,
                r.path
            );
            assert!(
                object_schema(&doc, &doc["components"]["schemas"][&name])["properties"].is_object(),
                "{name}"
            );
        }
    }
    assert!(typed >= 25, "{typed} typed bodies");
    // Every reference in the document resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/").skip(1) {
        let path: Vec<&str> = r.split('"').next().unwrap().split('/').collect();
        assert!(
            !doc["components"][path[0]][path[1]].is_null(),
            "dangling $ref {path:?}"
        );
    }

    // Real answers of the typed routes conform to their schema (with a policy, a custom rule and an
    // override stored, so nested types are present).
    let rule =
        "version: 1.0.0\nrules:\n  - id: typed_rule\n    expression: exec.file.name == \"x\"\n";
    let calls = [
        (
            "PUT",
            "/api/v1/policies/{id}",
            "/api/v1/policies/p1",
            Some(json!({"content": rule})),
        ),
        (
            "PUT",
            "/api/v1/custom-rules/{id}",
            "/api/v1/custom-rules/r1",
            Some(json!({"expression": "exec.file.name == \"y\""})),
        ),
        (
            "PUT",
            "/api/v1/rule-overrides/{id}",
            "/api/v1/rule-overrides/typed_rule",
            Some(json!({"disabled": true})),
        ),
        (
            "POST",
            "/api/v1/policies/validate",
            "/api/v1/policies/validate",
            Some(json!({"content": rule})),
        ),
        (
            "POST",
            "/api/v1/policies/test",
            "/api/v1/policies/test",
            Some(json!({"content": rule})),
        ),
        ("GET", "/api/v1/config", "/api/v1/config", None),
        (
            "GET",
            "/api/v1/config/revisions",
            "/api/v1/config/revisions",
            None,
        ),
        (
            "GET",
            "/api/v1/config/revisions/{id}",
            "/api/v1/config/revisions/3",
            None,
        ),
        ("GET", "/api/v1/policies/{id}", "/api/v1/policies/p1", None),
        ("GET", "/api/v1/custom-rules", "/api/v1/custom-rules", None),
        (
            "GET",
            "/api/v1/custom-rules/{id}",
            "/api/v1/custom-rules/r1",
            None,
        ),
        (
            "GET",
            "/api/v1/config/public-key",
            "/api/v1/config/public-key",
            None,
        ),
        ("GET", "/api/v1/fleet", "/api/v1/fleet", None),
        (
            "POST",
            "/api/v1/dumps",
            "/api/v1/dumps",
            Some(json!({"container_id": "abc123", "duration": 60})),
        ),
        ("GET", "/api/v1/dumps", "/api/v1/dumps", None),
        ("DELETE", "/api/v1/dumps/{id}", "/api/v1/dumps/1", None),
        ("GET", "/api/v1/profiles", "/api/v1/profiles", None),
    ];
    s.enroll("typed-1").await;
    answers_conform(&s, &doc, calls).await;
    // And a refused configuration's 422 is the document's Error body, with every problem.
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/policies/bad",
            Some(&s.admin),
            Some(json!({"content": "rules: [{id: b, expression: \"nope ==\"}]"})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    let error = &doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"];
    assert!(
        conforms(&doc, error, &v) && v["problems"][0]["id"] == "b",
        "{v}"
    );
    s.stop().await;
}

/// The signals, users, tokens, audit, rules and notification routes: their schemas are in the document, and
/// real answers (with a signal, a comment, a channel whose secret is redacted, a rule and a delivery
/// stored) conform to them.
#[tokio::test]
async fn openapi_schemas_describe_signals_users_rules_and_notifications() {
    let db = TestDb::sqlite();
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let doc = rampart_server::api::openapi::document();
    let schemas = &doc["components"]["schemas"];
    let response = |method: &str, path: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"]
            .clone()
    };
    assert_eq!(
        response("get", "/api/v1/signals"),
        "#/components/schemas/SignalList"
    );
    assert_eq!(
        schemas["SignalList"]["properties"]["signals"]["items"]["$ref"],
        "#/components/schemas/Signal"
    );
    for field in ["rule_id", "severity", "state", "assignee", "first_seen"] {
        assert!(
            schemas["Signal"]["properties"][field].is_object(),
            "Signal.{field}"
        );
    }
    assert_eq!(
        response("get", "/api/v1/users/{id}"),
        "#/components/schemas/UserDetail"
    );
    assert_eq!(
        schemas["User"]["properties"]["role"]["$ref"],
        "#/components/schemas/Role"
    );
    assert_eq!(
        doc["paths"]["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/NewUser"
    );
    assert!(schemas["Channel"]["properties"]["config"].is_object());

    // Something to show on each route: a signal with a comment, a channel, a rule, a delivery.
    let agent = s.enroll("typed-2").await;
    let m = mk_match(
        "shell_in_container",
        "e-1",
        T0,
        "typed-2",
        Some("c1"),
        10,
        "/bin/sh",
    );
    assert_eq!(s.ingest(&agent, &[m]).await.0, 200);
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/signals/1/comments",
            Some(&s.admin),
            Some(json!({"body": "looking"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/channels",
            Some(&s.admin),
            Some(json!({"name": "hook", "kind": "webhook",
                        "config": {"url": "http://127.0.0.1:9/hook", "secret": "a-secret-of-some-length"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["channel"]["config"]["secret"], "<redacted>", "{v}");
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/rules",
            Some(&s.admin),
            Some(json!({"name": "all", "channels": [1], "hosts": ["typed-*"]})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["rule"]["hosts"], json!(["typed-*"]), "{v}");
    // A new signal the rule matches queues a delivery.
    let m = mk_match(
        "passwd_read",
        "e-2",
        T0 + MIN,
        "typed-2",
        None,
        11,
        "/usr/bin/cat",
    );
    assert_eq!(s.ingest(&agent, &[m]).await.0, 200);
    let calls = [
        ("GET", "/api/v1/signals", "/api/v1/signals", None),
        (
            "GET",
            "/api/v1/signals/facets",
            "/api/v1/signals/facets",
            None,
        ),
        (
            "GET",
            "/api/v1/signals/histogram",
            "/api/v1/signals/histogram",
            None,
        ),
        ("GET", "/api/v1/signals/{id}", "/api/v1/signals/1", None),
        (
            "PATCH",
            "/api/v1/signals/{id}",
            "/api/v1/signals/1",
            Some(json!({"state": "under_review", "assignee": 1})),
        ),
        (
            "GET",
            "/api/v1/signals/{id}/related",
            "/api/v1/signals/1/related",
            None,
        ),
        (
            "GET",
            "/api/v1/signals/{id}/comments",
            "/api/v1/signals/1/comments",
            None,
        ),
        ("GET", "/api/v1/auth/me", "/api/v1/auth/me", None),
        ("GET", "/api/v1/users", "/api/v1/users", None),
        ("GET", "/api/v1/users/{id}", "/api/v1/users/1", None),
        (
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            Some(json!({"username": "vic", "password": "long-enough-pw", "role": "viewer"})),
        ),
        (
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens",
            Some(json!({"name": "ci", "role": "viewer", "ttl_seconds": 60})),
        ),
        ("GET", "/api/v1/tokens", "/api/v1/tokens", None),
        (
            "POST",
            "/api/v1/enrollment-tokens",
            "/api/v1/enrollment-tokens",
            Some(json!({"name": "fleet"})),
        ),
        (
            "GET",
            "/api/v1/enrollment-tokens",
            "/api/v1/enrollment-tokens",
            None,
        ),
        ("GET", "/api/v1/audit", "/api/v1/audit", None),
        ("GET", "/api/v1/rules", "/api/v1/rules", None),
        (
            "GET",
            "/api/v1/backend-rules",
            "/api/v1/backend-rules",
            None,
        ),
        (
            "GET",
            "/api/v1/notifications/channels",
            "/api/v1/notifications/channels",
            None,
        ),
        (
            "GET",
            "/api/v1/notifications/rules",
            "/api/v1/notifications/rules",
            None,
        ),
        (
            "GET",
            "/api/v1/notifications/rules/{id}",
            "/api/v1/notifications/rules/1",
            None,
        ),
        (
            "POST",
            "/api/v1/notifications/preview",
            "/api/v1/notifications/preview",
            Some(json!({"signal_id": 1})),
        ),
        (
            "GET",
            "/api/v1/notifications/deliveries",
            "/api/v1/notifications/deliveries",
            None,
        ),
        (
            "GET",
            "/api/v1/notifications/deliveries/{id}",
            "/api/v1/notifications/deliveries/1",
            None,
        ),
        ("GET", "/healthz", "/healthz", None),
    ];
    answers_conform(&s, &doc, calls).await;
    s.stop().await;
}

/// A field a body type does not have is refused with a 422 that names it, for a user, a notification rule
/// (checked as a rule after the merge) and a notification channel.
#[tokio::test]
async fn unknown_body_fields_are_refused_by_name() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let cases = [
        (
            "POST",
            "/api/v1/users",
            json!({"username": "x", "password": "long-enough-pw", "role": "viewer", "is_root": true}),
            "is_root",
        ),
        (
            "PATCH",
            "/api/v1/users/1",
            json!({"role": "admin", "superuser": true}),
            "superuser",
        ),
        (
            "POST",
            "/api/v1/notifications/rules",
            json!({"name": "r", "channels": [1], "min_severty": "high"}),
            "min_severty",
        ),
        (
            "POST",
            "/api/v1/notifications/channels",
            json!({"name": "c", "kind": "webhook", "config": {}, "rate": 5}),
            "rate",
        ),
        (
            "PATCH",
            "/api/v1/signals/1",
            json!({"state": "archived", "owner": 2}),
            "owner",
        ),
    ];
    for (method, path, body, field) in cases {
        let (st, v) = s.call(method, path, Some(&s.admin), Some(body)).await;
        assert_eq!(st, 422, "{method} {path}: {v}");
        let message = v["message"].as_str().unwrap_or("");
        assert!(
            message.contains(&format!("unknown field `{field}`")),
            "{method} {path}: {v}"
        );
    }
    s.stop().await;
}

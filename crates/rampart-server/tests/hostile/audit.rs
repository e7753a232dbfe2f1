//! The audit log: every admin and responder action, and sign-ins that failed, recorded with who, when,
//! from where and what changed (bounded, secrets never written); readable by admins only, filtered and
//! paged by keyset; a refused change leaves no entry.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::{self, mk_match, TestDb, TestServer};

const POLICY: &str =
    "version: 1.0.0\nrules:\n  - id: audit_policy_rule\n    expression: exec.file.name == \"nc\"\n";
const BACKEND: &str = "rules:\n  - id: audit_burst\n    method: threshold\n    queries:\n      a: {rule_ids: [\"*shell*\"]}\n    group_by: [host]\n    window: 5m\n    cases:\n      - {if: \"a > 10\", severity: high}\n";
const HOOK_SECRET_1: &str = "first-webhook-secret-0123456789";
const HOOK_SECRET_2: &str = "second-webhook-secret-987654321";
const RITA_PASSWORD: &str = "ritas-first-password-1";
const RITA_PASSWORD_2: &str = "ritas-second-password-2";

async fn ok(s: &TestServer, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (st, v) = s.call(method, path, Some(token), body).await;
    assert!((200..300).contains(&st), "{method} {path}: {st} {v}");
    v
}

async fn entries(s: &TestServer, query: &str) -> (Vec<Value>, Value) {
    let v = ok(s, "GET", &format!("/api/v1/audit?{query}"), &s.admin, None).await;
    (v["entries"].as_array().unwrap().clone(), v["next"].clone())
}

fn find<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} entry"))
}

/// Performs every kind of audited action through the API, then reads the log: each is there with its
/// actor, the client address and what changed, and no secret (passwords, tokens, webhook secrets, agent
/// credentials) appears anywhere in it.
async fn every_action_is_audited(db: TestDb) {
    let s = TestServer::start(&db).await;
    let admin = s.admin.clone();
    let mut secrets: Vec<String> = vec![
        HOOK_SECRET_1.into(),
        HOOK_SECRET_2.into(),
        RITA_PASSWORD.into(),
        RITA_PASSWORD_2.into(),
        admin.clone(),
    ];
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "mallory<script>", "password": "guessing-a-password"})),
        )
        .await;
    assert_eq!(st, 401);

    // Users, sign-in, API and enrolment tokens, agents.
    let v = ok(
        &s,
        "POST",
        "/api/v1/users",
        &admin,
        Some(json!({"username": "rita", "password": RITA_PASSWORD, "role": "viewer"})),
    )
    .await;
    let rita_id = v["user"]["id"].as_i64().unwrap();
    ok(
        &s,
        "PATCH",
        &format!("/api/v1/users/{rita_id}"),
        &admin,
        Some(json!({"role": "responder", "password": RITA_PASSWORD_2})),
    )
    .await;
    let v = ok(
        &s,
        "POST",
        "/api/v1/auth/login",
        "",
        Some(json!({"username": "rita", "password": RITA_PASSWORD_2})),
    )
    .await;
    let rita = v["token"].as_str().unwrap().to_string();
    secrets.push(rita.clone());
    let v = ok(
        &s,
        "POST",
        "/api/v1/tokens",
        &admin,
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await;
    secrets.push(v["token"].as_str().unwrap().into());
    ok(
        &s,
        "DELETE",
        &format!("/api/v1/tokens/{}", v["info"]["id"]),
        &admin,
        None,
    )
    .await;
    let v = ok(
        &s,
        "POST",
        "/api/v1/enrollment-tokens",
        &admin,
        Some(json!({"name": "fleet"})),
    )
    .await;
    let enroll_token = v["token"].as_str().unwrap().to_string();
    let enroll_id = v["id"].as_i64().unwrap();
    secrets.push(enroll_token.clone());
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/agents/enroll",
            None,
            Some(json!({"token": enroll_token, "hostname": "web-1"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let agent = v["secret"].as_str().unwrap().to_string();
    let agent_id = v["agent_id"].as_i64().unwrap();
    secrets.push(agent.clone());
    ok(
        &s,
        "DELETE",
        &format!("/api/v1/enrollment-tokens/{enroll_id}"),
        &admin,
        None,
    )
    .await;

    // Triage and dumps, by a responder.
    let now = rampart_server::storage::now_ns();
    let (st, v) = s
        .ingest(
            &agent,
            &[mk_match(
                "audit_rule",
                "e1",
                now,
                "web-1",
                None,
                7,
                "/bin/sh",
            )],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let v = ok(&s, "GET", "/api/v1/signals", &rita, None).await;
    let signal = v["signals"][0]["id"].as_i64().unwrap();
    ok(
        &s,
        "PATCH",
        &format!("/api/v1/signals/{signal}"),
        &rita,
        Some(json!({"state": "under_review"})),
    )
    .await;
    ok(
        &s,
        "POST",
        &format!("/api/v1/signals/{signal}/comments"),
        &rita,
        Some(json!({"body": "looking"})),
    )
    .await;
    let v = ok(
        &s,
        "POST",
        "/api/v1/dumps",
        &rita,
        Some(json!({"container_id": "abc123"})),
    )
    .await;
    ok(
        &s,
        "DELETE",
        &format!("/api/v1/dumps/{}", v["dump"]["id"]),
        &rita,
        None,
    )
    .await;

    // Notification channels and rules.
    let v = ok(&s, "POST", "/api/v1/notifications/channels", &admin,
               Some(json!({"name": "hook", "kind": "webhook",
                           "config": {"url": "https://a.rampart.invalid/x", "secret": HOOK_SECRET_1}}))).await;
    let channel = v["channel"]["id"].as_i64().unwrap();
    ok(
        &s,
        "PATCH",
        &format!("/api/v1/notifications/channels/{channel}"),
        &admin,
        Some(json!({"config": {"url": "https://b.rampart.invalid/x", "secret": HOOK_SECRET_2}})),
    )
    .await;
    let v = ok(
        &s,
        "POST",
        "/api/v1/notifications/rules",
        &admin,
        Some(json!({"name": "crit", "channels": [channel], "min_severity": "high"})),
    )
    .await;
    let rule = v["rule"]["id"].as_i64().unwrap();
    ok(
        &s,
        "PATCH",
        &format!("/api/v1/notifications/rules/{rule}"),
        &admin,
        Some(json!({"min_severity": "critical"})),
    )
    .await;
    ok(
        &s,
        "DELETE",
        &format!("/api/v1/notifications/rules/{rule}"),
        &admin,
        None,
    )
    .await;
    ok(
        &s,
        "DELETE",
        &format!("/api/v1/notifications/channels/{channel}"),
        &admin,
        None,
    )
    .await;

    // Backend rules and the fleet configuration.
    let (st, v) = common::call(
        &format!("{}/api/v1/backend-rules", s.base),
        "POST",
        Some(&admin),
        Some(BACKEND.as_bytes().to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 201, "{v}");
    ok(
        &s,
        "PATCH",
        "/api/v1/backend-rules/audit_burst",
        &admin,
        Some(json!({"enabled": false})),
    )
    .await;
    ok(
        &s,
        "DELETE",
        "/api/v1/backend-rules/audit_burst",
        &admin,
        None,
    )
    .await;
    let v = ok(
        &s,
        "PUT",
        "/api/v1/policies/p1",
        &admin,
        Some(json!({"content": POLICY})),
    )
    .await;
    let first_revision = v["revision"].as_i64().unwrap();
    ok(
        &s,
        "PUT",
        "/api/v1/custom-rules/audit_custom",
        &admin,
        Some(json!({"expression": "exec.file.name == \"curl\""})),
    )
    .await;
    ok(
        &s,
        "PUT",
        "/api/v1/rule-overrides/audit_policy_rule",
        &admin,
        Some(json!({"disabled": true})),
    )
    .await;
    ok(
        &s,
        "POST",
        "/api/v1/config/rollback",
        &admin,
        Some(json!({"revision": first_revision})),
    )
    .await;

    ok(
        &s,
        "DELETE",
        &format!("/api/v1/agents/{agent_id}"),
        &admin,
        None,
    )
    .await;
    ok(&s, "POST", "/api/v1/auth/logout", &rita, None).await;
    ok(
        &s,
        "DELETE",
        &format!("/api/v1/users/{rita_id}"),
        &admin,
        None,
    )
    .await;

    let (log, next) = entries(&s, "limit=500").await;
    assert_eq!(next, Value::Null);
    let actions: BTreeSet<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in [
        "auth.login_failed",
        "auth.login",
        "auth.logout",
        "user.create",
        "user.update",
        "user.delete",
        "token.create",
        "token.revoke",
        "enrollment_token.create",
        "enrollment_token.revoke",
        "agent.enroll",
        "agent.revoke",
        "signal.triage",
        "signal.comment",
        "dump.start",
        "dump.stop",
        "channel.create",
        "channel.update",
        "channel.delete",
        "notification_rule.create",
        "notification_rule.update",
        "notification_rule.delete",
        "backend_rule.store",
        "backend_rule.update",
        "backend_rule.delete",
        "config.change",
    ] {
        assert!(actions.contains(a), "{a} missing from {actions:?}");
    }
    let ids: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    for e in &log {
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
        assert!(
            e["created_at"].as_i64().unwrap() >= now - 60_000_000_000,
            "{e}"
        );
    }
    let by_admin = log.iter().filter(|e| e["actor"] == "admin").count();
    assert!(by_admin >= 20, "{by_admin}");

    let failed = find(&log, "auth.login_failed");
    assert_eq!(
        (&failed["actor"], &failed["actor_kind"]),
        (&json!("mallory<script>"), &json!("anonymous"))
    );
    let triage = find(&log, "signal.triage");
    assert_eq!(triage["actor"], "rita");
    assert_eq!(triage["target"], format!("signal {signal}"));
    assert_eq!(
        triage["details"]["changes"]["state"],
        json!(["open", "under_review"])
    );
    let user = find(&log, "user.update");
    assert_eq!(
        user["details"]["changes"]["role"],
        json!(["viewer", "responder"])
    );
    assert_eq!(
        user["details"]["changes"]["password"],
        json!(["<redacted>", "<redacted>"])
    );
    let ch = find(&log, "channel.update");
    assert_eq!(
        ch["details"]["changes"]["config.url"],
        json!(["https://a.rampart.invalid/x", "https://b.rampart.invalid/x"])
    );
    assert_eq!(
        ch["details"]["changes"]["config.secret"],
        json!(["<redacted>", "<redacted>"])
    );
    let policy = log
        .iter()
        .find(|e| e["action"] == "config.change" && e["target"] == "policy p1 updated")
        .expect("the policy change");
    assert!(policy["details"]["revision"].as_i64().unwrap() >= 1);
    let content = &policy["details"]["changes"]["policies.p1.content"];
    assert_eq!(content[1], POLICY, "{policy}");
    assert!(log
        .iter()
        .any(|e| e["target"] == format!("rollback to revision {first_revision}")));
    let revoked = find(&log, "agent.revoke");
    assert_eq!(revoked["target"], format!("agent {agent_id}"));

    let text = serde_json::to_string(&log).unwrap();
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the audit log"
        );
    }
    s.stop().await;
}
both!(every_action_is_audited);

/// A refused change (a name taken, a bad password, an endpoint on the metadata service) is not recorded
/// as if it had happened.
async fn refused_changes_leave_no_entry(db: TestDb) {
    let s = TestServer::start(&db).await;
    let admin = s.admin.clone();
    ok(&s, "POST", "/api/v1/notifications/channels", &admin,
       Some(json!({"name": "hook", "kind": "webhook", "config": {"url": "https://a.rampart.invalid/x"}}))).await;
    let before = s.count("audit_log").await;
    for (method, path, body, want) in [
        (
            "POST",
            "/api/v1/notifications/channels",
            json!({"name": "hook", "kind": "webhook", "config": {"url": "https://b.rampart.invalid/x"}}),
            409,
        ),
        (
            "POST",
            "/api/v1/notifications/channels",
            json!({"name": "imds", "kind": "webhook", "config": {"url": "http://169.254.169.254/"}}),
            422,
        ),
        (
            "POST",
            "/api/v1/users",
            json!({"username": "bob", "password": "short", "role": "viewer"}),
            422,
        ),
        (
            "PUT",
            "/api/v1/policies/p1",
            json!({"content": "rules: [{id: x, expression: 'exec.file.name == 1'}]"}),
            422,
        ),
    ] {
        let (st, v) = s.call(method, path, Some(&admin), Some(body)).await;
        assert_eq!(st, want, "{path}: {v}");
    }
    assert_eq!(s.count("audit_log").await, before);
    s.stop().await;
}
both!(refused_changes_leave_no_entry);

/// The log is for admins: viewers, responders, agents and anonymous callers are refused in the API and
/// the UI; the admin page shows entries with hostile text escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_read_the_audit_log() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "<img src=x onerror=alert(1)>", "password": "nope-nope-nope"})),
        )
        .await;
    assert_eq!(st, 401);
    let viewer = s.role_token("viewer").await;
    let responder = s.role_token("responder").await;
    s.add_user("vic", "viewer").await;
    let agent = s.enroll("web-1").await;
    for (token, want) in [
        (Some(viewer.as_str()), 403),
        (Some(responder.as_str()), 403),
        (Some(agent.as_str()), 401),
        (None, 401),
    ] {
        let (st, v) = s.call("GET", "/api/v1/audit", token, None).await;
        assert_eq!(st, want, "{v}");
        assert!(!v.to_string().contains("onerror"), "{v}");
    }
    let ui = s.ui_login("vic", "long-enough-password").await;
    let (st, _, page) = s.ui_get(&ui.cookie, "/ui/audit").await;
    assert_eq!(st, 403);
    assert!(!page.contains("auth.login_failed"));
    assert!(!page.contains("nav-audit"));
    let ui = s.ui_login("admin", "admin-password-123").await;
    let (_, _, signals) = s.ui_get(&ui.cookie, "/ui/signals").await;
    assert!(signals.contains("id=\"nav-audit\""), "admins see the tab");
    let (st, _, page) = s
        .ui_get(&ui.cookie, "/ui/audit?action=auth.login_failed")
        .await;
    assert_eq!(st, 200);
    assert!(
        page.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "unescaped");
    assert!(page.contains("127.0.0.1"));
    s.stop().await;
}

/// Filters (actor, action or family, target text, client address) and keyset pages that neither repeat
/// nor skip an entry, also while new entries arrive between pages.
async fn filters_and_keyset_pages(db: TestDb) {
    let s = TestServer::start(&db).await;
    for i in 1..=23 {
        s.enroll(&format!("host{i}")).await;
    }
    let mut seen = Vec::new();
    let mut query = "action=agent.enroll&limit=5".to_string();
    loop {
        let (page, next) = entries(&s, &query).await;
        assert!(page.len() <= 5);
        seen.extend(page.iter().map(|e| e["id"].as_i64().unwrap()));
        // A new entry between pages lands before the cursor and does not shift the pages.
        s.enrollment_token().await;
        match next.as_i64() {
            Some(cursor) => query = format!("action=agent.enroll&limit=5&before={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
    let (e, _) = entries(&s, "actor=host3").await;
    assert_eq!(e.len(), 1);
    // Agents 1 to 23: "agent 1" and "agent 10" to "agent 19".
    let (e, _) = entries(&s, "target=AGENT%201&action=agent.enroll").await;
    assert_eq!(e.len(), 11, "{e:?}");
    let (e, _) = entries(&s, "action=enrollment_token.*&ip=127.0.0.1&limit=500").await;
    assert!(e.len() >= 23 + 5, "{}", e.len());
    assert!(e.iter().all(|e| e["action"] == "enrollment_token.create"));
    let (e, _) = entries(&s, "actor=host3,host4,admin&action=agent.enroll").await;
    assert_eq!(e.len(), 2);
    let (e, _) = entries(&s, "ip=10.9.8.7").await;
    assert!(e.is_empty());
    let (e, _) = entries(&s, "target=100%25").await;
    assert!(e.is_empty(), "LIKE wildcards in the filter are literal");
    for bad in ["limit=0", "limit=501", "before=x", "bogus=1"] {
        let (st, _) = s
            .call("GET", &format!("/api/v1/audit?{bad}"), Some(&s.admin), None)
            .await;
        assert_eq!(st, 400, "{bad}");
    }
    s.stop().await;
}
both!(filters_and_keyset_pages);

/// What the hardening against hostile agents and password guessing does is in the same log: a lockout
/// (of the user name and of the address, with how long), the failures that led to it, an agent's
/// revocation and readmission. A sign-in refused while locked out costs no entry (an attacker cannot flood
/// the log), but is still counted in the metrics.
async fn lockouts_and_revocations_are_audited(db: TestDb) {
    let mut c = common::config(&db.url());
    c.login.lockout_after = 2;
    c.login.lockout = std::time::Duration::from_secs(600);
    let s = TestServer::start_with(c).await;
    let guess = json!({"username": "admin", "password": "guessing-a-password"});
    for want in [401, 401, 429] {
        let (st, v) = s
            .call("POST", "/api/v1/auth/login", None, Some(guess.clone()))
            .await;
        assert_eq!(st, want, "{v}");
    }
    let m = &s.state.metrics;
    assert_eq!(
        (
            m.login_failures.get(),
            m.login_lockouts.get(),
            m.login_throttled.get()
        ),
        (2, 2, 1)
    );

    s.enroll("web-1").await;
    let agent_id: i64 = super::scalar(&s.state.db, "SELECT MAX(id) FROM agents").await;
    for (method, path) in [
        ("DELETE", format!("/api/v1/agents/{agent_id}")),
        ("POST", format!("/api/v1/agents/{agent_id}/readmit")),
    ] {
        let (st, v) = s.call(method, &path, Some(&s.admin), None).await;
        assert_eq!(st, 204, "{path}: {v}");
    }

    let (log, _) = entries(&s, "action=auth.*&limit=500").await;
    let count = |action: &str| log.iter().filter(|e| e["action"] == action).count();
    assert_eq!(
        (count("auth.login_failed"), count("auth.lockout")),
        (2, 2),
        "{log:?}"
    );
    let lockouts: BTreeSet<&str> = log
        .iter()
        .filter(|e| e["action"] == "auth.lockout")
        .map(|e| {
            assert_eq!(
                (&e["actor"], &e["actor_kind"], &e["ip"]),
                (&json!("admin"), &json!("anonymous"), &json!("127.0.0.1"))
            );
            assert_eq!(
                (
                    &e["target"],
                    &e["details"]["after_failures"],
                    &e["details"]["for_seconds"]
                ),
                (&json!("user admin"), &json!(2), &json!(600))
            );
            e["details"]["locked_out"].as_str().unwrap()
        })
        .collect();
    assert_eq!(lockouts, BTreeSet::from(["client address", "user name"]));
    assert!(!serde_json::to_string(&log)
        .unwrap()
        .contains("guessing-a-password"));

    let (log, _) = entries(&s, &format!("action=agent.*&target=agent%20{agent_id}")).await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["agent.readmit", "agent.revoke", "agent.enroll"],
        "newest first"
    );
    for e in &log[..2] {
        assert_eq!(
            (&e["actor"], &e["actor_kind"]),
            (&json!("admin"), &json!("user")),
            "{e}"
        );
    }
    s.stop().await;
}
both!(lockouts_and_revocations_are_audited);

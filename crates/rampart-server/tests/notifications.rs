//! Notifications end to end, against SQLite and a real PostgreSQL: loopback receivers that check each
//! vendor's documented request shape (Slack, PagerDuty Events v2, signed webhooks, Teams, Opsgenie), a real
//! SMTP server (aiosmtpd, plain and STARTTLS with AUTH), hostile event fields arriving inert everywhere,
//! receivers that are down or stall while the server crashes (every notification acknowledged exactly
//! once), replicas sharing one outbox, rate limits, backend-rule escalations, and the API's role checks
//! and validation.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::{free_port, mk_match, TestDb, TestServer, T0};
use hmac::{Hmac, Mac};
use rampart_server::ServerConfig;
use serde_json::{json, Value};
use sha2::Sha256;

/// Attacker-controlled text: Markdown, HTML, Slack mentions and links, and template syntax.
const HOSTILE: &str = "{{ signal.id }} *bold* _it_ <script>alert(1)</script> <!channel> @here \
    [click](javascript:alert(1)) <https://evil.example|login> &amp;";

const WEBHOOK_SECRET: &str = "a-webhook-secret-of-some-length";

/// Short timings so that retries and lease expiry take milliseconds to seconds.
fn fast(db: &TestDb) -> ServerConfig {
    let mut c = common::config_with_loopback_receivers(&db.url());
    let n = &mut c.notifications;
    n.poll_interval = Duration::from_millis(50);
    n.lease = Duration::from_secs(2);
    n.backoff_initial = Duration::from_millis(50);
    n.backoff_max = Duration::from_millis(400);
    n.request_timeout = Duration::from_millis(1500);
    n.drain_timeout = Duration::from_secs(2);
    n.public_url = Some("https://rampart.example".into());
    c
}

// ---------------------------------------------------------------------------------------------------------
// A loopback HTTP receiver.

#[derive(Debug, Clone)]
struct Req {
    path: String,
    headers: HashMap<String, String>,
    raw: Vec<u8>,
    json: Value,
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Req>>,
    /// 2xx answers given, per delivery id (or per path without one).
    acked: Mutex<HashMap<String, usize>>,
    /// Never answer the first request of each delivery id (a receiver that stalls).
    hold_first: AtomicBool,
    seen: Mutex<HashMap<String, usize>>,
    /// Status to answer (0: 200/202 as the vendor does).
    status: AtomicU16,
}

struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(r): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let key = headers
        .get("x-rampart-delivery")
        .cloned()
        .unwrap_or_else(|| path.clone());
    r.requests.lock().unwrap().push(Req {
        path: path.clone(),
        headers,
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
    });
    let first = {
        let mut seen = r.seen.lock().unwrap();
        let n = seen.entry(key.clone()).or_default();
        *n += 1;
        *n == 1
    };
    if first && r.hold_first.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let status = r.status.load(Ordering::SeqCst);
    if status != 0 {
        return (StatusCode::from_u16(status).unwrap(), "refused");
    }
    *r.acked.lock().unwrap().entry(key).or_default() += 1;
    // PagerDuty, Teams and Opsgenie answer 202; Slack 200 "ok".
    if path.starts_with("/slack") {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::ACCEPTED, "{\"status\":\"success\"}")
    }
}

impl Receiver {
    async fn start() -> Receiver {
        Self::on(0).await
    }

    async fn on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ReceiverState::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, state, task }
    }

    fn requests(&self, prefix: &str) -> Vec<Req> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn acked(&self) -> HashMap<String, usize> {
        self.state.acked.lock().unwrap().clone()
    }
}

/// Polls `cond` until it holds or `secs` pass.
async fn wait_until<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// API helpers.

/// Creates a channel from a full API body; returns its id.
async fn create_channel(s: &TestServer, body: Value) -> i64 {
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/channels",
            Some(&s.admin),
            Some(body),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["channel"]["id"].as_i64().unwrap()
}

async fn channel(s: &TestServer, name: &str, kind: &str, config: Value) -> i64 {
    create_channel(s, json!({"name": name, "kind": kind, "config": config})).await
}

async fn rule(s: &TestServer, body: Value) -> i64 {
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/rules",
            Some(&s.admin),
            Some(body),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    v["rule"]["id"].as_i64().unwrap()
}

/// A signed webhook channel with a rate limit high enough not to matter (the rate test sets its own).
async fn webhook_channel(s: &TestServer, name: &str, url: &str) -> i64 {
    create_channel(
        s,
        json!({"name": name, "kind": "webhook", "rate_per_minute": 6000,
               "config": {"url": url, "secret": WEBHOOK_SECRET}}),
    )
    .await
}

async fn deliveries(s: &TestServer, query: &str) -> Vec<Value> {
    let (st, v) = s
        .call(
            "GET",
            &format!("/api/v1/notifications/deliveries?limit=1000{query}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["deliveries"].as_array().unwrap().clone()
}

async fn delivered(s: &TestServer) -> usize {
    deliveries(s, "&status=delivered").await.len()
}

/// `n` matches of `rule_id`, each in its own container (one signal each).
fn matches(rule_id: &str, n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            mk_match(
                rule_id,
                &format!("{tag}-{i}"),
                T0 + i as i64,
                "web-1",
                Some(&format!("{tag}-c{i}")),
                100 + i as i64,
                "/bin/sh",
            )
        })
        .collect()
}

fn hostile_match() -> Value {
    let mut m = mk_match(
        "shell_in_container",
        "hostile-1",
        T0,
        "web-1",
        Some("c1"),
        4242,
        "/bin/sh",
    );
    m["rule"]["description"] = json!(HOSTILE);
    m["process"]["file"]["path"] = json!(HOSTILE);
    m["exec"]["file"]["path"] = json!(HOSTILE);
    m
}

/// What a webhook receiver does: HMAC-SHA256 over `timestamp.body`, compared with the header.
fn verify_signature(r: &Req) {
    let ts = r
        .headers
        .get("x-rampart-timestamp")
        .expect("timestamp header");
    let sig = r
        .headers
        .get("x-rampart-signature")
        .expect("signature header");
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.raw);
    let hex = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    mac.verify_slice(&bytes)
        .expect("the signature verifies over timestamp.body");
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - ts.parse::<i64>().unwrap();
    assert!(age.abs() < 60, "a fresh timestamp ({age} s)");
}

// ---------------------------------------------------------------------------------------------------------
// Vendors' request shapes, hostile fields, resolution on archive.

async fn vendor_shapes_and_inert_fields(db: TestDb) {
    let s = TestServer::start_with(fast(&db)).await;
    let rx = Receiver::start().await;
    let b = &rx.base;
    let mut ids = Vec::new();
    for (kind, config) in [
        (
            "slack",
            json!({"webhook_url": format!("{b}/slack/T0/B0/x")}),
        ),
        (
            "pagerduty",
            json!({"routing_key": "R0UTINGKEY0123456789abcdefABCDEF", "events_url": format!("{b}/pagerduty/v2/enqueue")}),
        ),
        (
            "webhook",
            json!({"url": format!("{b}/webhook"), "secret": WEBHOOK_SECRET, "headers": {"X-Team": "secops"}}),
        ),
        ("teams", json!({"webhook_url": format!("{b}/teams")})),
        (
            "opsgenie",
            json!({"api_key": "og-key", "api_url": format!("{b}/opsgenie")}),
        ),
    ] {
        ids.push(channel(&s, kind, kind, config).await);
    }
    let slack = ids[0];
    rule(
        &s,
        json!({"name": "everything high", "channels": ids, "min_severity": "high",
               "sources": ["agent"], "rule_ids": ["shell_*"], "hosts": ["web-*"], "images": ["nginx:*"]}),
    )
    .await;
    // A rule for nothing that exists: it adds no delivery.
    rule(
        &s,
        json!({"name": "other", "channels": [slack], "rule_ids": ["miner_*"]}),
    )
    .await;

    let agent = s.enroll("web-1").await;
    let (st, out) = s.ingest(&agent, &[hostile_match()]).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["notifications_queued"], 5, "{out}");
    wait_until(20, "five deliveries", || async { delivered(&s).await == 5 }).await;
    let (_, list) = s.call("GET", "/api/v1/signals", Some(&s.admin), None).await;
    let id = list["signals"][0]["id"].as_i64().unwrap();
    let url = format!("https://rampart.example/signals/{id}");

    // Slack: Block Kit with a text fallback; nothing of the hostile text acts.
    let r = rx.requests("/slack");
    assert_eq!(r.len(), 1);
    let p = &r[0].json;
    assert!(p["text"].is_string() && p["blocks"].is_array(), "{p}");
    assert_eq!(p["blocks"][0]["type"], "header");
    assert_eq!(p["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(p["blocks"][1]["text"]["type"], "mrkdwn");
    assert_eq!(p["blocks"][1]["text"]["verbatim"], true);
    assert_eq!(
        p["blocks"].as_array().unwrap().last().unwrap()["elements"][0]["url"],
        url
    );
    for text in [
        p["text"].as_str().unwrap(),
        p["blocks"][1]["text"]["text"].as_str().unwrap(),
    ] {
        for bad in [
            "<!channel>",
            "<script>",
            "<https://evil",
            "*bold*",
            "_it_",
            "@here",
            "<javascript",
        ] {
            assert!(!text.contains(bad), "Slack got {bad:?} live in {text:?}");
        }
        assert!(
            text.contains("&lt;script&gt;") && text.contains("&lt;!channel&gt;"),
            "{text}"
        );
        assert!(
            text.contains("{{ signal.id }}"),
            "template syntax in a value stays text: {text}"
        );
    }
    // The admin's own Markdown still formats.
    assert!(p["blocks"][1]["text"]["text"]
        .as_str()
        .unwrap()
        .contains(&format!("<{url}|Open the signal in Rampart>")));

    // PagerDuty Events API v2.
    let r = rx.requests("/pagerduty/v2/enqueue");
    assert_eq!(r.len(), 1);
    let p = &r[0].json;
    assert_eq!(p["routing_key"], "R0UTINGKEY0123456789abcdefABCDEF");
    assert_eq!(p["event_action"], "trigger");
    assert_eq!(p["dedup_key"], format!("rampart-signal-{id}"));
    assert_eq!(
        p["payload"]["severity"], "error",
        "high is PagerDuty's error"
    );
    assert_eq!(p["payload"]["source"], "web-1");
    let summary = p["payload"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("New high signal: {{ signal.id }} *bold*"),
        "{summary}"
    );
    assert!(summary.chars().count() <= 1024);
    assert!(humantime::parse_rfc3339(p["payload"]["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(p["links"][0]["href"], url);

    // Webhook: signed, custom header, the exact hostile value as a JSON string.
    let r = rx.requests("/webhook");
    assert_eq!(r.len(), 1);
    verify_signature(&r[0]);
    assert_eq!(r[0].headers["x-team"], "secops");
    assert_eq!(r[0].headers["content-type"], "application/json");
    let d = &r[0].json;
    assert_eq!(d["event"], "created");
    assert_eq!(
        d["match"]["exec"]["file"]["path"], HOSTILE,
        "values arrive exact and JSON-escaped"
    );
    assert_eq!(d["signal"]["id"], id);
    assert_eq!(
        d["delivery_id"].as_i64().unwrap().to_string(),
        r[0].headers["x-rampart-delivery"]
    );
    assert!(d["title"].as_str().unwrap().contains("{{ signal.id }}"));

    // Teams: one Adaptive Card; Markdown in values is backslash-escaped.
    let r = rx.requests("/teams");
    assert_eq!(r.len(), 1);
    let p = &r[0].json;
    assert_eq!(p["type"], "message");
    let att = &p["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    let card_body = att["content"]["body"].to_string();
    assert!(
        !card_body.contains("<script>")
            && !card_body.contains(" *bold* ")
            && !card_body.contains("[click]")
    );
    assert!(
        card_body.contains(r"\\*bold\\*") && card_body.contains(r"\\<script\\>"),
        "{card_body}"
    );
    assert_eq!(att["content"]["actions"][0]["url"], url);

    // Opsgenie: create alert with the alias, GenieKey auth.
    let r = rx.requests("/opsgenie");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].path, "/opsgenie/v2/alerts");
    assert_eq!(r[0].headers["authorization"], "GenieKey og-key");
    let p = &r[0].json;
    assert_eq!(p["alias"], format!("rampart-signal-{id}"));
    assert_eq!(p["priority"], "P2");
    assert!(p["message"].as_str().unwrap().chars().count() <= 130);
    assert_eq!(p["entity"], "web-1");

    // Archiving resolves PagerDuty and Opsgenie (same dedup key / alias), and nothing else.
    patch(
        &s,
        &format!("/api/v1/signals/{id}"),
        json!({"state": "archived"}),
    )
    .await;
    wait_until(20, "the resolutions", || async { delivered(&s).await == 7 }).await;
    let r = rx.requests("/pagerduty/v2/enqueue");
    assert_eq!(r.len(), 2);
    assert_eq!(
        r[1].json,
        json!({"routing_key": "R0UTINGKEY0123456789abcdefABCDEF", "event_action": "resolve",
               "dedup_key": format!("rampart-signal-{id}")})
    );
    let r = rx.requests("/opsgenie");
    assert_eq!(r.len(), 2);
    assert_eq!(
        r[1].path,
        format!("/opsgenie/v2/alerts/rampart-signal-{id}/close?identifierType=alias")
    );
    assert_eq!(
        rx.requests("/slack").len() + rx.requests("/webhook").len() + rx.requests("/teams").len(),
        3
    );

    // The delivery log and the metrics agree.
    for d in deliveries(&s, "").await {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1, "{d}");
        assert!(d["delivered_at"].as_i64().unwrap() >= d["created_at"].as_i64().unwrap());
    }
    let (_, m) = s.call("GET", "/metrics", Some(&s.admin), None).await;
    let m = m.as_str().unwrap();
    assert!(
        m.contains("rampart_server_notifications_queued_total 7"),
        "{m}"
    );
    assert!(
        m.contains("rampart_server_notifications_delivered_total 7"),
        "{m}"
    );
    assert!(
        m.contains("rampart_server_notifications_failed_total 0"),
        "{m}"
    );
    s.stop().await;
}
both!(vendor_shapes_and_inert_fields);

// ---------------------------------------------------------------------------------------------------------
// Email through a real SMTP server.

struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    fn start(
        tls: Option<(&std::path::Path, &std::path::Path)>,
        auth: Option<(&str, &str)>,
    ) -> SmtpSink {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((cert, key)) = tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((u, p)) = auth {
            cmd.args(["--user", u, "--password", p]);
        }
        let mut child = cmd.spawn().expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("READY"),
            "the SMTP sink did not start (aiosmtpd missing? `python3 -m pip install aiosmtpd`; scripts/deps.sh does it): {line:?}"
        );
        SmtpSink { child, port, dir }
    }

    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

fn part<'a>(msg: &'a Value, content_type: &str) -> &'a str {
    msg["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {msg}"))["text"]
        .as_str()
        .unwrap()
}

async fn email_over_smtp(db: TestDb) {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::certs::issue_certificates(certs.path());
    let secure = SmtpSink::start(Some((&cert, &key)), Some(("rampart", "smtp-password")));
    let plain = SmtpSink::start(None, None);
    let s = TestServer::start_with(fast(&db)).await;
    let tls_channel = channel(
        &s,
        "mail-tls",
        "email",
        json!({"smtp_host": "127.0.0.1", "smtp_port": secure.port, "security": "starttls",
               "username": "rampart", "password": "smtp-password", "from": "Rampart <rampart@example.org>",
               "to": ["secops@example.org", "oncall@example.org"], "ca_pem": std::fs::read_to_string(&ca).unwrap()}),
    )
    .await;
    let plain_channel = channel(
        &s,
        "mail-plain",
        "email",
        json!({"smtp_host": "127.0.0.1", "smtp_port": plain.port, "security": "none",
               "from": "rampart@example.org", "to": ["secops@example.org"]}),
    )
    .await;
    rule(
        &s,
        json!({"name": "mail", "channels": [tls_channel, plain_channel]}),
    )
    .await;
    let agent = s.enroll("web-1").await;
    let (st, out) = s.ingest(&agent, &[hostile_match()]).await;
    assert_eq!(st, 200, "{out}");
    wait_until(30, "two emails", || async { delivered(&s).await == 2 }).await;

    let got = secure.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["tls"], true, "STARTTLS was used");
    assert_eq!(m["authenticated"], true, "AUTH was used");
    assert_eq!(m["mail_from"], "rampart@example.org");
    assert_eq!(
        m["rcpt_tos"],
        json!(["secops@example.org", "oncall@example.org"])
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("New high signal: {{ signal.id }} *bold*"),
        "{subject}"
    );
    let html = part(m, "text/html");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("<strong>bold"),
        "{html}"
    );
    assert!(
        !html.contains("javascript:alert(1)\""),
        "no live javascript: link: {html}"
    );
    assert!(
        html.contains("<a href=\"https://rampart.example/signals/"),
        "{html}"
    );
    assert!(html.contains("{{ signal.id }}"), "{html}");
    let text = part(m, "text/plain");
    assert!(
        text.contains(HOSTILE.split(" [click]").next().unwrap()),
        "plain text shows the value: {text}"
    );
    assert!(
        text.contains("Open the signal in Rampart (https://rampart.example/signals/"),
        "{text}"
    );

    let got = plain.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["tls"], false);
    assert_eq!(got[0]["content_type"], "multipart/alternative");

    // An SMTP server that refuses the credentials: a permanent failure with the server's reason.
    patch(
        &s,
        &format!("/api/v1/notifications/channels/{tls_channel}"),
        json!({"config": {"smtp_host": "127.0.0.1", "smtp_port": secure.port, "username": "rampart",
            "password": "wrong", "from": "rampart@example.org", "to": ["secops@example.org"],
            "ca_pem": std::fs::read_to_string(&ca).unwrap()}}),
    )
    .await;
    let (st, v) = s
        .call(
            "POST",
            &format!("/api/v1/notifications/channels/{tls_channel}/test"),
            Some(&s.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["delivered"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("535"), "{v}");
    s.stop().await;
}
both!(email_over_smtp);

// ---------------------------------------------------------------------------------------------------------
// Durability: a receiver that is down, a server that crashes mid-delivery, replicas sharing the outbox.

async fn receiver_down_then_up(db: TestDb) {
    let s = TestServer::start_with(fast(&db)).await;
    let port = free_port();
    let hook = webhook_channel(&s, "down", &format!("http://127.0.0.1:{port}/hook")).await;
    rule(&s, json!({"name": "all", "channels": [hook]})).await;
    let agent = s.enroll("web-1").await;
    let (st, out) = s.ingest(&agent, &matches("down_rule", 5, "down")).await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["notifications_queued"], 5);

    // Nothing listens: attempts fail with the connection error and are retried.
    wait_until(20, "retries", || async {
        let d = deliveries(&s, "").await;
        d.iter()
            .all(|d| d["attempts"].as_i64().unwrap() >= 3 && d["status"] == "pending")
    })
    .await;
    let d = deliveries(&s, "").await;
    assert!(
        d[0]["last_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connect"),
        "{}",
        d[0]
    );

    let rx = Receiver::on(port).await;
    wait_until(20, "delivery once the receiver is back", || async {
        delivered(&s).await == 5
    })
    .await;
    let acked = rx.acked();
    assert_eq!(acked.len(), 5, "{acked:?}");
    assert!(
        acked.values().all(|n| *n == 1),
        "each delivered exactly once: {acked:?}"
    );
    for r in rx.requests("/hook") {
        verify_signature(&r);
    }
    let (_, m) = s.call("GET", "/metrics", Some(&s.admin), None).await;
    let retries: u64 = m
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("rampart_server_notifications_retries_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(retries >= 10, "{retries} retries");
    s.stop().await;
}
both!(receiver_down_then_up);

async fn crash_during_delivery(db: TestDb) {
    let rx = Receiver::start().await;
    // The receiver takes every first request and never answers it: the server crashes with all of them
    // in flight.
    rx.state.hold_first.store(true, Ordering::SeqCst);
    let s = TestServer::start_with(fast(&db)).await;
    let hook = webhook_channel(&s, "crash", &format!("{}/hook", rx.base)).await;
    rule(&s, json!({"name": "all", "channels": [hook]})).await;
    let agent = s.enroll("web-1").await;
    let n = 6;
    let (st, _) = s.ingest(&agent, &matches("crash_rule", n, "crash")).await;
    assert_eq!(st, 200);
    wait_until(20, "all requests in flight", || async {
        rx.requests("/hook").len() == n
    })
    .await;
    s.crash().await;

    // After the restart, the leases of the crashed worker expire and the rows are sent again.
    rx.state.hold_first.store(false, Ordering::SeqCst);
    let s = TestServer::start_with(fast(&db)).await;
    wait_until(30, "delivery after the restart", || async {
        delivered(&s).await == n
    })
    .await;
    let acked = rx.acked();
    assert_eq!(acked.len(), n, "{acked:?}");
    assert!(
        acked.values().all(|c| *c == 1),
        "each acknowledged exactly once: {acked:?}"
    );
    // The re-sent requests carry the delivery id of the first try: a receiver can drop a repeat.
    let ids: std::collections::HashSet<String> = rx
        .requests("/hook")
        .iter()
        .map(|r| r.headers["x-rampart-delivery"].clone())
        .collect();
    assert_eq!(ids.len(), n);
    for d in deliveries(&s, "").await {
        assert_eq!(
            d["attempts"], 2,
            "one lost to the crash, one delivered: {d}"
        );
    }
    // A clean stop while idle, then a restart: nothing is sent twice.
    s.stop().await;
    let s = TestServer::start_with(fast(&db)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests("/hook").len(), 2 * n);
    s.stop().await;
}
both!(crash_during_delivery);

/// Two replicas on one PostgreSQL database deliver a shared outbox: every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_outbox() {
    rampart_testkit::require!(postgres);
    let db = TestDb::postgres();
    let rx = Receiver::start().await;
    let a = TestServer::start_with(fast(&db)).await;
    let b = TestServer::start_with(fast(&db)).await;
    let hook = webhook_channel(&a, "shared", &format!("{}/hook", rx.base)).await;
    rule(&a, json!({"name": "all", "channels": [hook]})).await;
    let agent = a.enroll("web-1").await;
    let n = 40;
    // Half the batches through each replica.
    let all = matches("replica_rule", n, "rep");
    for (i, chunk) in all.chunks(5).enumerate() {
        let server = if i % 2 == 0 { &a } else { &b };
        // The other replica sees the rule within its cache refresh.
        tokio::time::sleep(Duration::from_millis(if i == 1 { 2100 } else { 0 })).await;
        let (st, out) = server.ingest(&agent, chunk).await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(out["notifications_queued"], 5, "{out}");
    }
    wait_until(30, "all delivered", || async { delivered(&a).await == n }).await;
    let acked = rx.acked();
    assert_eq!(acked.len(), n);
    assert!(acked.values().all(|c| *c == 1), "{acked:?}");
    assert_eq!(rx.requests("/hook").len(), n, "no request sent twice");
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------------------
// Rate limits, backend-rule escalations, rules that do not match.

async fn rate_limit_and_escalation(db: TestDb) {
    let s = TestServer::start_with(fast(&db)).await;
    let rx = Receiver::start().await;
    let limited = create_channel(
        &s,
        json!({"name": "slow", "kind": "webhook", "rate_per_minute": 120,
               "config": {"url": format!("{}/limited", rx.base)}}),
    )
    .await;
    rule(&s, json!({"name": "agent", "channels": [limited], "sources": ["agent"], "rule_ids": ["burst_rule"]})).await;
    let hook = webhook_channel(&s, "backend", &format!("{}/backend", rx.base)).await;
    rule(&s, json!({"name": "backend", "channels": [hook], "sources": ["backend"], "rule_ids": ["notify_burst"]})).await;
    let yaml = "rules:\n  - id: notify_burst\n    name: Burst of burst_rule\n    method: threshold\n    \
        queries: {a: {rule_ids: [burst_rule]}}\n    group_by: [host]\n    window: 10m\n    cases:\n      \
        - {if: \"a >= 24\", severity: critical}\n      - {if: \"a >= 2\", severity: medium}\n";
    let (st, v) = common::call(
        &format!("{}/api/v1/backend-rules", s.base),
        "POST",
        Some(&s.admin),
        Some(yaml.as_bytes().to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 201, "{v}");

    // 24 agent signals on a channel allowed 120/min (a burst of 20, then 2/s); the backend rule opens a
    // medium signal at 2 matches and escalates it to critical at 24.
    let agent = s.enroll("web-1").await;
    let all = matches("burst_rule", 24, "burst");
    let started = Instant::now();
    let (st, out) = s.ingest(&agent, &all[..2]).await;
    assert_eq!(st, 200, "{out}");
    let (st, out) = s.ingest(&agent, &all[2..]).await;
    assert_eq!(st, 200, "{out}");
    wait_until(30, "all delivered", || async { delivered(&s).await == 26 }).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "the last 4 waited for tokens: {took:?}"
    );
    assert_eq!(rx.requests("/limited").len(), 24);
    let (_, m) = s.call("GET", "/metrics", Some(&s.admin), None).await;
    assert!(!m
        .as_str()
        .unwrap()
        .contains("rampart_server_notifications_rate_limited_total 0\n"));
    let backend: Vec<Value> = rx
        .requests("/backend")
        .into_iter()
        .map(|r| r.json)
        .collect();
    assert_eq!(backend.len(), 2, "{backend:?}");
    assert_eq!(
        (
            backend[0]["event"].as_str(),
            backend[0]["severity"].as_str()
        ),
        (Some("created"), Some("medium"))
    );
    assert_eq!(
        (
            backend[1]["event"].as_str(),
            backend[1]["severity"].as_str()
        ),
        (Some("escalated"), Some("critical"))
    );
    assert_eq!(backend[0]["signal"]["id"], backend[1]["signal"]["id"]);
    assert_eq!(backend[1]["rule"]["source"], "backend");
    assert!(backend[1]["title"]
        .as_str()
        .unwrap()
        .starts_with("Signal escalated to critical: Burst of burst_rule"));
    s.stop().await;
}
both!(rate_limit_and_escalation);

// ---------------------------------------------------------------------------------------------------------
// The API: roles, validation, secrets, disabling, preview.

/// PATCHes `path` as admin; the answer must be 200.
async fn patch(s: &TestServer, path: &str, body: Value) -> Value {
    let (st, v) = s.call("PATCH", path, Some(&s.admin), Some(body)).await;
    assert_eq!(st, 200, "{v}");
    v
}

/// The status of a request without a body.
async fn status(s: &TestServer, method: &str, path: &str, token: &str) -> u16 {
    s.call(method, path, Some(token), None).await.0
}

/// Each body POSTed to `path` gets a 4xx with a reason.
async fn refused(s: &TestServer, path: &str, bodies: &[Value]) {
    for body in bodies {
        let (st, v) = s
            .call("POST", path, Some(&s.admin), Some(body.clone()))
            .await;
        assert!((400..500).contains(&st), "{body} got {st}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}: {v}"
        );
    }
}

async fn api_roles_validation_and_preview(db: TestDb) {
    let s = TestServer::start_with(fast(&db)).await;
    let rx = Receiver::start().await;
    let viewer = s.user_token("viewer1", "viewer").await;
    let responder = s.user_token("responder1", "responder").await;
    let good = json!({"name": "hook", "kind": "webhook",
                      "config": {"url": format!("{}/hook", rx.base), "secret": WEBHOOK_SECRET,
                                 "headers": {"Authorization": "Bearer receiver-token"}}});

    // Roles: a viewer reads but cannot create; a responder cannot delete.
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/channels",
            Some(&viewer),
            Some(good.clone()),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/notifications/rules",
            Some(&viewer),
            Some(json!({"name": "r", "channels": [1]})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/channels",
            Some(&s.admin),
            Some(good.clone()),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["channel"]["id"].as_i64().unwrap();
    let (st, v) = s
        .call("GET", "/api/v1/notifications/channels", Some(&viewer), None)
        .await;
    assert_eq!(st, 200, "{v}");
    // Secrets are never shown.
    let shown = v["channels"][0]["config"].clone();
    assert_eq!(shown["secret"], "<redacted>");
    assert_eq!(shown["headers"]["Authorization"], "<redacted>");
    assert!(!v.to_string().contains(WEBHOOK_SECRET) && !v.to_string().contains("receiver-token"));
    let channel_path = format!("/api/v1/notifications/channels/{id}");
    assert_eq!(status(&s, "DELETE", &channel_path, &responder).await, 403);
    assert_eq!(
        status(&s, "DELETE", "/api/v1/notifications/rules/1", &responder).await,
        403
    );
    let (st, _) = s
        .call("GET", "/api/v1/notifications/deliveries", None, None)
        .await;
    assert_eq!(st, 401);

    // Malformed bodies: 4xx with a reason, nothing stored.
    let bad_channels = [
        json!({"name": "x", "kind": "sms", "config": {}}),
        json!({"name": "x", "kind": "slack", "config": {"webhook_url": "not a url"}}),
        json!({"name": "x", "kind": "slack", "config": {"webhook_url": "https://h", "surprise": 1}}),
        json!({"name": "x", "kind": "webhook", "config": {"url": "https://h", "body": {"a": "{{ unclosed"}}}),
        json!({"name": "x", "kind": "webhook", "config": {"url": "https://h", "headers": {"Bad Header": "v"}}}),
        json!({"name": "x", "kind": "pagerduty", "config": {}}),
        json!({"name": "x", "kind": "email", "config": {"smtp_host": "h", "from": "me", "to": ["a@b.c"]}}),
        json!({"name": "", "kind": "teams", "config": {"webhook_url": "https://h"}}),
        json!({"name": "x", "kind": "teams", "config": {"webhook_url": "https://h"}, "template": {"body": "{{ x }"}}),
        json!({"name": "x", "kind": "teams", "config": {"webhook_url": "https://h"}, "rate_per_minute": 0}),
        json!({"name": "hook", "kind": "teams", "config": {"webhook_url": "https://h"}}),
        json!({"kind": "teams", "config": {"webhook_url": "https://h"}}),
        json!(["not", "an", "object"]),
    ];
    refused(&s, "/api/v1/notifications/channels", &bad_channels).await;
    let (st, v) = common::call(
        &format!("{}/api/v1/notifications/channels", s.base),
        "POST",
        Some(&s.admin),
        Some(b"{\"name\": ".to_vec()),
        &[],
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(s.count("notification_channels").await, 1);
    let bad_rules = [
        json!({"name": "r", "channels": []}),
        json!({"name": "r", "channels": [999]}),
        json!({"name": "r", "channels": [id], "min_severity": "extreme"}),
        json!({"name": "r", "channels": [id], "sources": ["kernel"]}),
        json!({"name": "r", "channels": [id], "events": ["resolved"]}),
        json!({"name": "r", "channels": [id], "typo": true}),
        json!({"name": "r", "channels": [id], "template": {"title": "{{ a b }}"}}),
        json!({"channels": [id]}),
        json!({"name": 5, "channels": [id]}),
    ];
    refused(&s, "/api/v1/notifications/rules", &bad_rules).await;
    assert_eq!(s.count("notification_rules").await, 0);

    // Editing a channel without resending its secrets keeps them (the receiver verifies the signature),
    // unless the edit moves the channel to another URL: then the stored secrets are not sent there.
    let mut edited = shown.clone();
    edited["method"] = json!("POST");
    patch(&s, &channel_path, json!({"config": edited.clone()})).await;
    edited["url"] = json!(format!("{}/edited", rx.base));
    let (st, v) = s
        .call(
            "PATCH",
            &channel_path,
            Some(&s.admin),
            Some(json!({"config": edited.clone()})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    edited["secret"] = good["config"]["secret"].clone();
    edited["headers"] = good["config"]["headers"].clone();
    patch(&s, &channel_path, json!({"config": edited})).await;
    let rid = rule(&s, json!({"name": "r", "channels": [id], "min_severity": "critical",
        "template": {"title": "{{ rule.id }} on {{ host }}", "body": "Path: `{{ process.file.path }}`"}})).await;
    let agent = s.enroll("web-1").await;
    let (_, out) = s.ingest(&agent, &matches("quiet_rule", 1, "q")).await;
    assert_eq!(
        out["notifications_queued"], 0,
        "high is below the rule's critical: {out}"
    );
    let v = patch(
        &s,
        &format!("/api/v1/notifications/rules/{rid}"),
        json!({"min_severity": "high"}),
    )
    .await;
    assert_eq!(v["rule"]["min_severity"], "high");
    assert_eq!(
        v["rule"]["template"]["title"], "{{ rule.id }} on {{ host }}",
        "untouched fields stay"
    );
    let (_, out) = s.ingest(&agent, &matches("loud_rule", 1, "l")).await;
    assert_eq!(out["notifications_queued"], 1, "{out}");
    wait_until(20, "the delivery", || async { delivered(&s).await == 1 }).await;
    let r = rx.requests("/edited");
    assert_eq!(r.len(), 1);
    verify_signature(&r[0]);
    assert_eq!(r[0].headers["authorization"], "Bearer receiver-token");
    assert_eq!(
        r[0].json["title"], "loud_rule on web-1",
        "the rule's template is used"
    );

    // Disabled rule: nothing queued.
    patch(
        &s,
        &format!("/api/v1/notifications/rules/{rid}"),
        json!({"enabled": false}),
    )
    .await;
    let (_, out) = s.ingest(&agent, &matches("loud_rule", 1, "l2")).await;
    assert_eq!(out["notifications_queued"], 0, "{out}");

    // Preview against a stored signal, in every format, with the variables it could not find.
    let (_, list) = s
        .call(
            "GET",
            "/api/v1/signals?rule_id=loud_rule",
            Some(&s.admin),
            None,
        )
        .await;
    let sid = list["signals"][0]["id"].as_i64().unwrap();
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/preview",
            Some(&viewer),
            Some(json!({"signal_id": sid, "template": {"title": "*{{ severity }}* {{ nope.missing }}",
                        "body": "**{{ rule.id }}** <{{ container.image }}> {{ process.tree }}"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["title"]["plain"], "*high*");
    assert_eq!(
        v["body"]["html"],
        "<p><strong>loud_rule</strong> &lt;nginx:1.25&gt; (1) &gt; sshd(100) &gt; sh(100)</p>"
    );
    assert_eq!(
        v["body"]["slack"],
        "*loud_rule* &lt;nginx:1.25&gt; (1) &gt; sshd(100) &gt; sh(100)"
    );
    assert_eq!(v["missing"], json!(["nope.missing"]));
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/notifications/preview",
            Some(&viewer),
            Some(json!({"signal_id": sid, "template": {"body": "{{"}})),
        )
        .await;
    assert_eq!(st, 422, "{v}");

    // A receiver that refuses for good (HTTP 400): failed after one attempt, with the reason. A responder
    // queues it again; a viewer cannot, and a delivered one cannot be.
    let rule_path = format!("/api/v1/notifications/rules/{rid}");
    patch(&s, &rule_path, json!({"enabled": true})).await;
    rx.state.status.store(400, Ordering::SeqCst);
    let (_, out) = s.ingest(&agent, &matches("loud_rule", 1, "l3")).await;
    assert_eq!(out["notifications_queued"], 1, "{out}");
    wait_until(20, "the failure", || async {
        deliveries(&s, "&status=failed").await.len() == 1
    })
    .await;
    let failed = deliveries(&s, "&status=failed").await.remove(0);
    assert_eq!(failed["attempts"], 1, "a 400 is not retried: {failed}");
    assert_eq!(failed["last_status"], 400);
    // Rampart's reason, and apart from it what the receiver answered (shown to admins only).
    assert_eq!(failed["last_error"], "HTTP 400", "{failed}");
    assert!(
        failed["last_response"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{failed}"
    );
    let retry = format!("/api/v1/notifications/deliveries/{}/retry", failed["id"]);
    assert_eq!(status(&s, "POST", &retry, &viewer).await, 403);
    rx.state.status.store(0, Ordering::SeqCst);
    assert_eq!(status(&s, "POST", &retry, &responder).await, 200);
    wait_until(20, "the retried delivery", || async {
        delivered(&s).await == 2
    })
    .await;
    assert_eq!(status(&s, "POST", &retry, &responder).await, 409);

    // Deleting a channel removes its deliveries; the OpenAPI document lists the routes with their roles.
    assert_eq!(
        status(
            &s,
            "DELETE",
            &format!("/api/v1/notifications/channels/{id}"),
            &s.admin
        )
        .await,
        204
    );
    assert_eq!(s.count("notification_outbox").await, 0);
    let (_, doc) = s.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(
        doc["paths"]["/api/v1/notifications/channels"]["post"]["x-rampart-access"],
        "admin"
    );
    assert_eq!(
        doc["paths"]["/api/v1/notifications/rules/{id}"]["get"]["parameters"][0]["schema"]["type"],
        "integer"
    );
    s.stop().await;
}
both!(api_roles_validation_and_preview);

//! Issue 20 item 7, SSRF through notification channels: an admin (or anyone holding an admin token) points
//! a channel at the cloud metadata service, loopback or a private network and reads the answer back from the
//! delivery log. Endpoints in those ranges are refused when a channel is saved and again at every send (the
//! address resolved is the address connected to), redirects are not followed, and what a receiver answers
//! is shown to admins only.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use rampart_server::notify::channels::ChannelConfig;
use rampart_server::notify::egress::{Egress, Resolve};
use rampart_server::notify::{channels::Senders, compose::compose, context, rules::SignalEvent};
use serde_json::{json, Value};

use super::{addr_of, assert_healthz_fast};
use crate::common::{self, mk_match, TestDb, TestServer};

/// A loopback HTTP receiver answering every request with `status`, `body` and optional headers.
struct Receiver {
    port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(
        status: u16,
        body: &'static str,
        headers: &[(&'static str, String)],
    ) -> Receiver {
        Self::on("127.0.0.1:0", status, body, headers).await
    }

    async fn on(
        addr: &str,
        status: u16,
        body: &'static str,
        headers: &[(&'static str, String)],
    ) -> Receiver {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let mut extra = HeaderMap::new();
        for (k, v) in headers {
            extra.insert(*k, v.parse().unwrap());
        }
        let app = axum::Router::new().fallback(move || {
            let (counter, extra) = (counter.clone(), extra.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (StatusCode::from_u16(status).unwrap(), extra, body)
            }
        });
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Receiver { port, hits, task }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn create(s: &TestServer, kind: &str, config: Value) -> (u16, Value) {
    s.call(
        "POST",
        "/api/v1/notifications/channels",
        Some(&s.admin),
        Some(json!({"name": format!("c{}", rand_suffix()), "kind": kind, "config": config})),
    )
    .await
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}

/// Every endpoint in a non-public range is refused with a 422 naming the address and the reason, and
/// nothing is stored; the IMDSv2 request of the report (PUT with the token-TTL header) among them.
async fn private_endpoints_are_refused_when_saved(db: TestDb) {
    let s = TestServer::start(&db).await;
    let imds = json!({"url": "http://169.254.169.254/latest/api/token", "method": "PUT",
                      "headers": {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("webhook", imds, "link-local"),
        (
            "webhook",
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
            "cloud metadata",
        ),
        (
            "webhook",
            json!({"url": "http://127.0.0.1:7878/api/v1/users"}),
            "loopback",
        ),
        // Names and spellings that land on loopback: /etc/hosts, decimal and hex IPv4, IPv6 forms.
        (
            "webhook",
            json!({"url": "http://localhost:7878/"}),
            "localhost resolves to",
        ),
        ("webhook", json!({"url": "http://2130706433/"}), "loopback"),
        ("webhook", json!({"url": "http://0x7f.1/"}), "loopback"),
        (
            "webhook",
            json!({"url": "http://0.0.0.0:7878/"}),
            "unspecified",
        ),
        ("webhook", json!({"url": "http://[::1]:7878/"}), "loopback"),
        (
            "webhook",
            json!({"url": "http://[::ffff:169.254.169.254]/"}),
            "link-local",
        ),
        (
            "webhook",
            json!({"url": "http://[fd00:ec2::254]/"}),
            "unique local",
        ),
        ("webhook", json!({"url": "http://10.0.0.5/"}), "private"),
        ("webhook", json!({"url": "http://192.168.1.1/"}), "private"),
        (
            "webhook",
            json!({"url": "http://100.100.100.200/"}),
            "carrier-grade",
        ),
        (
            "slack",
            json!({"webhook_url": "https://127.0.0.1/services/x"}),
            "loopback",
        ),
        (
            "teams",
            json!({"webhook_url": "https://172.16.0.1/hook"}),
            "private",
        ),
        (
            "pagerduty",
            json!({"routing_key": "k", "events_url": "http://169.254.169.254/"}),
            "link-local",
        ),
        (
            "opsgenie",
            json!({"api_key": "k", "api_url": "http://10.1.1.1"}),
            "private",
        ),
        (
            "email",
            json!({"smtp_host": "127.0.0.1", "from": "a@b.c", "to": ["d@e.f"]}),
            "loopback",
        ),
        (
            "email",
            json!({"smtp_host": "localhost", "from": "a@b.c", "to": ["d@e.f"]}),
            "loopback",
        ),
    ];
    for (kind, config, why) in cases {
        let (st, v) = create(&s, kind, config.clone()).await;
        assert_eq!(st, 422, "{kind} {config}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains(why) && msg.contains("--notify-allow-net"),
            "{config}: {msg}"
        );
    }
    assert_eq!(s.count("notification_channels").await, 0);

    // A public endpoint is stored; moving it onto the metadata service is refused and changes nothing.
    let (st, v) = create(
        &s,
        "webhook",
        json!({"url": "https://hooks.rampart.invalid/x"}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let id = v["channel"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/notifications/channels/{id}");
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&s.admin),
            Some(json!({"config": {"url": "http://169.254.169.254/"}})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    let (_, v) = s.call("GET", &path, Some(&s.admin), None).await;
    assert_eq!(
        v["channel"]["config"]["url"],
        "https://hooks.rampart.invalid/x"
    );
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(private_endpoints_are_refused_when_saved);

/// An admin's allow-list opens exactly its networks: loopback receivers work, the metadata service and
/// IPv6 loopback stay refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_opens_only_its_networks() {
    let db = TestDb::sqlite();
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let rx = Receiver::start(200, "ok", &[]).await;
    let (st, v) = create(
        &s,
        "webhook",
        json!({"url": format!("http://127.0.0.1:{}/hook", rx.port)}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let id = v["channel"]["id"].as_i64().unwrap();
    let (st, v) = s
        .call(
            "POST",
            &format!("/api/v1/notifications/channels/{id}/test"),
            Some(&s.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!((st, &v["delivered"]), (200, &json!(true)), "{v}");
    assert_eq!(rx.hits(), 1);
    for url in ["http://169.254.169.254/", "http://[::1]:9/"] {
        let (st, v) = create(&s, "webhook", json!({ "url": url })).await;
        assert_eq!(st, 422, "{url}: {v}");
    }
    s.stop().await;
}

/// Every send checks again: a channel saved while loopback was allowed (a name, `localhost`, and a
/// literal) is refused once the allow-list no longer has it, and the receiver hears nothing.
async fn sends_are_checked_again(db: TestDb) {
    let rx = Receiver::start(200, "ok", &[]).await;
    let before = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    let mut ids = Vec::new();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("http://{host}:{}/hook", rx.port);
        let (st, v) = create(&before, "webhook", json!({ "url": url })).await;
        assert_eq!(st, 201, "{v}");
        ids.push(v["channel"]["id"].as_i64().unwrap());
    }
    let (st, v) = before
        .call(
            "POST",
            "/api/v1/notifications/rules",
            Some(&before.admin),
            Some(json!({"name": "all", "channels": ids})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    before.stop().await;

    let s = TestServer::start_with(common::config(&db.url())).await;
    let agent = s.enroll("web-1").await;
    let now = rampart_server::storage::now_ns();
    let m = mk_match("ssrf_probe", "e1", now, "web-1", None, 7, "/usr/bin/curl");
    let (st, v) = s.ingest(&agent, &[m]).await;
    assert_eq!(st, 200, "{v}");
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        let (_, v) = s
            .call(
                "GET",
                "/api/v1/notifications/deliveries?status=failed",
                Some(&s.admin),
                None,
            )
            .await;
        deliveries = v["deliveries"].as_array().cloned().unwrap_or_default();
        if deliveries.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for d in &deliveries {
        let e = d["last_error"].as_str().unwrap();
        assert!(
            e.starts_with("refused: ")
                && e.contains("127.0.0.1")
                && e.contains("a loopback address"),
            "{e}"
        );
        assert_eq!(d["attempts"], 1, "a refusal is not retried: {d}");
    }
    assert!(
        deliveries.iter().any(|d| d["last_error"]
            .as_str()
            .unwrap()
            .contains("localhost resolves to")),
        "{deliveries:?}"
    );
    // The admin's test send is refused the same way.
    let (st, v) = s
        .call(
            "POST",
            &format!("/api/v1/notifications/channels/{}/test", ids[0]),
            Some(&s.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!((st, &v["delivered"]), (200, &json!(false)), "{v}");
    assert!(v["error"].as_str().unwrap().contains("refused"), "{v}");
    assert_eq!(rx.hits(), 0, "the receiver was reached");
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(sends_are_checked_again);

/// A scripted resolver: answers `first` once, then `then` (a DNS-rebinding server), counting lookups.
struct Rebinding {
    first: Vec<IpAddr>,
    then: Vec<IpAddr>,
    lookups: Mutex<usize>,
}

impl Resolve for Rebinding {
    fn lookup<'a>(
        &'a self,
        _: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>,
    > {
        let mut n = self.lookups.lock().unwrap();
        *n += 1;
        let answer = if *n == 1 {
            self.first.clone()
        } else {
            self.then.clone()
        };
        Box::pin(async move { Ok(answer) })
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn deliver(url: &str, senders: &Senders) -> Result<u16, String> {
    let config = ChannelConfig::parse("webhook", &json!({ "url": url })).unwrap();
    let (signal, matched) = context::example_signal();
    let n = compose(
        "https://rampart.example",
        &signal,
        matched,
        SignalEvent::Created,
        "high",
        1,
        &[],
    )
    .unwrap();
    config.deliver(&n, senders).await.map_err(|e| e.message)
}

/// DNS rebinding: the name resolved to a public address when the channel was checked, and resolves to
/// loopback when the delivery connects. The check runs inside the client's resolver, so the connection
/// can only go to an address that passed it; `rebind.invalid` does not resolve on this host, so a request
/// that arrives came through the pinned answer and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_is_refused_at_connect() {
    let rx = Receiver::start(200, "ok", &[]).await;
    let url = format!("http://rebind.invalid:{}/hook", rx.port);
    let dns = Arc::new(Rebinding {
        first: vec![ip("93.184.216.34")],
        then: vec![ip("127.0.0.1")],
        lookups: Mutex::new(0),
    });
    let egress = Arc::new(Egress::with_resolver(vec![], dns.clone()));
    assert_eq!(egress.check_on_save("url", "rebind.invalid").await, Ok(()));
    let senders = Senders::new(Duration::from_secs(3), egress).unwrap();
    let err = deliver(&url, &senders).await.unwrap_err();
    assert!(
        err.contains("rebind.invalid resolves to 127.0.0.1, a loopback address"),
        "{err}"
    );
    assert_eq!(rx.hits(), 0);
    assert_eq!(
        *dns.lookups.lock().unwrap(),
        2,
        "one lookup per check, one per connection"
    );

    // The twin: only 127.0.0.1 allowed, and an answer listing a refused address first. A second receiver
    // listens there (127.0.0.2, same port): it hears nothing, because the client only ever sees the
    // addresses that passed; the allowed one gets the request.
    let decoy = Receiver::on(&format!("127.0.0.2:{}", rx.port), 200, "ok", &[]).await;
    let dns = Arc::new(Rebinding {
        first: vec![ip("127.0.0.2"), ip("127.0.0.1")],
        then: vec![ip("127.0.0.2")],
        lookups: Mutex::new(0),
    });
    let only = vec!["127.0.0.1/32".parse().unwrap()];
    let egress = Arc::new(Egress::with_resolver(only, dns.clone()));
    let senders = Senders::new(Duration::from_secs(3), egress).unwrap();
    assert_eq!(deliver(&url, &senders).await, Ok(200));
    assert_eq!((rx.hits(), decoy.hits()), (1, 0));
    assert_eq!(
        *dns.lookups.lock().unwrap(),
        1,
        "resolved once for the connection"
    );
}

/// A receiver that redirects to the metadata service (or anywhere) is not followed: the delivery fails
/// with the status, and the redirect's target hears nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let target = Receiver::start(200, "ami-id", &[]).await;
    for location in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(),
        format!("http://127.0.0.1:{}/latest/meta-data/", target.port),
    ] {
        let hop = Receiver::start(307, "", &[("location", location)]).await;
        let egress = Arc::new(Egress::new(vec![common::loopback()]));
        let senders = Senders::new(Duration::from_secs(3), egress).unwrap();
        let err = deliver(&format!("http://127.0.0.1:{}/hook", hop.port), &senders)
            .await
            .unwrap_err();
        assert_eq!(err, "HTTP 307: redirects are not followed");
        assert_eq!(hop.hits(), 1);
    }
    assert_eq!(target.hits(), 0);
}

/// What a receiver answers may be internal data (the report's probe read 300 characters of it): the
/// delivery log shows it to admins, and to nobody else, in the API and in the UI.
async fn receiver_answers_are_for_admins_only(db: TestDb) {
    const LEAK: &str = "internal: db_password=hunter2-from-the-receiver";
    let rx = Receiver::start(400, LEAK, &[]).await;
    let s = TestServer::start_with(common::config_with_loopback_receivers(&db.url())).await;
    s.webhook_for_every_signal(&format!("http://127.0.0.1:{}/x", rx.port))
        .await;
    let agent = s.enroll("web-1").await;
    let now = rampart_server::storage::now_ns();
    let (st, v) = s
        .ingest(
            &agent,
            &[mk_match("leak", "e1", now, "web-1", None, 7, "/bin/sh")],
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let viewer = s.role_token("viewer").await;
    let responder = s.role_token("responder").await;
    let mut id = 0;
    for _ in 0..100 {
        let (_, v) = s
            .call(
                "GET",
                "/api/v1/notifications/deliveries?status=failed",
                Some(&s.admin),
                None,
            )
            .await;
        if let Some(d) = v["deliveries"].as_array().and_then(|d| d.first()) {
            assert_eq!(d["last_error"], "HTTP 400");
            assert_eq!(d["last_response"], LEAK);
            id = d["id"].as_i64().unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(id > 0, "the delivery did not fail");
    for token in [&viewer, &responder] {
        for path in [
            "/api/v1/notifications/deliveries".to_string(),
            format!("/api/v1/notifications/deliveries/{id}"),
        ] {
            let (st, v) = s.call("GET", &path, Some(token), None).await;
            assert_eq!(st, 200, "{v}");
            assert!(!v.to_string().contains("hunter2"), "{path}: {v}");
        }
    }
    let (st, v) = s
        .call(
            "POST",
            &format!("/api/v1/notifications/deliveries/{id}/retry"),
            Some(&responder),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(!v.to_string().contains("hunter2"), "{v}");
    s.add_user("uma", "viewer").await;
    let ui = s.ui_login("uma", "long-enough-password").await;
    let (st, _, page) = s.ui_get(&ui.cookie, "/ui/notifications").await;
    assert_eq!(st, 200);
    assert!(
        page.contains("HTTP 400") && !page.contains("hunter2"),
        "viewer page"
    );
    let ui = s.ui_login("admin", "admin-password-123").await;
    let (_, _, page) = s.ui_get(&ui.cookie, "/ui/notifications").await;
    assert!(
        page.contains("receiver: internal: db_password=hunter2"),
        "admin page"
    );
    s.stop().await;
}
both!(receiver_answers_are_for_admins_only);

//! Web UI page times on a 100,000-signal SQLite database: seeds the signals in one transaction (plus a few
//! real ingested matches, so a signal detail has samples, a process tree and related signals), signs in
//! through the login form, then times each page over loopback HTTP and prints p50/p99 per page.
//!
//! `cargo bench -p rampart-server --bench ui_pages`. Knobs: `RAMPART_BENCH_SIGNALS` (100000),
//! `RAMPART_BENCH_RUNS` per page (40). The goal: every page under 300 ms.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rampart_server::auth::{store, Role};
use rampart_server::{Server, ServerConfig};
use rampart_testkit::html;
use serde_json::json;

type Body = Full<axum::body::Bytes>;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn request(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (
        status,
        h,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
const STATES: [&str; 3] = ["open", "open", "under_review"];

async fn seed(pool: &sqlx::AnyPool, n: usize, now: i64) {
    let mut tx = pool.begin().await.unwrap();
    let span = 30 * 86_400 * 1_000_000_000i64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut sql = String::from(
            "INSERT INTO signals (source, rule_id, group_key, window_start, severity, title, hostname, container_id, \
             image, process_path, first_seen, last_seen, count, state, created_at, updated_at) VALUES ",
        );
        for (j, i) in chunk.iter().enumerate() {
            if j > 0 {
                sql.push(',');
            }
            let seen = now - span + (*i as i64) * (span / n as i64);
            let container = if i % 3 == 0 {
                format!("{:012x}", i % 500)
            } else {
                String::new()
            };
            let image = if i % 3 == 0 {
                format!("'img{}:1.{}'", i % 7, i % 3)
            } else {
                "''".into()
            };
            sql.push_str(&format!(
                "('agent', 'bench_rule_{r}', 'g{i}', {seen}, '{sev}', 'Suspicious {kind} by {exe}', 'host-{h}', '{container}', \
                 {image}, '/usr/bin/{exe}', {seen}, {last}, {count}, '{state}', {seen}, {seen})",
                r = i % 50,
                sev = SEVERITIES[i % 5],
                kind = ["exec", "open", "connect", "dns"][i % 4],
                exe = ["curl", "wget", "nc", "bash", "python3", "perl"][i % 6],
                h = i % 200,
                last = seen + 1_000_000_000 * (i % 60) as i64,
                count = 1 + i % 9,
                state = STATES[i % 3],
            ));
        }
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env("RAMPART_BENCH_SIGNALS", 100_000);
    let runs = env("RAMPART_BENCH_RUNS", 40);
    let dir = tempfile::tempdir().unwrap();
    let url = rampart_server::storage::sqlite_url(&dir.path().join("rampart.db"));
    let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap(), &url))
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let state = server.state().clone();
    tokio::spawn(server.run(std::future::pending()));
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();

    // A few real matches through ingest: the detail page's signal has samples and relatives.
    store::create_user(&state.db, "admin", "bench-password-123", Role::Admin)
        .await
        .unwrap();
    let (admin, _, _) = store::login(&state.db, "admin", "bench-password-123", 3_600_000_000_000)
        .await
        .unwrap();
    let bearer = format!("Bearer {admin}");
    let json_h = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let (_, _, b) = request(
        &client,
        "POST",
        &format!("{base}/api/v1/enrollment-tokens"),
        &json_h,
        br#"{"name":"bench"}"#.to_vec(),
    )
    .await;
    let token: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let body = json!({"token": token["token"], "hostname": "host-1"}).to_string();
    let (_, _, b) = request(
        &client,
        "POST",
        &format!("{base}/api/v1/agents/enroll"),
        &json_h[1..],
        body.into_bytes(),
    )
    .await;
    let agent: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let agent_auth = format!("Bearer {}", agent["secret"].as_str().unwrap());
    let now = rampart_server::storage::now_ns();
    let matches: Vec<_> = (0..20)
        .map(|i| json!({
            "rule": {"id": "bench_detail", "version": "1", "severity": "high", "tags": {}, "description": "curl fetched a script"},
            "event": {"type": "exec", "timestamp": now - 60_000_000_000 + i * 1_000_000_000, "id": format!("d{i}"), "hostname": "host-1"},
            "exec": {"file": {"path": "/usr/bin/curl"}},
            "process": {"pid": 5000 + i, "ppid": 400, "file": {"path": "/usr/bin/curl", "name": "curl"}, "args": "-s http://x/y.sh",
                        "ancestors": [{"pid": 400, "file": {"path": "/bin/sh"}}, {"pid": 300, "file": {"path": "/usr/sbin/sshd"}}, {"pid": 1}]},
            "container": {"id": "c0ffee", "image": {"name": "img1", "tag": "1.1"}}, "actions": []
        }))
        .collect();
    let body = json!({"matches": matches}).to_string();
    let (st, _, b) = request(
        &client,
        "POST",
        &format!("{base}/api/v1/ingest"),
        &[
            ("authorization", agent_auth.as_str()),
            ("content-type", "application/json"),
        ],
        body.into_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let detail_id: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT id FROM signals WHERE rule_id = 'bench_detail'")
            .fetch_one(&state.db.pool)
            .await
            .unwrap()
            .get("id")
    };

    let t = Instant::now();
    seed(&state.db.pool, n, now).await;
    sqlx::query("ANALYZE").execute(&state.db.pool).await.ok();
    eprintln!("seeded {n} signals in {:.1} s", t.elapsed().as_secs_f64());

    // Sign in through the form, as a browser would: the login page's CSRF cookie and token first.
    let (_, h, page) = request(&client, "GET", &format!("{base}/ui/login"), &[], vec![]).await;
    let login_cookie = html::cookie_pair(h["set-cookie"].to_str().unwrap());
    let token = html::input_value(&String::from_utf8_lossy(&page), "_csrf").unwrap();
    let (st, h, _) = request(
        &client,
        "POST",
        &format!("{base}/ui/login"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &login_cookie),
        ],
        format!("username=admin&password=bench-password-123&_csrf={token}").into_bytes(),
    )
    .await;
    assert_eq!(st, 303);
    let cookie = html::cookie_pair(h["set-cookie"].to_str().unwrap());

    // The second page's cursor, from the first page.
    let (_, _, first) = request(
        &client,
        "GET",
        &format!("{base}/ui/signals"),
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    let first = String::from_utf8_lossy(&first).into_owned();
    let next = first
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");

    let pages: Vec<(&str, String)> = vec![
        (
            "explorer, all time (facets + histogram + page 1)",
            "/ui/signals".into(),
        ),
        ("explorer, last 24h", "/ui/signals?range=24h".into()),
        (
            "explorer, severity:high",
            "/ui/signals?q=severity%3Ahigh".into(),
        ),
        (
            "explorer, severity:critical host:host-7",
            "/ui/signals?q=severity%3Acritical+host%3Ahost-7".into(),
        ),
        ("explorer, text \"wget\"", "/ui/signals?q=wget".into()),
        ("explorer, image:img3", "/ui/signals?q=image%3Aimg3".into()),
        ("explorer, page 2 (keyset cursor)", next),
        ("signal detail", format!("/ui/signals/{detail_id}")),
        ("rules", "/ui/rules".into()),
        ("agents", "/ui/agents".into()),
    ];
    let api: Vec<(&str, String)> = vec![
        ("API facets (all time)", "/api/v1/signals/facets".into()),
        (
            "API histogram (1h buckets)",
            "/api/v1/signals/histogram?interval=1h".into(),
        ),
    ];
    println!(
        "{:<52} {:>9} {:>9} {:>9}",
        "page (100k signals, SQLite)", "p50 ms", "p99 ms", "max ms"
    );
    let mut worst = Duration::ZERO;
    for (name, path, auth) in pages
        .iter()
        .map(|(n, p)| (*n, p.clone(), ("cookie", cookie.clone())))
        .chain(
            api.iter()
                .map(|(n, p)| (*n, p.clone(), ("authorization", bearer.clone()))),
        )
    {
        let url = format!("{base}{path}");
        let headers = [(auth.0, auth.1.as_str())];
        for _ in 0..3 {
            let (st, _, _) = request(&client, "GET", &url, &headers, vec![]).await;
            assert_eq!(st, 200, "{name}");
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let (st, _, _) = request(&client, "GET", &url, &headers, vec![]).await;
            times.push(t.elapsed());
            assert_eq!(st, 200);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<52} {:>9.1} {:>9.1} {:>9.1}",
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99)),
            ms(*times.last().unwrap())
        );
        worst = worst.max(pct(&times, 0.99));
    }
    println!(
        "worst p99: {:.1} ms (goal: under 300 ms)",
        worst.as_secs_f64() * 1000.0
    );
}

//! Ingest load benchmark: many simulated agents post gzip batches of rule matches to a real server over
//! loopback HTTP; prints matches/s and signals/s ingested and request latency percentiles.
//!
//! `cargo bench -p rampart-server --bench ingest_load` (SQLite in a temp dir). Knobs (environment):
//! `RAMPART_BENCH_AGENTS` (2000), `RAMPART_BENCH_BATCHES` per agent (5), `RAMPART_BENCH_BATCH` matches per
//! batch (20), `RAMPART_BENCH_CONCURRENCY` requests in flight (256), `RAMPART_BENCH_DATABASE_URL` (a
//! `postgres://…` URL to measure PostgreSQL instead; the database should be empty).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rampart_server::auth::store;
use rampart_server::{Server, ServerConfig};
use serde_json::json;
use sqlx::Row;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const T0: i64 = 1_700_000_000_000_000_000;

fn matches(agent: usize, batch: usize, size: usize) -> Vec<serde_json::Value> {
    (0..size)
        .map(|k| {
            let n = batch * size + k;
            let rule = format!("rule_{}", n % 20);
            let mut m = json!({
                "rule": {"id": rule, "version": "1.0.0", "tags": {"severity": "medium", "category": "bench", "mitre": "T1059"},
                         "description": "benchmark rule"},
                "event": {"type": "exec", "timestamp": T0 + (n as i64) * 1_000_000, "id": format!("run{agent}-{n}"),
                          "hostname": format!("agent-{agent}"), "origin": "ebpf"},
                "exec": {"file": {"path": "/usr/bin/curl", "name": "curl"}, "argv": ["curl", "-s", "http://example.test/x"]},
                "process": {"pid": 10_000 + n, "ppid": 900, "file": {"path": "/usr/bin/curl", "name": "curl"},
                            "argv": ["curl", "-s", "http://example.test/x"], "user": "www-data", "uid": 33,
                            "parent": {"pid": 900, "file": {"path": "/bin/sh"}},
                            "ancestors": [{"pid": 900, "file": {"path": "/bin/sh"}}, {"pid": 800, "file": {"path": "/usr/sbin/nginx"}}, {"pid": 1}]},
                "actions": []
            });
            if n.is_multiple_of(3) {
                m["container"] = json!({"id": format!("{agent:08x}{:056x}", n % 4), "image": {"name": "nginx", "tag": "1.25"}});
            }
            m
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means another bench was asked for.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && a != "ingest_load")
    {
        return;
    }
    let agents = env("RAMPART_BENCH_AGENTS", 2000);
    let batches = env("RAMPART_BENCH_BATCHES", 5);
    let size = env("RAMPART_BENCH_BATCH", 20);
    let concurrency = env("RAMPART_BENCH_CONCURRENCY", 256);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("RAMPART_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| rampart_server::storage::sqlite_url(&dir.path().join("bench.db")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), &url);
        config.secrets_key_file = Some(dir.path().join("secrets.key"));
        let server = Server::bind(config).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let state = server.state().clone();
        tokio::spawn(server.run(std::future::pending()));
        let (token, _) = store::create_enrollment_token(&state.db, "bench", None, None, None).await.unwrap();
        let mut secrets = Vec::with_capacity(agents);
        for i in 0..agents {
            let (_, secret) = store::enroll(&state.db, &token, &format!("agent-{i}"), "bench").await.unwrap();
            secrets.push(secret);
        }
        // Bodies are prepared up front: compression is the agents' cost, not the server's.
        let mut bodies = Vec::with_capacity(agents * batches);
        let mut raw_bytes = 0;
        for b in 0..batches {
            for (a, secret) in secrets.iter().enumerate() {
                let json = serde_json::to_vec(&json!({"matches": matches(a, b, size)})).unwrap();
                raw_bytes += json.len();
                bodies.push((secret.clone(), gzip(&json)));
            }
        }
        let gz_bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
        let client: Client<_, Full<axum::body::Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build_http();
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(bodies.len());
        // Batches go out round by round (each agent's batches in order), `concurrency` at a time.
        for (secret, body) in bodies {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let (client, url) = (client.clone(), format!("{base}/api/v1/ingest"));
            tasks.push(tokio::spawn(async move {
                let req = hyper::Request::post(url)
                    .header("authorization", format!("Bearer {secret}"))
                    .header("content-encoding", "gzip")
                    .header("content-type", "application/json")
                    .body(Full::new(axum::body::Bytes::from(body)))
                    .unwrap();
                let t = Instant::now();
                let resp = client.request(req).await.expect("request");
                let status = resp.status();
                let _ = resp.into_body().collect().await;
                drop(permit);
                (status.as_u16(), t.elapsed())
            }));
        }
        let mut latencies = Vec::with_capacity(tasks.len());
        let mut errors = 0;
        for t in tasks {
            let (status, d) = t.await.unwrap();
            if status != 200 {
                errors += 1;
            }
            latencies.push(d);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let stored: i64 = sqlx::query("SELECT COUNT(*) AS n FROM matches").fetch_one(&state.db.pool).await.unwrap().get("n");
        let signals: i64 = sqlx::query("SELECT COUNT(*) AS n FROM signals").fetch_one(&state.db.pool).await.unwrap().get("n");
        let total = (agents * batches * size) as f64;
        let secs = elapsed.as_secs_f64();
        println!("ingest load: {} ({} cores)", if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" }, std::thread::available_parallelism().map_or(0, |n| n.get()));
        println!("| agents | batches | matches/batch | in flight | matches | raw MiB | gzip MiB | seconds | matches/s | batches/s | p50 ms | p99 ms | max ms | errors | stored | signals |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        println!(
            "| {agents} | {} | {size} | {concurrency} | {} | {:.1} | {:.1} | {secs:.2} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {errors} | {stored} | {signals} |",
            agents * batches,
            total,
            raw_bytes as f64 / 1048576.0,
            gz_bytes as f64 / 1048576.0,
            total / secs,
            (agents * batches) as f64 / secs,
            pct(&latencies, 0.5).as_secs_f64() * 1e3,
            pct(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
        assert_eq!(errors, 0, "every request acknowledged");
        assert_eq!(stored as f64, total, "every match stored once");
    });
}

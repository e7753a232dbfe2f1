//! HTTPS with rustls: an agent's reporter trusting the server's CA delivers matches; plain HTTP and a client
//! that does not trust the certificate get nothing through.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{mk_match, TestDb, TestServer, T0};
use rampart_agent::report::{Backoff, Reporter, ReporterConfig};
use rampart_server::auth::store;
use rampart_server::config::TlsConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reports_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::certs::issue_certificates(dir.path());
    let db = TestDb::sqlite();
    let mut config = common::config(&db.url());
    config.tls = Some(TlsConfig { cert, key });
    let s = TestServer::start_with(config).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let (token, _) = store::create_enrollment_token(&s.state.db, "tls", None, None, None)
        .await
        .unwrap();
    std::fs::write(dir.path().join("token"), token).unwrap();

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut buf = Vec::new();
            let _ = c.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).to_string()
        })
        .await
        .unwrap()
    };
    assert!(!plain.contains("200 OK"), "{plain}");

    let reporter = |spool: &str, ca: Option<std::path::PathBuf>| {
        let mut c = ReporterConfig::new(
            dir.path().join(spool),
            format!("https://{addr}"),
            dir.path().join("token"),
        );
        c.ca_file = ca;
        c.flush_interval = Duration::from_millis(20);
        c.backoff = Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        };
        Reporter::new(c).unwrap()
    };
    let (untrusting, trusting) = (reporter("spool-a", None), reporter("spool-b", Some(ca)));
    let m = mk_match("tls_rule", "e1", T0, "h", None, 1, "/x");
    untrusting.submit(&common::as_report(&m)).unwrap();
    trusting.submit(&common::as_report(&m)).unwrap();
    let ok = tokio::task::spawn_blocking(move || {
        let ok = trusting.flush(Duration::from_secs(30));
        let refused = !untrusting.flush(Duration::from_millis(500));
        let failures = untrusting.stats().send_failures.load(Ordering::Relaxed);
        let error = untrusting.stats().last_error.lock().unwrap().clone();
        let trusting_error = trusting.stats().last_error.lock().unwrap().clone();
        (ok, refused, failures, error, trusting_error)
    })
    .await
    .unwrap();
    assert!(ok.0, "the trusting agent delivered over TLS: {}", ok.4);
    assert!(
        ok.1 && ok.2 > 0,
        "the untrusting agent could not connect: {}",
        ok.3
    );
    assert!(
        ok.3.to_lowercase().contains("certificate") || ok.3.contains("enrollment"),
        "{}",
        ok.3
    );
    assert_eq!(s.count("matches").await, 1);
    s.stop().await;
}

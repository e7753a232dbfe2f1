//! Item 6: connections that send partial headers stayed open indefinitely; ~20,000 of them made `/healthz`
//! time out. Connection handling does not depend on the database: these run on SQLite only.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{addr_of, assert_healthz_fast, connect_from};
use crate::common::{config, TestDb, TestServer};

const ATTACKER: &str = "127.0.0.1";

/// The soft limit on open files: the attack's sockets and the server's share it (same process).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024)
}

#[derive(Debug, Default, PartialEq)]
struct States {
    /// Still open, nothing to read.
    open: usize,
    /// Answered (the 503 of a refused connection), or closed by the server.
    answered: usize,
    closed: usize,
}

/// What each connection looks like from the client side, without waiting.
fn states(conns: &[TcpStream]) -> States {
    let mut out = States::default();
    let mut buf = [0u8; 512];
    for c in conns {
        match c.try_read(&mut buf) {
            Ok(0) => out.closed += 1,
            Ok(_) => out.answered += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => out.open += 1,
            Err(_) => out.closed += 1,
        }
    }
    out
}

async fn partial_request(from: IpAddr, to: SocketAddr) -> Option<TcpStream> {
    let mut c = connect_from(from, to).await.ok()?;
    c.write_all(b"GET /healthz HTTP/1.1\r\nhost: rampart\r\nx-slow: ")
        .await
        .ok()?;
    Some(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_cut_off_and_one_address_is_capped() {
    let db = TestDb::sqlite();
    let mut c = config(&db.url());
    c.connections.header_timeout = Duration::from_secs(2);
    c.connections.max_connections_per_ip = 200;
    let s = TestServer::start_with(c).await;
    let to = addr_of(&s.base);
    // A few thousand sockets if the open-file limit allows (each costs this process two descriptors).
    let n = 3000.min(open_files_limit().saturating_sub(512) / 2);
    assert!(
        n >= 500,
        "open-file limit too low for the attack: {}",
        open_files_limit()
    );
    let attacker: IpAddr = ATTACKER.parse().unwrap();
    let started = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.extend(partial_request(attacker, to).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = states(&conns);
    // At most the per-address cap is held; the others were answered 503 (or reset) on arrival.
    assert!(during.open <= 200, "{during:?}");
    assert!(during.open >= 100, "{during:?}");
    assert!(
        during.answered + during.closed >= conns.len() - 200,
        "{during:?}"
    );
    assert!(s.state.metrics.connections_refused.get() as usize >= n - 200);
    let worst = assert_healthz_fast(to).await;
    // The held ones end at the header timeout.
    tokio::time::sleep(
        Duration::from_secs(2).saturating_sub(started.elapsed()) + Duration::from_millis(1500),
    )
    .await;
    let after = states(&conns);
    assert_eq!(after.open, 0, "{after:?}");
    eprintln!(
        "{n} slowloris sockets: {} held until the header timeout, the rest refused; /healthz worst {worst:?}",
        during.open
    );
    drop(conns);
    assert_healthz_fast(to).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_and_slow_bodies_are_cut_off() {
    let db = TestDb::sqlite();
    let mut c = config(&db.url());
    c.connections.header_timeout = Duration::from_secs(1);
    c.connections.request_timeout = Duration::from_secs(1);
    let s = TestServer::start_with(c).await;
    let to = addr_of(&s.base);
    let from: IpAddr = ATTACKER.parse().unwrap();

    // A keep-alive connection left idle after its request is closed.
    let mut idle = connect_from(from, to).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: rampart\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let waited = Instant::now();
    let eof = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(
        matches!(eof, Ok(Ok(0)) | Ok(Err(_))),
        "still open after {:?}: {eof:?}",
        waited.elapsed()
    );
    assert!(
        waited.elapsed() < Duration::from_secs(3),
        "{:?}",
        waited.elapsed()
    );

    // A body sent a byte at a time: 408 at the request timeout, with a reason.
    let mut slow = connect_from(from, to).await.unwrap();
    slow.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nhost: rampart\r\ncontent-type: application/json\r\n\
          content-length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        if slow.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.state.metrics.requests_timed_out.get(), 1);
    assert_healthz_fast(to).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_cap_answers_503_at_once_and_recovers() {
    let db = TestDb::sqlite();
    let mut c = config(&db.url());
    c.connections.header_timeout = Duration::from_secs(1);
    c.connections.max_connections = 50;
    let s = TestServer::start_with(c).await;
    let to = addr_of(&s.base);
    // Many addresses, each under the per-address cap: only the global cap applies.
    let mut conns = Vec::new();
    for i in 0..80u8 {
        conns.extend(partial_request(IpAddr::from([127, 0, 4, i + 1]), to).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = states(&conns);
    assert_eq!(during.open, 50, "{during:?}");
    // A newcomer is answered at once, with a reason, not left hanging.
    let started = Instant::now();
    let mut late = connect_from(IpAddr::from([127, 0, 0, 250]), to)
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), late.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // After the header timeout the slots are free again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(states(&conns).open, 0);
    assert_healthz_fast(to).await;
    s.stop().await;
}

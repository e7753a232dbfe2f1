//! Item 3: unauthenticated CPU and memory exhaustion through `POST /api/v1/auth/login`. 200 concurrent
//! wrong-password logins took the server from 22 MB to 2.57 GB (argon2, 19 MiB each, on a 512-thread pool)
//! and `/healthz` to 1.8 s; guessing was unlimited.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    addr_of, assert_healthz_fast, connect_from, healthz_during, memory_exclusive, peak_rss_during,
    rss, MIB,
};
use crate::common::{config, TestDb, TestServer};

/// `POST /api/v1/auth/login` from the loopback address `from`: status, `Retry-After`, JSON body.
async fn login_from(
    from: IpAddr,
    to: SocketAddr,
    username: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let body = json!({"username": username, "password": password}).to_string();
    let mut s = connect_from(from, to).await.unwrap();
    let req = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: rampart\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head[9..12].parse().unwrap();
    let retry_after = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok());
    (
        status,
        retry_after,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn loopback(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

async fn sessions(s: &TestServer) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM api_tokens WHERE kind = 'session'")
        .fetch_one(&s.state.db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn concurrent_wrong_logins_keep_memory_bounded(db: TestDb) {
    let s = TestServer::start(&db).await;
    let to = addr_of(&s.base);
    let _exclusive = memory_exclusive().await;
    let (before, sessions_before) = (rss(), sessions(&s).await);
    // 200 clients, each its own address and user name: no per-address or per-name limit applies, only
    // the bound on password checks running at once.
    let attack = async {
        let all = (0..200u8).map(|i| {
            let from = loopback(1, i + 1);
            tokio::spawn(async move {
                login_from(from, to, &format!("guess{i}"), "wrong-password-123").await
            })
        });
        let mut out = Vec::new();
        for t in all.collect::<Vec<_>>() {
            out.push(t.await.unwrap());
        }
        out
    };
    let ((answers, peak), worst) = healthz_during(to, peak_rss_during(attack)).await;
    let checked = answers.iter().filter(|(st, _, _)| *st == 401).count();
    for (status, retry_after, body) in &answers {
        match status {
            401 => {}
            503 => {
                assert!(retry_after.is_some(), "503 without Retry-After: {body}");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("password checks"),
                    "{body}"
                );
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(checked >= 2, "{checked} checked");
    let grew = peak.saturating_sub(before);
    // One argon2 check (19 MiB) per core at a time; unbounded, 200 of them took 2.5 GB.
    assert!(grew < 150 * MIB, "RSS grew by {} MiB", grew / MIB);
    assert!(
        worst < super::HEALTHZ_BOUND,
        "/healthz took {worst:?} during the attack"
    );
    assert_eq!(sessions(&s).await, sessions_before, "no session opened");
    eprintln!(
        "200 concurrent logins: {checked} checked, {} refused busy; RSS +{} MiB; /healthz worst {worst:?}",
        answers.len() - checked,
        grew / MIB
    );
    s.stop().await;
}
both!(concurrent_wrong_logins_keep_memory_bounded);

async fn password_guessing_backs_off_then_locks_out(db: TestDb) {
    let mut c = config(&db.url());
    c.login.free_failures = 2;
    c.login.backoff = Duration::from_millis(100);
    c.login.lockout_after = 4;
    c.login.lockout = Duration::from_secs(2);
    let s = TestServer::start_with(c).await;
    // Alone: another test's flood of password checks would turn these answers into 503s.
    let _exclusive = memory_exclusive().await;
    let to = addr_of(&s.base);
    let attacker = loopback(3, 1);
    let sessions_before = sessions(&s).await;

    // Two free failures, then each next attempt must wait out a doubling backoff.
    for _ in 0..2 {
        let (st, _, v) = login_from(attacker, to, "admin", "guess-guess-guess").await;
        assert_eq!(st, 401, "{v}");
    }
    let (st, _, _) = login_from(attacker, to, "admin", "guess-guess-guess").await;
    assert_eq!(st, 401, "third guess: checked, and it starts the backoff");
    let (st, retry, v) = login_from(attacker, to, "admin", "guess-guess-guess").await;
    assert_eq!((st, retry), (429, Some(1)), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("too many failed sign-ins"),
        "{v}"
    );
    // Waiting it out gives one more check; the fourth failure locks the name out (audited).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, _, _) = login_from(attacker, to, "admin", "guess-guess-guess").await;
    assert_eq!(st, 401);
    assert_eq!(
        s.state.metrics.login_lockouts.get(),
        2,
        "the name and the address are locked out, and each lockout recorded"
    );
    assert_eq!(s.state.metrics.login_failures.get(), 4);

    // Locked: even the right password, from another address, is refused without a check.
    let (st, retry, v) = login_from(loopback(3, 2), to, "admin", "admin-password-123").await;
    assert_eq!(st, 429, "{v}");
    assert!(retry.is_some_and(|r| (1..=3).contains(&r)), "{retry:?}");
    assert_eq!(
        s.state.metrics.login_failures.get(),
        4,
        "no password was checked"
    );
    // The web UI's form is held to the same limits, and says so.
    let (st, h, page) = s
        .ui_login_post("username=admin&password=admin-password-123&next=%2Fui%2Fsignals")
        .await;
    assert_eq!(st, 429, "{page}");
    assert!(h.contains_key("retry-after"));
    assert!(page.contains("Too many failed sign-ins"), "{page}");

    // The attacker's address is limited too, whatever name it tries next.
    let (st, _, v) = login_from(attacker, to, "someone-else", "guess-guess-guess").await;
    assert_eq!(st, 429, "{v}");
    // A bystander is not.
    let (st, _, _) = login_from(loopback(3, 3), to, "someone-else", "guess-guess-guess").await;
    assert_eq!(st, 401);
    assert_healthz_fast(to).await;

    // After the lockout, the owner signs in (and that resets the count).
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (st, _, v) = login_from(loopback(3, 2), to, "admin", "admin-password-123").await;
    assert_eq!(st, 200, "{v}");
    assert!(v["token"].as_str().is_some());
    assert_eq!(
        sessions(&s).await,
        sessions_before + 1,
        "one session: the owner's"
    );
    s.stop().await;
}
both!(password_guessing_backs_off_then_locks_out);

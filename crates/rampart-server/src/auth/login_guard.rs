//! Password guessing, bounded per user name and per client address: a few failures are free, then each
//! attempt waits out a doubling backoff, and enough failures lock the name (or address) out for a while
//! (audited). Attempts in flight count against what is left, so a burst of concurrent guesses gets no more
//! tries than a sequence would. The password is not checked at all while refused: a refusal costs no
//! argon2 work. State is in memory, per server process.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;

use crate::api::extract::client_key;
use crate::audit::{self, Action, Actor};
use crate::auth::store::{self, User};
use crate::config::LoginLimits;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Names and addresses tracked at most (attacker-chosen keys must not grow memory without bound); past
/// it, expired records go first, then the least recently failed.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    in_flight: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

struct Tracker<K> {
    records: HashMap<K, Record>,
}

impl<K: Hash + Eq + Clone> Tracker<K> {
    fn new() -> Self {
        Tracker {
            records: HashMap::new(),
        }
    }

    /// Seconds to wait, if `key` may not try now.
    fn refusal(&mut self, key: &K, limits: &LoginLimits, now: Instant) -> Option<u64> {
        let r = self.records.get(key)?;
        if let Some(until) = r.blocked_until.filter(|u| *u > now) {
            return Some((until - now).as_secs() + 1);
        }
        let allowed = limits.free_failures.saturating_sub(r.failures).max(1);
        (r.in_flight >= allowed).then_some(1)
    }

    fn begin(&mut self, key: &K, limits: &LoginLimits, now: Instant) {
        if !self.records.contains_key(key) {
            self.make_room(limits, now);
        }
        let r = self.records.entry(key.clone()).or_insert(Record {
            failures: 0,
            in_flight: 0,
            blocked_until: None,
            last_failure: now,
        });
        // Failures are forgotten after a quiet `lockout` period.
        if r.in_flight == 0
            && r.blocked_until.is_none_or(|u| u <= now)
            && now - r.last_failure > limits.lockout
        {
            r.failures = 0;
        }
        r.in_flight += 1;
    }

    fn end(&mut self, key: &K) {
        if let Some(r) = self.records.get_mut(key) {
            r.in_flight = r.in_flight.saturating_sub(1);
        }
    }

    /// Records a failure; `true` when it locks `key` out.
    fn failed(&mut self, key: &K, limits: &LoginLimits, now: Instant) -> bool {
        let Some(r) = self.records.get_mut(key) else {
            return false;
        };
        r.failures += 1;
        r.last_failure = now;
        if r.failures >= limits.lockout_after {
            let newly =
                r.blocked_until.is_none_or(|u| u <= now) || r.failures == limits.lockout_after;
            r.blocked_until = Some(now + limits.lockout);
            return newly;
        }
        if r.failures > limits.free_failures {
            let doublings = (r.failures - limits.free_failures - 1).min(20);
            let wait = limits
                .backoff
                .saturating_mul(1 << doublings)
                .min(limits.lockout);
            r.blocked_until = Some(now + wait);
        }
        false
    }

    fn succeeded(&mut self, key: &K) {
        if let Some(r) = self.records.get_mut(key) {
            r.failures = 0;
            r.blocked_until = None;
        }
    }

    fn make_room(&mut self, limits: &LoginLimits, now: Instant) {
        if self.records.len() < MAX_TRACKED {
            return;
        }
        self.records.retain(|_, r| {
            r.in_flight > 0
                || r.blocked_until.is_some_and(|u| u > now)
                || now - r.last_failure <= limits.lockout
        });
        if self.records.len() >= MAX_TRACKED {
            let oldest = self
                .records
                .iter()
                .filter(|(_, r)| r.in_flight == 0)
                .min_by_key(|(_, r)| r.last_failure)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.records.remove(&k);
            }
        }
    }
}

struct Trackers {
    by_addr: Tracker<IpAddr>,
    by_name: Tracker<String>,
}

pub struct LoginGuard {
    limits: LoginLimits,
    trackers: Mutex<Trackers>,
}

/// A password check allowed to run, in flight until its outcome is recorded (or it is dropped).
pub struct Attempt<'g> {
    guard: &'g LoginGuard,
    addr: Option<IpAddr>,
    name: String,
    open: bool,
}

/// Who a failure locked out.
#[derive(Debug, PartialEq, Eq)]
pub enum Lockout {
    Name,
    Address,
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> LoginGuard {
        LoginGuard {
            limits,
            trackers: Mutex::new(Trackers {
                by_addr: Tracker::new(),
                by_name: Tracker::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Trackers> {
        self.trackers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An attempt for `name` from `addr`, or the seconds to wait first.
    pub fn begin(&self, addr: Option<IpAddr>, name: &str) -> Result<Attempt<'_>, u64> {
        let addr = addr.map(client_key);
        let now = Instant::now();
        let name = name.to_string();
        let mut t = self.lock();
        let wait = [
            addr.and_then(|a| t.by_addr.refusal(&a, &self.limits, now)),
            t.by_name.refusal(&name, &self.limits, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(secs) = wait {
            return Err(secs);
        }
        if let Some(a) = addr {
            t.by_addr.begin(&a, &self.limits, now);
        }
        t.by_name.begin(&name, &self.limits, now);
        Ok(Attempt {
            guard: self,
            addr,
            name,
            open: true,
        })
    }
}

impl Attempt<'_> {
    /// The password was wrong; returns who this failure locked out.
    pub fn failed(mut self) -> Vec<Lockout> {
        let limits = &self.guard.limits;
        let now = Instant::now();
        let mut t = self.guard.lock();
        let mut out = Vec::new();
        if t.by_name.failed(&self.name, limits, now) {
            out.push(Lockout::Name);
        }
        if let Some(a) = self.addr {
            if t.by_addr.failed(&a, limits, now) {
                out.push(Lockout::Address);
            }
        }
        drop(t);
        self.close();
        out
    }

    pub fn succeeded(mut self) {
        let mut t = self.guard.lock();
        t.by_name.succeeded(&self.name);
        if let Some(a) = self.addr {
            t.by_addr.succeeded(&a);
        }
        drop(t);
        self.close();
    }

    fn close(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            let mut t = self.guard.lock();
            t.by_name.end(&self.name);
            if let Some(a) = self.addr {
                t.by_addr.end(&a);
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

/// Signs in (the API's and the UI's sign-in) through the guard: refused with 429 and `Retry-After` while
/// the name or address must wait (no password check, no audit entry: a refusal costs nothing); otherwise
/// the outcome is audited, failures and lockouts also counted in the metrics.
pub async fn login(
    s: &AppState,
    addr: Option<IpAddr>,
    username: &str,
    password: &str,
) -> ApiResult<(String, i64, User)> {
    let attempt = s.login_guard.begin(addr, username).map_err(|secs| {
        s.metrics.login_throttled.inc();
        ApiError::too_many(
            format!("too many failed sign-ins for this user or address: retry in {secs} s"),
            secs,
        )
    })?;
    let ttl = s.config.session_ttl.as_nanos() as i64;
    // An oversized name or password is a failure like any other, refused before argon2.
    let result = if username.len() > 64 || password.len() > 1024 {
        Err(ApiError::unauthorized("wrong user name or password"))
    } else {
        store::login(&s.db, username, password, ttl).await
    };
    let target = format!("user {}", audit::details::clip(username, 64));
    match &result {
        Ok((_, _, user)) => {
            attempt.succeeded();
            let actor = Actor::user(user.id, &user.username, addr);
            audit::record(
                &s.db.pool,
                actor,
                Action::LoginSucceeded,
                &target,
                json!({}),
            )
            .await?;
        }
        Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => {
            let locked = attempt.failed();
            s.metrics.login_failures.inc();
            let actor = Actor::anonymous(username, addr);
            audit::record(
                &s.db.pool,
                actor.clone(),
                Action::LoginFailed,
                &target,
                json!({}),
            )
            .await?;
            let limits = &s.login_guard.limits;
            for who in locked {
                s.metrics.login_lockouts.inc();
                let details = json!({
                    "locked_out": match who {
                        Lockout::Name => "user name",
                        Lockout::Address => "client address",
                    },
                    "after_failures": limits.lockout_after,
                    "for_seconds": limits.lockout.as_secs(),
                });
                audit::record(
                    &s.db.pool,
                    actor.clone(),
                    Action::LoginLockedOut,
                    &target,
                    details,
                )
                .await?;
            }
        }
        // Busy (503) and other errors say nothing about the password.
        Err(_) => {}
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> LoginLimits {
        LoginLimits {
            free_failures: 2,
            backoff: Duration::from_secs(1),
            lockout_after: 4,
            lockout: Duration::from_secs(60),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn free_failures_then_backoff_then_lockout() {
        let g = LoginGuard::new(limits());
        for _ in 0..2 {
            assert!(g
                .begin(ip("10.0.0.1"), "alice")
                .unwrap()
                .failed()
                .is_empty());
        }
        // The third failure starts a backoff for both the name and the address.
        assert!(g
            .begin(ip("10.0.0.1"), "alice")
            .unwrap()
            .failed()
            .is_empty());
        assert!(g.begin(ip("10.0.0.2"), "alice").is_err(), "the name waits");
        assert!(g.begin(ip("10.0.0.1"), "bob").is_err(), "the address waits");
        assert!(g.begin(ip("10.0.0.3"), "carol").is_ok(), "others do not");
    }

    #[test]
    fn concurrent_attempts_count_against_the_free_failures() {
        let g = LoginGuard::new(limits());
        let a = g.begin(ip("10.0.0.1"), "alice").unwrap();
        let b = g.begin(ip("10.0.0.2"), "alice").unwrap();
        assert!(g.begin(ip("10.0.0.3"), "alice").is_err(), "two in flight");
        drop(a);
        b.succeeded();
        assert!(g.begin(ip("10.0.0.3"), "alice").is_ok());
    }

    #[test]
    fn a_lockout_is_reported_once() {
        let g = LoginGuard::new(LoginLimits {
            backoff: Duration::ZERO,
            ..limits()
        });
        let mut locks = Vec::new();
        for i in 0..4 {
            let a = g.begin(ip(&format!("10.0.0.{i}")), "alice").unwrap();
            locks.extend(a.failed());
        }
        assert_eq!(locks, vec![Lockout::Name]);
        let wait = g.begin(ip("10.0.0.9"), "alice").err();
        assert!(wait.is_some_and(|secs| secs > 50), "{wait:?}");
    }

    #[test]
    fn tracked_keys_stay_bounded() {
        let g = LoginGuard::new(limits());
        for i in 0..(MAX_TRACKED + 50) {
            g.begin(None, &format!("user{i}")).unwrap().failed();
        }
        assert!(g.lock().by_name.records.len() <= MAX_TRACKED);
    }
}

//! The reporter's background thread: enroll once, then send sealed batches oldest first, with backoff while
//! the server is unreachable or failing.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_api::agents::RulesReport;
use rampart_api::ingest::IngestAck;

use super::credentials::{credentials_path, save_credentials, Credentials};
use super::{spool, ReporterConfig, Shared};
use crate::client::{HttpError, Retry, ServerClient};

pub struct Client(ServerClient);

/// What became of one send.
enum Sent {
    Acked {
        accepted: u64,
        duplicates: u64,
    },
    /// The credential is no longer valid (agent revoked, server database replaced): enroll again.
    Unauthorized,
    TooLarge,
    Rejected(String),
    Retry(String),
}

impl Client {
    pub fn new(config: &ReporterConfig) -> anyhow::Result<Client> {
        Ok(Client(ServerClient::new(
            &config.server_url,
            &config.spool_dir,
            config.ca_file.as_deref(),
            config.request_timeout,
        )?))
    }

    fn post_batch(&self, secret: &str, lines: &[Vec<u8>]) -> Sent {
        let mut json = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 16);
        json.extend_from_slice(b"{\"matches\":[");
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(l);
        }
        json.extend_from_slice(b"]}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if gz.write_all(&json).is_err() {
            return Sent::Retry("compressing".into());
        }
        let body = match gz.finish() {
            Ok(b) => b,
            Err(e) => return Sent::Retry(format!("compressing: {e}")),
        };
        let resp = self
            .0
            .request("POST", "/api/v1/ingest", secret)
            .set("content-type", "application/json")
            .set("content-encoding", "gzip")
            .send_bytes(&body)
            .map_err(HttpError::from);
        match resp {
            // A server killed while answering can cut the body after the status line: without the
            // counts the batch is sent again (the server deduplicates), so every match is acknowledged
            // exactly once, as new or as a duplicate.
            Ok(r) => match r.into_json::<IngestAck>() {
                Ok(ack) => Sent::Acked {
                    accepted: ack.accepted as u64,
                    duplicates: ack.duplicates as u64,
                },
                Err(e) => Sent::Retry(format!("reading the acknowledgement: {e}")),
            },
            Err(HttpError::Status(401, _)) => Sent::Unauthorized,
            Err(HttpError::Status(413, _)) => Sent::TooLarge,
            Err(HttpError::Status(code, body)) if HttpError::permanent(code) => {
                Sent::Rejected(format!("{code}: {body}"))
            }
            Err(e) => Sent::Retry(e.to_string()),
        }
    }
}

fn hostname(config: &ReporterConfig) -> String {
    config.hostname.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into())
    })
}

struct State {
    creds: Option<Credentials>,
    retry: Retry,
    next_try: Instant,
    rules_sent: Option<RulesReport>,
}

impl State {
    fn failed(&mut self, shared: &Shared, why: &str) {
        shared.stats.send_failures.fetch_add(1, Ordering::Relaxed);
        *shared
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = why.to_string();
        let failures = self.retry.failures();
        let delay = self.retry.failed();
        if failures == 0 || failures.is_multiple_of(10) {
            tracing::warn!("reporter: {why}; retrying in {delay:?}");
        }
        self.next_try = Instant::now() + delay;
    }

    fn succeeded(&mut self) {
        self.retry.succeeded();
        self.next_try = Instant::now();
    }
}

pub fn run(shared: Arc<Shared>, client: Client) {
    let config = &shared.config;
    let mut st = State {
        creds: client.0.credentials(),
        retry: Retry::new(config.backoff.clone()),
        next_try: Instant::now(),
        rules_sent: None,
    };
    loop {
        // Wait for work, a retry time, the flush interval, or shutdown.
        let (stop, drain_until) = {
            let (lock, cvar) = &shared.wake;
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            let wait = st
                .next_try
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            if !s.pending && !s.stop {
                // A quarter of the flush interval: a match waits at most ~1.25 intervals before it is sent.
                let tick = wait.min((config.flush_interval / 4).max(Duration::from_millis(10)));
                s = cvar
                    .wait_timeout(s, tick)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            s.pending = false;
            (s.stop, s.drain_until)
        };
        if stop && drain_until.is_none_or(|d| Instant::now() >= d) {
            return;
        }
        // Seal a batch that has waited long enough.
        if let Ok(mut w) = shared.writer.lock() {
            if w.spool.active_lines() > 0 && w.spool.active_age() >= config.flush_interval {
                let _ = w.spool.seal();
            }
        }
        let batches = spool::sealed(&config.spool_dir).unwrap_or_default();
        shared
            .stats
            .pending_batches
            .store(batches.len() as u64, Ordering::Relaxed);
        let rules = shared.rules.lock().map(|r| r.clone()).unwrap_or(None);
        let rules_due = rules.is_some() && rules != st.rules_sent;
        // Every health report is sent once, changed or not: it is also the agent's heartbeat.
        let status_due = shared.status.lock().is_ok_and(|s| s.is_some());
        if (batches.is_empty() && !rules_due && !status_due) || Instant::now() < st.next_try {
            if stop && batches.is_empty() {
                return;
            }
            if stop {
                std::thread::sleep(
                    st.next_try
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(50)),
                );
            }
            continue;
        }
        if st.creds.is_none() {
            match enroll(&shared, &client) {
                Ok(c) => st.creds = Some(c),
                Err(e) => {
                    st.failed(&shared, &e);
                    continue;
                }
            }
        }
        let secret = st
            .creds
            .as_ref()
            .map(|c| c.secret.clone())
            .unwrap_or_default();
        if rules_due {
            let sent = put_document(&shared, &client, &mut st, "/api/v1/agents/rules", &rules);
            match sent {
                Some(()) => st.rules_sent = rules,
                None => continue,
            }
        }
        if status_due {
            let status = shared.status.lock().ok().and_then(|mut s| s.take());
            let sent = put_document(&shared, &client, &mut st, "/api/v1/agents/status", &status);
            if sent.is_none() {
                // Retried later, unless a newer report replaced it meanwhile.
                if let (Some(old), Ok(mut slot)) = (status, shared.status.lock()) {
                    slot.get_or_insert(old);
                }
                continue;
            }
        }
        let Some(batch) = batches.first() else {
            continue;
        };
        let (lines, torn) = match spool::read_lines(batch) {
            Ok(x) => x,
            Err(e) => {
                st.failed(&shared, &format!("reading {}: {e}", batch.display()));
                continue;
            }
        };
        if torn > 0 {
            shared
                .stats
                .torn_bytes
                .fetch_add(torn as u64, Ordering::Relaxed);
        }
        if lines.is_empty() {
            let _ = std::fs::remove_file(batch);
            continue;
        }
        match client.post_batch(&secret, &lines) {
            Sent::Acked {
                accepted,
                duplicates,
            } => {
                // Counted before the batch leaves the spool: whoever sees the spool drained (flush)
                // sees its acknowledgement counted too.
                shared.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                shared
                    .stats
                    .matches_sent
                    .fetch_add(accepted, Ordering::Relaxed);
                shared
                    .stats
                    .matches_duplicate
                    .fetch_add(duplicates, Ordering::Relaxed);
                // Only now is the batch safe to forget.
                if let Err(e) = std::fs::remove_file(batch) {
                    tracing::error!("reporter: removing sent batch {}: {e}", batch.display());
                }
                st.succeeded();
                shared.notify();
            }
            Sent::Unauthorized => credential_refused(&shared, &mut st),
            Sent::TooLarge => match spool::split(batch) {
                Ok(true) => shared.notify(),
                _ => reject(
                    &shared,
                    batch,
                    "a single match is larger than the server accepts",
                ),
            },
            Sent::Rejected(why) => {
                reject(&shared, batch, &why);
                st.succeeded();
            }
            Sent::Retry(why) => st.failed(&shared, &why),
        }
    }
}

/// Sends one of the agent's documents. `Some` when it need not be sent again (stored, or refused as invalid:
/// the same document would be refused forever); `None` after a failure (retried with backoff, enrolling
/// again first if the credential was refused).
fn put_document(
    shared: &Shared,
    client: &Client,
    st: &mut State,
    path: &str,
    doc: &Option<impl serde::Serialize>,
) -> Option<()> {
    let doc = doc.as_ref()?;
    let secret = st.creds.as_ref().map(|c| c.secret.clone())?;
    match client.0.put_json(path, &secret, doc) {
        Ok(()) => Some(()),
        Err(HttpError::Status(401, _)) => {
            credential_refused(shared, st);
            None
        }
        Err(HttpError::Status(code, msg)) if (400..500).contains(&code) => {
            tracing::error!("reporter: the server refused {path} ({code}): {msg}");
            Some(())
        }
        Err(e) => {
            st.failed(shared, &format!("sending {path}: {e}"));
            None
        }
    }
}

/// The server no longer knows the credential (the agent was revoked, or the server's database replaced):
/// forget it and enroll again, which takes a new enrollment token.
fn credential_refused(shared: &Shared, st: &mut State) {
    st.creds = None;
    let _ = std::fs::remove_file(credentials_path(&shared.config.spool_dir));
    st.failed(
        shared,
        "the server refused the agent credential (revoked, or a new server database); enrolling again",
    );
}

fn enroll(shared: &Shared, client: &Client) -> Result<Credentials, String> {
    let config = &shared.config;
    let token = std::fs::read_to_string(&config.token_file).map_err(|e| {
        format!(
            "no enrollment token ({}: {e}): a token is used once and then removed; if this agent was \
             revoked, an admin must readmit the host (POST /api/v1/agents/ID/readmit) and give it a new \
             token",
            config.token_file.display()
        )
    })?;
    let creds = client
        .0
        .enroll(token.trim(), &hostname(config), &config.tags)?;
    save_credentials(&config.spool_dir, &creds)
        .map_err(|e| format!("saving the agent credential: {e}"))?;
    shared.stats.enrollments.fetch_add(1, Ordering::Relaxed);
    // Spent: left on disk it would let the agent enroll itself again after being revoked.
    if let Err(e) = std::fs::remove_file(&config.token_file) {
        tracing::warn!(
            "enrolled, but could not remove the enrollment token {}: {e}; remove it by hand",
            config.token_file.display()
        );
    }
    Ok(creds)
}

/// A batch the server refuses as invalid would be refused forever: keep it aside (never silently deleted).
fn reject(shared: &Shared, batch: &Path, why: &str) {
    shared
        .stats
        .batches_rejected
        .fetch_add(1, Ordering::Relaxed);
    let to = batch
        .parent()
        .unwrap_or(Path::new("."))
        .join("rejected")
        .join(batch.file_name().unwrap_or_default());
    let _ = std::fs::rename(batch, &to);
    let msg = format!(
        "the server rejected batch {} ({why}); kept in {}",
        batch.display(),
        to.display()
    );
    eprintln!("rampart: ERROR: {msg}");
    *shared
        .stats
        .last_error
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = msg;
}

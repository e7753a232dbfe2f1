//! The reporter: sends the agent's rule matches to the server without ever losing one.
//!
//! [`Reporter::submit`] appends the match to an on-disk spool and returns (no network on the caller's
//! path). A background thread seals the spool into batches, sends them oldest first (gzip), retries with
//! exponential backoff and jitter while the server is down, and deletes a batch only after the server
//! acknowledged it. The server deduplicates on (agent, event id, rule id), so a batch re-sent after a lost
//! acknowledgement or an agent crash is harmless. If the disk is full, matches are held in memory (bounded),
//! every failure is counted and logged, and the `spool_write_errors` / `dropped` counters say so.

pub mod credentials;
mod sender;
pub mod spool;
pub mod transport;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rampart_api::agents::{RuleMetadata, RulesReport, StatusReport};
use rampart_api::report::MatchReport;

pub use crate::client::Backoff;

/// How to reach the server and where to keep the spool.
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// Directory of the spool (and the agent credential, `credentials.json`, mode 0600).
    pub spool_dir: PathBuf,
    /// Base URL of the server, e.g. `http://127.0.0.1:7878` or `https://rampart.example:7878`.
    pub server_url: String,
    /// File holding an enrollment token; read only when the agent has no credential yet, and removed once
    /// the agent enrolled (a revoked agent cannot enroll itself again).
    pub token_file: PathBuf,
    /// Talk plain `http://` to a server that is not on loopback (see [`transport`]).
    pub allow_insecure_http: bool,
    /// PEM CA certificate to trust for an `https` server (default: the web PKI roots).
    pub ca_file: Option<PathBuf>,
    /// Reported at enrollment (default: the kernel's hostname).
    pub hostname: Option<String>,
    /// Targeting tags reported at enrollment (which remotely configured policies the agent runs).
    pub tags: Vec<String>,
    /// A batch is sealed at this many matches...
    pub batch_max_matches: usize,
    /// ... or this many bytes (uncompressed) ...
    pub batch_max_bytes: usize,
    /// ... or when its first match is this old.
    pub flush_interval: Duration,
    pub backoff: Backoff,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Matches held in memory while the spool cannot be written (disk full); past that they are dropped and
    /// counted.
    pub memory_queue_bytes: usize,
}

impl ReporterConfig {
    pub fn new(
        spool_dir: impl Into<PathBuf>,
        server_url: impl Into<String>,
        token_file: impl Into<PathBuf>,
    ) -> Self {
        ReporterConfig {
            spool_dir: spool_dir.into(),
            server_url: server_url.into().trim_end_matches('/').to_string(),
            token_file: token_file.into(),
            allow_insecure_http: false,
            ca_file: None,
            hostname: None,
            tags: Vec::new(),
            batch_max_matches: 500,
            batch_max_bytes: 4 << 20,
            // Short: a lone match reaches the server within a few hundred milliseconds; busy agents fill
            // batches by count long before.
            flush_interval: Duration::from_millis(200),
            backoff: Backoff::default(),
            request_timeout: Duration::from_secs(30),
            memory_queue_bytes: 64 << 20,
        }
    }
}

/// Counters, readable at any time and rendered as Prometheus metrics.
#[derive(Debug, Default)]
pub struct ReporterStats {
    pub submitted: AtomicU64,
    pub spooled: AtomicU64,
    pub spool_write_errors: AtomicU64,
    pub held_in_memory: AtomicU64,
    pub dropped: AtomicU64,
    pub batches_sent: AtomicU64,
    pub matches_sent: AtomicU64,
    pub matches_duplicate: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub send_failures: AtomicU64,
    pub torn_bytes: AtomicU64,
    pub enrollments: AtomicU64,
    pub pending_batches: AtomicU64,
    pub last_error: Mutex<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("spool write failed ({0}); the match is held in memory until the disk accepts it")]
    Held(std::io::Error),
    #[error("spool write failed and the in-memory queue is full: match dropped ({0})")]
    Dropped(std::io::Error),
    #[error("match cannot be serialised: {0}")]
    Serialize(#[from] serde_json::Error),
}

struct Writer {
    spool: spool::Spool,
    held: VecDeque<Vec<u8>>,
    held_bytes: usize,
    last_loud_error: Option<Instant>,
}

struct Shared {
    config: ReporterConfig,
    writer: Mutex<Writer>,
    stats: ReporterStats,
    /// Wakes the sender (new sealed batch, shutdown).
    wake: (Mutex<Signal>, Condvar),
    rules: Mutex<Option<RulesReport>>,
    /// The agent's latest health report not sent yet (kernel release, event counters).
    status: Mutex<Option<StatusReport>>,
}

#[derive(Default)]
struct Signal {
    pending: bool,
    stop: bool,
    drain_until: Option<Instant>,
}

pub struct Reporter {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    /// Opens the spool (sealing what a previous run left) and starts the sender thread.
    pub fn new(config: ReporterConfig) -> anyhow::Result<Reporter> {
        transport::check_server_url(&config.server_url, config.allow_insecure_http)?;
        let spool = spool::Spool::open(&config.spool_dir).map_err(|e| {
            anyhow::anyhow!("opening the spool {}: {e}", config.spool_dir.display())
        })?;
        let client = sender::Client::new(&config)?;
        let shared = Arc::new(Shared {
            config,
            writer: Mutex::new(Writer {
                spool,
                held: VecDeque::new(),
                held_bytes: 0,
                last_loud_error: None,
            }),
            stats: ReporterStats::default(),
            wake: (
                Mutex::new(Signal {
                    pending: true,
                    ..Default::default()
                }),
                Condvar::new(),
            ),
            rules: Mutex::new(None),
            status: Mutex::new(None),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("rampart-reporter".into())
            .spawn(move || sender::run(s, client))
            .map_err(|e| anyhow::anyhow!("starting the reporter thread: {e}"))?;
        Ok(Reporter {
            shared,
            thread: Some(thread),
        })
    }

    /// Spools one match (as `rampart monitor --json` prints it). Never blocks on the network.
    pub fn submit(&self, m: &MatchReport) -> Result<(), SubmitError> {
        let mut line = serde_json::to_vec(m)?;
        line.push(b'\n');
        self.shared.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let config = &self.shared.config;
        let mut w = self.shared.writer.lock().unwrap_or_else(|e| e.into_inner());
        // Matches held during a disk failure go first, to keep the order of occurrence.
        while let Some(held) = w.held.front() {
            let held = held.clone();
            if w.spool.append(&held).is_err() {
                break;
            }
            w.held_bytes -= held.len();
            w.held.pop_front();
            self.shared.stats.spooled.fetch_add(1, Ordering::Relaxed);
        }
        let result = if w.held.is_empty() {
            match w.spool.append(&line) {
                Ok(()) => {
                    self.shared.stats.spooled.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => self.hold(&mut w, line, e),
            }
        } else {
            self.hold(
                &mut w,
                line,
                std::io::Error::other("earlier matches still waiting for the disk"),
            )
        };
        if w.spool.active_lines() >= config.batch_max_matches
            || w.spool.active_bytes() >= config.batch_max_bytes
        {
            if let Err(e) = w.spool.seal() {
                self.loud(&mut w, &format!("sealing a spool batch: {e}"));
            }
            drop(w);
            self.shared.notify();
        }
        result
    }

    fn hold(&self, w: &mut Writer, line: Vec<u8>, e: std::io::Error) -> Result<(), SubmitError> {
        let stats = &self.shared.stats;
        stats.spool_write_errors.fetch_add(1, Ordering::Relaxed);
        self.loud(
            w,
            &format!(
                "cannot write the spool in {}: {e}",
                self.shared.config.spool_dir.display()
            ),
        );
        if w.held_bytes + line.len() > self.shared.config.memory_queue_bytes {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::Dropped(e));
        }
        w.held_bytes += line.len();
        w.held.push_back(line);
        stats.held_in_memory.fetch_add(1, Ordering::Relaxed);
        Err(SubmitError::Held(e))
    }

    /// Logs a spool failure on stderr at most every 10 s (each one is counted regardless).
    fn loud(&self, w: &mut Writer, msg: &str) {
        *self
            .shared
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = msg.to_string();
        if w.last_loud_error
            .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
        {
            w.last_loud_error = Some(Instant::now());
            eprintln!(
                "rampart: ERROR: {msg} (write errors so far: {}, dropped: {})",
                self.shared.stats.spool_write_errors.load(Ordering::Relaxed),
                self.shared.stats.dropped.load(Ordering::Relaxed)
            );
        }
    }

    /// The metadata of the agent's loaded rules, sent to the server once enrolled and again whenever it
    /// changes.
    pub fn set_rules(&self, rules: Vec<RuleMetadata>) {
        *self.shared.rules.lock().unwrap_or_else(|e| e.into_inner()) = Some(RulesReport { rules });
        self.shared.notify();
    }

    /// The agent's health, sent once to the server
    /// with the agent's credential (a newer report replaces one not sent yet). The caller paces it: it is
    /// also the agent's heartbeat.
    pub fn set_status(&self, status: StatusReport) {
        *self.shared.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        self.shared.notify();
    }

    pub fn stats(&self) -> &ReporterStats {
        &self.shared.stats
    }

    /// Seals what is spooled and waits until the server acknowledged everything (or the timeout passed).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.seal_now();
        loop {
            let empty = spool::sealed(&self.shared.config.spool_dir).is_ok_and(|b| b.is_empty());
            let held = self
                .shared
                .writer
                .lock()
                .map(|w| !w.held.is_empty() || w.spool.active_lines() > 0)
                .unwrap_or(true);
            if empty && !held {
                return true;
            }
            if held {
                self.seal_now();
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn seal_now(&self) {
        if let Ok(mut w) = self.shared.writer.lock() {
            let _ = w.spool.seal();
        }
        self.shared.notify();
    }

    /// Stops the sender after trying to deliver what is spooled for up to `drain`; what is left stays in the
    /// spool for the next run.
    pub fn shutdown(mut self, drain: Duration) {
        self.seal_now();
        {
            let mut s = self.shared.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            s.stop = true;
            s.drain_until = Some(Instant::now() + drain);
        }
        self.shared.wake.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Registers the reporter's metrics (queue depths, sends, failures), read at each scrape.
    pub fn register_metrics(&self, registry: &mut rampart_metrics::Registry) {
        let shared = self.shared.clone();
        registry.register_collector(rampart_metrics::Sampled::new(move |s| {
            sample_metrics(&shared, s)
        }));
    }
}

impl Drop for Reporter {
    /// Without [`Reporter::shutdown`]: stop at once; everything unsent is in the spool.
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            if let Ok(mut w) = self.shared.writer.lock() {
                let _ = w.spool.seal();
            }
            self.shared
                .wake
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stop = true;
            self.shared.wake.1.notify_all();
            let _ = t.join();
        }
    }
}

impl Shared {
    fn notify(&self) {
        self.wake
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending = true;
        self.wake.1.notify_all();
    }
}

fn sample_metrics(shared: &Shared, out: &mut rampart_metrics::Sample<'_>) -> std::fmt::Result {
    let s = &shared.stats;
    let (active, held) = shared
        .writer
        .lock()
        .map(|w| (w.spool.active_lines(), w.held.len()))
        .unwrap_or((0, 0));
    let counters = [
        (
            "rampart_agent_reporter_matches_submitted_total",
            "Matches handed to the reporter.",
            &s.submitted,
        ),
        (
            "rampart_agent_reporter_matches_spooled_total",
            "Matches written to the on-disk spool.",
            &s.spooled,
        ),
        (
            "rampart_agent_reporter_spool_write_errors_total",
            "Failed spool writes (disk full...).",
            &s.spool_write_errors,
        ),
        (
            "rampart_agent_reporter_matches_dropped_total",
            "Matches lost: spool unwritable and memory queue full.",
            &s.dropped,
        ),
        (
            "rampart_agent_reporter_batches_sent_total",
            "Batches acknowledged by the server.",
            &s.batches_sent,
        ),
        (
            "rampart_agent_reporter_matches_sent_total",
            "Matches acknowledged by the server.",
            &s.matches_sent,
        ),
        (
            "rampart_agent_reporter_matches_duplicate_total",
            "Matches the server already had (re-sent).",
            &s.matches_duplicate,
        ),
        (
            "rampart_agent_reporter_batches_rejected_total",
            "Batches the server refused as invalid (kept in rejected/).",
            &s.batches_rejected,
        ),
        (
            "rampart_agent_reporter_send_failures_total",
            "Failed send attempts (retried).",
            &s.send_failures,
        ),
    ];
    for (name, help, c) in counters {
        out.counter(name, help, c.load(Ordering::Relaxed))?;
    }
    let gauges = [
        (
            "rampart_agent_reporter_pending_batches",
            "Sealed batches waiting to be sent.",
            s.pending_batches.load(Ordering::Relaxed) as usize,
        ),
        (
            "rampart_agent_reporter_active_matches",
            "Matches in the batch being filled.",
            active,
        ),
        (
            "rampart_agent_reporter_memory_queue",
            "Matches held in memory while the spool is unwritable.",
            held,
        ),
    ];
    for (name, help, v) in gauges {
        out.gauge(name, help, v as i64)?;
    }
    Ok(())
}

//! Server configuration: where to listen, which database, TLS, and the limits that keep bodies bounded.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `sqlite://PATH?mode=rwc` or `postgres://user:pass@host:port/db`.
    pub database_url: String,
    /// PEM certificate chain and private key: serve HTTPS (rustls) instead of HTTP.
    pub tls: Option<TlsConfig>,
    pub limits: Limits,
    pub signals: SignalConfig,
    /// How long a login session lasts.
    pub session_ttl: std::time::Duration,
    /// Extra backend-rule YAML files, loaded after the embedded defaults.
    pub backend_rule_files: Vec<PathBuf>,
    /// Load the backend rules shipped with Rampart.
    pub default_backend_rules: bool,
    pub profiles: ProfileConfig,
    pub notifications: NotifyConfig,
    pub retention: RetentionConfig,
}

/// How long stored data is kept (`None`: forever), and how the background purge runs (`retention`).
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Signals whose last match is older (their samples, comments, history and deliveries go with them).
    pub signals: Option<std::time::Duration>,
    /// Raw matches, except those kept as a live signal's samples.
    pub matches: Option<std::time::Duration>,
    /// Activity snapshots (the profiles they were merged into stay).
    pub snapshots: Option<std::time::Duration>,
    /// Finished deliveries in the delivery log (pending ones are never purged).
    pub deliveries: Option<std::time::Duration>,
    pub audit: Option<std::time::Duration>,
    /// How often the purge runs.
    pub interval: std::time::Duration,
    /// Rows deleted per transaction: small enough that ingest never waits long for the writer.
    pub batch: usize,
}

const DAY: u64 = 86_400;

impl Default for RetentionConfig {
    fn default() -> Self {
        let days = |d: u64| Some(std::time::Duration::from_secs(d * DAY));
        RetentionConfig {
            signals: days(365),
            matches: days(30),
            snapshots: days(90),
            deliveries: days(90),
            // Longer than signals: who changed what outlives what they changed (PCI DSS asks for a year).
            audit: days(400),
            interval: std::time::Duration::from_secs(3600),
            batch: 1000,
        }
    }
}

/// When a learning security profile becomes stable (whichever comes first).
#[derive(Debug, Clone)]
pub struct ProfileConfig {
    pub stable_after_snapshots: i64,
    pub stable_after: std::time::Duration,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            stable_after_snapshots: 200,
            stable_after: std::time::Duration::from_secs(48 * 3600),
        }
    }
}

/// The notification worker: how it claims outbox rows, retries and gives up.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Run the delivery worker in this process (notifications are queued either way).
    pub worker: bool,
    /// Base of the signal links in messages (`{public_url}/signals/{id}`); default: the listen address.
    pub public_url: Option<String>,
    /// How often the worker looks for due rows when nothing wakes it.
    pub poll_interval: std::time::Duration,
    /// How long a claimed row stays owned by its worker (longer than any attempt): a worker that died
    /// loses its rows to another one after this.
    pub lease: std::time::Duration,
    /// Deliveries in flight at once per worker.
    pub concurrency: usize,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Backoff after the first failure, doubling up to `backoff_max` (with jitter).
    pub backoff_initial: std::time::Duration,
    pub backoff_max: std::time::Duration,
    /// Timeout of one delivery attempt.
    pub request_timeout: std::time::Duration,
    /// On shutdown, how long in-flight deliveries may finish.
    pub drain_timeout: std::time::Duration,
    /// Non-public networks channels may reach anyway (loopback, private, link-local... are refused
    /// otherwise: `notify::egress`).
    pub allow_nets: Vec<ipnet::IpNet>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            worker: true,
            public_url: None,
            poll_interval: std::time::Duration::from_secs(2),
            lease: std::time::Duration::from_secs(120),
            concurrency: 8,
            max_attempts: 30,
            backoff_initial: std::time::Duration::from_secs(2),
            backoff_max: std::time::Duration::from_secs(15 * 60),
            request_timeout: std::time::Duration::from_secs(30),
            drain_timeout: std::time::Duration::from_secs(10),
            allow_nets: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body as sent (compressed), in bytes.
    pub max_body_bytes: usize,
    /// Largest ingest body after decompression (zip bombs stop here).
    pub max_decompressed_bytes: usize,
    /// Most matches in one ingest batch.
    pub max_batch_matches: usize,
    /// Largest single match, serialised.
    pub max_match_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// A match joins the signal of its (rule, group) in the same window of this length.
    pub window: std::time::Duration,
    /// Matches kept as samples per signal (all of them count).
    pub max_samples: i64,
    /// Signals this close in time can be related.
    pub related_window: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 << 20,
            max_decompressed_bytes: 64 << 20,
            max_batch_matches: 10_000,
            max_match_bytes: 1 << 20,
        }
    }
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            window: std::time::Duration::from_secs(3600),
            max_samples: 20,
            related_window: std::time::Duration::from_secs(3600),
        }
    }
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> ServerConfig {
        ServerConfig {
            listen,
            database_url: database_url.into(),
            tls: None,
            limits: Limits::default(),
            signals: SignalConfig::default(),
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            backend_rule_files: Vec::new(),
            default_backend_rules: true,
            profiles: ProfileConfig::default(),
            notifications: NotifyConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

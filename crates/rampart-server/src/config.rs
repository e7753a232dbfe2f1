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
    /// The key sealing the secrets stored in the database (`storage::sealed`), created if missing.
    /// Default: `secrets.key` beside an SQLite database file; PostgreSQL needs it given (every replica
    /// must share it).
    pub secrets_key_file: Option<PathBuf>,
    pub connections: ConnectionLimits,
    pub login: LoginLimits,
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

/// What one client may hold open, and for how long (slow or idle clients cannot exhaust the server).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Connections open at once from one address (an IPv6 client: its /64). Agents behind one NAT share it.
    pub max_connections_per_ip: usize,
    /// A request's headers must arrive within this; a keep-alive connection idle this long is closed.
    pub header_timeout: std::time::Duration,
    /// A request (reading its body, handling it) must finish within this; long polls get their wait on top.
    pub request_timeout: std::time::Duration,
    /// A TLS handshake must finish within this.
    pub tls_handshake_timeout: std::time::Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            max_connections_per_ip: 256,
            header_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(60),
            tls_handshake_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Password guessing: failures per user name and per client address are free up to `free_failures`, then
/// each next attempt waits twice as long as the one before (from `backoff`), and `lockout_after` failures
/// lock the name (or address) out for `lockout`.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    pub free_failures: u32,
    pub backoff: std::time::Duration,
    pub lockout_after: u32,
    pub lockout: std::time::Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            free_failures: 5,
            backoff: std::time::Duration::from_secs(1),
            lockout_after: 10,
            lockout: std::time::Duration::from_secs(15 * 60),
        }
    }
}

/// When a learning security profile becomes stable (after enough snapshots or time, whichever comes
/// first, and only once enough distinct agents contributed), and what one agent may send.
#[derive(Debug, Clone)]
pub struct ProfileConfig {
    pub stable_after_snapshots: i64,
    pub stable_after: std::time::Duration,
    /// Distinct agents whose snapshots a profile needs before it can become stable; a behaviour stays in
    /// the stable profile only if that many agents saw it (one agent credential cannot make its own
    /// behaviours "normal" for the fleet). At most [`crate::profiles::quorum::MAX_QUORUM`].
    pub min_agents: usize,
    /// Snapshots one agent may send per hour (429 beyond).
    pub snapshots_per_agent_hour: i64,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            stable_after_snapshots: 200,
            stable_after: std::time::Duration::from_secs(48 * 3600),
            min_agents: 3,
            snapshots_per_agent_hour: 60,
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
    /// JSON values (objects, arrays, strings, numbers…) in one ingest batch: a parsed value takes up to 16
    /// times the bytes it had in the body, so parsing stops here instead of at the end of the body.
    pub max_batch_values: usize,
    /// Time one policy check (compiling every policy of a configuration) may take.
    pub compile_budget: std::time::Duration,
    /// Policy checks running at once (each on a blocking thread); more wait, then get 503.
    pub compile_concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// A match joins the signal of its (rule, group) in the same window of this length.
    pub window: std::time::Duration,
    /// Matches kept as samples per signal (all of them count).
    pub max_samples: i64,
    /// Signals this close in time can be related.
    pub related_window: std::time::Duration,
    /// A match's event time is the agent's word: the server keeps it within this far after receipt (clock
    /// skew)...
    pub max_clock_skew: std::time::Duration,
    /// ...and this far before it (an agent spools through outages; older times are moved up to here). The
    /// time the agent sent is kept in the match as `event.reported_timestamp`.
    pub max_match_age: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 << 20,
            // Agents seal a batch at 4 MiB (and split one the server refuses as too large).
            max_decompressed_bytes: 16 << 20,
            max_batch_matches: 10_000,
            max_match_bytes: 1 << 20,
            // A match with a three-process lineage holds 341 values in 2.6 KB (the SECL test fixture):
            // an agents' batch (500 matches) is far under this, and one refused as too large is split.
            max_batch_values: 1_000_000,
            compile_budget: std::time::Duration::from_secs(10),
            compile_concurrency: (crate::blocking::cores() / 2).max(1),
        }
    }
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            window: std::time::Duration::from_secs(3600),
            max_samples: 20,
            related_window: std::time::Duration::from_secs(3600),
            max_clock_skew: std::time::Duration::from_secs(5 * 60),
            max_match_age: std::time::Duration::from_secs(30 * 86400),
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
            secrets_key_file: None,
            connections: ConnectionLimits::default(),
            login: LoginLimits::default(),
            retention: RetentionConfig::default(),
        }
    }

    /// Where the secrets key is: the configured file, or `secrets.key` beside an SQLite database file;
    /// `Ok(None)` for an in-memory database (its secrets die with it).
    pub fn secrets_key_path(&self) -> anyhow::Result<Option<PathBuf>> {
        if let Some(p) = &self.secrets_key_file {
            return Ok(Some(p.clone()));
        }
        let url = &self.database_url;
        let Some(rest) = url.strip_prefix("sqlite:") else {
            anyhow::bail!(
                "PostgreSQL: give the secrets key file (--secrets-key-file): the secrets in the database \
                 are sealed with it, and every replica needs the same one"
            );
        };
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or("");
        if path.is_empty() || path == ":memory:" || rest.starts_with(":memory:") {
            return Ok(None);
        }
        let dir = std::path::Path::new(path)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        Ok(Some(dir.join("secrets.key")))
    }
}

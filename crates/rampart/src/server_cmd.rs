//! `rampart server`: the backend alone (ingest, signals, backend rules, REST API), on SQLite or PostgreSQL.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rampart_server::config::TlsConfig;
use rampart_server::{bootstrap, storage, Server, ServerConfig};

#[derive(Debug, Args)]
pub struct ServerCmd {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// `postgres://user:pass@host:port/db` or `sqlite://PATH` (default: rampart.db in --data-dir).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory for the SQLite database, the secrets key and the generated enrollment token.
    #[arg(long, default_value = "/var/lib/rampart", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The key sealing the secrets stored in the database (bundle-signing key, channel tokens), created
    /// (mode 0600) if missing. Default: secrets.key in --data-dir. Every replica of a PostgreSQL database
    /// needs the same one.
    #[arg(long, value_name = "FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Backend rule file to load after the defaults (repeatable).
    #[arg(long = "backend-rules", value_name = "PATH")]
    pub backend_rules: Vec<PathBuf>,
    /// Do not load the default backend rules.
    #[arg(long)]
    pub no_default_backend_rules: bool,
    /// The URL people reach this server at, for the signal links in notifications (default: the listen
    /// address).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub profiles: ProfileArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub guard: GuardArgs,
}

/// Where notifications may go, and how long data is kept.
#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    /// A non-public network notification channels may reach (repeatable), e.g. 10.0.0.0/8 for an internal
    /// relay or 127.0.0.0/8 for a receiver on this host. Loopback, private, link-local (cloud metadata),
    /// multicast and other special-purpose addresses are refused otherwise.
    #[arg(long = "notify-allow-net", value_name = "CIDR")]
    pub notify_allow_net: Vec<ipnet::IpNet>,
    /// Keep signals this long after their last match ("off": forever).
    #[arg(long, default_value = "365d", value_name = "AGE", value_parser = age)]
    pub retain_signals: Age,
    /// Keep raw matches this long (a kept signal's samples stay with it).
    #[arg(long, default_value = "30d", value_name = "AGE", value_parser = age)]
    pub retain_matches: Age,
    /// Keep activity snapshots this long (the profiles they built stay).
    #[arg(long, default_value = "90d", value_name = "AGE", value_parser = age)]
    pub retain_snapshots: Age,
    /// Keep finished notification deliveries this long.
    #[arg(long, default_value = "90d", value_name = "AGE", value_parser = age)]
    pub retain_deliveries: Age,
    /// Keep audit log entries this long.
    #[arg(long, default_value = "400d", value_name = "AGE", value_parser = age)]
    pub retain_audit: Age,
    /// How often retention runs.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub retention_interval: humantime::Duration,
}

/// A retention age: a duration, or none ("off").
pub type Age = Option<std::time::Duration>;

fn age(s: &str) -> Result<Age, String> {
    if s == "off" {
        return Ok(None);
    }
    let d: std::time::Duration = s
        .parse::<humantime::Duration>()
        .map_err(|e| format!("{e} (a duration such as 30d, or off)"))?
        .into();
    if d.is_zero() {
        return Err("an age of 0 would delete everything; use off to keep data forever".into());
    }
    Ok(Some(d))
}

impl GuardArgs {
    pub fn apply(&self, config: &mut ServerConfig) {
        config.notifications.allow_nets = self.notify_allow_net.clone();
        let r = &mut config.retention;
        r.signals = self.retain_signals;
        r.matches = self.retain_matches;
        r.snapshots = self.retain_snapshots;
        r.deliveries = self.retain_deliveries;
        r.audit = self.retain_audit;
        r.interval = self.retention_interval.into();
    }
}

/// What one client can hold or try: connections, slow requests, password guesses, policy compiles.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Client connections open at once; more are answered 503 and closed.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_connections: usize,
    /// Client connections open at once from one address (an IPv6 /64); raise it for many agents behind
    /// one NAT address.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_connections_per_ip: usize,
    /// A request's headers must arrive within this; an idle keep-alive connection is closed after it.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub header_timeout: humantime::Duration,
    /// A request must be read and answered within this (408 otherwise; agents' long polls get 60s more).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub request_timeout: humantime::Duration,
    /// Failed sign-ins (per user name, and per client address) that lock it out...
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub login_lockout_after: u32,
    /// ...for this long (after 5 failures, each attempt already waits 1s, 2s, 4s…).
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub login_lockout: humantime::Duration,
    /// Time one check of the configuration's policies may take before its remaining rules fail.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub policy_compile_budget: humantime::Duration,
}

impl LimitArgs {
    pub fn apply(&self, config: &mut ServerConfig) {
        let c = &mut config.connections;
        c.max_connections = self.max_connections.max(1);
        c.max_connections_per_ip = self.max_connections_per_ip.max(1);
        c.header_timeout = self.header_timeout.into();
        c.request_timeout = self.request_timeout.into();
        config.login.lockout_after = self.login_lockout_after.max(1);
        config.login.lockout = self.login_lockout.into();
        config.limits.compile_budget = self.policy_compile_budget.into();
    }
}

/// When security profiles stop learning, and what one agent may contribute.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// A learning profile becomes stable after this many snapshots...
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub profile_stable_snapshots: i64,
    /// ...or this long after its first snapshot...
    #[arg(long, default_value = "48h", value_name = "DURATION")]
    pub profile_stable_after: humantime::Duration,
    /// ...once this many distinct agents sent snapshots of it; a stable profile keeps only the behaviours
    /// that many agents saw (default: 3 for `server`, 1 for `up`, whose only agent is the host itself).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16))]
    pub profile_min_agents: Option<u8>,
    /// Activity snapshots one agent may send per hour (beyond: 429, the agent sends them later).
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub profile_snapshots_per_agent_hour: u32,
}

impl ProfileArgs {
    /// The profile settings, with `default_min_agents` unless `--profile-min-agents` is given.
    pub fn config(&self, default_min_agents: u8) -> rampart_server::config::ProfileConfig {
        rampart_server::config::ProfileConfig {
            stable_after_snapshots: self.profile_stable_snapshots.max(1),
            stable_after: self.profile_stable_after.into(),
            min_agents: self.profile_min_agents.unwrap_or(default_min_agents).into(),
            snapshots_per_agent_hour: self.profile_snapshots_per_agent_hour.max(1).into(),
        }
    }
}

/// Raises the soft open-file limit to the hard one: each client connection is a descriptor, and the
/// usual soft default (1024) is below the default connection cap.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Creates the data directory, readable by its owner only.
pub fn data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).ok();
    Ok(())
}

/// Prints how to sign in; the password only on the run that created the account.
pub fn print_first_run(url: &str, first: &bootstrap::FirstRun, token_file: &std::path::Path) {
    println!("Rampart is up: {url}");
    match &first.admin_password {
        Some(p) => {
            println!("  admin user:     {}", first.admin_username);
            println!("  admin password: {p}");
            println!("  (shown only now; stored as an argon2 hash. Sign in with POST {url}/api/v1/auth/login)");
        }
        None => println!(
            "  sign in as {} (its password was printed on the first run)",
            first.admin_username
        ),
    }
    if token_file.exists() {
        println!(
            "  agent enrollment token: {} (single use, 24 h)",
            token_file.display()
        );
    }
}

pub fn run(cmd: ServerCmd) -> anyhow::Result<()> {
    data_dir(&cmd.data_dir)?;
    raise_open_files_limit();
    let url = cmd
        .database_url
        .clone()
        .unwrap_or_else(|| storage::sqlite_url(&cmd.data_dir.join("rampart.db")));
    let mut config = ServerConfig::new(cmd.listen, url);
    config.tls = match (cmd.tls_cert, cmd.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig { cert, key }),
        _ => None,
    };
    config.backend_rule_files = cmd.backend_rules;
    config.default_backend_rules = !cmd.no_default_backend_rules;
    config.profiles = cmd.profiles.config(3);
    config.secrets_key_file = Some(
        cmd.secrets_key_file
            .clone()
            .unwrap_or_else(|| cmd.data_dir.join("secrets.key")),
    );
    cmd.limits.apply(&mut config);
    config.notifications.public_url = cmd.public_url.clone();
    cmd.guard.apply(&mut config);
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = Server::bind(config).await?;
        let first = bootstrap::ensure_admin(&server.state().db).await?;
        let token_file =
            bootstrap::ensure_enrollment_token_file(&server.state().db, &cmd.data_dir).await?;
        print_first_run(
            &format!("{scheme}://{}", server.local_addr()),
            &first,
            &token_file,
        );
        server.run(shutdown_signal()).await
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

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
    /// Directory for the SQLite database and the generated enrollment token.
    #[arg(long, default_value = "/var/lib/rampart", value_name = "DIR")]
    pub data_dir: PathBuf,
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

/// When security profiles stop learning.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// A learning profile becomes stable after this many snapshots...
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub profile_stable_snapshots: i64,
    /// ...or this long after its first snapshot.
    #[arg(long, default_value = "48h", value_name = "DURATION")]
    pub profile_stable_after: humantime::Duration,
}

impl ProfileArgs {
    pub fn config(&self) -> rampart_server::config::ProfileConfig {
        rampart_server::config::ProfileConfig {
            stable_after_snapshots: self.profile_stable_snapshots.max(1),
            stable_after: self.profile_stable_after.into(),
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
    println!("  agent enrollment token: {}", token_file.display());
}

pub fn run(cmd: ServerCmd) -> anyhow::Result<()> {
    data_dir(&cmd.data_dir)?;
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
    config.profiles = cmd.profiles.config();
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

//! `rampart up`: agent, server and web UI in one process on one host, with SQLite under a data directory.
//! The first run creates the admin account (password printed once) and the local agent's enrollment token
//! (single use: the agent removes it once enrolled and keeps its own credential across restarts).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rampart_agent::daemon::{AgentConfig, Daemon};
use rampart_agent::report::credentials::load_credentials;
use rampart_agent::report::Reporter;
use rampart_metrics::Registry;
use rampart_server::{bootstrap, storage, Server, ServerConfig};

use crate::agent_cmd::{self, AgentArgs};
use crate::{server_cmd, server_settings};

#[derive(Debug, Args)]
pub struct UpCmd {
    /// Where the database, the agent spool and the enrollment token live.
    #[arg(long, default_value = "/var/lib/rampart", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Address of the API and UI.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Run the server and UI only (no eBPF agent; e.g. without root).
    #[arg(long)]
    pub no_agent: bool,
    /// The agent's YAML configuration (docs/agent.md), e.g. /etc/rampart/agent.yaml; its server, token,
    /// spool and metrics settings are replaced by the local ones, and the agent flags override the rest.
    #[arg(long, value_name = "FILE")]
    pub agent_config: Option<PathBuf>,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub profiles: server_settings::ProfileArgs,
    #[command(flatten)]
    pub limits: server_settings::LimitArgs,
    #[command(flatten)]
    pub guard: server_settings::GuardArgs,
}

pub fn run(cmd: UpCmd) -> anyhow::Result<()> {
    // Read first: a broken file fails before anything starts.
    let base_agent_config = match &cmd.agent_config {
        Some(path) => AgentConfig::from_file(path)?,
        None => AgentConfig::default(),
    };
    server_cmd::data_dir(&cmd.data_dir)?;
    server_cmd::raise_open_files_limit();
    let stop = agent_cmd::stop_flag()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut config = ServerConfig::new(
        cmd.listen,
        storage::sqlite_url(&cmd.data_dir.join("rampart.db")),
    );
    // One host, one agent: the only agent that can contribute is the host's own.
    config.profiles = cmd.profiles.config(1)?;
    config.secrets_key_file = Some(cmd.data_dir.join("secrets.key"));
    cmd.limits.apply(&mut config);
    cmd.guard.apply(&mut config);
    let spool = cmd.data_dir.join("agent");
    let (server, first, token_file, url) = rt.block_on(async {
        let server = Server::bind(config).await?;
        let url = format!("http://{}", server.local_addr());
        let first = bootstrap::ensure_admin(&server.state().db).await?;
        // The local agent keeps its credential across restarts; a token is written only until it has one.
        let enrolled = load_credentials(&spool, &url).is_some();
        let token_file =
            bootstrap::local_agent_token(&server.state().db, &cmd.data_dir, enrolled).await?;
        anyhow::Ok((server, first, token_file, url))
    })?;
    let state = server.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.run(async {
        rx.await.ok();
    }));

    // The agent (if any) reports to this very server over loopback, through the same spool as a remote agent.
    let mut agent_config = AgentConfig {
        server: Some(url.clone()),
        token_file: Some(token_file.clone()),
        spool_dir: spool,
        // The agent talks to the server of its own process, whatever address that listens on.
        allow_insecure_http: true,
        // Its metrics are part of the server's /metrics.
        metrics_listen: None,
        ..base_agent_config
    };
    cmd.agent.apply(&mut agent_config);
    let result = if cmd.no_agent {
        // The reporter alone keeps the local agent enrolled (and its spool delivered) without the probe.
        let reporter = Reporter::new(agent_config.reporter_config()?)?;
        let mut registry = Registry::default();
        reporter.register_metrics(&mut registry);
        add_metrics(&state, registry_render(registry));
        server_cmd::print_first_run(&url, &first, &token_file);
        println!("  agent: not started (--no-agent)");
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        reporter.shutdown(Duration::from_secs(5));
        Ok(())
    } else {
        let daemon = Daemon::start(agent_config).context(
            "starting the agent (it needs root; `--no-agent` runs the server and UI only)",
        )?;
        add_metrics(&state, daemon.metrics());
        server_cmd::print_first_run(&url, &first, &token_file);
        println!("  agent: running, reporting to the server above");
        daemon.run_until(&stop)
    };
    tx.send(()).ok();
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    });
    result
}

/// Appends `render`'s metrics to the server's `/metrics`.
fn add_metrics(state: &rampart_server::AppState, render: rampart_server::MetricsSource) {
    if let Ok(mut extra) = state.extra_metrics.lock() {
        extra.push(render);
    }
}

fn registry_render(registry: Registry) -> rampart_server::MetricsSource {
    Arc::new(move |out: &mut String| rampart_metrics::render(&registry, out))
}

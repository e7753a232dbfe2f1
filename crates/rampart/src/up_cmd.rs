//! `rampart up`: agent, server and web UI in one process on one host, with SQLite under a data directory.
//! The first run creates the admin account (password printed once) and the local agent's enrollment token
//! (single use: the agent removes it once enrolled and keeps its own credential across restarts).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rampart_agent::report::credentials::load_credentials;
use rampart_agent::report::{Reporter, ReporterConfig};
use rampart_agent::runtime::Agent;
use rampart_server::{bootstrap, storage, Server, ServerConfig};

use crate::agent_cmd::{self, AgentArgs, AgentGauges};
use crate::server_cmd;

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
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub profiles: server_cmd::ProfileArgs,
    #[command(flatten)]
    pub limits: server_cmd::LimitArgs,
    #[command(flatten)]
    pub guard: server_cmd::GuardArgs,
}

pub fn run(cmd: UpCmd) -> anyhow::Result<()> {
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
    config.profiles = cmd.profiles.config(1);
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
    let mut agent = if cmd.no_agent {
        None
    } else {
        let started = Agent::start(&agent_cmd::options(&cmd.agent, &cmd.data_dir.join("agent")));
        Some(started.context(
            "starting the agent (it needs root; `--no-agent` runs the server and UI only)",
        )?)
    };
    let mut reporter_config = ReporterConfig::new(&spool, &url, &token_file);
    reporter_config.tags = cmd.agent.tags.clone();
    // The agent talks to the server of its own process, whatever address that listens on.
    reporter_config.allow_insecure_http = true;
    let (remote, uploader) = match agent {
        Some(_) => (
            agent_cmd::remote_config(&cmd.agent, &reporter_config)?,
            agent_cmd::uploader(&cmd.agent, &reporter_config)?,
        ),
        None => (None, None),
    };
    let reporter = Reporter::new(reporter_config)?;
    let gauges = Arc::new(AgentGauges::default());
    {
        let (g, r) = (gauges.clone(), reporter.metrics_source());
        let source: rampart_server::MetricsSource = Arc::new(move |out: &mut String| {
            g.render(out);
            r(out);
        });
        if let Ok(mut extra) = state.extra_metrics.lock() {
            extra.push(source);
        }
    }
    server_cmd::print_first_run(&url, &first, &token_file);
    let result = match agent.as_mut() {
        Some(agent) => {
            reporter.set_rules(agent_cmd::rules_metadata(agent));
            println!("  agent: running, reporting to the server above");
            let links = agent_cmd::Links {
                reporter: &reporter,
                remote: remote.as_ref(),
                uploader: uploader.as_ref(),
            };
            agent_cmd::run_loop(agent, &cmd.agent, links, &gauges, &stop)
        }
        None => {
            println!("  agent: not started (--no-agent)");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
    };
    reporter.shutdown(Duration::from_secs(5));
    tx.send(()).ok();
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    });
    result
}

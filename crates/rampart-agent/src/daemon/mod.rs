//! The agent process: the kernel side ([`Agent`]) and its links to the server (reporter, remote
//! configuration, snapshot uploader), its metrics, and the loop that runs them until told to stop. The CLI
//! (`rampart agent`, `rampart up`) only builds an [`AgentConfig`] and calls this.

mod config;
mod metrics;
mod output;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rampart_metrics::{Registry, Render};
use rampart_model::behavior::Workload;
use rampart_policy::bundle::Bundle;
use serde_json::json;

pub use config::{AgentConfig, DEFAULT_METRICS_LISTEN};
pub use metrics::AgentMetrics;
pub use output::{anomaly_report, rules_metadata};

use crate::profiles::{DumpCommand, Uploader};
use crate::remote::{Applied, RemoteConfig, RemoteConfigOptions};
use crate::report::Reporter;
use crate::runtime::{self, Agent};

/// Logs go to stderr (stdout carries events), filtered by `RUST_LOG` (default: warnings): the `rampart` CLI
/// and the `rampart-agent` binary alike.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// How often the agent's health (kernel release, delivered and dropped events) goes to the server.
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// A started agent with its server links.
pub struct Daemon {
    config: AgentConfig,
    agent: Agent,
    reporter: Reporter,
    remote: Option<RemoteConfig>,
    uploader: Option<Uploader>,
    metrics: Arc<AgentMetrics>,
    registry: Arc<Registry>,
}

impl Daemon {
    /// Loads the probe and the rules, then starts the reporter, the remote-configuration client and the
    /// snapshot uploader (unless disabled).
    pub fn start(config: AgentConfig) -> anyhow::Result<Daemon> {
        let reporter_config = config.reporter_config()?;
        let agent = Agent::start(&config.agent_options())?;
        let remote = if config.no_remote_config {
            None
        } else {
            let mut options =
                RemoteConfigOptions::new(&reporter_config.server_url, &reporter_config.spool_dir);
            options.ca_file = reporter_config.ca_file.clone();
            Some(RemoteConfig::start(options)?)
        };
        let uploader = if config.no_profiling {
            None
        } else {
            Some(Uploader::start(
                &reporter_config.server_url,
                &reporter_config.spool_dir,
                reporter_config.ca_file.as_deref(),
            )?)
        };
        let reporter = Reporter::new(reporter_config)?;
        reporter.set_rules(rules_metadata(&agent));
        let metrics = Arc::new(AgentMetrics::default());
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        reporter.register_metrics(&mut registry);
        Ok(Daemon {
            config,
            agent,
            reporter,
            remote,
            uploader,
            metrics,
            registry: Arc::new(registry),
        })
    }

    /// The agent's metrics in the exposition format, for an endpoint owned by someone else (`rampart up`
    /// appends them to the server's `/metrics`).
    pub fn metrics(&self) -> Render {
        let registry = self.registry.clone();
        Arc::new(move |out: &mut String| rampart_metrics::render(&registry, out))
    }

    /// Starts the agent, serves its metrics on `metrics_listen`, and runs until `stop`.
    pub fn run(config: AgentConfig, stop: &AtomicBool) -> anyhow::Result<()> {
        let daemon = Daemon::start(config)?;
        let endpoint = match daemon.config.metrics_listen {
            Some(addr) => Some(MetricsEndpoint::start(addr, daemon.metrics())?),
            None => None,
        };
        eprintln!(
            "rampart: agent reporting to {} (spool {})",
            daemon.config.server.as_deref().unwrap_or_default(),
            daemon.config.spool_dir.display()
        );
        let result = daemon.run_until(stop);
        if let Some(e) = endpoint {
            e.stop();
        }
        result
    }

    /// Runs the agent until `stop`, reporting every match and anomaly, applying every configuration bundle
    /// the server pushes and relaying dump requests; then gives the reporter a few seconds to deliver what
    /// is spooled.
    pub fn run_until(mut self, stop: &AtomicBool) -> anyhow::Result<()> {
        let result = self.run_loop(stop);
        self.reporter.shutdown(Duration::from_secs(5));
        result
    }

    fn run_loop(&mut self, stop: &AtomicBool) -> anyhow::Result<()> {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut out = output::ReportOutput {
            reporter: &self.reporter,
            hostname,
        };
        let kernel_release = rampart_policy::filters::kernel_release();
        let mut status_at: Option<Instant> = None;
        let mut workloads: Vec<Workload> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            self.agent.step(Duration::from_millis(50), &mut out)?;
            self.metrics.update(&self.agent);
            // A new profiled workload is reported at once: its snapshot must not reach the server first.
            let now_profiled = self
                .agent
                .profiler_mut()
                .map(|p| p.reported_workloads())
                .unwrap_or_default();
            let changed = now_profiled != workloads;
            if changed || status_at.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
                workloads = now_profiled;
                status_at = Some(Instant::now());
                self.reporter
                    .set_status(self.metrics.status_report(&kernel_release, &workloads));
            }
            if let Some(u) = &self.uploader {
                relay_dumps(&mut self.agent, u);
            }
            if let Some(remote) = &self.remote {
                if let Some(bundle) = remote.try_recv() {
                    let outcome = apply_bundle(&mut self.agent, &self.config, &bundle);
                    if outcome == Applied::Ok {
                        self.reporter.set_rules(rules_metadata(&self.agent));
                    }
                    remote.applied(bundle.revision, outcome);
                }
            }
        }
        eprintln!("{}", self.agent.counters());
        Ok(())
    }
}

/// Relays dump requests between the uploader and the profiler.
fn relay_dumps(agent: &mut Agent, uploader: &Uploader) {
    let Some(profiler) = agent.profiler_mut() else {
        return;
    };
    for c in uploader.commands() {
        match c {
            DumpCommand::Start {
                request_id,
                container_id,
                duration,
            } => profiler.request(request_id, &container_id, duration),
            DumpCommand::Stop { container_id } => profiler.cancel(&container_id),
        }
    }
    for id in profiler.take_finished_requests() {
        uploader.finished(id);
    }
}

/// Switches the agent to the rules of `bundle` (plus its local policies), or leaves it on its current rules
/// and says why.
fn apply_bundle(agent: &mut Agent, config: &AgentConfig, bundle: &Bundle) -> Applied {
    let loaded = match runtime::load_bundle(bundle, &config.policies, !config.no_default_policy) {
        Ok(l) => l,
        Err(problems) => {
            eprintln!(
                "rampart: configuration revision {} refused ({} problems); keeping the current rules",
                bundle.revision,
                problems.len()
            );
            return Applied::Failed(problems);
        }
    };
    let count = loaded.report.counts().loaded;
    if let Some(p) = agent.profiler_mut() {
        p.set_profiles(&bundle.profiles);
    }
    match agent.replace_rules(loaded.ruleset) {
        Ok(()) => {
            eprintln!(
                "rampart: configuration revision {} applied ({count} rules)",
                bundle.revision
            );
            Applied::Ok
        }
        Err(e) => {
            eprintln!(
                "rampart: configuration revision {} could not be applied: {e:#}; keeping the current rules",
                bundle.revision
            );
            Applied::Failed(vec![json!({"error": format!("{e:#}")})])
        }
    }
}

/// `/metrics` on its own thread and single-threaded runtime: the agent loop stays synchronous.
struct MetricsEndpoint {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl MetricsEndpoint {
    fn start(addr: std::net::SocketAddr, render: Render) -> anyhow::Result<MetricsEndpoint> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("metrics: listening on {addr}"))?;
        eprintln!("rampart: agent metrics on http://{addr}/metrics");
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(rampart_metrics::serve(listener, render, async {
                rx.await.ok();
            }))
        });
        Ok(MetricsEndpoint { stop, thread })
    }

    fn stop(self) {
        self.stop.send(()).ok();
        let _ = self.thread.join();
    }
}

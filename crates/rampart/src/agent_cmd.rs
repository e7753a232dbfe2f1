//! `rampart agent --server URL --token-file F`: the agent alone, reporting its rule matches to a server
//! through the spooling reporter. Also the agent half of `rampart up`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rampart_agent::profiles::{Anomaly, DumpCommand, ProfilerConfig, Uploader};
use rampart_agent::protect::{KillReport, ProtectNotice};
use rampart_agent::remote::{Applied, RemoteConfig, RemoteConfigOptions};
use rampart_agent::report::{Reporter, ReporterConfig};
use rampart_agent::runtime::{self, Agent, AgentOptions, Output};
use rampart_agent::source::EventSource;
use rampart_model::behavior::Workload;
use rampart_model::Event;
use rampart_policy::bundle::Bundle;
use rampart_secl::Match;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Policy file or directory to load after the default policy (repeatable).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Do not load Rampart's default policy.
    #[arg(long)]
    pub no_default_policy: bool,
    /// Kernel ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub ring_mib: u32,
    /// Report what `kill` actions would do, but send no signal.
    #[arg(long)]
    pub no_kill: bool,
    /// An executable Active Protection never kills in its system instance (root, no LD_* variable, a
    /// protected cgroup), besides init, systemd, sshd and Rampart (repeatable).
    #[arg(long = "protect", value_name = "PATH")]
    pub protected: Vec<PathBuf>,
    /// A cgroup v2 path where protected executables' system instances run, besides pid 1's and
    /// /system.slice/ssh(d).service (repeatable), e.g. `/system.slice/myagent.service`.
    #[arg(long = "protect-cgroup", value_name = "PATH")]
    pub protected_cgroups: Vec<String>,
    /// Disarm a kill rule once the host's root reaches this many distinct killed executables per minute
    /// (other users and containers never disarm a rule).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub disarm_after: usize,
    /// How long a disarmed rule stays disarmed before it kills again.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub disarm_cooldown: humantime::Duration,
    /// Do not hook ia32 compat syscalls (32-bit programs, and `int $0x80` from 64-bit ones). Saves every
    /// syscall of every process one BPF program run (docs/PERFORMANCE.md), but the file, network and
    /// kernel activity made through them goes unseen: an evasion left open.
    #[arg(long)]
    pub no_ia32_syscalls: bool,
    /// A targeting tag reported at enrollment, e.g. `env:prod` (repeatable): remotely configured policies
    /// can be aimed at agents by tag.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Do not take rules from the server (remote configuration); run only the local policies.
    #[arg(long)]
    pub no_remote_config: bool,
    /// Do not record activity snapshots for security profiles (nor detect anomalies).
    #[arg(long)]
    pub no_profiling: bool,
    /// How long one activity dump records a workload.
    #[arg(long, default_value = "30m", value_name = "DURATION")]
    pub dump_duration: humantime::Duration,
    /// Workloads dumped at the same time.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub dump_max: usize,
    /// Profile containers only, not host services (systemd units).
    #[arg(long)]
    pub no_service_profiles: bool,
    /// How often the cgroup tree is scanned for workloads that ended (new containers are seen at their
    /// first event).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub dump_rescan: humantime::Duration,
}

#[derive(Debug, Args)]
pub struct AgentCmd {
    /// Server base URL, e.g. http://127.0.0.1:7878 or https://rampart.example:7878.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// File holding the enrollment token (used once, then removed; the agent keeps its own credential in the
    /// spool).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// Spool directory: matches wait here until the server acknowledged them.
    #[arg(long, default_value = "/var/lib/rampart/agent", value_name = "DIR")]
    pub spool_dir: PathBuf,
    /// PEM CA certificate to trust for an https server.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow a plain http:// server that is not on loopback (the credential travels in clear, and at
    /// enrollment a man in the middle could make the agent pin his configuration-signing key).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (`none` to disable).
    #[arg(long, default_value = "127.0.0.1:7879", value_name = "ADDR")]
    pub metrics_listen: String,
    #[command(flatten)]
    pub agent: AgentArgs,
}

/// Agent counters readable from the metrics endpoint while the agent loop owns the agent.
#[derive(Default)]
pub struct AgentGauges {
    delivered: AtomicU64,
    dropped: AtomicU64,
    malformed: AtomicU64,
    evaluated: AtomicU64,
    matched: AtomicU64,
    cache_entries: AtomicU64,
}

impl AgentGauges {
    fn update(&self, agent: &Agent) {
        let s = EventSource::stats(agent.probe());
        let d = agent.detector().stats();
        self.delivered.store(s.delivered, Ordering::Relaxed);
        self.dropped.store(s.dropped_total(), Ordering::Relaxed);
        self.malformed.store(s.malformed, Ordering::Relaxed);
        self.evaluated.store(d.evaluated, Ordering::Relaxed);
        self.matched.store(d.matched, Ordering::Relaxed);
        self.cache_entries.store(
            agent.pipeline().cache_stats().entries as u64,
            Ordering::Relaxed,
        );
    }

    /// The agent's health as the server stores it: the same counters the metrics endpoint shows, and the
    /// workloads the agent profiles (the server takes their snapshots only).
    fn status_report(&self, kernel_release: &str, workloads: &[Workload]) -> serde_json::Value {
        let workloads: Vec<serde_json::Value> = workloads
            .iter()
            .map(|w| json!({"id": w.id, "image_name": w.image_name, "image_tag": w.image_tag}))
            .collect();
        json!({
            "kernel_release": kernel_release,
            "events_delivered": self.delivered.load(Ordering::Relaxed),
            "events_dropped": self.dropped.load(Ordering::Relaxed),
            "workloads": workloads,
        })
    }

    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let c = [
            (
                "rampart_agent_events_total",
                "Kernel events delivered to the agent.",
                &self.delivered,
                "counter",
            ),
            (
                "rampart_agent_events_dropped_total",
                "Kernel events dropped (ring buffer full).",
                &self.dropped,
                "counter",
            ),
            (
                "rampart_agent_events_malformed_total",
                "Kernel records that failed to decode.",
                &self.malformed,
                "counter",
            ),
            (
                "rampart_agent_rule_evaluations_total",
                "Events evaluated against the rules.",
                &self.evaluated,
                "counter",
            ),
            (
                "rampart_agent_rule_matches_total",
                "Rule matches.",
                &self.matched,
                "counter",
            ),
            (
                "rampart_agent_process_cache_entries",
                "Processes in the cache.",
                &self.cache_entries,
                "gauge",
            ),
        ];
        for (name, help, v, kind) in c {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}

/// Sends matches to the reporter's spool.
struct ReportOutput<'a> {
    reporter: &'a Reporter,
    hostname: String,
}

impl Output for ReportOutput<'_> {
    fn matched(&mut self, m: &Match, kills: &[KillReport], event: &Event) -> std::io::Result<()> {
        // A spool failure is counted and logged loudly by the reporter; the agent keeps protecting.
        let _ = self.reporter.submit(&runtime::match_json(m, kills, event));
        Ok(())
    }

    fn anomaly(&mut self, a: &Anomaly, event: &Event) -> std::io::Result<()> {
        let _ = self.reporter.submit(&anomaly_json(a, event));
        Ok(())
    }

    fn protection_notice(&mut self, notice: &ProtectNotice) -> std::io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut v = runtime::notice_json(notice);
        // The server needs an id and a time for every match.
        v["event"] = json!({"type": "active_protection", "timestamp": now as u64,
                            "id": format!("disarm-{}-{now}", notice.rule), "hostname": self.hostname});
        let _ = self.reporter.submit(&v);
        Ok(())
    }
}

/// The agent's options; activity snapshots are written into `spool_dir` for the uploader.
pub fn options(a: &AgentArgs, spool_dir: &std::path::Path) -> AgentOptions {
    let profiling = (!a.no_profiling).then(|| {
        let mut p = ProfilerConfig::new(spool_dir);
        p.duration = a.dump_duration.into();
        p.cooldown = p.duration;
        p.max_concurrent = a.dump_max;
        p.services = !a.no_service_profiles;
        p.rescan = a.dump_rescan.into();
        p
    });
    AgentOptions {
        policies: a.policies.clone(),
        default_policy: !a.no_default_policy,
        ring_mib: a.ring_mib,
        no_kill: a.no_kill,
        protected: a.protected.clone(),
        protected_cgroups: a.protected_cgroups.clone(),
        disarm_after: a.disarm_after,
        disarm_cooldown: a.disarm_cooldown.into(),
        profiling,
        ia32_syscalls: !a.no_ia32_syscalls,
        ..AgentOptions::default()
    }
}

/// Starts the snapshot uploader (when profiling).
pub fn uploader(args: &AgentArgs, reporter: &ReporterConfig) -> anyhow::Result<Option<Uploader>> {
    if args.no_profiling {
        return Ok(None);
    }
    Ok(Some(Uploader::start(
        &reporter.server_url,
        &reporter.spool_dir,
        reporter.ca_file.as_deref(),
    )?))
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

/// An anomaly as a match: the event's fields as any match has them, the synthetic rule, and what was new
/// and against which profile.
pub fn anomaly_json(a: &Anomaly, event: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(event).unwrap_or_default();
    let rule = rampart_policy::builtin::ANOMALY;
    v["rule"] = json!({
        "id": rule.id, "version": rule.version, "description": rule.description, "tags": rule.tag_map(),
    });
    v["anomaly"] = json!({
        "behavior": a.behavior,
        "profile": {"id": a.profile_id, "image_name": a.image_name, "image_tag": a.image_tag,
                    "url": format!("/api/v1/profiles/{}", a.profile_id)},
    });
    v["actions"] = json!([]);
    v
}

/// The metadata of the loaded rules and of the anomaly rule, for the server: it keeps them as this agent's
/// report (rules the server's configuration defines show the server's own metadata).
pub fn rules_metadata(agent: &Agent) -> Vec<serde_json::Value> {
    let mut rules: Vec<serde_json::Value> = agent
        .detector()
        .rules()
        .rules()
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "version": r.meta.version, "description": r.meta.description,
                "severity": r.meta.severity().unwrap_or(""), "tags": r.meta.tags,
                "remediation": r.meta.remediation, "policy": r.meta.policy,
            })
        })
        .collect();
    let anomaly = rampart_policy::builtin::ANOMALY;
    rules.push(json!({
        "id": anomaly.id, "version": anomaly.version, "description": anomaly.description,
        "severity": anomaly.severity(), "tags": anomaly.tag_map(), "remediation": anomaly.remediation,
        "policy": anomaly.policy,
    }));
    rules
}

/// SIGINT/SIGTERM set the returned flag.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

/// Starts the remote-configuration client unless `--no-remote-config`.
pub fn remote_config(
    args: &AgentArgs,
    reporter: &ReporterConfig,
) -> anyhow::Result<Option<RemoteConfig>> {
    if args.no_remote_config {
        return Ok(None);
    }
    let mut options = RemoteConfigOptions::new(&reporter.server_url, &reporter.spool_dir);
    options.ca_file = reporter.ca_file.clone();
    Ok(Some(RemoteConfig::start(options)?))
}

/// How often the agent's health (kernel release, delivered and dropped events) goes to the server.
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// What the agent loop talks to besides the kernel.
pub struct Links<'a> {
    pub reporter: &'a Reporter,
    pub remote: Option<&'a RemoteConfig>,
    pub uploader: Option<&'a Uploader>,
}

/// Runs the agent until `stop`, reporting every match and anomaly, applying every configuration bundle the
/// server pushes and relaying dump requests; updates `gauges` as it goes.
pub fn run_loop(
    agent: &mut Agent,
    args: &AgentArgs,
    links: Links<'_>,
    gauges: &AgentGauges,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let Links {
        reporter,
        remote,
        uploader,
    } = links;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut out = ReportOutput { reporter, hostname };
    let kernel_release = rampart_policy::filters::kernel_release();
    let mut status_at: Option<Instant> = None;
    let mut workloads: Vec<Workload> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        agent.step(Duration::from_millis(50), &mut out)?;
        gauges.update(agent);
        // A new profiled workload is reported at once: its snapshot must not reach the server first.
        let now_profiled = agent
            .profiler_mut()
            .map(|p| p.reported_workloads())
            .unwrap_or_default();
        let changed = now_profiled != workloads;
        if changed || status_at.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
            workloads = now_profiled;
            status_at = Some(Instant::now());
            reporter.set_status(gauges.status_report(&kernel_release, &workloads));
        }
        if let Some(u) = uploader {
            relay_dumps(agent, u);
        }
        if let Some(bundle) = remote.and_then(RemoteConfig::try_recv) {
            let outcome = apply_bundle(agent, args, &bundle);
            if outcome == Applied::Ok {
                reporter.set_rules(rules_metadata(agent));
            }
            remote
                .expect("a bundle came from it")
                .applied(bundle.revision, outcome);
        }
    }
    eprintln!("{}", agent.counters());
    Ok(())
}

/// Switches the agent to the rules of `bundle` (plus its local policies), or leaves it on its current rules
/// and says why.
fn apply_bundle(agent: &mut Agent, args: &AgentArgs, bundle: &Bundle) -> Applied {
    let loaded = match runtime::load_bundle(bundle, &args.policies, !args.no_default_policy) {
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

pub fn run(cmd: AgentCmd) -> anyhow::Result<()> {
    let stop = stop_flag()?;
    let mut config = ReporterConfig::new(&cmd.spool_dir, &cmd.server, &cmd.token_file);
    config.ca_file = cmd.ca_file.clone();
    config.allow_insecure_http = cmd.allow_insecure_http;
    config.tags = cmd.agent.tags.clone();
    let remote = remote_config(&cmd.agent, &config)?;
    let uploader = uploader(&cmd.agent, &config)?;
    let reporter = Reporter::new(config)?;
    let mut agent = Agent::start(&options(&cmd.agent, &cmd.spool_dir))?;
    reporter.set_rules(rules_metadata(&agent));
    let gauges = Arc::new(AgentGauges::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let metrics = if cmd.metrics_listen != "none" {
        let addr: SocketAddr = cmd.metrics_listen.parse().context("--metrics-listen")?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("listening on {addr}"))?;
        let (g, r) = (gauges.clone(), reporter.metrics_source());
        let source: rampart_server::MetricsSource = Arc::new(move |out: &mut String| {
            g.render(out);
            r(out);
        });
        eprintln!("rampart: agent metrics on http://{addr}/metrics");
        Some(std::thread::spawn(move || {
            rt.block_on(rampart_server::metrics::serve_local(
                listener,
                source,
                async {
                    rx.await.ok();
                },
            ))
        }))
    } else {
        None
    };
    eprintln!(
        "rampart: agent reporting to {} (spool {})",
        cmd.server,
        cmd.spool_dir.display()
    );
    let links = Links {
        reporter: &reporter,
        remote: remote.as_ref(),
        uploader: uploader.as_ref(),
    };
    let result = run_loop(&mut agent, &cmd.agent, links, &gauges, &stop);
    tx.send(()).ok();
    if let Some(t) = metrics {
        let _ = t.join();
    }
    reporter.shutdown(Duration::from_secs(5));
    result
}

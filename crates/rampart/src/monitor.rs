//! `rampart monitor`: run the agent in the foreground and print events and rule matches.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rampart_agent::protect::{KillReport, NoticeKind, ProtectNotice};
use rampart_agent::runtime::{
    match_report, notice_event, notice_report, Activity, Agent, AgentOptions, Output,
};
use rampart_model::{Event, EventType};
use rampart_secl::Match;

use crate::render;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Policy file to load (repeatable).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Do not load Rampart's embedded default policy (a `--policy` file named `default.policy` replaces it).
    #[arg(long)]
    pub no_default_policy: bool,
    /// Print every event, not only rule matches.
    #[arg(long)]
    pub events: bool,
    /// With `--events`, print (and hook) only events of this type, e.g. `exec`, `dns`, `setuid`
    /// (repeatable); rule matches of any type are still printed.
    #[arg(long = "event-type", value_name = "TYPE", requires = "events")]
    pub event_types: Vec<EventType>,
    /// One JSON object per line instead of human-readable lines.
    #[arg(long)]
    pub json: bool,
    /// Kernel ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub ring_mib: u32,
    /// Stop after this long (e.g. `30s`); runs until interrupted otherwise.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<humantime::Duration>,
    /// Report what `kill` actions would do, but send no signal (in the kernel or from user space).
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
    /// Test only: leave this kernel activity unhooked even where a rule or the privilege check needs it
    /// (e.g. `setuid`), so a test can change credentials unseen, as a kernel exploit does (repeatable).
    #[arg(long = "test-unhook", value_name = "TYPE", hide = true)]
    pub test_unhook: Vec<EventType>,
}

impl MonitorArgs {
    fn agent_options(&self) -> AgentOptions {
        AgentOptions {
            policies: self.policies.clone(),
            default_policy: !self.no_default_policy,
            activity: match (self.events, self.event_types.is_empty()) {
                (false, _) => Activity::RulesOnly,
                (true, true) => Activity::All,
                (true, false) => Activity::RulesAnd(self.event_types.clone()),
            },
            ring_mib: self.ring_mib,
            no_kill: self.no_kill,
            protected: self.protected.clone(),
            protected_cgroups: self.protected_cgroups.clone(),
            disarm_after: self.disarm_after,
            disarm_cooldown: self.disarm_cooldown.into(),
            profiling: None,
            ia32_syscalls: !self.no_ia32_syscalls,
            // Runtime sockets from the environment (RAMPART_CRI_SOCKETS, …) or the usual paths.
            containers: rampart_agent::container::ResolverConfig::default(),
            unhooked: self.test_unhook.clone(),
        }
    }
}

/// Signals the monitor reacts to, set from signal handlers and read by the event loop.
struct SignalFlags {
    stop: Arc<AtomicBool>,
    report: Arc<AtomicBool>,
}

impl SignalFlags {
    fn install() -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone())?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, report.clone())?;
        Ok(SignalFlags { stop, report })
    }
}

/// Prints to stdout: JSON lines or human-readable lines.
struct Printer<W: Write> {
    out: W,
    json: bool,
    events: bool,
    /// Event types printed with `--events`; empty = all.
    event_types: Vec<EventType>,
}

impl<W: Write> Printer<W> {
    fn line(&mut self, value: &impl serde::Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }
}

impl<W: Write> Output for Printer<W> {
    fn wants_events(&self) -> bool {
        self.events
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        if !self.event_types.is_empty() && !self.event_types.contains(&event.event_type()) {
            return Ok(());
        }
        if self.json {
            serde_json::to_writer(&mut self.out, event)?;
            self.out.write_all(b"\n")
        } else {
            writeln!(self.out, "{}", render::event_line(event))
        }
    }

    fn matched(&mut self, m: &Match, kills: &[KillReport], event: &Event) -> std::io::Result<()> {
        if self.json {
            return self.line(&match_report(m, kills, event));
        }
        let severity = m.rule.meta.severity().unwrap_or("-");
        let mut line = format!(
            "MATCH {} [{}] {}",
            render::escape(&m.rule.id),
            render::escape(severity),
            render::event_line(event)
        );
        for k in kills {
            line.push_str(&format!(" kill={:?} pids={:?}", k.outcome, k.pids));
        }
        writeln!(self.out, "{line}")
    }

    fn protection_notice(&mut self, notice: &ProtectNotice) -> std::io::Result<()> {
        if self.json {
            return self.line(&notice_report(notice, notice_event()));
        }
        let kind = match notice.kind {
            NoticeKind::Disarmed => "DISARMED",
            NoticeKind::Rearmed => "REARMED",
            NoticeKind::DisarmRefused => "DISARM REFUSED",
        };
        writeln!(
            self.out,
            "{kind} {}: {}",
            render::escape(&notice.rule),
            render::escape(&notice.reason)
        )
    }
}

pub fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let flags = SignalFlags::install()?;
    let started = Instant::now();
    let mut agent = Agent::start(&args.agent_options())?;
    eprintln!(
        "rampart: monitoring ({} processes seeded, probes attached in {} ms); SIGUSR1 prints counters",
        agent.pipeline().cache_stats().seeded,
        started.elapsed().as_millis()
    );

    let deadline = args.duration.map(|d| Instant::now() + Duration::from(d));
    let stdout = std::io::stdout();
    let mut printer = Printer {
        out: std::io::BufWriter::new(stdout.lock()),
        json: args.json,
        events: args.events,
        event_types: args.event_types.clone(),
    };
    while !flags.stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        if let Err(e) = agent.step(Duration::from_millis(50), &mut printer) {
            // A closed pipe (`| head`) ends the monitor quietly; anything else is an error.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                break;
            }
            return Err(e).context("monitoring");
        }
        printer.out.flush().ok();
        if flags.report.swap(false, Ordering::Relaxed) {
            eprintln!("{}", agent.counters());
        }
    }
    printer.out.flush().ok();
    eprintln!("{}", agent.counters());
    Ok(())
}

//! `rampart monitor`: attach the probes, enrich every event, print events and rule matches.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rampart_agent::detect::Detector;
use rampart_agent::pipeline::Pipeline;
use rampart_agent::source::EventSource;
use rampart_model::Event;
use rampart_secl::Match;

use crate::render;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Policy file to load (repeatable).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Print every event, not only rule matches.
    #[arg(long)]
    pub events: bool,
    /// One JSON object per line instead of human-readable lines.
    #[arg(long)]
    pub json: bool,
    /// Kernel ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub ring_mib: u32,
    /// Stop after this long (e.g. `30s`); runs until interrupted otherwise.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<humantime::Duration>,
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

pub fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let flags = SignalFlags::install()?;
    let started = Instant::now();
    let mut detector = crate::agent_setup::detector(&args.policies)?;
    let runtime = crate::agent_setup::background_runtime()?;
    let mut source = crate::agent_setup::kernel_source(args.ring_mib)?;
    let mut pipeline = crate::agent_setup::pipeline(&runtime)?;
    eprintln!(
        "rampart: monitoring ({} processes seeded, probes attached in {} ms); SIGUSR1 prints counters",
        pipeline.cache_stats().seeded,
        started.elapsed().as_millis()
    );

    let deadline = args.duration.map(|d| Instant::now() + Duration::from(d));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_error = None;
    while !flags.stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        pipeline.pump(source.as_mut(), Duration::from_millis(50), &mut |event| {
            let matches = detector.evaluate(&event);
            if write_error.is_some() {
                return;
            }
            let mut result = Ok(());
            if args.events {
                result = print_event(&mut out, &event, args.json);
            }
            for m in &matches {
                result = result.and_then(|()| print_match(&mut out, m, &event, args.json));
            }
            write_error = result.err();
        })?;
        if let Some(e) = write_error.take() {
            // A closed pipe (`| head`) ends the monitor quietly; anything else is an error.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                break;
            }
            return Err(e).context("writing to stdout");
        }
        out.flush().ok();
        if flags.report.swap(false, Ordering::Relaxed) {
            eprintln!("{}", counters(source.as_ref(), &pipeline, &detector));
        }
    }
    out.flush().ok();
    eprintln!("{}", counters(source.as_ref(), &pipeline, &detector));
    Ok(())
}

fn print_event(out: &mut impl Write, event: &Event, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, event)?;
        out.write_all(b"\n")
    } else {
        writeln!(out, "{}", render::event_line(event))
    }
}

fn print_match(out: &mut impl Write, m: &Match, event: &Event, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, &rampart_policy::to_json(m, event))?;
        out.write_all(b"\n")
    } else {
        let severity = m.rule.meta.severity().unwrap_or("-");
        writeln!(
            out,
            "MATCH {} [{}] {}",
            render::escape(&m.rule.id),
            render::escape(severity),
            render::event_line(event)
        )
    }
}

/// The counters printed on exit and on SIGUSR1: kernel drops first, they matter most.
fn counters(source: &dyn EventSource, pipeline: &Pipeline, detector: &Detector) -> String {
    let s = source.stats();
    let c = pipeline.cache_stats();
    let d = detector.stats();
    format!(
        "rampart: kernel events dropped={} (per cpu {:?}) delivered={} malformed={}; process cache entries={} \
         inserted={} removed={} evicted={} swept={} misses={}; rules evaluated={} matched={} silent={}",
        s.dropped_total(),
        s.dropped_per_cpu,
        s.delivered,
        s.malformed,
        c.entries,
        c.inserted,
        c.removed,
        c.evicted,
        c.swept,
        c.misses,
        d.evaluated,
        d.matched,
        d.silent
    )
}

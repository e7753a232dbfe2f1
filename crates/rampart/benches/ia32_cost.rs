//! What the ia32 compat hooks (`bpf/compat.h`) cost: a getppid loop and an open/close loop of a 64-bit thread
//! and of a 32-bit program, pinned to one CPU, with the default policy's file and activity hooks attached and
//! the compat programs detached and attached in turn (the native hooks stay, so the difference is the compat
//! path's alone; the order alternates from round to round so drift cancels). Thread CPU time per iteration:
//! time the thread spends descheduled on a shared host does not count. Also the BPF run time per call of the
//! compat exit program, from `bpftool`, when `kernel.bpf_stats_enabled` is 1 (not changed here: it is
//! host-wide).
//!
//! `cargo bench -p rampart --bench ia32_cost [-- ROUNDS]` (root; default 6 rounds).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rampart_policy::{load_sources, LoadOptions};
use rampart_probe::file::FileFilters;
use rampart_probe::kernel::config::ActivityConfig;
use rampart_probe::{Probe, ProbeConfig};
use rampart_testkit::load::{getppid_loop, on_one_cpu, open_close};

const GETPPID_N: usize = 1_000_000;
const OPEN_N: usize = 200_000;

/// ns of thread CPU time per iteration of each loop.
#[derive(Clone, Copy, Default)]
struct Sample {
    getppid64: f64,
    open64: f64,
    getppid32: f64,
    open32: f64,
}

/// A row of the table: its label and how to read it from a sample.
type Metric = (&'static str, fn(&Sample) -> f64);

const METRICS: [Metric; 4] = [
    ("getppid, 64-bit task", |s| s.getppid64),
    ("open+close, 64-bit task", |s| s.open64),
    ("getppid, 32-bit task", |s| s.getppid32),
    ("open+close, 32-bit task", |s| s.open32),
];

fn per_iter(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// The 32-bit driver's loop `op ARGS` on the current CPU set: its own ns per iteration.
fn driver_loop(driver: &Path, args: &[&str]) -> f64 {
    let out = Command::new(driver)
        .args(args)
        .output()
        .expect("running the 32-bit driver");
    assert!(out.status.success(), "driver {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ns per iteration")
}

fn sample(driver: &Path, file: &Path) -> Sample {
    let f = file.to_str().unwrap();
    on_one_cpu(|| Sample {
        getppid64: per_iter(getppid_loop(GETPPID_N), GETPPID_N),
        open64: per_iter(open_close(file, OPEN_N).1, OPEN_N),
        getppid32: driver_loop(driver, &["loop-getppid", &GETPPID_N.to_string()]),
        open32: driver_loop(driver, &["loop-open", f, &OPEN_N.to_string()]),
    })
}

/// (run count, run time in ns) of a program, from `bpftool -j prog show id ID` (None without bpf_stats).
fn run_stats(id: u32) -> Option<(u64, u64)> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show", "id", &id.to_string()])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["run_cnt"].as_u64()?, v["run_time_ns"].as_u64()?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.0}–{max:.0}")
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(6);
    let rules = load_sources(&[rampart_policy::default_policy()], &LoadOptions::default()).ruleset;
    let activity =
        ActivityConfig::for_event_types(rules.rules().iter().filter_map(|r| r.event_type()));
    let files = rampart_agent::file_filters::compute(&rules);
    let driver =
        rampart_testkit::cc::driver32().expect("building the 32-bit driver (gcc-multilib)");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bench-file");
    std::fs::write(&file, b"x").unwrap();

    let config = ProbeConfig {
        activity: ActivityConfig::for_event_types([]),
        ..ProbeConfig::default()
    };
    let probe = Arc::new(Mutex::new(
        Probe::load(config).expect("loading the probe (run as root)"),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, probe) = (stop.clone(), probe.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = probe
                    .lock()
                    .unwrap()
                    .poll(Duration::from_millis(20), &mut |_| {});
            }
        })
    };

    sample(&driver, &file); // warm-up
    let none = sample(&driver, &file); // no file or activity hook (so no compat hook either)
    let exit_id = {
        let mut p = probe.lock().unwrap();
        p.set_activity(&activity).expect("activity hooks");
        p.apply_file_filters(&files).expect("file filters");
        p.program_id("ia32_sys_exit")
    };
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let (mut runs, mut run_ns) = (0u64, 0u64);
    for round in 0..rounds {
        for attach in [round % 2 == 1, round % 2 == 0] {
            probe
                .lock()
                .unwrap()
                .set_ia32_syscalls(attach)
                .expect("compat hooks");
            let before = exit_id.and_then(run_stats);
            let s = sample(&driver, &file);
            if attach {
                if let (Some(b), Some(a)) = (before, exit_id.and_then(run_stats)) {
                    runs += a.0 - b.0;
                    run_ns += a.1 - b.1;
                }
                on.push(s);
            } else {
                off.push(s);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    {
        let mut p = probe.lock().unwrap();
        p.set_activity(&ActivityConfig::for_event_types([]))
            .unwrap();
        p.apply_file_filters(&FileFilters::default()).unwrap();
    }
    let none_after = sample(&driver, &file);
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader thread");

    println!("ns of thread CPU time per iteration, {rounds} rounds (median, range); compat = ia32 hooks attached");
    println!(
        "{:<26} {:>14} {:>20} {:>20} {:>22}",
        "loop", "no hooks", "default hooks", "+ compat hooks", "compat - default"
    );
    for (name, get) in METRICS {
        let o: Vec<f64> = off.iter().map(get).collect();
        let w: Vec<f64> = on.iter().map(get).collect();
        let d: Vec<f64> = o.iter().zip(&w).map(|(a, b)| b - a).collect();
        println!(
            "{name:<26} {:>6.0}, {:>6.0} {:>8.0} ({:>9}) {:>8.0} ({:>9}) {:>+8.0} ({:>11})",
            get(&none),
            get(&none_after),
            median(o.clone()),
            range(&o),
            median(w.clone()),
            range(&w),
            median(d.clone()),
            range(&d),
        );
    }
    match (runs, exit_id) {
        (0, _) | (_, None) => {
            println!("ia32_sys_exit: no BPF run statistics (kernel.bpf_stats_enabled is 0, or no bpftool)")
        }
        (n, _) => println!(
            "ia32_sys_exit: {n} runs while attached, {:.1} ns of BPF per run (bpf_stats)",
            run_ns as f64 / n as f64
        ),
    }
}

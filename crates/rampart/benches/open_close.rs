//! Overhead of file monitoring on a syscall-heavy loop: N × (open O_RDONLY + close) of one file, timed
//! without Rampart and with the file program attached under different kernel filters. Prints a table.
//!
//! `cargo bench -p rampart --bench open_close [-- ITERATIONS]` (root; default 500,000 iterations). The
//! activity (network/kernel) programs are left out so that the numbers are the file family's alone; a reader
//! thread drains and decodes the ring buffer as the agent would. One row hooks every syscall's exit, the
//! fallback for kernels without per-syscall tracepoints, for comparison.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rampart_testkit::load;

use rampart_model::EventType;
use rampart_policy::{load_sources, LoadOptions, PolicySource};
use rampart_probe::file::{FileFilters, FileKind, Mode, TypeFilter};
use rampart_probe::kernel::config::ActivityConfig;
use rampart_probe::{Probe, ProbeConfig};

const RUNS: usize = 3;

/// (wall time, thread CPU time) of n open+close.
fn open_close(path: &Path, n: usize) -> (Duration, Duration) {
    load::open_close(path, n)
}

fn median(mut runs: Vec<(Duration, Duration)>) -> (Duration, Duration) {
    runs.sort_by_key(|r| r.1);
    runs[RUNS / 2]
}

struct Row {
    name: String,
    /// The open type's mode in the kernel filter ("-": no probe).
    mode: String,
    time: Duration,
    cpu: Duration,
    /// Medians of the baseline runs interleaved with this row's (the file program detached).
    base_time: Duration,
    base_cpu: Duration,
    received: u64,
    kernel: Option<rampart_probe::file::FileTypeStats>,
}

/// How the file syscalls are hooked.
#[derive(Clone, Copy)]
enum Hook {
    /// One tracepoint per file syscall (the default where the kernel has them).
    PerSyscall,
    /// Every syscall's exit (the fallback).
    EverySyscall,
}

/// Median of RUNS loops with the file program under `filters` (None: no probe at all), each run preceded
/// by a baseline run with the program detached: a shared VM drifts by more than the effect measured, and
/// pairing the runs cancels the drift out of the ratio.
fn measure(name: &str, filters: Option<&FileFilters>, hook: Hook, path: &Path, n: usize) -> Row {
    let Some(filters) = filters else {
        let (time, cpu) = median((0..RUNS).map(|_| open_close(path, n)).collect());
        return Row {
            name: name.into(),
            mode: "-".into(),
            time,
            cpu,
            base_time: time,
            base_cpu: cpu,
            received: 0,
            kernel: None,
        };
    };
    let config = ProbeConfig {
        activity: ActivityConfig::for_event_types([]),
        file_hook_every_syscall: matches!(hook, Hook::EverySyscall),
        ..ProbeConfig::default()
    };
    let probe = Probe::load(config).expect("loading the probe (run as root)");
    let probe = Arc::new(Mutex::new(probe));
    let before = probe
        .lock()
        .unwrap()
        .file_stats()
        .unwrap()
        .get(FileKind::Open);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, probe) = (stop.clone(), probe.clone());
        thread::spawn(move || {
            let mut received = 0u64;
            let mut drain = |ms| {
                probe
                    .lock()
                    .unwrap()
                    .poll(Duration::from_millis(ms), &mut |_| received += 1)
                    .expect("polling")
            };
            while !stop.load(Ordering::Relaxed) {
                drain(20);
            }
            drain(50);
            received
        })
    };
    let apply = |f: &FileFilters| {
        probe
            .lock()
            .unwrap()
            .apply_file_filters(f)
            .expect("applying the file filter");
    };
    let (mut base, mut with) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        apply(&FileFilters::default()); // no file type wanted: the program is detached
        base.push(open_close(path, n));
        apply(filters);
        with.push(open_close(path, n));
    }
    let (base_time, base_cpu) = median(base);
    let (time, cpu) = median(with);
    stop.store(true, Ordering::Relaxed);
    let received = reader.join().expect("reader thread");
    let after = probe
        .lock()
        .unwrap()
        .file_stats()
        .unwrap()
        .get(FileKind::Open);
    let d = |a: u64, b: u64| (a - b) / RUNS as u64;
    let kernel = rampart_probe::file::FileTypeStats {
        seen: d(after.seen, before.seen),
        approver_drop: d(after.approver_drop, before.approver_drop),
        discarder_drop: d(after.discarder_drop, before.discarder_drop),
        sent: d(after.sent, before.sent),
        ring_drop: d(after.ring_drop, before.ring_drop),
        discarder_added: d(after.discarder_added, before.discarder_added),
    };
    Row {
        name: name.into(),
        mode: format!("{:?}", filters.mode(FileKind::Open)),
        time,
        cpu,
        base_time,
        base_cpu,
        received: received / RUNS as u64,
        kernel: Some(kernel),
    }
}

/// The default policy, and the ids of its open rules the approvers cannot narrow (each one alone forces
/// every open to user space).
fn default_policy_filters() -> (FileFilters, FileFilters, Vec<String>) {
    let opts = LoadOptions::default();
    let base = rampart_policy::default_policy();
    let full = load_sources(std::slice::from_ref(&base), &opts).ruleset;
    let open_ids: Vec<String> = full
        .rules_for(EventType::Open)
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let disable = |ids: &[&String]| PolicySource {
        name: "bench-overrides".into(),
        file: "<bench>".into(),
        text: format!(
            "version: 1\nrules:\n{}",
            ids.iter()
                .map(|id| format!("  - id: {id}\n    disabled: true\n    combine: override\n"))
                .collect::<String>()
        ),
    };
    let unnarrowable: Vec<String> = open_ids
        .iter()
        .filter(|id| {
            let others: Vec<&String> = open_ids.iter().filter(|o| o != id).collect();
            let set = load_sources(&[base.clone(), disable(&others)], &opts).ruleset;
            set.rules_for(EventType::Open).len() == 1 && set.approvers(EventType::Open).is_none()
        })
        .cloned()
        .collect();
    let refs: Vec<&String> = unnarrowable.iter().collect();
    let narrowed = load_sources(&[base, disable(&refs)], &opts).ruleset;
    (
        rampart_agent::file_filters::compute(&full),
        rampart_agent::file_filters::compute(&narrowed),
        unnarrowable,
    )
}

/// A FIM policy the approvers narrow completely: writes under /etc (path prefix), reads of the shadow
/// files (exact paths), history files by name. Opens elsewhere are dropped in the kernel, most of them by a
/// discarder before any path walk.
fn etc_fim_filters() -> FileFilters {
    let policy = PolicySource {
        name: "etc-fim".into(),
        file: "<bench>".into(),
        text: r#"version: 1.0.0
rules:
  - id: etc_written
    expression: open.file.path =~ "/etc/**" && open.flags & (O_WRONLY|O_RDWR|O_CREAT|O_TRUNC) > 0
  - id: shadow_read
    expression: open.file.path in ["/etc/shadow", "/etc/gshadow"]
  - id: history_opened
    expression: open.file.name in [".bash_history", ".zsh_history"]
"#
        .into(),
    };
    let set = load_sources(&[policy], &LoadOptions::default()).ruleset;
    rampart_agent::file_filters::compute(&set)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bench-file");
    std::fs::write(&file, b"x").unwrap();
    let path = file.clone();

    let (default, narrowed, unnarrowable) = default_policy_filters();
    let etc = etc_fim_filters();
    let mut all_opens = FileFilters::default();
    all_opens.types.insert(FileKind::Open, TypeFilter::all());
    let mut floor = FileFilters::default();
    floor.types.insert(
        FileKind::Open,
        TypeFilter {
            mode: Mode::Filter,
            ..Default::default()
        },
    );

    open_close(&path, n / 10); // warm-up
    let rows = [
        measure("baseline (no Rampart)", None, Hook::PerSyscall, &path, n),
        measure(
            "Rampart, hook attached, filter admits nothing",
            Some(&floor),
            Hook::PerSyscall,
            &path,
            n,
        ),
        measure(
            "Rampart, default policy file rules",
            Some(&default),
            Hook::PerSyscall,
            &path,
            n,
        ),
        measure(
            "Rampart, default policy file rules, every-syscall hook (fallback)",
            Some(&default),
            Hook::EverySyscall,
            &path,
            n,
        ),
        measure(
            "Rampart, default policy minus the un-narrowable open rules",
            Some(&narrowed),
            Hook::PerSyscall,
            &path,
            n,
        ),
        measure(
            "Rampart, FIM rules on /etc (prefix, exact, name approvers)",
            Some(&etc),
            Hook::PerSyscall,
            &path,
            n,
        ),
        measure(
            "Rampart, every open sent to user space",
            Some(&all_opens),
            Hook::PerSyscall,
            &path,
            n,
        ),
    ];
    println!(
        "\nopen/close loop, {n} iterations, median of {RUNS} runs (2 CPUs); each row's ratios are to the \
         baseline runs interleaved with its own\n"
    );
    println!(
        "| configuration | open mode | wall (s) | × baseline | thread CPU (s) | × baseline | CPU ns/iter | kernel per run: sent / approver-dropped / discarder-dropped | records received |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|---:|");
    for row in &rows {
        let (t, c) = (row.time.as_secs_f64(), row.cpu.as_secs_f64());
        let (base, base_cpu) = (row.base_time.as_secs_f64(), row.base_cpu.as_secs_f64());
        let k = row
            .kernel
            .map(|k| format!("{} / {} / {}", k.sent, k.approver_drop, k.discarder_drop))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | {} | {:.3} | {:.2} | {:.3} | {:.2} | {:.0} | {} | {} |",
            row.name,
            row.mode,
            t,
            t / base,
            c,
            c / base_cpu,
            c * 1e9 / n as f64,
            k,
            row.received
        );
    }
    println!(
        "\nopen rules of the default policy the approvers cannot narrow: {}",
        unnarrowable.join(", ")
    );
}

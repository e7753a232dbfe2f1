//! Fork+exec overhead of `rampart monitor` (a bench binary that prints a table, not a timed test).
//!
//! Runs a loop of N fork+exec of /bin/true without Rampart, then with `rampart monitor` attached (no
//! policy, the default policy printing matches only, and every event printed as JSON), compares each
//! monitored run with the mean of the baseline runs on either side of it, and prints the median of
//! those ratios. The loop runs on one CPU (see `load::on_one_cpu`), the monitor wherever the scheduler
//! puts it. Needs root.
//!
//! `cargo bench -p rampart --bench exec_overhead` (env: EXEC_BENCH_ITERS, EXEC_BENCH_ROUNDS)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rampart_testkit::load::{self, median};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn exec_loop(iters: usize) -> Duration {
    load::on_one_cpu(|| load::exec_loop(std::path::Path::new("/bin/true"), iters))
}

/// Starts `rampart monitor` and waits until its probes are attached.
fn start_monitor(extra: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("monitor")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rampart monitor");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("monitoring") => break,
            Some(Ok(_)) => continue,
            _ => {
                let status = child.wait().unwrap();
                panic!("rampart monitor exited before attaching ({status}); run as root");
            }
        }
    }
    // Keep draining stderr so the monitor never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn stop_monitor(mut child: Child) {
    // SAFETY: kill(2) with a pid we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing: both measure.
    let iters = env_or("EXEC_BENCH_ITERS", 5000);
    let rounds = env_or("EXEC_BENCH_ROUNDS", 7);
    let configs: [(&str, &[&str]); 3] = [
        ("monitor, no policy", &["--no-default-policy"]),
        ("monitor (matches only)", &[]),
        ("monitor --events --json", &["--events", "--json"]),
    ];

    exec_loop(iters / 10); // warm the page cache
                           // Each monitored run sits between two baseline runs and is compared with their mean: the host's
                           // speed drifts over minutes by more than the overhead measured, and bracketing cancels a steady
                           // drift that a baseline on one side only would count as overhead (or hide).
    let mut pairs: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); configs.len()];
    let mut base_before = exec_loop(iters);
    for _ in 0..rounds {
        for (i, (_, args)) in configs.iter().enumerate() {
            let monitor = start_monitor(args);
            let with = exec_loop(iters);
            stop_monitor(monitor);
            let base_after = exec_loop(iters);
            pairs[i].push(((base_before + base_after) / 2, with));
            base_before = base_after;
        }
    }

    println!(
        "fork+exec of /bin/true, {iters} iterations on one CPU, {rounds} rounds; each monitored run is \
         compared with the mean of the baseline runs just before and after it"
    );
    println!(
        "{:<28} {:>14} {:>14} {:>16} {:>16}",
        "configuration", "baseline/exec", "with/exec", "median ratio", "ratio range"
    );
    let per_exec = |d: Duration| d.as_secs_f64() * 1e6 / iters as f64;
    for ((name, _), pairs) in configs.iter().zip(&pairs) {
        let mut ratios: Vec<f64> = pairs
            .iter()
            .map(|(b, w)| w.as_secs_f64() / b.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let base = median(pairs.iter().map(|p| p.0).collect());
        let with = median(pairs.iter().map(|p| p.1).collect());
        println!(
            "{:<28} {:>12.1}µs {:>12.1}µs {:>15.3}x {:>8.3}–{:.3}x",
            name,
            per_exec(base),
            per_exec(with),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}

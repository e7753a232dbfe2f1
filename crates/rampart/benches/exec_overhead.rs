//! Fork+exec overhead of `rampart monitor` (a bench binary that prints a table, not a timed test).
//!
//! Runs a loop of N fork+exec of /bin/true without Rampart, then with `rampart monitor` attached (matches
//! only, and with every event printed as JSON), alternating rounds so machine noise hits both sides, and
//! prints the median time per configuration and its ratio to the baseline. Needs root.
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
    load::exec_loop(std::path::Path::new("/bin/true"), iters)
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
    let rounds = env_or("EXEC_BENCH_ROUNDS", 3);
    let configs: [(&str, &[&str]); 3] = [
        ("monitor, no policy", &["--no-default-policy"]),
        ("monitor (matches only)", &[]),
        ("monitor --events --json", &["--events", "--json"]),
    ];

    exec_loop(iters / 10); // warm the page cache
    let mut baseline = Vec::new();
    let mut with: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
    for _ in 0..rounds {
        baseline.push(exec_loop(iters));
        for (i, (_, args)) in configs.iter().enumerate() {
            let monitor = start_monitor(args);
            with[i].push(exec_loop(iters));
            stop_monitor(monitor);
        }
    }

    let base = median(baseline);
    println!("fork+exec of /bin/true, {iters} iterations, median of {rounds} rounds");
    println!(
        "{:<28} {:>10} {:>12} {:>8}",
        "configuration", "total", "per exec", "ratio"
    );
    let row = |name: &str, d: Duration| {
        println!(
            "{:<28} {:>9.3}s {:>10.1}µs {:>7.3}x",
            name,
            d.as_secs_f64(),
            d.as_secs_f64() * 1e6 / iters as f64,
            d.as_secs_f64() / base.as_secs_f64()
        )
    };
    row("baseline (no rampart)", base);
    for (i, (name, _)) in configs.iter().enumerate() {
        row(name, median(with[i].clone()));
    }
}

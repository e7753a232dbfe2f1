//! The evasion suite: tricks an attacker who has read Rampart's code would try, performed for real against
//! `rampart monitor --json` with the default policy. Each asserts the match the trick must still cause, and a
//! benign twin asserts silence. One module per topic under `evasion/`; root only, like every kernel test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_testkit::MonitorProcess;
use serde_json::Value;

#[path = "evasion/creds.rs"]
mod creds;
#[path = "evasion/exempt.rs"]
mod exempt;
#[path = "evasion/ia32.rs"]
mod ia32;
#[path = "evasion/mount_signal.rs"]
mod mount_signal;
#[path = "evasion/protect.rs"]
mod protect;
#[path = "evasion/uring.rs"]
mod uring;

/// `rampart monitor --json` with the embedded default policy.
fn monitor() -> MonitorProcess {
    assert!(
        rampart_testkit::is_root(),
        "the evasion suite loads eBPF programs: run it as root"
    );
    MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &["--json"], &[]).unwrap()
}

/// Whether match `v` is rule `rule` caused by process `pid` (the acting process, or one of its ancestors).
fn is_match(v: &Value, rule: &str, pid: u32) -> bool {
    v["rule"]["id"] == rule
        && (v["process"]["pid"] == pid
            || v["process"]["ancestors"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["pid"] == pid)))
}

/// Waits until every `(rule, pid)` has matched (or `timeout`); returns the match of each, `None` when missing.
fn wait_all(m: &MonitorProcess, want: &[(&str, u32)], timeout: Duration) -> Vec<Option<Value>> {
    let deadline = Instant::now() + timeout;
    let mut found: Vec<Option<Value>> = vec![None; want.len()];
    while found.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, (rule, pid)) in want.iter().enumerate() {
            if found[i].is_none() {
                found[i] = m.all(|v| is_match(v, rule, *pid)).into_iter().next();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    found
}

/// The rule ids matched by process `pid` (acting or ancestor) so far.
fn rules_of(m: &MonitorProcess, pid: u32) -> Vec<String> {
    let mut ids: Vec<String> = m
        .all(|v| v["rule"]["id"].is_string() && is_match(v, v["rule"]["id"].as_str().unwrap(), pid))
        .iter()
        .map(|v| v["rule"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Runs `program args` to completion; returns its pid. It must succeed.
fn run(program: &Path, args: &[&str]) -> u32 {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed",
        program.display()
    );
    pid
}

/// Stops the monitor and fails with every collected failure (and the monitor's last words) if any.
fn finish(m: MonitorProcess, failures: &[String]) {
    let stderr = m.stop();
    assert!(
        failures.is_empty(),
        "{}\nmonitor stderr (tail): {}",
        failures.join("\n"),
        stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
    );
}

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

/// Spawns `cmd`, retrying while its program is "busy": a test that just wrote a program can find it held open
/// for writing by a child another test thread forked meanwhile (ETXTBSY until that child execs).
fn spawn(cmd: &mut Command) -> std::process::Child {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
}

/// Starts `program SECONDS` (a copy of sleep) and returns once it sleeps in its nanosleep: its exec has been
/// reported by then, so a signal sent next is judged against the new image (spawn returns as soon as the
/// exec closed the descriptors, before the kernel's exec tracepoint).
fn spawn_asleep(program: &Path, seconds: &str) -> std::process::Child {
    let child = spawn(Command::new(program).arg(seconds).stdout(Stdio::null()));
    let syscall = format!("/proc/{}/syscall", child.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    // 35: nanosleep, 230: clock_nanosleep (x86_64)
    while !std::fs::read_to_string(&syscall)
        .is_ok_and(|s| s.starts_with("35 ") || s.starts_with("230 "))
    {
        assert!(
            Instant::now() < deadline,
            "{} never went to sleep",
            program.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Runs `program args` to completion; returns its pid. It must succeed.
fn run(program: &Path, args: &[&str]) -> u32 {
    let child = spawn(Command::new(program).args(args).stdout(Stdio::null()));
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

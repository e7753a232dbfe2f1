//! Helpers of the kernel, network and DNS activity tests: load the probe, and wait for the records of the
//! thread or process a test drove (other tests and processes run at the same time).

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use rampart_model::EventData;
use rampart_probe::record::ActivityRecord;
use rampart_probe::{Probe, ProbeConfig, ProbeRecord};

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn load() -> Probe {
    load_with(ProbeConfig::default())
}

pub fn load_with(config: ProbeConfig) -> Probe {
    Probe::load(config)
        .unwrap_or_else(|e| panic!("loading the probe failed (tests need root): {e}"))
}

pub fn gettid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Polls until `pick` accepts a record (returning its value); panics after DEADLINE naming `what`.
pub fn wait_for<T>(
    probe: &mut Probe,
    what: &str,
    mut pick: impl FnMut(&ActivityRecord) -> Option<T>,
) -> T {
    let start = Instant::now();
    let mut found = None;
    let mut seen = 0usize;
    while found.is_none() {
        assert!(
            start.elapsed() < DEADLINE,
            "no {what} within {DEADLINE:?} ({seen} activity records seen)"
        );
        probe
            .poll(Duration::from_millis(50), &mut |r| {
                if let ProbeRecord::Activity(a) = r {
                    seen += 1;
                    if found.is_none() {
                        found = pick(&a);
                    }
                }
            })
            .expect("polling the ring buffer");
    }
    found.unwrap()
}

/// Every activity record accepted by `pick` until `done` holds of what was gathered (or the deadline).
pub fn gather<T>(
    probe: &mut Probe,
    mut pick: impl FnMut(&ActivityRecord) -> Option<T>,
    done: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let start = Instant::now();
    let mut out = Vec::new();
    while !done(&out) && start.elapsed() < DEADLINE {
        probe
            .poll(Duration::from_millis(50), &mut |r| {
                if let ProbeRecord::Activity(a) = r {
                    if let Some(x) = pick(&a) {
                        out.push(x);
                    }
                }
            })
            .expect("polling the ring buffer");
    }
    out
}

/// Drains the ring for `d` and returns every activity record of thread `tid`.
pub fn drain_thread(probe: &mut Probe, tid: u32, d: Duration) -> Vec<EventData> {
    let start = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < d {
        probe
            .poll(Duration::from_millis(20), &mut |r| {
                if let ProbeRecord::Activity(a) = r {
                    if a.tid == tid {
                        out.push(a.data);
                    }
                }
            })
            .expect("polling the ring buffer");
    }
    out
}

/// Runs a python3 script to completion; returns its pid. The script must succeed.
pub fn python(script: &str) -> u32 {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .spawn()
        .expect("python3 is installed");
    let pid = child.id();
    let status = child.wait().expect("waiting for python3");
    assert!(status.success(), "python helper failed: {status}\n{script}");
    pid
}

//! Shared by the file-probe tests: a loaded probe with a file filter, and waiting for the records of a path.
//! Other processes (and other tests) run at the same time: every wait filters by path under its own temp dir.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_model::EventType;
use rampart_probe::file::{file_target, FileFilters};
use rampart_probe::record::ActivityRecord;
use rampart_probe::{Probe, ProbeConfig, ProbeRecord};

pub const DEADLINE: Duration = Duration::from_secs(10);

/// A probe with a file filter, and the activity records polled but not yet claimed by a wait.
pub struct Recorder {
    pub probe: Probe,
    backlog: Vec<ActivityRecord>,
}

pub fn load(filters: &FileFilters) -> Recorder {
    load_with(ProbeConfig::default(), filters)
}

pub fn load_with(config: ProbeConfig, filters: &FileFilters) -> Recorder {
    let mut probe = Probe::load(config)
        .unwrap_or_else(|e| panic!("loading the probe failed (tests need root): {e}"));
    probe
        .apply_file_filters(filters)
        .expect("applying the file filter");
    Recorder {
        probe,
        backlog: Vec::new(),
    }
}

/// A temp dir with its canonical path (what the kernel reports).
pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("rampart-fim-")
        .tempdir()
        .expect("temp dir");
    let canon = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    (dir, canon)
}

pub fn path_of(r: &ActivityRecord) -> Option<&str> {
    file_target(&r.data).map(|t| t.file.path.as_str())
}

pub fn dest_of(r: &ActivityRecord) -> Option<&str> {
    file_target(&r.data)
        .and_then(|t| t.destination.as_ref())
        .map(|d| d.file.path.as_str())
}

impl Recorder {
    fn poll_once(&mut self) {
        let backlog = &mut self.backlog;
        self.probe
            .poll(Duration::from_millis(50), &mut |r| {
                if let ProbeRecord::Activity(a) = r {
                    if file_target(&a.data).is_some() {
                        backlog.push(a);
                    }
                }
            })
            .expect("polling the ring buffer");
        // Bounded: the host's own file activity must not grow it without end.
        if self.backlog.len() > 100_000 {
            self.backlog.drain(..50_000);
        }
    }

    /// Polls until a record of type `t` whose source path is `path` arrives; panics after DEADLINE.
    pub fn wait_for(&mut self, t: EventType, path: &Path) -> ActivityRecord {
        let want = path.to_str().expect("utf-8 path");
        self.wait_match(|r| r.data.event_type() == t && path_of(r) == Some(want))
            .unwrap_or_else(|| panic!("no {t} record for {want} within {DEADLINE:?}"))
    }

    /// The first record (in arrival order) satisfying `pred`, taken out of the backlog.
    pub fn wait_match(&mut self, pred: impl Fn(&ActivityRecord) -> bool) -> Option<ActivityRecord> {
        let start = Instant::now();
        loop {
            if let Some(i) = self.backlog.iter().position(&pred) {
                return Some(self.backlog.remove(i));
            }
            if start.elapsed() >= DEADLINE {
                return None;
            }
            self.poll_once();
        }
    }

    /// Every record satisfying `pred` seen within `d` (including the backlog).
    pub fn collect_for(
        &mut self,
        d: Duration,
        pred: impl Fn(&ActivityRecord) -> bool,
    ) -> Vec<ActivityRecord> {
        let start = Instant::now();
        while start.elapsed() < d {
            self.poll_once();
        }
        let (hit, rest) = std::mem::take(&mut self.backlog)
            .into_iter()
            .partition(pred);
        self.backlog = rest;
        hit
    }
}

/// Runs a shell command (in its own process: its cwd changes do not touch the test's threads).
pub fn sh(script: &str) {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .status()
        .expect("running /bin/sh");
    assert!(status.success(), "`{script}` failed: {status}");
}

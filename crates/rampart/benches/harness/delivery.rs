//! Exec → signal latency at the server, and the chaos checks: numbered marker executions are produced at a
//! steady rate while something breaks (agent or server killed -9, database stopped, spool disk full); then
//! every number is looked for in the server's database. Lost = produced while the agent ran, never stored.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_testkit::load::quantile;

use super::stack::{sequences, stored_marks, AgentProc, Fixture};
use super::Table;

/// Marker runs per second: under the agent's default per-rule reporting budget (10/s after a burst of 50),
/// so every run is a reported match.
pub const MARK_RATE: f64 = 8.0;

/// Produces marks `seqs` at [`MARK_RATE`], calling `at(i)` before the i-th (0-based) of them.
pub fn produce(fixture: &Fixture, seqs: std::ops::Range<u64>, mut at: impl FnMut(u64)) {
    let period = Duration::from_secs_f64(1.0 / MARK_RATE);
    let start = seqs.start;
    let mut next = Instant::now();
    for seq in seqs {
        at(seq - start);
        fixture.mark(seq);
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
}

/// Waits until every mark of `seqs` is stored or `timeout` passes; the ones missing.
pub fn missing(database_url: &str, seqs: std::ops::Range<u64>, timeout: Duration) -> Vec<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let stored: BTreeSet<u64> = stored_marks(database_url)
            .iter()
            .flat_map(|(_, _, body)| sequences(body))
            .collect();
        let gone: Vec<u64> = seqs.clone().filter(|s| !stored.contains(s)).collect();
        if gone.is_empty() || Instant::now() >= deadline {
            return gone;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Exec → stored match latency (server receive time − kernel event time) of `n` marks: (p50, p99) in ms.
pub fn latency(database_url: &str, fixture: &Fixture, n: u64, table: &mut Table) -> (f64, f64) {
    let seqs = 1_000_000..1_000_000 + n;
    produce(fixture, seqs.clone(), |_| {});
    let lost = missing(database_url, seqs.clone(), Duration::from_secs(30));
    let lat: Vec<i64> = stored_marks(database_url)
        .iter()
        .filter(|(_, _, body)| sequences(body).iter().any(|s| seqs.contains(s)))
        .map(|(ts, received, _)| received - ts)
        .collect();
    assert!(!lat.is_empty(), "no marker match reached the server");
    let (p50, p99) = (
        quantile(lat.clone(), 0.5) as f64 / 1e6,
        quantile(lat.clone(), 0.99) as f64 / 1e6,
    );
    table.row(
        "latency",
        &format!("exec → match stored at the server ({n} execs)"),
        format!(
            "p50 {p50:.0} ms, p99 {p99:.0} ms, max {:.0} ms; {} not stored",
            *lat.iter().max().unwrap() as f64 / 1e6,
            lost.len()
        ),
        format!("p99 {p99:.0} ms"),
    );
    (p50, p99)
}

/// One chaos scenario's result row; the number of marks lost.
pub fn report(
    table: &mut Table,
    name: &str,
    database_url: &str,
    seqs: std::ops::Range<u64>,
    agent: &AgentProc,
) -> usize {
    let lost = missing(database_url, seqs.clone(), Duration::from_secs(120));
    let spool_dropped = agent.metric("rampart_agent_reporter_matches_dropped_total");
    let write_errors = agent.metric("rampart_agent_reporter_spool_write_errors_total");
    table.row(
        "chaos",
        name,
        format!(
            "{} marks produced, {} stored; spool write errors {write_errors:.0}, reporter dropped {spool_dropped:.0}{}",
            seqs.end - seqs.start,
            (seqs.end - seqs.start) as usize - lost.len(),
            if lost.is_empty() {
                String::new()
            } else {
                format!("; missing {:?}", &lost[..lost.len().min(10)])
            }
        ),
        format!("{} lost", lost.len()),
    );
    lost.len()
}

/// A tmpfs of `size` mounted at `dir` (a spool that can be filled), unmounted on drop.
pub struct SmallDisk {
    pub dir: std::path::PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "rampart-bench",
            ])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "mounting a tmpfs at {} (root needed)", dir.display());
        SmallDisk {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes a filler file until the disk is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }

    pub fn free(&self) {
        let _ = std::fs::remove_file(self.dir.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

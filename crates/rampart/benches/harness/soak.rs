//! Soak: mixed load for a long time (marks, opens the kernel passes, fork+exec, connects) with the agent's
//! memory sampled throughout. Memory must stay flat, nothing may be dropped, every mark must arrive.

use std::path::Path;
use std::time::{Duration, Instant};

use rampart_testkit::load::{self, median, paced, Acceptor};

use super::delivery::{missing, MARK_RATE};
use super::stack::{AgentProc, Fixture};
use super::Table;

pub fn run(
    agent: &AgentProc,
    database_url: &str,
    fixture: &Fixture,
    duration: Duration,
    table: &mut Table,
) -> bool {
    let acceptor = Acceptor::start();
    let path = std::ffi::CString::new(fixture.hot_file.as_os_str().as_encoded_bytes()).unwrap();
    let dropped0 = agent.metric("rampart_agent_events_dropped_total");
    let first_seq = 2_000_000u64;
    let mut seq = first_seq;
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut next_sample = start;
    while start.elapsed() < duration {
        // One second of load: 5k kernel-passed opens, marks at the budgeted rate, 20 execs, 50 connects.
        paced(5_000, Duration::from_millis(700), || unsafe {
            // SAFETY: a valid NUL-terminated path; the fd is closed at once.
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            if fd >= 0 {
                libc::close(fd);
            }
        });
        for _ in 0..(MARK_RATE as u64 / 2) {
            fixture.mark(seq);
            seq += 1;
        }
        load::exec_loop(Path::new("/bin/true"), 20);
        load::connect_loop(acceptor.addr, 50);
        if Instant::now() >= next_sample {
            if let Some((rss, _)) = load::process_memory(agent.pid()) {
                samples.push(rss);
            }
            next_sample += Duration::from_secs(10);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let dropped = agent.metric("rampart_agent_events_dropped_total") - dropped0;
    let lost = missing(database_url, first_seq..seq, Duration::from_secs(120));
    let third = (samples.len() / 3).max(1);
    let early = median(samples[..third].to_vec());
    let late = median(samples[samples.len() - third..].to_vec());
    let growth = late as f64 / early.max(1) as f64;
    table.row(
        "soak",
        &format!("{duration:?} mixed load"),
        format!(
            "RSS {:.1} → {:.1} MiB (median of first/last third of {} samples), {} marks, {dropped:.0} kernel drops",
            early as f64 / 1024.0,
            late as f64 / 1024.0,
            samples.len(),
            seq - first_seq
        ),
        format!("{} lost, RSS ×{growth:.2}", lost.len()),
    );
    // Flat: within 10% (allocator noise) from the first third to the last.
    lost.is_empty() && dropped == 0.0 && growth <= 1.10
}

//! Sustained event rates: opens of a file the kernel filter passes (each one a full user-space evaluation
//! that matches nothing) at fixed rates, with the kernel drop counter and the agent's CPU and memory read
//! before and after. Also the agent idle.

use std::time::{Duration, Instant};

use rampart_testkit::load::{self, paced};

use super::stack::{AgentProc, Fixture};
use super::Table;

/// Agent CPU (share of one core) while `work` runs, and its RSS (and peak) after.
pub fn observe(agent: &AgentProc, work: impl FnOnce()) -> (f64, u64, u64) {
    let pid = agent.pid();
    let cpu0 = load::process_cpu(pid).unwrap_or_default();
    let t0 = Instant::now();
    work();
    let elapsed = t0.elapsed();
    let cpu1 = load::process_cpu(pid).unwrap_or_default();
    let (rss, hwm) = load::process_memory(pid).unwrap_or((0, 0));
    (
        (cpu1 - cpu0).as_secs_f64() / elapsed.as_secs_f64(),
        rss,
        hwm,
    )
}

pub struct RateResult {
    pub rate: u64,
    pub dropped: f64,
    pub delivered: f64,
}

pub fn run(
    agent: &AgentProc,
    fixture: &Fixture,
    rates: &[u64],
    span: Duration,
    table: &mut Table,
) -> (Vec<RateResult>, u64) {
    // Idle: the agent with nothing to do but the host's background.
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, rss, _) = observe(agent, || std::thread::sleep(span));
    table.row(
        "resources",
        "agent idle",
        format!("CPU {:.2}% of a core over {span:?}", cpu * 100.0),
        format!("RSS {:.1} MiB", rss as f64 / 1024.0),
    );
    let idle_rss = rss;

    let path = std::ffi::CString::new(fixture.hot_file.as_os_str().as_encoded_bytes()).unwrap();
    let mut results = Vec::new();
    for &rate in rates {
        let m0 = agent.metrics();
        let mut made = 0;
        let (cpu, rss, hwm) = observe(agent, || {
            made = paced(rate, span, || {
                // SAFETY: a valid NUL-terminated path; the fd is closed at once.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
            });
        });
        // Let the agent drain what is in the ring buffer before reading its counters.
        std::thread::sleep(Duration::from_secs(2));
        let m1 = agent.metrics();
        let delta = |k: &str| m1.get(k).unwrap_or(&0.0) - m0.get(k).unwrap_or(&0.0);
        let dropped = delta("rampart_agent_events_dropped_total");
        let delivered = delta("rampart_agent_rule_evaluations_total");
        let achieved = made as f64 / span.as_secs_f64();
        table.row(
            "kernel drops",
            &format!("{rate} opens/s asked ({achieved:.0}/s made)"),
            format!(
                "{delivered:.0} events evaluated in user space, agent CPU {:.1}% of a core",
                cpu * 100.0
            ),
            format!("{dropped:.0} dropped"),
        );
        table.row(
            "resources",
            &format!("agent under {rate} events/s"),
            format!(
                "CPU {:.1}% of a core; {:.0} events per agent CPU-second",
                cpu * 100.0,
                delivered / (cpu * span.as_secs_f64()).max(1e-9)
            ),
            format!(
                "RSS {:.1} MiB (peak {:.1})",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            ),
        );
        results.push(RateResult {
            rate,
            dropped,
            delivered,
        });
    }
    (results, idle_rss)
}

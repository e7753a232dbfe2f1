//! Cost of activity snapshots (security profiles) under a busy container: the agent's CPU and memory with
//! profiling on and off, while a podman container execs, reads, writes and resolves names in a loop.

use std::time::Duration;

use rampart_testkit::Podman;

use super::rates::observe;
use super::stack::{AgentProc, Fixture, Server};
use super::Table;

/// A shell loop that keeps a container busy: new processes, file reads and writes, a DNS lookup.
const BUSY: &str = "i=0; while true; do i=$((i+1)); ls / >/dev/null; cat /etc/passwd >/dev/null; \
                    echo $i > /tmp/f$((i % 50)); nslookup -timeout=1 example.invalid 127.0.0.1 >/dev/null 2>&1; done";

pub fn run(
    server: &Server,
    fixture: &Fixture,
    spool: &std::path::Path,
    span: Duration,
    table: &mut Table,
) {
    let podman = match Podman::new() {
        Ok(p) => p,
        Err(e) => {
            table.row(
                "profiling",
                "busy container",
                format!("skipped: {e}"),
                "-".into(),
            );
            return;
        }
    };
    // Dumps shorter than the measurement, so that snapshots are written, uploaded and merged within it.
    let dump = format!("{}ms", span.as_millis() * 2 / 5);
    for (label, extra) in [
        ("snapshots off", vec!["--no-profiling"]),
        (
            "snapshots on",
            vec!["--dump-rescan", "1s", "--dump-duration", dump.as_str()],
        ),
    ] {
        let agent = AgentProc::start(server, spool, &fixture.policy, &extra);
        let container = podman
            .run_busybox(&["sh", "-c", BUSY])
            .expect("starting the busy container");
        // Let the profiler find the container (cgroup rescan) before measuring.
        std::thread::sleep(Duration::from_secs(3));
        let events0 = agent.metric("rampart_agent_rule_evaluations_total");
        let (cpu, rss, hwm) = observe(&agent, || std::thread::sleep(span));
        let events = agent.metric("rampart_agent_rule_evaluations_total") - events0;
        table.row(
            "profiling",
            &format!("busy container, {label}"),
            format!(
                "{:.0} events/s; agent CPU {:.1}% of a core",
                events / span.as_secs_f64(),
                cpu * 100.0
            ),
            format!(
                "RSS {:.1} MiB (peak {:.1})",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            ),
        );
        if label == "snapshots on" {
            std::thread::sleep(Duration::from_secs(3));
            let profiles = server.get("/api/v1/profiles");
            let busy = profiles["profiles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["image_name"] == rampart_testkit::BUSYBOX_IMAGE_NAME);
            let (snapshots, behaviors) = busy.fold((0, 0), |(s, b), p| {
                (
                    s + p["snapshots"].as_i64().unwrap_or(0),
                    b.max(p["behaviors"].as_i64().unwrap_or(0)),
                )
            });
            table.row(
                "profiling",
                "busy container, snapshots merged at the server",
                format!("{dump} dumps over {span:?}"),
                format!("{snapshots} snapshots, {behaviors} behaviours"),
            );
        }
        drop(container);
        agent.stop();
    }
}

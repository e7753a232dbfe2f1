//! Rampart's performance and resilience harness: the numbers users ask about, measured on this machine
//! with a real `rampart server` and `rampart agent` (default policy loaded), printed as one table with the
//! targets they are held to. Root only. Results and method: docs/PERFORMANCE.md.
//!
//! `cargo bench -p rampart --bench harness -- [SECTION...] [--quick] [--soak DURATION] [--outage DURATION]`
//!
//! Sections: `overhead` (open/close, fork+exec, connect, untar+make: with / without the agent),
//! `rates` (kernel drops at 10k/50k/200k events/s; agent CPU and RSS idle and under load), `latency`
//! (exec → match stored at the server, p50/p99), `profiling` (snapshots of a busy container), `chaos`
//! (agent -9, server -9, database down, spool disk full: what was lost), `soak` (only when `--soak` is
//! given). No section named: all but soak.

mod delivery;
mod overhead;
mod profiling;
mod rates;
mod soak;
mod stack;

use std::time::Duration;

use stack::{AgentProc, Fixture, Server};

/// The result table: (section, what, measurement, headline value).
#[derive(Default)]
pub struct Table {
    rows: Vec<[String; 4]>,
    verdicts: Vec<(String, bool)>,
}

impl Table {
    pub fn row(&mut self, section: &str, what: &str, detail: String, value: String) {
        println!("  [{section}] {what}: {value} ({detail})");
        self.rows
            .push([section.to_string(), what.to_string(), value, detail]);
    }

    fn target(&mut self, what: String, met: bool) {
        self.verdicts.push((what, met));
    }

    fn print(&self) {
        let w = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (w(0), w(1), w(2));
        println!();
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  detail",
            "section", "measurement", "result"
        );
        for r in &self.rows {
            println!("{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3]);
        }
        println!();
        for (what, met) in &self.verdicts {
            println!("{} {what}", if *met { "MET   " } else { "MISSED" });
        }
    }
}

struct Args {
    sections: Vec<String>,
    quick: bool,
    soak: Option<Duration>,
    outage: Duration,
}

fn args() -> Args {
    let mut a = Args {
        sections: Vec::new(),
        quick: false,
        soak: None,
        outage: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => a.quick = true,
            "--soak" | "--outage" => {
                let v = it.next().expect("a duration after --soak/--outage");
                let d: Duration = humantime::parse_duration(&v).expect("a duration like 30m");
                if arg == "--soak" {
                    a.soak = Some(d);
                } else {
                    a.outage = d;
                }
            }
            s if !s.starts_with('-') => a.sections.push(s.to_string()),
            other => panic!("unknown argument {other}"),
        }
    }
    if a.sections.is_empty() {
        a.sections = ["overhead", "rates", "latency", "profiling", "chaos"]
            .map(String::from)
            .to_vec();
    }
    if a.soak.is_some() && !a.sections.iter().any(|s| s == "soak") {
        a.sections.push("soak".into());
    }
    a
}

fn main() {
    assert!(
        rampart_testkit::is_root(),
        "the harness loads eBPF programs and mounts a tmpfs: run it as root"
    );
    let args = args();
    let want = |s: &str| args.sections.iter().any(|x| x == s);
    // Under /var/tmp: the default policy watches executables run from /tmp.
    let work = tempfile::Builder::new()
        .prefix("rampart-bench-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let fixture = Fixture::create(work.path());
    let server = Server::start(&work.path().join("server"), None);
    let sqlite_url = rampart_server::storage::sqlite_url(&server.data_dir.join("rampart.db"));
    let spool = work.path().join("spool");
    let mut table = Table::default();
    println!(
        "rampart harness: kernel {}, {} CPUs{}",
        String::from_utf8_lossy(
            &std::process::Command::new("uname")
                .arg("-r")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.quick { " (quick)" } else { "" }
    );

    if want("overhead") {
        let sizes = if args.quick {
            overhead::Sizes {
                open_close: 100_000,
                exec: 500,
                connect: 2_000,
                project_files: 10,
                rounds: 1,
            }
        } else {
            overhead::Sizes {
                open_close: 500_000,
                exec: 3_000,
                connect: 10_000,
                project_files: 40,
                rounds: 3,
            }
        };
        let r = overhead::run(&server, &fixture, &spool, &sizes, &mut table);
        table.target(
            format!("open/close ≤ 1.2× (measured {:.3}×)", r[0]),
            r[0] <= 1.2,
        );
        table.target(
            format!("fork+exec ≤ 1.05× (measured {:.3}×)", r[1]),
            r[1] <= 1.05,
        );
    }

    let span = Duration::from_secs(if args.quick { 3 } else { 10 });
    let agent = AgentProc::start(&server, &spool, &fixture.policy, &["--no-profiling"]);
    if want("rates") {
        let (results, idle_rss) = rates::run(
            &agent,
            &fixture,
            &[10_000, 50_000, 200_000],
            span,
            &mut table,
        );
        if let Some(r) = results.iter().find(|r| r.rate == 50_000) {
            table.target(
                format!(
                    "zero drops at 50k events/s (dropped {:.0} of {:.0})",
                    r.dropped,
                    r.dropped + r.delivered
                ),
                r.dropped == 0.0,
            );
        }
        table.target(
            format!(
                "agent RSS ≤ 64 MB idle (measured {:.1} MiB)",
                idle_rss as f64 / 1024.0
            ),
            idle_rss <= 64 * 1024,
        );
    }
    if want("latency") {
        let n = if args.quick { 40 } else { 200 };
        let (_, p99) = delivery::latency(&sqlite_url, &fixture, n, &mut table);
        table.target(
            format!("exec→signal p99 < 1 s (measured {p99:.0} ms)"),
            p99 < 1000.0,
        );
    }
    let mut agent = agent;
    if want("chaos") {
        chaos(
            &args,
            &fixture,
            &mut agent,
            &mut { server },
            &sqlite_url,
            work.path(),
            &mut table,
        );
    } else {
        if want("profiling") {
            agent.kill9();
            profiling::run(&server, &fixture, &spool, span, &mut table);
            agent.restart();
        }
        if let Some(d) = args.soak {
            let ok = soak::run(&agent, &sqlite_url, &fixture, d, &mut table);
            table.target(
                format!("soak {d:?}: flat memory, nothing dropped or lost"),
                ok,
            );
        }
    }
    table.print();
}

/// The chaos checks, then profiling and soak (which need the server back).
fn chaos(
    args: &Args,
    fixture: &Fixture,
    agent: &mut AgentProc,
    server: &mut Server,
    sqlite_url: &str,
    work: &std::path::Path,
    table: &mut Table,
) {
    let marks: u64 = if args.quick { 40 } else { 120 };
    let mut total_lost = 0;

    // 1. The agent killed -9 right after a mark, restarted at once (the kernel events in flight and the
    //    spool's unsent tail are what could be lost).
    let seqs = 10_000..10_000 + marks;
    delivery::produce(fixture, seqs.clone(), |i| {
        if i == marks / 2 {
            agent.restart();
        }
    });
    total_lost += delivery::report(
        table,
        "agent killed -9 and restarted",
        sqlite_url,
        seqs,
        agent,
    );

    // 2. The server killed -9 mid-stream, back after 5 s on the same port and database.
    let seqs = 20_000..20_000 + marks;
    let mut down_at = None;
    delivery::produce(fixture, seqs.clone(), |i| {
        if i == marks / 3 {
            server.kill9();
            down_at = Some(std::time::Instant::now());
        }
        if down_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(5)) {
            server.restart();
            down_at = None;
        }
    });
    if down_at.is_some() {
        server.restart();
    }
    total_lost += delivery::report(
        table,
        "server killed -9, restarted after 5 s",
        sqlite_url,
        seqs,
        agent,
    );

    // 3. The database (PostgreSQL) stopped for `outage` under a server that keeps running.
    {
        let pg = rampart_testkit::pg::PgCluster::start();
        let pg_url = pg.new_database();
        let pg_server = Server::start(&work.join("server-pg"), Some(pg_url.clone()));
        let mut pg_agent = AgentProc::start(
            &pg_server,
            &work.join("spool-pg"),
            &fixture.policy,
            &["--no-profiling"],
        );
        // Only one agent watches the marker at a time, so each server's count is its own.
        agent.kill9();
        let per_sec = delivery::MARK_RATE as u64;
        let n = marks + args.outage.as_secs() * per_sec;
        let seqs = 30_000..30_000 + n;
        delivery::produce(fixture, seqs.clone(), |i| {
            if i == marks / 3 {
                pg.stop();
            }
            if i == marks / 3 + args.outage.as_secs() * per_sec {
                pg.resume();
            }
        });
        total_lost += delivery::report(
            table,
            &format!("database (PostgreSQL) down for {:?}", args.outage),
            &pg_url,
            seqs,
            &pg_agent,
        );
        pg_agent.kill9();
        agent.restart();
    }

    // 4. The spool's disk full (tmpfs of 2 MiB, filled) while the server is down: matches are held in
    //    memory; the disk is freed and the server comes back.
    {
        let disk = delivery::SmallDisk::mount(&work.join("spool-small"), "2m");
        agent.kill9();
        let mut small_agent =
            AgentProc::start(server, &disk.dir, &fixture.policy, &["--no-profiling"]);
        let seqs = 40_000..40_000 + marks;
        delivery::produce(fixture, seqs.clone(), |i| {
            if i == marks / 4 {
                disk.fill();
                server.kill9();
            }
            if i == marks / 2 {
                server.restart();
            }
            if i == 3 * marks / 4 {
                disk.free();
            }
        });
        total_lost += delivery::report(
            table,
            "spool disk full while the server is down",
            sqlite_url,
            seqs,
            &small_agent,
        );
        small_agent.kill9();
        drop(disk);
        agent.restart();
    }
    table.target(
        format!("chaos: nothing lost (lost {total_lost})"),
        total_lost == 0,
    );

    let span = Duration::from_secs(if args.quick { 3 } else { 10 });
    if args.sections.iter().any(|s| s == "profiling") {
        agent.kill9();
        profiling::run(server, fixture, &work.join("spool"), span, table);
        agent.restart();
    }
    if let Some(d) = args.soak {
        let ok = soak::run(agent, sqlite_url, fixture, d, table);
        table.target(
            format!("soak {d:?}: flat memory, nothing dropped or lost"),
            ok,
        );
    }
}

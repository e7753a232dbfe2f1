//! Workload slowdown with the agent running (default policy + the harness policy), against the same
//! workloads without it in the same run. Rounds alternate (without, with, without, ...) so machine noise
//! hits both sides; each side's median is kept.

use std::path::Path;
use std::time::Duration;

use rampart_testkit::load::{self, median, Acceptor, Project};

use super::stack::{AgentProc, Fixture, Server};
use super::Table;

pub struct Sizes {
    pub open_close: usize,
    pub exec: usize,
    pub connect: usize,
    pub project_files: usize,
    pub rounds: usize,
}

struct Workloads<'a> {
    sizes: &'a Sizes,
    open_target: std::path::PathBuf,
    acceptor: Acceptor,
    project: Project,
}

impl Workloads<'_> {
    const NAMES: [&'static str; 4] = [
        "open+close (same file)",
        "fork+exec /bin/true",
        "TCP connect (loopback)",
        "untar + make (C project)",
    ];

    /// One timing of each workload.
    fn run_all(&self) -> [Duration; 4] {
        [
            load::open_close(&self.open_target, self.sizes.open_close).0,
            load::exec_loop(Path::new("/bin/true"), self.sizes.exec),
            load::connect_loop(self.acceptor.addr, self.sizes.connect),
            self.project.build(),
        ]
    }
}

pub fn run(
    server: &Server,
    fixture: &Fixture,
    spool: &Path,
    sizes: &Sizes,
    table: &mut Table,
) -> Vec<f64> {
    let project_dir = fixture.dir.join("project");
    let w = Workloads {
        sizes,
        // A file no rule watches: the common case of a busy host.
        open_target: "/usr/lib/os-release".into(),
        acceptor: Acceptor::start(),
        project: Project::create(&project_dir, sizes.project_files),
    };
    w.run_all(); // warm caches
    let mut without: Vec<Vec<Duration>> = vec![Vec::new(); 4];
    let mut with: Vec<Vec<Duration>> = vec![Vec::new(); 4];
    for _ in 0..sizes.rounds {
        for (i, d) in w.run_all().into_iter().enumerate() {
            without[i].push(d);
        }
        let agent = AgentProc::start(server, spool, &fixture.policy, &["--no-profiling"]);
        for (i, d) in w.run_all().into_iter().enumerate() {
            with[i].push(d);
        }
        agent.stop();
    }
    let mut ratios = Vec::new();
    for (i, name) in Workloads::NAMES.iter().enumerate() {
        let (a, b) = (median(without[i].clone()), median(with[i].clone()));
        let ratio = b.as_secs_f64() / a.as_secs_f64();
        ratios.push(ratio);
        table.row(
            "overhead",
            name,
            format!(
                "{:.3} s → {:.3} s ({} rounds)",
                a.as_secs_f64(),
                b.as_secs_f64(),
                sizes.rounds
            ),
            format!("{ratio:.3}×"),
        );
    }
    let _ = std::fs::remove_dir_all(project_dir);
    ratios
}

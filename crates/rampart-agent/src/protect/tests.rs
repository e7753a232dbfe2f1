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

fn exec_event(pid: u32, path: &str) -> Event {
    let process = Process {
        pid,
        file: FileInfo::from_path(path),
        ..Default::default()
    };
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
    let mut enforcer = Enforcer::new(ProtectConfig::default());
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
    let mut enforcer = Enforcer::new(ProtectConfig {
        dry_run: true,
        ..Default::default()
    });
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
    let mut enforcer = Enforcer::new(ProtectConfig::default());
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
fn never_kills_pid_1_or_protected_executables() {
    let rules = kill_rules("process");
    let dir = tempfile::tempdir().unwrap();
    let guarded = dir.path().join("victim");
    std::fs::copy("/bin/sleep", &guarded).unwrap();
    let mut enforcer = Enforcer::new(ProtectConfig {
        protected: vec![guarded.clone()],
        ..Default::default()
    });
    let init = exec_event(1, "/opt/victim");
    assert_eq!(
        enforcer.enforce(&init, &matches(&rules, &init))[0].outcome,
        KillOutcome::Spared
    );
    let mut child = Command::new(&guarded).arg("30").spawn().unwrap();
    let ev = exec_event(
        child.id(),
        &std::fs::canonicalize(&guarded).unwrap().to_string_lossy(),
    );
    assert_eq!(
        enforcer.enforce(&ev, &matches(&rules, &ev))[0].outcome,
        KillOutcome::Spared
    );
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn disarmer_trips_and_raises_a_notice() {
    let rules = kill_rules("process");
    let config = ProtectConfig {
        dry_run: true,
        disarmer: DisarmerConfig {
            max_executables: 2,
            max_containers: 5,
            window: Duration::from_secs(60),
        },
        ..Default::default()
    };
    let mut enforcer = Enforcer::new(config);
    let outcomes: Vec<KillOutcome> = (0..4)
        .map(|i| {
            let ev = exec_event(100_000 + i, &format!("/opt/{i}/victim"));
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
    let notices = enforcer.take_disarm_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].rule, "kill_victim");
    assert!(
        notices[0].reason.contains("3 distinct executables"),
        "{}",
        notices[0].reason
    );
}

#[test]
fn container_scope_needs_a_container() {
    let rules = kill_rules("container");
    let mut enforcer = Enforcer::new(ProtectConfig::default());
    let ev = exec_event(999_998, "/opt/victim");
    assert_eq!(
        enforcer.enforce(&ev, &matches(&rules, &ev))[0].outcome,
        KillOutcome::NoContainer
    );
}

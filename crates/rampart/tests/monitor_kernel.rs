//! End-to-end kernel activity through `rampart monitor --events --json`: signal targets, ptrace tracees and
//! setrlimit targets carry the target's context from the process cache; a credential change is the event's
//! payload while `process.*` still shows the credentials before the call; a setrlimit rule matches the
//! limit it names and not another. Runs as root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_testkit::MonitorProcess;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// A monitor printing only the event types these tests look at: a busy host (or cargo's own processes) would
/// otherwise bury them under exec and open events.
fn monitor() -> MonitorProcess {
    let mut args = vec!["--events", "--json"];
    for t in ["ptrace", "signal", "setuid"] {
        args.extend(["--event-type", t]);
    }
    MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &args, &[]).unwrap()
}

fn is(event_type: &'static str, pid: u32) -> impl Fn(&Value) -> bool {
    move |v| v["event"]["type"] == event_type && v["process"]["pid"] == pid
}

#[test]
fn signal_and_ptrace_targets_have_context() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let m = monitor();
    let mut target = Command::new("sleep").arg("30").spawn().unwrap();
    let target_pid = target.id();
    // a python tracer: attach, detach, then SIGTERM the target
    let script = format!(
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         assert libc.ptrace(16, {target_pid}, 0, 0) == 0\nos.waitpid({target_pid}, 0x40000000)\n\
         assert libc.ptrace(17, {target_pid}, 0, 0) == 0\nos.kill({target_pid}, 15)\n"
    );
    let tracer = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let tracer_pid = tracer.id();
    assert!(tracer.wait_with_output().unwrap().status.success());
    target.wait().unwrap();

    let ptrace = m
        .wait_for(WAIT, is("ptrace", tracer_pid))
        .expect("ptrace event");
    assert_eq!(ptrace["ptrace"]["request"], 16);
    assert_eq!(ptrace["ptrace"]["retval"], 0);
    assert_eq!(ptrace["ptrace"]["tracee"]["pid"], target_pid);
    assert_eq!(
        ptrace["ptrace"]["tracee"]["file"]["name"], "sleep",
        "{ptrace}"
    );
    let signal = m
        .wait_for(WAIT, |v| {
            is("signal", tracer_pid)(v) && v["signal"]["type"] == 15
        })
        .expect("signal event");
    assert_eq!(signal["signal"]["pid"], target_pid);
    assert_eq!(
        signal["signal"]["target"]["file"]["name"], "sleep",
        "{signal}"
    );
    assert!(signal["signal"]["target"]["ancestors"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
}

#[test]
fn setuid_payload_and_updated_process() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let m = monitor();
    let child = Command::new("python3")
        .args([
            "-c",
            "import os, time\nos.setuid(65534)\ntime.sleep(0.1)\nos.kill(os.getpid(), 0)\n",
        ])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    let setuid = m.wait_for(WAIT, is("setuid", pid)).expect("setuid event");
    assert_eq!(setuid["setuid"]["uid"], 65534);
    assert_eq!(setuid["setuid"]["euid"], 65534);
    assert_eq!(
        setuid["process"]["uid"], 0,
        "process.* is the caller before the change"
    );
    // the next event of the process sees the new credentials
    let kill = m
        .wait_for(WAIT, is("signal", pid))
        .expect("signal event after setuid");
    assert_eq!(kill["process"]["uid"], 65534, "{kill}");
}

#[test]
fn setrlimit_rule_matches_the_core_limit_and_names_the_target() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("rlimit.policy");
    std::fs::write(
        &policy,
        "version: 1.0.0\nrules:\n\
         - id: core_limit_set\n  expression: setrlimit.resource == RLIMIT_CORE\n\
         - id: nofile_limit_set\n  expression: setrlimit.resource == RLIMIT_NOFILE && setrlimit.rlim_cur == 64\n",
    )
    .unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_rampart"));
    let m = MonitorProcess::start_with_policy(binary, policy.to_str().unwrap()).unwrap();
    let mut target = Command::new("sleep").arg("30").spawn().unwrap();
    let target_pid = target.id();
    let limit = |script: &str| {
        let child = Command::new("python3")
            .args(["-c", &format!("import resource\n{script}\n")])
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(
            child.wait_with_output().unwrap().status.success(),
            "{script}"
        );
        pid
    };
    // the benign twin first: another resource (through glibc's setrlimit, that is prlimit64)
    let benign = limit("resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))");
    let core = limit(&format!(
        "resource.prlimit({target_pid}, resource.RLIMIT_CORE, (0, 0))"
    ));
    target.kill().ok();
    target.wait().ok();

    let hit = m
        .wait_for(WAIT, |v| {
            v["rule"]["id"] == "core_limit_set" && v["process"]["pid"] == core
        })
        .expect("the core limit rule matches");
    let event = &hit["setrlimit"];
    assert_eq!(event["resource"], libc::RLIMIT_CORE, "{hit}");
    assert_eq!(
        (&event["rlim_cur"], &event["rlim_max"]),
        (&0.into(), &0.into())
    );
    assert_eq!(event["target"]["pid"], target_pid, "{hit}");
    assert_eq!(event["target"]["file"]["name"], "sleep", "{hit}");
    // the twin's event was evaluated (its own rule matched), and the core rule did not match it
    m.wait_for(WAIT, |v| {
        v["rule"]["id"] == "nofile_limit_set" && v["process"]["pid"] == benign
    })
    .expect("the benign twin's event reached the rules");
    let wrong = m.all(|v| v["rule"]["id"] == "core_limit_set" && v["process"]["pid"] == benign);
    assert!(wrong.is_empty(), "{wrong:?}");
}

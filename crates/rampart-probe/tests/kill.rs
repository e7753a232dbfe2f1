//! Real-kernel tests of the kill program (`bpf/kill.h`): the tail of a long argv, the system instance of a
//! protected executable, and the task-start query user-space kills rely on. Root; every pattern and name is
//! unique to this test process, so the armed plan touches nothing else on the host.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rampart_probe::kill::{ExeId, KernelKillPlan, KillSlotPlan};
use rampart_probe::{Probe, ProbeConfig, ProbeRecord};
use rampart_testkit::TestCgroup;

fn load() -> Probe {
    Probe::load(ProbeConfig::default())
        .unwrap_or_else(|e| panic!("loading the probe failed (tests need root): {e}"))
}

fn marker(what: &str) -> String {
    format!("rpk{}-{what}", std::process::id())
}

fn status(cmd: &mut Command) -> ExitStatus {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the test command")
}

fn killed(s: ExitStatus) -> bool {
    s.signal() == Some(libc::SIGKILL)
}

/// A world-readable directory with a copy of `from` named `name`.
fn copy_binary(dir: &Path, from: &str, name: &str) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

fn kill_plan(pattern: &str) -> KernelKillPlan {
    KernelKillPlan {
        slots: vec![KillSlotPlan {
            signal: libc::SIGKILL as u32,
            arg_substrings: vec![pattern.to_string()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn arguments_padded_away_from_the_head_are_scanned_in_the_tail() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let pattern = marker("tail");
    probe.set_kill_plan(&kill_plan(&pattern)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = copy_binary(dir.path(), "/bin/true", "runner");
    let pad = "A".repeat(5000);

    assert!(
        killed(status(Command::new(&bin).args([&pattern]))),
        "short argv"
    );
    assert!(
        killed(status(Command::new(&bin).args([&pad, "-o", &pattern]))),
        "after a 5000-byte argument"
    );
    assert!(
        killed(status(Command::new(&bin).args([&pattern, &pad]))),
        "in the head of a long argv"
    );
    assert!(status(Command::new(&bin).args([&pad, "-o", "benign"])).success());
    // the head ends with the pattern's first half and the tail starts with its second: the bytes were
    // never adjacent in argv, so no match across the seam
    let (first, second) = pattern.split_at(pattern.len() / 2);
    let head = format!("{}{first}", "h".repeat(3072 - 5 - first.len()));
    let tail = format!("{second}{}", "t".repeat(1024 - second.len() - 1));
    let middle = "m".repeat(2000);
    let seam = status(
        Command::new(&bin)
            .arg0("bin0")
            .args([&head, &middle, &tail]),
    );
    assert!(seam.success(), "{seam:?}");
}

fn cgroup(name: &str) -> TestCgroup {
    let root = rampart_probe::kernel::attach::cgroup2_root().expect("a cgroup2 mount");
    TestCgroup::new(&root, &marker(name)).unwrap()
}

#[test]
fn only_the_system_instance_of_a_protected_executable_is_spared() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let pattern = marker("guard");
    let dir = tempfile::tempdir().unwrap();
    let guarded = copy_binary(dir.path(), "/bin/sh", "guarded");
    let system = cgroup("system");
    let other = cgroup("other");
    let mut plan = kill_plan(&pattern);
    plan.protected = vec![ExeId::of(&guarded).unwrap()];
    plan.protected_cgroups = vec![system.id()];
    probe.set_kill_plan(&plan).unwrap();
    let run_as = |cgroup: &TestCgroup, user: Option<u32>, setup: &dyn Fn(&mut Command)| {
        let mut cmd = Command::new(&guarded);
        cmd.args(["-c", "exit 0", &pattern])
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        cgroup.run_in(&mut cmd, user);
        setup(&mut cmd);
        status(&mut cmd)
    };
    let run = |cgroup: &TestCgroup, setup: &dyn Fn(&mut Command)| run_as(cgroup, None, setup);

    let spared = run(&system, &|_| {});
    assert!(
        spared.success(),
        "root, clean environment, protected cgroup: {spared:?}"
    );
    assert!(killed(run(&system, &|c| {
        c.env("LD_PRELOAD", "/nonexistent/rampart-test.so");
    })));
    assert!(killed(run(&system, &|c| {
        c.env("LD_LIBRARY_PATH", "/tmp");
    })));
    assert!(
        killed(run_as(&system, Some(65534), &|_| {})),
        "another user"
    );
    assert!(
        killed(run(&other, &|_| {})),
        "outside the protected cgroups"
    );
    // a copy is not the protected executable
    let copy = copy_binary(dir.path(), "/bin/sh", "copy");
    let mut cmd = Command::new(&copy);
    cmd.args(["-c", "exit 0", &pattern]);
    system.run_in(&mut cmd, None);
    assert!(killed(status(&mut cmd)));
}

#[test]
fn task_starts_name_the_process_that_holds_a_pid() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let starts = probe.task_starts().unwrap();
    let mut child = Command::new("/bin/sleep").arg("5").spawn().unwrap();
    let pid = child.id();
    let now = starts.of(pid).unwrap().expect("the child holds its pid");
    assert_eq!(now.tgid, pid);
    // the same clock and value as the exec record's
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut exec_start = None;
    while exec_start.is_none() && Instant::now() < deadline {
        probe
            .poll(Duration::from_millis(50), &mut |r| {
                if let ProbeRecord::Exec(e) = r {
                    if e.task.pid == pid {
                        exec_start = Some(e.task.start_time_boot_ns);
                    }
                }
            })
            .unwrap();
    }
    assert_eq!(exec_start, Some(now.start_boot_ns));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        starts.of(pid).unwrap(),
        None,
        "reaped: nobody holds the pid"
    );
}

//! Argument truncation and Active Protection: a miner padded past the argument capture, six copies started by
//! an unprivileged user to disarm a kill rule, a pid recycled between an event and its kill, and a protected
//! binary run by the wrong user, under LD_PRELOAD or from the wrong cgroup. Each monitor is armed with the
//! default policy, so every test holds the armed-monitor lock and names its binaries after this process; where
//! a process must survive, its trigger is one only the default policy kills (`stratum+tls://`,
//! `--donate-level`), not the patterns other test policies arm.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use rampart_testkit::{ArmedMonitorLock, MonitorProcess, TestCgroup};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
const NOBODY: u32 = 65534;

/// An armed `rampart monitor --json` with the default policy, and a directory anyone may use.
struct Armed {
    monitor: MonitorProcess,
    dir: tempfile::TempDir,
    _lock: ArmedMonitorLock,
}

fn armed(extra: &[&str]) -> Armed {
    let lock = rampart_testkit::armed_monitor_lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let monitor =
        MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &args, &[]).unwrap();
    Armed {
        monitor,
        dir,
        _lock: lock,
    }
}

/// A name no other test uses.
fn unique(what: &str) -> String {
    format!("rpev{}-{what}", std::process::id())
}

/// A copy of `from` at `dir/name`, executable by anyone.
fn copy_binary(dir: &Path, from: &str, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

/// Runs `cmd` to its end: its pid and exit status.
fn run(cmd: &mut Command) -> (u32, ExitStatus) {
    let mut child = super::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null()));
    let pid = child.id();
    (pid, child.wait().unwrap())
}

fn killed(status: ExitStatus) -> bool {
    status.signal() == Some(libc::SIGKILL)
}

fn rule_id(v: &Value) -> &str {
    v["rule"]["id"].as_str().unwrap_or("")
}

/// The match of `rule` for the process `pid`.
fn match_of(m: &MonitorProcess, rule: &str, pid: u32) -> Value {
    m.wait_for(WAIT, |v| rule_id(v) == rule && v["process"]["pid"] == pid)
        .unwrap_or_else(|| panic!("no {rule} match for pid {pid}; stderr:\n{}", m.stderr()))
}

fn kill_outcome(hit: &Value) -> &str {
    hit["actions"][0]["outcome"].as_str().unwrap_or("")
}

/// Matches of `rules` caused by `pid` or its descendants.
fn matches_under(m: &MonitorProcess, pid: u32, rules: &[&str]) -> Vec<Value> {
    m.all(|v| {
        rules.contains(&rule_id(v))
            && (v["process"]["pid"] == pid
                || v["process"]["ancestors"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p["pid"] == pid)))
    })
}

const TRUNCATION_RULES: &[&str] = &["exec_argument_padding", "exec_truncated_from_writable_dir"];

#[test]
fn a_miner_padded_past_the_argument_capture_is_matched_and_killed() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let a = armed(&[]);
    // benign twins first: long ordinary command lines (xargs over many files, a compiler with many flags,
    // one large argument to a system program) raise nothing
    let (ordinary, status) = run(Command::new("bash")
        .args([
            "-c",
            "seq -f 'src/module/file_%04g.c' 600 | xargs /bin/true && \
             gcc -E -x c /dev/null $(seq -f '-DRAMPART_FLAG_%04g=1' 300) -o /dev/null && \
             /bin/true \"$(head -c 6000 /dev/zero | tr '\\0' A)\"",
            &unique("ordinary"),
        ])
        .current_dir(a.dir.path()));
    assert!(status.success(), "{status:?}");

    // `touch` would create `ran` if it ran any of its own code
    let miner = copy_binary(&a.dir.path().join("bin"), "/bin/touch", &unique("padded"));
    let pad = "A".repeat(5000);
    let url = "stratum+tcp://pool.invalid:3333";
    let (pid, status) = run(Command::new(&miner)
        .args(["ran", &pad, "-o", url, "--donate-level=1"])
        .current_dir(a.dir.path()));
    assert!(killed(status), "killed in the kernel: {status:?}");
    assert!(
        !a.dir.path().join("ran").exists(),
        "it never ran its own code"
    );

    let hit = match_of(&a.monitor, "miner_stratum_url_in_args", pid);
    assert_eq!(kill_outcome(&hit), "killed_in_kernel", "{hit}");
    let exec = &hit["exec"];
    assert_eq!(exec["args_truncated"], true);
    assert_eq!(exec["args_longest"], 5000, "the padding's exact size");
    assert!(exec["args_size"].as_u64().unwrap() > 5000);
    assert!(
        exec["argv"].as_array().unwrap().iter().any(|a| a == url),
        "the tail is seen: {exec}"
    );
    // the user-space rules see the tail too, and the padding itself is reported
    match_of(&a.monitor, "miner_cli_options", pid);
    match_of(&a.monitor, "exec_argument_padding", pid);

    // a payload in the middle of many small arguments is not captured, but the truncation is never silent
    let worker = copy_binary(&a.dir.path().join("bin"), "/bin/true", &unique("middle"));
    let mut args: Vec<String> = (0..700).map(|i| format!("opt{i:04}")).collect();
    args.push("--url=pool.invalid:3333".into());
    args.extend((0..300).map(|i| format!("opt{i:04}")));
    let (pid, _) = run(Command::new(&worker).args(&args));
    let hit = match_of(&a.monitor, "exec_truncated_from_writable_dir", pid);
    assert!(hit["exec"]["args_size"].as_u64().unwrap() > 4096);

    let quiet = matches_under(&a.monitor, ordinary, TRUNCATION_RULES);
    assert!(
        quiet.is_empty(),
        "ordinary long command lines matched: {quiet:#?}"
    );
}

#[test]
fn six_copies_run_by_an_unprivileged_user_do_not_disarm_the_kill_rule() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let a = armed(&[]);
    // a cwd nobody may write: a process that runs its own code leaves `ran-*` there
    let work = a.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o777)).unwrap();
    for i in 0..6 {
        let copy = copy_binary(
            &a.dir.path().join(format!("c{i}")),
            "/bin/true",
            &unique(&format!("helper{i}")),
        );
        let (_, status) = run(Command::new(&copy)
            .args(["-o", "stratum+tcp://x"])
            .current_dir(&work)
            .uid(NOBODY)
            .gid(NOBODY));
        assert!(killed(status), "copy {i}: {status:?}");
    }
    let refused = a
        .monitor
        .wait_for(WAIT, |v| {
            rule_id(v) == "active_protection_disarm_refused"
                && v["disarmed_rule"] == "miner_stratum_url_in_args"
        })
        .expect("the attempt is reported");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("uid {NOBODY}")),
        "{refused}"
    );

    // the real miner comes after, from the same user, and from root: both still killed before running
    let miner = copy_binary(&a.dir.path().join("real"), "/bin/touch", &unique("xmr"));
    for user in [Some(NOBODY), None] {
        let mut cmd = Command::new(&miner);
        cmd.args(["ran-real", "-o", "stratum+tcp://pool.invalid:3333"])
            .current_dir(&work);
        if let Some(id) = user {
            cmd.uid(id).gid(id);
        }
        let (pid, status) = run(&mut cmd);
        assert!(killed(status), "{user:?}: {status:?}");
        let hit = match_of(&a.monitor, "miner_stratum_url_in_args", pid);
        assert_eq!(kill_outcome(&hit), "killed_in_kernel", "{hit}");
    }
    assert!(!work.join("ran-real").exists());
    let disarmed = a.monitor.all(|v| {
        rule_id(v) == "active_protection_disarmed"
            && v["disarmed_rule"] == "miner_stratum_url_in_args"
    });
    assert!(disarmed.is_empty(), "{disarmed:#?}");
}

/// Starts `path args…` with exactly the pid `pid` (clone3's set_tid, the interface CRIU restores pids with; a
/// root process may choose its pid in the namespaces it owns): the way to recycle a pid on purpose.
fn spawn_with_pid(pid: u32, path: &Path, args: &[&str]) -> std::io::Result<()> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let owned: Vec<CString> = std::iter::once(path.clone())
        .chain(args.iter().map(|a| CString::new(*a).unwrap()))
        .collect();
    let mut argv: Vec<*const libc::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let tid = [pid as libc::pid_t];
    let clone_args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // SAFETY: clone3 with valid arguments; the child only calls execv and _exit (async-signal-safe) on data
    // prepared before the call.
    unsafe {
        let rc = libc::syscall(
            libc::SYS_clone3,
            &clone_args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        );
        if rc == 0 {
            libc::execv(path.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
fn a_kill_is_refused_when_the_pid_was_recycled() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let a = armed(&[]);
    let trigger = copy_binary(&a.dir.path().join("bin"), "/bin/true", &unique("cli"));
    let innocent = copy_binary(&a.dir.path().join("bin"), "/bin/sleep", &unique("innocent"));
    // The monitor is paused while the miner-like process exits and an innocent one takes its pid: when it
    // reads the exec (a rule it kills from user space), the pid is the innocent's.
    let monitor_pid = a.monitor.pid() as libc::pid_t;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(monitor_pid, libc::SIGSTOP) };
    let (pid, status) = run(Command::new(&trigger).args(["--donate-level=1", "--algo=rx/0"]));
    assert!(status.success());
    let recycled = spawn_with_pid(pid, &innocent, &["30"]);
    // SAFETY: as above.
    unsafe { libc::kill(monitor_pid, libc::SIGCONT) };
    recycled.unwrap();

    let hit = match_of(&a.monitor, "miner_cli_options", pid);
    assert_eq!(kill_outcome(&hit), "pid_recycled", "{hit}");
    std::thread::sleep(Duration::from_millis(500));
    let mut wstatus = 0;
    // SAFETY: waitpid on our own child, without blocking.
    let reaped = unsafe { libc::waitpid(pid as libc::pid_t, &mut wstatus, libc::WNOHANG) };
    assert_eq!(reaped, 0, "the innocent process is still running");
    // SAFETY: our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
        libc::waitpid(pid as libc::pid_t, &mut wstatus, 0);
    }
    let stderr = a.monitor.stop();
    let refused: u64 = stderr
        .split("pid_recycled=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid_recycled counter in: {stderr}"));
    assert!(refused >= 1, "the refusal is counted: {stderr}");
}

#[test]
fn a_protected_binary_is_spared_only_in_its_system_instance() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let root = rampart_probe::kernel::attach::cgroup2_root().expect("a cgroup2 mount");
    let system = TestCgroup::new(&root, &unique("system")).unwrap();
    let other = TestCgroup::new(&root, &unique("other")).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let guarded = copy_binary(bin.path(), "/bin/sh", &unique("guard"));
    let a = armed(&[
        "--protect",
        guarded.to_str().unwrap(),
        "--protect-cgroup",
        &system.path,
    ]);
    struct Case {
        what: &'static str,
        cgroup: &'static str,
        user: Option<u32>,
        env: Option<(&'static str, &'static str)>,
        spared: bool,
    }
    let cases = [
        Case {
            what: "the system instance",
            cgroup: "system",
            user: None,
            env: None,
            spared: true,
        },
        Case {
            what: "under LD_PRELOAD",
            cgroup: "system",
            user: None,
            env: Some(("LD_PRELOAD", "/nonexistent/rampart-evasion.so")),
            spared: false,
        },
        Case {
            what: "run by another user",
            cgroup: "system",
            user: Some(NOBODY),
            env: None,
            spared: false,
        },
        Case {
            what: "from another cgroup",
            cgroup: "other",
            user: None,
            env: None,
            spared: false,
        },
    ];
    // The kernel decides stratum URLs at exec; `--donate-level` is decided and killed from user space (the
    // script sleeps so that a kill reaches it before it would finish).
    let triggers = [
        (
            "kernel",
            "miner_stratum_url_in_args",
            "stratum+tls://pool.invalid:443",
            "killed_in_kernel",
        ),
        ("user", "miner_cli_options", "--donate-level=1", "killed"),
    ];
    for (path, rule, arg, kill) in triggers {
        for (i, case) in cases.iter().enumerate() {
            let ran = a.dir.path().join(format!("ran-{path}-{i}"));
            let script = format!("sleep 1; touch {}", ran.display());
            let mut cmd = Command::new(&guarded);
            cmd.args(["-c", &script, "sh0", arg])
                .env_clear()
                .env("PATH", "/usr/bin:/bin");
            if let Some((k, v)) = case.env {
                cmd.env(k, v);
            }
            let cgroup = if case.cgroup == "system" {
                &system
            } else {
                &other
            };
            cgroup.run_in(&mut cmd, case.user);
            let (pid, status) = run(&mut cmd);
            let what = format!("{path} path, {}", case.what);
            let hit = match_of(&a.monitor, rule, pid);
            if case.spared {
                assert!(status.success(), "{what}: {status:?}");
                assert!(ran.exists(), "{what}: ran to its end");
                assert_eq!(kill_outcome(&hit), "spared", "{what}: {hit}");
            } else {
                assert!(killed(status), "{what}: {status:?}");
                assert!(!ran.exists(), "{what}: killed before it finished");
                assert_eq!(kill_outcome(&hit), kill, "{what}: {hit}");
            }
        }
    }
}

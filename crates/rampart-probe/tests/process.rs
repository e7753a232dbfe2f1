//! Real-kernel tests of the process probe: they need root (CI runs as root) and fail, never skip, without it.
//! Other processes run on the machine at the same time, so every assertion filters by the pid we spawned.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rampart_model::ExitCause;
use rampart_probe::record::{ExecRecord, ExitRecord, ForkRecord};
use rampart_probe::{Probe, ProbeConfig, ProbeRecord};

const DEADLINE: Duration = Duration::from_secs(10);

fn load() -> Probe {
    Probe::load(ProbeConfig::default())
        .unwrap_or_else(|e| panic!("loading the probe failed (tests need root): {e}"))
}

/// Records of one process, gathered until its thread group has exited.
#[derive(Default, Debug)]
struct Seen {
    execs: Vec<ExecRecord>,
    forks: Vec<ForkRecord>,
    exits: Vec<ExitRecord>,
}

fn collect(probe: &mut Probe, pid: u32) -> Seen {
    let mut seen = Seen::default();
    let start = Instant::now();
    while !seen.exits.iter().any(|x| x.group_dead && x.tid == pid) {
        assert!(
            start.elapsed() < DEADLINE,
            "no exit record for pid {pid} within {DEADLINE:?}; saw {seen:#?}"
        );
        probe
            .poll(Duration::from_millis(50), &mut |r| match r {
                ProbeRecord::Exec(e) if e.task.pid == pid => seen.execs.push(e),
                ProbeRecord::Fork(f) if f.child.pid == pid => seen.forks.push(f),
                ProbeRecord::Exit(x) if x.pid == pid => seen.exits.push(x),
                _ => {}
            })
            .expect("polling the ring buffer");
    }
    seen
}

fn run(probe: &mut Probe, cmd: &mut Command) -> (u32, Seen) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the test command");
    child.wait().expect("waiting for the test command");
    let pid = child.id();
    (pid, collect(probe, pid))
}

fn canonical(p: impl AsRef<Path>) -> String {
    std::fs::canonicalize(p)
        .expect("canonicalize")
        .to_string_lossy()
        .into_owned()
}

fn last_exec(seen: &Seen) -> &ExecRecord {
    seen.execs
        .last()
        .unwrap_or_else(|| panic!("no exec record: {seen:#?}"))
}

#[test]
fn exec_path_argv_fork_and_exit() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let (pid, seen) = run(
        &mut probe,
        Command::new("sh").args(["-c", "exec /bin/true a \"b c\""]),
    );
    let exec = last_exec(&seen);
    assert_eq!(
        exec.file.path,
        canonical("/bin/true"),
        "kernel-resolved path of /bin/true"
    );
    assert_eq!(exec.file.name, "true");
    assert!(
        exec.file.inode != 0 && exec.file.mount_id != 0,
        "inode and mount id: {:?}",
        exec.file
    );
    assert_eq!(exec.argv, ["/bin/true", "a", "b c"]);
    assert!(!exec.args_truncated);
    assert_eq!(exec.task.pid, pid);
    assert_eq!(exec.task.tid, pid);
    assert_eq!(
        exec.task.ppid,
        std::process::id(),
        "ppid is the sh's parent (this test)"
    );
    assert_eq!(exec.task.comm, "true");
    assert_eq!(exec.task.credentials.uid, unsafe { libc::getuid() });
    assert!(
        exec.task.start_time_boot_ns > 0 && exec.timestamp_boot_ns >= exec.task.start_time_boot_ns
    );
    assert!(
        exec.task.cgroup_path.starts_with('/') && exec.task.cgroup_id != 0,
        "{:?}",
        exec.task
    );
    assert!(!exec.task.is_kthread);
    assert_eq!(exec.interpreter, None);
    // the sh itself was exec'd first, from the same pid
    assert_eq!(seen.execs.len(), 2, "{:#?}", seen.execs);
    assert_eq!(seen.execs[0].file.path, canonical("/bin/sh"));
    assert_eq!(seen.execs[0].argv, ["sh", "-c", "exec /bin/true a \"b c\""]);

    let fork = seen
        .forks
        .first()
        .unwrap_or_else(|| panic!("no fork record for the sh: {seen:#?}"));
    assert_eq!(fork.parent_pid, std::process::id());
    assert_eq!(
        (fork.child.pid, fork.child.tid, fork.child.ppid),
        (pid, pid, std::process::id())
    );

    let exit = seen.exits.last().unwrap();
    assert_eq!((exit.pid, exit.tid, exit.group_dead), (pid, pid, true));
    assert_eq!((exit.cause, exit.code), (ExitCause::Exited, 0));
    assert!(exit.timestamp_boot_ns >= exec.timestamp_boot_ns);
}

#[test]
fn shebang_script_file_is_script_and_interpreter_is_shell() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (_, seen) = run(&mut probe, &mut Command::new(&script));
    let exec = last_exec(&seen);
    assert_eq!(exec.file.path, canonical(&script));
    assert_eq!(exec.file.name, "hello.sh");
    let interp = exec
        .interpreter
        .as_ref()
        .unwrap_or_else(|| panic!("no interpreter: {exec:#?}"));
    assert_eq!(interp.path, canonical("/bin/sh"));
    assert!(interp.inode != 0);
    // binfmt_script rewrites argv: interpreter, script, then the original arguments
    assert_eq!(exec.argv, ["/bin/sh", script.to_str().unwrap()]);

    // a relative name resolves against the cwd
    let (_, seen) = run(
        &mut probe,
        Command::new("./hello.sh").current_dir(dir.path()),
    );
    let exec = last_exec(&seen);
    assert_eq!(exec.file.path, canonical(&script));
    assert_eq!(
        exec.interpreter.as_ref().map(|f| f.path.clone()),
        Some(canonical("/bin/sh"))
    );
}

#[test]
fn exit_code_and_kill_signal() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let (_, seen) = run(&mut probe, Command::new("sh").args(["-c", "exit 3"]));
    let exit = seen.exits.last().unwrap();
    assert_eq!(
        (exit.cause, exit.code, exit.group_dead),
        (ExitCause::Exited, 3, true)
    );

    let mut child: Child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawning sleep");
    let pid = child.id();
    // wait until sleep is exec'd so the kill hits sleep, not the forked child before exec
    let start = Instant::now();
    let mut exec_seen = false;
    while !exec_seen {
        assert!(
            start.elapsed() < DEADLINE,
            "sleep's exec record never arrived"
        );
        probe
            .poll(Duration::from_millis(50), &mut |r| {
                exec_seen |= matches!(&r, ProbeRecord::Exec(e) if e.task.pid == pid);
            })
            .unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let seen = collect(&mut probe, pid);
    let exit = seen.exits.last().unwrap();
    assert_eq!(
        (exit.cause, exit.code),
        (ExitCause::Signaled, libc::SIGKILL as u32)
    );
}

#[test]
fn long_and_deep_path_resolves_fully() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let dir = tempfile::tempdir().unwrap();
    // 40 levels of 12-byte names plus 30 one-letter levels: > 255 bytes and far deeper than a plain loop allows
    let mut deep = dir.path().to_path_buf();
    for i in 0..40 {
        deep.push(format!("level-{i:05}-x"));
    }
    for _ in 0..30 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    let bin = deep.join("copied-true");
    std::fs::copy(canonical("/bin/true"), &bin).unwrap();
    let expected = canonical(&bin);
    assert!(
        expected.len() > 255,
        "test setup: path is only {} bytes",
        expected.len()
    );

    let (_, seen) = run(&mut probe, &mut Command::new(&bin));
    assert_eq!(last_exec(&seen).file.path, expected);
}

#[test]
fn a_long_argv_keeps_its_head_and_its_tail() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let args: Vec<String> = (0..100).map(|i| format!("{i:0100}")).collect();
    let (_, seen) = run(&mut probe, Command::new("/bin/true").args(&args));
    let exec = last_exec(&seen);
    assert!(exec.args_truncated);
    assert_eq!(exec.argv[0], "/bin/true");
    assert_eq!(exec.argv[1], args[0]);
    assert_eq!(
        exec.argv.last().unwrap(),
        args.last().unwrap(),
        "the tail is kept"
    );
    assert_eq!(exec.args_size, 10 + 100 * 101);
    assert_eq!(exec.args_longest, 100);
    let gap = exec.args_gap.expect("the gap is described");
    assert_eq!(gap.skipped_bytes, exec.args_size - 4096);

    // one argument padded past the head: the arguments after it are seen, and its size is exact
    let pad = "A".repeat(5000);
    let (_, seen) = run(
        &mut probe,
        Command::new("/bin/true").args([pad.as_str(), "-o", "stratum+tcp://pool.invalid:3333"]),
    );
    let exec = last_exec(&seen);
    assert!(exec.args_truncated);
    assert_eq!(
        &exec.argv[exec.argv.len() - 2..],
        ["-o", "stratum+tcp://pool.invalid:3333"]
    );
    assert_eq!(exec.args_longest, 5000);
    assert_eq!(exec.args_gap.unwrap().argument, 1);

    let (_, seen) = run(&mut probe, Command::new("/bin/true").args(["a", "b"]));
    let exec = last_exec(&seen);
    assert!(!exec.args_truncated && exec.args_gap.is_none());
    assert_eq!((exec.args_size, exec.args_longest), (14, 9));
}

#[test]
fn env_names_values_and_truncation() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    let (_, seen) = run(
        &mut probe,
        Command::new("/bin/true")
            .env_clear()
            .env("MY_SECRET", "hunter2")
            .env("HISTSIZE", "1000")
            .env("A", ""),
    );
    let exec = last_exec(&seen);
    let mut names = exec.envs.to_vec();
    names.sort();
    assert_eq!(names, ["A", "HISTSIZE", "MY_SECRET"]);
    assert_eq!(
        *exec.envp,
        ["HISTSIZE=1000"],
        "only allow-listed values are kept"
    );
    assert!(!exec.envs_truncated);

    // ~6 KiB: copied whole by the kernel and split in user space, every name kept
    let mut medium: Vec<(String, String)> = (0..200)
        .map(|i| (format!("VARIABLE_NAME_NUMBER_{i:05}"), "value".into()))
        .collect();
    medium.push(("LD_PRELOAD".into(), "/tmp/x.so".into()));
    let mut true_with_env = |env: &[(String, String)]| {
        let mut cmd = Command::new("/bin/true");
        cmd.env_clear().envs(env.iter().cloned());
        last_exec(&run(&mut probe, &mut cmd).1).clone()
    };
    let exec = true_with_env(&medium);
    assert_eq!(exec.envs.len(), 201);
    assert_eq!(*exec.envp, ["LD_PRELOAD=/tmp/x.so"]);
    assert!(!exec.envs_truncated);
    // the same environment again is decoded once and shared; another one is not mistaken for it
    let again = true_with_env(&medium);
    assert!(std::sync::Arc::ptr_eq(&exec.envs, &again.envs));
    medium[0].0.replace_range(..1, "W");
    let changed = true_with_env(&medium);
    assert!(changed
        .envs
        .iter()
        .any(|n| n == "WARIABLE_NAME_NUMBER_00000"));
    assert!(!changed
        .envs
        .iter()
        .any(|n| n == "VARIABLE_NAME_NUMBER_00000"));

    // beyond the whole-block limit: walked in the kernel, names up to its bound
    let many: Vec<(String, String)> = (0..300)
        .map(|i| (format!("VARIABLE_NAME_NUMBER_{i:05}"), "v".into()))
        .collect();
    let exec = true_with_env(&many);
    assert!(exec.envs_truncated);
    assert!(
        exec.envs.len() > 10 && exec.envs.len() < 300,
        "{} names kept",
        exec.envs.len()
    );
    assert!(exec
        .envs
        .iter()
        .all(|n| n.starts_with("VARIABLE_NAME_NUMBER_")));

    // a value longer than the kept length (LD_PRELOAD padded so its real entry falls off) is never silent,
    // whether the environment is copied whole or walked in the kernel
    let padded = format!("{}/tmp/evil.so", " ".repeat(1100));
    let exec = true_with_env(&[("LD_PRELOAD".into(), padded.clone())]);
    assert!(exec.envs_truncated, "{exec:?}");
    let mut big: Vec<(String, String)> = (0..10)
        .map(|i| (format!("BIG_{i}"), "v".repeat(900)))
        .collect();
    big.push(("LD_PRELOAD".into(), "/tmp/x.so".into()));
    let exec = true_with_env(&big);
    assert!(
        !exec.envs_truncated,
        "9 KiB in 11 variables is walked whole"
    );
    assert_eq!(*exec.envp, ["LD_PRELOAD=/tmp/x.so"]);
    big.last_mut().unwrap().1 = padded;
    let exec = true_with_env(&big);
    assert!(exec.envs_truncated);
}

#[test]
fn stats_count_emits_and_no_drops() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    run(&mut probe, &mut Command::new("/bin/true"));
    let stats = probe.stats().unwrap();
    assert_eq!(stats.drops, 0, "{stats:?}");
    assert!(!stats.drops_per_cpu.is_empty());
    assert!(
        stats.exec_emitted >= 1 && stats.fork_emitted >= 1 && stats.exit_emitted >= 1,
        "{stats:?}"
    );
    assert_eq!(stats.decode_errors, 0);
}

#[test]
fn exec_from_a_memfd_reports_the_memfd_name() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    // python writes /bin/true into a memfd and execs it through /proc/self/fd: no file on disk.
    let script = "import os\nfd = os.memfd_create('rampart-payload', 0)\n\
                  os.write(fd, open('/bin/true', 'rb').read())\n\
                  os.execv('/proc/self/fd/%d' % fd, ['payload'])\n";
    let (_, seen) = run(&mut probe, Command::new("python3").args(["-c", script]));
    let exec = last_exec(&seen);
    assert_eq!(exec.file.path, "/memfd:rampart-payload", "{:?}", exec.file);
    assert_eq!(exec.file.name, "memfd:rampart-payload");
    assert_eq!(exec.argv, ["payload"]);
}

#[test]
fn exec_and_fork_records_carry_saved_ids_and_the_user_namespace() {
    rampart_testkit::require!(root, "loads eBPF programs");
    let mut probe = load();
    // A setuid-root copy of `id` run as nobody: the kernel sets euid and the saved uid to the file's owner.
    let dir = tempfile::Builder::new()
        .prefix("rampart-probe-suid-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tool = dir.path().join("rampart-suid-id");
    std::fs::copy("/usr/bin/id", &tool).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let (_, seen) = run(
        &mut probe,
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&tool),
    );
    let exec = last_exec(&seen);
    assert_eq!(exec.file.path, canonical(&tool));
    let c = exec.task.creds();
    assert_eq!(
        (c.uid, c.euid, c.suid, c.fsuid, c.gid, c.sgid),
        (65534, 0, 0, 0, 65534, 65534),
        "{c:?}"
    );
    assert!(c.init_user_ns, "{c:?}");
    // The fork record names the calling thread (this test's spawning thread).
    let fork = seen.forks.first().expect("fork record");
    assert_eq!(fork.parent_pid, std::process::id());
    assert_ne!(fork.parent_tid, 0);
    assert!(fork.child.init_user_ns && fork.child.suid == 0);

    // In a new user namespace the credentials are no longer the host's.
    let (_, seen) = run(
        &mut probe,
        Command::new("unshare").args(["--user", "/bin/true"]),
    );
    let exec = last_exec(&seen);
    assert_eq!(exec.file.path, canonical("/bin/true"));
    assert!(!exec.task.init_user_ns, "{:?}", exec.task);
}

//! Active Protection end to end: real processes killed (or spared) by `rampart monitor` with kill rules.
//! Runs as root; every test starts its own monitor with its own policy, one test at a time: every monitor
//! sees every exec on the host, so an armed monitor of one test would kill what another test expects to
//! survive (the `--no-kill` and `--protect` tests run the same miner names).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rampart_testkit::MonitorProcess;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

const MINER_POLICY: &str = r#"version: 1.0.0
rules:
  - id: test_miner_name
    description: a known miner executable name
    expression: exec.file.name in ["xmrig-test", "minerd-test"]
    tags: {severity: critical, mitre: T1496}
    actions:
      - kill: {signal: SIGKILL}
  - id: test_miner_stratum
    description: a stratum mining-pool URL in the arguments
    expression: exec.args in [~"*stratum+tcp://*", ~"*stratum+ssl://*"]
    tags: {severity: critical, mitre: T1496}
    actions:
      - kill: {signal: SIGKILL}
  - id: test_user_space_kill
    description: decided in user space (a conjunction the kernel cannot evaluate)
    expression: exec.file.name == "victim-us" && process.uid == 0
    tags: {severity: high}
    actions:
      - kill: {signal: SIGKILL}
"#;

static ONE_MONITOR_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held for a whole test (a failed test poisons the lock; the next one goes on); the file lock keeps the armed
/// monitors of other test binaries (the evasion suite) out too.
fn serial() -> (MutexGuard<'static, ()>, rampart_testkit::ArmedMonitorLock) {
    let guard = ONE_MONITOR_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    (guard, rampart_testkit::armed_monitor_lock().unwrap())
}

struct Setup {
    dir: tempfile::TempDir,
    monitor: MonitorProcess,
    _serial: (MutexGuard<'static, ()>, rampart_testkit::ArmedMonitorLock),
}

fn start(extra: &[&str]) -> Setup {
    let serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("protect.policy");
    std::fs::write(&policy, MINER_POLICY).unwrap();
    let mut args = vec![
        "--json",
        "--no-default-policy",
        "--policy",
        policy.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let monitor =
        MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &args, &[]).unwrap();
    Setup {
        dir,
        monitor,
        _serial: serial,
    }
}

/// A copy of `from` at `dir/name`.
fn copy_binary(dir: &Path, from: &str, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

fn run(binary: &Path, args: &[&str], cwd: &Path) -> (ExitStatus, Duration) {
    let started = Instant::now();
    let status = Command::new(binary)
        .args(args)
        .current_dir(cwd)
        .status()
        .unwrap();
    (status, started.elapsed())
}

fn match_for<'a>(rule: &'a str, path: &'a Path) -> impl Fn(&Value) -> bool + 'a {
    move |v| v["rule"]["id"] == rule && v["exec"]["file"]["path"] == path.to_str().unwrap()
}

#[test]
fn renamed_miner_with_stratum_url_is_killed_in_the_kernel_before_running() {
    rampart_testkit::require!(root, "Active Protection tests load eBPF programs");
    let s = start(&[]);
    // A copy of `touch`: had it run at all, `ran` would exist.
    let miner = copy_binary(&s.dir.path().join("bin"), "/bin/touch", "xmrig-test");
    let (status, elapsed) = run(
        &miner,
        &["ran", "stratum+tcp://pool.invalid:3333"],
        s.dir.path(),
    );
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "killed by SIGKILL: {status:?}"
    );
    assert!(
        elapsed < Duration::from_millis(100),
        "dead within 100 ms, took {elapsed:?}"
    );
    assert!(
        !s.dir.path().join("ran").exists(),
        "the miner never ran its own code"
    );

    let hit = s
        .monitor
        .wait_for(WAIT, match_for("test_miner_name", &miner))
        .expect("match reported");
    let kill = &hit["actions"][0];
    assert_eq!(kill["type"], "kill");
    assert_eq!(kill["outcome"], "killed_in_kernel", "{hit}");
    assert_eq!(kill["signal"], "SIGKILL");

    // The argument alone is enough: a harmless name with a stratum URL dies too, and is reported.
    let renamed = copy_binary(&s.dir.path().join("bin"), "/bin/touch", "innocent-looking");
    let (status, _) = run(
        &renamed,
        &["ran2", "stratum+ssl://pool.invalid:443"],
        s.dir.path(),
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!s.dir.path().join("ran2").exists());
    let hit = s
        .monitor
        .wait_for(WAIT, match_for("test_miner_stratum", &renamed))
        .expect("match");
    assert_eq!(hit["actions"][0]["outcome"], "killed_in_kernel");

    // Look-alikes live: the pattern must be in an argument, not in argv[0] or elsewhere.
    let (status, _) = run(&renamed, &["stratum-notes.txt"], s.dir.path());
    assert!(status.success());
    assert!(s.dir.path().join("stratum-notes.txt").exists());
}

/// This process's cgroup v2 path: where the protected binary's "system instance" runs in these tests.
fn own_cgroup() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 hierarchy")
        .to_string()
}

#[test]
fn protected_binary_with_a_miner_name_survives() {
    rampart_testkit::require!(root, "Active Protection tests load eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let guarded = copy_binary(&dir.path().join("protected"), "/bin/touch", "xmrig-test");
    let cgroup = own_cgroup();
    let s = start(&[
        "--protect",
        guarded.to_str().unwrap(),
        "--protect-cgroup",
        &cgroup,
    ]);
    // `touch` cannot create a file named like the URL (its directory does not exist) and exits 1: what
    // matters is that it ran to the end instead of being killed. Its system instance: root, in a protected
    // cgroup, with a clean environment (cargo's LD_LIBRARY_PATH would make it just another run of the binary).
    let status = Command::new(&guarded)
        .args(["alive", "stratum+tcp://pool.invalid:3333"])
        .current_dir(s.dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        None,
        "protected executable survives: {status:?}"
    );
    assert!(s.dir.path().join("alive").exists(), "it ran its own code");
    let hit = s
        .monitor
        .wait_for(WAIT, match_for("test_miner_name", &guarded))
        .expect("still reported");
    assert_eq!(hit["actions"][0]["outcome"], "spared", "{hit}");
}

#[test]
fn rules_the_kernel_cannot_decide_are_killed_from_user_space() {
    rampart_testkit::require!(root, "Active Protection tests load eBPF programs");
    let s = start(&[]);
    let victim = copy_binary(&s.dir.path().join("bin"), "/bin/sleep", "victim-us");
    let (status, elapsed) = run(&victim, &["5"], s.dir.path());
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "killed soon after the match, took {elapsed:?}"
    );
    let hit = s
        .monitor
        .wait_for(WAIT, match_for("test_user_space_kill", &victim))
        .expect("match");
    assert_eq!(hit["actions"][0]["outcome"], "killed");
}

#[test]
fn no_kill_reports_without_killing() {
    rampart_testkit::require!(root, "Active Protection tests load eBPF programs");
    let s = start(&["--no-kill"]);
    let miner = copy_binary(&s.dir.path().join("bin"), "/bin/touch", "xmrig-test");
    let (status, _) = run(&miner, &["ran"], s.dir.path());
    assert!(status.success());
    assert!(s.dir.path().join("ran").exists());
    let hit = s
        .monitor
        .wait_for(WAIT, match_for("test_miner_name", &miner))
        .expect("match");
    assert_eq!(hit["actions"][0]["outcome"], "dry_run");
}

#[test]
fn disarmer_stops_a_rule_that_kills_too_many_distinct_executables() {
    rampart_testkit::require!(root, "Active Protection tests load eBPF programs");
    let s = start(&["--disarm-after", "2"]);
    let mut statuses = Vec::new();
    for i in 0..3 {
        let miner = copy_binary(
            &s.dir.path().join(format!("d{i}")),
            "/bin/true",
            "minerd-test",
        );
        statuses.push(run(&miner, &[], s.dir.path()).0);
    }
    // The first two are killed; the third trips the disarmer (the kernel may have killed it already).
    assert_eq!(statuses[0].signal(), Some(libc::SIGKILL));
    assert_eq!(statuses[1].signal(), Some(libc::SIGKILL));
    let notice = s
        .monitor
        .wait_for(WAIT, |v| v["rule"]["id"] == "active_protection_disarmed")
        .expect("the disarmer raises a signal");
    assert_eq!(notice["disarmed_rule"], "test_miner_name");
    assert!(
        notice["reason"]
            .as_str()
            .unwrap()
            .contains("3 distinct executables"),
        "{notice}"
    );
    // Disarmed: a fourth distinct executable runs.
    let survivor = copy_binary(&s.dir.path().join("d3"), "/bin/true", "minerd-test");
    let (status, _) = run(&survivor, &[], s.dir.path());
    assert!(
        status.success(),
        "the disarmed rule kills no more: {status:?}"
    );
    let hit = s
        .monitor
        .wait_for(WAIT, match_for("test_miner_name", &survivor))
        .expect("still reported");
    assert_eq!(hit["actions"][0]["outcome"], "disarmed");
}

#[test]
fn container_scope_kills_every_process_of_the_container() {
    rampart_testkit::require!(podman, "Active Protection tests load eBPF programs");
    let _serial = serial();
    let podman = rampart_testkit::Podman::new().unwrap();
    let ctr = podman.run_busybox(&["sleep", "120"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("ctr.policy");
    std::fs::write(
        &policy,
        r#"version: 1.0.0
rules:
  - id: test_container_kill
    expression: exec.argv in ["rampart-kill-this-container"] && container.id != ""
    tags: {severity: critical}
    actions:
      - kill: {signal: SIGKILL, scope: container}
"#,
    )
    .unwrap();
    let m = MonitorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rampart")),
        &[
            "--json",
            "--no-default-policy",
            "--policy",
            policy.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap();
    let sleeper = ctr.pid().unwrap();
    let _ = ctr.exec(&["echo", "rampart-kill-this-container"]);
    let hit = m
        .wait_for(WAIT, |v| v["rule"]["id"] == "test_container_kill")
        .expect("match");
    assert_eq!(hit["actions"][0]["outcome"], "killed", "{hit}");
    assert!(
        hit["actions"][0]["pids"]
            .as_array()
            .unwrap()
            .contains(&Value::from(sleeper)),
        "{hit}"
    );
    let deadline = Instant::now() + WAIT;
    while Path::new(&format!("/proc/{sleeper}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut running = String::new();
    while Instant::now() < deadline {
        running = ctr.inspect("{{.State.Running}}").unwrap();
        if running.trim() == "false" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(running.trim(), "false", "the container's init was killed");
}

#[test]
fn default_policy_kills_known_miners_in_the_kernel() {
    rampart_testkit::require!(root, "Active Protection tests load eBPF programs");
    let _serial = serial();
    // No --policy: the embedded default policy alone.
    let m =
        MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &["--json"], &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let miner = copy_binary(&dir.path().join("bin"), "/bin/touch", "xmrig");
    let (status, elapsed) = run(&miner, &["ran"], dir.path());
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(elapsed < Duration::from_millis(100), "took {elapsed:?}");
    assert!(!dir.path().join("ran").exists());
    let hit = m
        .wait_for(WAIT, match_for("miner_known_binary", &miner))
        .expect("default rule matched");
    assert_eq!(hit["actions"][0]["outcome"], "killed_in_kernel", "{hit}");

    let renamed = copy_binary(&dir.path().join("bin"), "/bin/touch", "kworker-helper");
    let (status, _) = run(
        &renamed,
        &["ran2", "-o", "stratum+tcp://203.0.113.5:3333"],
        dir.path(),
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(!dir.path().join("ran2").exists());
}

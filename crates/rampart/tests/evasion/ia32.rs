//! 32-bit (ia32) syscalls: a 32-bit static program, and a 64-bit one using `int $0x80`, make the calls the
//! per-syscall tracepoints never see. The default policy must match them as it matches their 64-bit twins.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rampart_testkit::ia32::{driver32, int80};
use rampart_testkit::MonitorProcess;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);
/// A port of MINER_PORTS, on an address of a private network namespace's loopback (never leaves the host).
const POOL_ADDR: &str = "10.250.0.1";
const POOL_PORT: &str = "3333";

fn monitor() -> MonitorProcess {
    assert!(
        rampart_testkit::is_root(),
        "these tests load eBPF programs: run them as root"
    );
    MonitorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rampart")),
        &["--json", "--no-kill"],
        &[],
    )
    .unwrap()
}

/// The test programs, copied out of the temp dir (an exec from /tmp is a match of its own).
fn installed(program: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ia32-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join(program.file_name().unwrap());
    if !to.exists() {
        std::fs::copy(program, &to).unwrap();
    }
    to
}

/// Runs `program ARGS` (optionally in a fresh network namespace whose loopback carries POOL_ADDR) and returns
/// its pid; the program must succeed.
fn run(program: &Path, args: &[&str], in_netns: bool) -> u32 {
    let mut cmd = if in_netns {
        let mut c = Command::new("unshare");
        c.args(["-n", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && ip addr add {POOL_ADDR}/32 dev lo && exec \"$@\""
            ))
            .arg("sh")
            .arg(program);
        c
    } else {
        Command::new(program)
    };
    let mut child = cmd.args(args).spawn().unwrap();
    let pid = child.id();
    let status = child.wait().unwrap();
    assert!(status.success(), "{} {args:?}: {status}", program.display());
    pid
}

fn rule_of(m: &Value) -> &str {
    m["rule"]["id"].as_str().unwrap_or_default()
}

/// The match of `rule` for process `pid`.
fn matched(m: &MonitorProcess, rule: &str, pid: u32) -> Value {
    m.wait_for(WAIT, |v| rule_of(v) == rule && v["process"]["pid"] == pid)
        .unwrap_or_else(|| panic!("no {rule} match for pid {pid}; stderr:\n{}", m.stderr()))
}

/// The rules matched on `event_type` events of `pid`, after `settle`.
fn rules_on(m: &MonitorProcess, pid: u32, event_type: &str) -> Vec<String> {
    let mut ids: Vec<String> = m
        .all(|v| {
            v["process"]["pid"] == pid
                && v["event"]["type"] == event_type
                && v.get("rule").is_some()
        })
        .iter()
        .map(|v| rule_of(v).to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn ia32_attacks_match_like_their_64bit_twins() {
    let m = monitor();
    let d32 = installed(driver32());
    let i80 = installed(int80());

    // a 32-bit static reader of /etc/shadow
    let pid = run(&d32, &["read", "/etc/shadow"], false);
    let v = matched(&m, "shadow_file_read", pid);
    assert_eq!(v["event"]["compat"], true, "{v}");
    assert_eq!(v["process"]["is_ia32"], true, "{v}");

    // a 64-bit program reading it with int $0x80: the same rule, and the evasion signature
    let pid = run(&i80, &["read", "/etc/shadow"], false);
    let v = matched(&m, "shadow_file_read", pid);
    assert_eq!(v["event"]["compat"], true, "{v}");
    assert!(v["process"].get("is_ia32").is_none(), "a 64-bit image: {v}");
    matched(&m, "ia32_file_open_by_64bit_program", pid);

    // a connect to a mining pool port: the 64-bit program's rules fire for the direct i386 connect and for
    // socketcall(SYS_CONNECT)
    let native = run(&i80, &["native-connect", POOL_ADDR, POOL_PORT], true);
    let direct = run(&d32, &["connect", POOL_ADDR, POOL_PORT], true);
    let socketcall = run(&d32, &["socketcall_connect", POOL_ADDR, POOL_PORT], true);
    for pid in [native, direct, socketcall] {
        matched(&m, "miner_pool_port_connection", pid);
    }
    std::thread::sleep(Duration::from_secs(1)); // every match of the three is printed by now
    let want = rules_on(&m, native, "connect");
    assert!(!want.is_empty());
    assert_eq!(rules_on(&m, direct, "connect"), want, "direct i386 connect");
    assert_eq!(
        rules_on(&m, socketcall, "connect"),
        want,
        "socketcall connect"
    );
    let v = m
        .all(|v| v["process"]["pid"] == socketcall && rule_of(v) == "miner_pool_port_connection")
        .remove(0);
    assert_eq!(v["event"]["compat"], true);
    assert_eq!(v["connect"]["addr"]["port"], 3333);

    // kernel activity: a 32-bit program stops a security agent (a sleep named auditd)
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let auditd = dir.path().join("auditd");
    std::fs::copy("/bin/sleep", &auditd).unwrap();
    let mut agent = Command::new(&auditd).arg("30").spawn().unwrap();
    let pid = run(&d32, &["kill", &agent.id().to_string(), "15"], false);
    let _ = agent.wait();
    let v = matched(&m, "security_tool_killed", pid);
    assert_eq!(v["event"]["compat"], true);

    // ... and, set-user-ID root and run by nobody, takes root with setuid32(0)
    let suid = dir.path().join("rampart-ia32-suid");
    std::fs::copy(&d32, &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let pid = run(
        Path::new("setpriv"),
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            suid.to_str().unwrap(),
            "setuid32",
            "0",
        ],
        false,
    );
    let v = matched(&m, "unexpected_setuid_root", pid);
    assert_eq!(v["event"]["compat"], true);
    assert_eq!(v["process"]["is_ia32"], true);
}

#[test]
fn a_32bit_program_doing_ordinary_work_raises_nothing() {
    let m = monitor();
    let d32 = installed(driver32());
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let own = dir.path().join("settings.conf");
    std::fs::write(&own, b"colour = blue\n").unwrap();
    let port = rampart_testkit::free_port().to_string();
    let pids = [
        run(&d32, &["read", own.to_str().unwrap()], false),
        run(&d32, &["connect", "127.0.0.1", &port], false),
        run(&d32, &["socketcall_connect", "127.0.0.1", &port], false),
    ];
    // a marker the monitor sees after them: once it is printed, their matches would have been too
    let marker = run(&installed(int80()), &["read", "/etc/shadow"], false);
    matched(&m, "shadow_file_read", marker);
    for pid in pids {
        let hits = m.all(|v| v["process"]["pid"] == pid && v.get("rule").is_some());
        assert!(hits.is_empty(), "pid {pid} matched: {hits:?}");
    }
}

//! 32-bit (ia32) syscalls: a 32-bit static program, and a 64-bit one using `int $0x80`, make the calls the
//! per-syscall tracepoints never see. The default policy must match them as it matches their 64-bit twins.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rampart_testkit::MonitorProcess;
use serde_json::Value;

use super::{monitor, rules_of, wait_all};

const WAIT: Duration = Duration::from_secs(15);
/// A port of MINER_PORTS, on an address of a private network namespace's loopback (never leaves the host).
const POOL_ADDR: &str = "10.250.0.1";
const POOL_PORT: &str = "3333";

/// A test program (rampart_testkit::cc), copied out of the temp dir (an exec from /tmp is a match of its own).
fn installed(program: anyhow::Result<PathBuf>) -> PathBuf {
    let program = program.expect("building a test program (gcc, gcc-multilib)");
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
    let mut child = super::spawn(cmd.args(args));
    let pid = child.id();
    let status = child.wait().unwrap();
    assert!(status.success(), "{} {args:?}: {status}", program.display());
    pid
}

/// The match of `rule` caused by process `pid`.
fn matched(m: &MonitorProcess, rule: &str, pid: u32) -> Value {
    wait_all(m, &[(rule, pid)], WAIT)
        .remove(0)
        .unwrap_or_else(|| panic!("no {rule} match for pid {pid}; stderr:\n{}", m.stderr()))
}

#[test]
fn ia32_attacks_match_like_their_64bit_twins() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    let d32 = installed(rampart_testkit::cc::driver32());
    let i80 = installed(rampart_testkit::cc::int80());

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
    let want = rules_of(&m, native);
    assert!(want.iter().any(|r| r == "miner_pool_port_connection"));
    assert_eq!(rules_of(&m, direct), want, "direct i386 connect");
    assert_eq!(rules_of(&m, socketcall), want, "socketcall connect");
    let v = matched(&m, "miner_pool_port_connection", socketcall);
    assert_eq!(v["event"]["compat"], true);
    assert_eq!(v["connect"]["addr"]["port"], 3333);

    // kernel activity: a 32-bit program stops a security agent (a sleep named auditd)
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let auditd = dir.path().join("auditd");
    std::fs::copy("/bin/sleep", &auditd).unwrap();
    let mut agent = super::spawn_asleep(&auditd, "30");
    let pid = run(&d32, &["kill", &agent.id().to_string(), "15"], false);
    let _ = agent.wait();
    let v = matched(&m, "security_tool_killed", pid);
    assert_eq!(v["event"]["compat"], true);

    // ... and, set-user-ID root and run by nobody, takes root with setuid32(0)
    let suid = dir.path().join("rampart-ia32-suid");
    std::fs::copy(&d32, &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let suid_path = suid.to_str().unwrap();
    let setpriv = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        suid_path,
        "setuid32",
        "0",
    ];
    let pid = run(Path::new("setpriv"), &setpriv, false);
    let v = matched(&m, "unexpected_setuid_root", pid);
    assert_eq!(v["event"]["compat"], true);
    assert_eq!(v["process"]["is_ia32"], true);
}

#[test]
fn a_32bit_program_doing_ordinary_work_raises_nothing() {
    rampart_testkit::require!(
        root,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let m = monitor();
    let d32 = installed(rampart_testkit::cc::driver32());
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
    let marker = run(
        &installed(rampart_testkit::cc::int80()),
        &["read", "/etc/shadow"],
        false,
    );
    matched(&m, "shadow_file_read", marker);
    for pid in pids {
        assert_eq!(rules_of(&m, pid), Vec::<String>::new(), "pid {pid}");
    }
}

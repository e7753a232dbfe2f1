//! Credentials changed without a set*id call (issue 19): a kernel exploit's `commit_creds` gives a process
//! root without any syscall a probe could hook. The agent's privilege check reports `privilege_gain` when a
//! thread holds what its history does not explain, and the default policy's critical rule
//! `privilege_gain_without_credential_call` fires on it.
//!
//! No kernel exploit can run here (no modules, no known bug to use), so the test SIMULATES THE EXPLOIT'S EFFECT:
//! a real privilege gain made through set*id calls while a monitor runs with those calls unhooked
//! (`--test-unhook`), which makes them exactly as invisible as `commit_creds`. The gain itself is real: a
//! `nobody` process enters a user namespace whose map (written by root) maps namespace uid 0 to host uid 0,
//! calls setresuid(0, 0, 0), and then holds host uid 0 (it reads /etc/shadow, owned by root, as its owner;
//! nobody could not).
//! A second monitor with every hook on watches the same run: the calls are seen, and nothing is reported.
//! A set-user-id root binary run by `nobody` (sudo-like) must stay quiet under both.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_testkit::MonitorProcess;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);
const RULE: &str = "privilege_gain_without_credential_call";

/// Runs as `nobody`: enters a new user namespace, waits for SIGUSR1 (root has written the map), calls
/// setresuid(0, 0, 0), then in mode `exec` execs a shell that reads the file named by its second argument, in
/// mode `open` reads it itself.
const GAINER: &str = r#"
import ctypes, os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
assert ctypes.CDLL(None).unshare(0x10000000) == 0  # CLONE_NEWUSER
signal.sigwait({signal.SIGUSR1})
os.setresuid(0, 0, 0)
if sys.argv[1] == "exec":
    os.execv("/usr/bin/head", ["head", "-c1", sys.argv[2]])
open(sys.argv[2], "rb").read(1)
"#;

/// A set-user-id root helper: setuid(0), then opens /etc/shadow.
const SUID_HELPER: &str = "#include <fcntl.h>\n#include <unistd.h>\n\
    int main(void) { if (setuid(0) != 0) return 1; return open(\"/etc/shadow\", O_RDONLY) < 0; }\n";

fn monitor(unhooked: bool) -> MonitorProcess {
    let mut args = vec![
        "--json",
        "--no-kill",
        "--events",
        "--event-type",
        "privilege_gain",
    ];
    if unhooked {
        for t in ["setuid", "setgid", "capset"] {
            args.extend(["--test-unhook", t]);
        }
    }
    MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &args, &[]).unwrap()
}

fn as_nobody(program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// Runs the gainer in `mode` on `path`, mapping namespace uid 0 to host uid `host_uid`; returns its pid.
fn gain(mode: &str, path: &str, host_uid: u32) -> u32 {
    let mut child = as_nobody("/usr/bin/python3")
        .args(["-c", GAINER, mode, path])
        .spawn()
        .unwrap();
    let pid = child.id();
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    let ns = format!("/proc/{pid}/ns/user");
    let start = std::time::Instant::now();
    while std::fs::read_link(&ns).is_ok_and(|l| l == own) {
        assert!(
            start.elapsed() < WAIT,
            "the gainer never entered a user namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), format!("0 {host_uid} 1")).unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGUSR1) }, 0);
    assert!(child.wait().unwrap().success(), "the gainer failed");
    pid
}

fn of(pid: u32, pred: impl Fn(&Value) -> bool) -> impl Fn(&Value) -> bool {
    move |v| v["process"]["pid"] == pid && pred(v)
}

fn is_gain(v: &Value) -> bool {
    v["event"]["type"] == "privilege_gain" && v["rule"].is_null()
}

fn is_rule(id: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["rule"]["id"] == id
}

/// Waits until `m` has printed the shadow_file_read match of `pid` (everything before it in the pipeline has
/// been printed too), then returns every gain event or gain match it printed for `pid`.
fn gains_after_barrier(m: &MonitorProcess, pid: u32) -> Vec<Value> {
    m.wait_for(WAIT, of(pid, is_rule("shadow_file_read")))
        .unwrap_or_else(|| panic!("no shadow_file_read for {pid}; stderr:\n{}", m.stderr()));
    std::thread::sleep(Duration::from_millis(300));
    m.all(of(pid, |v| is_gain(v) || is_rule(RULE)(v)))
}

#[test]
fn credentials_gained_without_a_seen_call_are_reported() {
    rampart_testkit::require!(root, "this test loads eBPF programs and writes uid maps");
    // both monitors watch the same runs (attached concurrently: each takes seconds with the default policy)
    let (blind, hooked) = std::thread::scope(|s| {
        let blind = s.spawn(|| monitor(true));
        let hooked = s.spawn(|| monitor(false));
        (blind.join().unwrap(), hooked.join().unwrap())
    });

    // 1. The gain seen at the exec that follows it: the classic exploit flow (root, then execve a shell).
    let pid = gain("exec", "/etc/shadow", 0);
    let event = blind
        .wait_for(WAIT, of(pid, is_gain))
        .unwrap_or_else(|| panic!("no privilege_gain for {pid}; stderr:\n{}", blind.stderr()));
    let g = &event["privilege_gain"];
    assert_eq!(g["seen_at"], "exec", "{event}");
    assert_eq!(g["previous"]["uid"], 65534, "{event}");
    assert_eq!(g["current"]["uid"], 0, "{event}");
    assert_eq!(g["current"]["user"], "root", "{event}");
    assert_eq!(g["current"]["init_user_ns"], false, "{event}");
    assert_eq!(
        g["gained_ids"],
        serde_json::json!(["uid", "euid", "suid", "fsuid"]),
        "{event}"
    );
    assert_eq!(event["event"]["origin"], "agent");
    assert_eq!(
        event["process"]["file"]["name"], "head",
        "the new image: {event}"
    );
    let matched = blind
        .wait_for(WAIT, of(pid, is_rule(RULE)))
        .unwrap_or_else(|| panic!("no {RULE} match for {pid}"));
    assert_eq!(matched["rule"]["severity"], "critical", "{matched}");
    assert_eq!(matched["event"]["type"], "privilege_gain");
    assert!(
        matched["process"]["ancestors"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "full process context: {matched}"
    );
    // the server takes the match as it takes any other
    let batch = serde_json::to_vec(&serde_json::json!({ "matches": [matched] })).unwrap();
    let stored = rampart_server::ingest::validate::parse_batch(
        &batch,
        &rampart_server::config::Limits::default(),
        &rampart_server::ingest::validate::Receipt {
            hostname: "host",
            received_at: matched["event"]["timestamp"].as_i64().unwrap_or_default(),
            max_skew_ns: i64::MAX,
            max_age_ns: i64::MAX,
        },
    )
    .unwrap();
    assert_eq!(
        (stored[0].rule_id.as_str(), stored[0].event_type.as_str()),
        (RULE, "privilege_gain")
    );
    assert_eq!(stored[0].severity, "critical");
    assert_eq!(stored[0].pid, pid as i64);
    // with the calls hooked, the same run is explained
    assert_eq!(gains_after_barrier(&hooked, pid), Vec::<Value>::new());

    // 2. The gain seen at a file open, before any exec.
    let pid = gain("open", "/etc/shadow", 0);
    let event = blind
        .wait_for(WAIT, of(pid, is_gain))
        .unwrap_or_else(|| panic!("no privilege_gain for {pid}; stderr:\n{}", blind.stderr()));
    assert_eq!(event["privilege_gain"]["seen_at"], "open", "{event}");
    assert_eq!(event["privilege_gain"]["current"]["fsuid"], 0, "{event}");
    assert!(blind.wait_for(WAIT, of(pid, is_rule(RULE))).is_some());
    assert_eq!(gains_after_barrier(&hooked, pid), Vec::<Value>::new());

    // 3. Benign twins: the namespace's root mapped to nobody itself (no host privilege), and a set-user-id root
    // binary run by nobody, quiet even when its setuid(0) is not seen.
    let pid = gain("exec", "/etc/hostname", 65534);
    // nothing it does matches a rule: its exit, and a pause, are the barrier
    std::thread::sleep(Duration::from_secs(2));
    for m in [&blind, &hooked] {
        assert_eq!(
            m.all(of(pid, |v| is_gain(v) || is_rule(RULE)(v))),
            Vec::<Value>::new()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("rampart-creds-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let source = dir.path().join("helper.c");
    let helper = dir.path().join("rampart-creds-suid");
    std::fs::write(&source, SUID_HELPER).unwrap();
    let built = Command::new("cc")
        .arg("-o")
        .arg(&helper)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success(), "cc");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let mut child = super::spawn(&mut as_nobody(helper.to_str().unwrap()));
    let pid = child.id();
    assert!(
        child.wait().unwrap().success(),
        "the set-user-id helper failed"
    );
    for m in [&blind, &hooked] {
        assert_eq!(gains_after_barrier(m, pid), Vec::<Value>::new());
    }
    let blind_counters = blind.stop();
    assert!(
        blind_counters.contains("privilege check"),
        "{blind_counters}"
    );
    hooked.stop();
}

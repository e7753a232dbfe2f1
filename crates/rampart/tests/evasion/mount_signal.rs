//! Mounting and signalling without mount(2) and kill(2): a privileged container mounts a cgroup hierarchy
//! with fsopen/fsmount/move_mount (or only fsmount, reading it through the descriptor), and a process
//! stops a security agent with pidfd_send_signal or rt_sigqueueinfo. The default rules on mount.* and
//! signal.* must match as they do for the old calls; the same calls on a tmpfs, or on an ordinary process,
//! match nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{finish, monitor, rules_of, wait_all};

const MOUNT_RULE: &str = "container_mount_sensitive_filesystem";
const SIGNAL_RULE: &str = "security_tool_killed";

/// Runs `newmount ARGS` in a privileged busybox container; returns the container's id.
fn in_container(
    podman: &rampart_testkit::Podman,
    image: &str,
    bin_dir: &Path,
    args: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cidfile = dir.path().join("cid");
    let out = podman
        .output(&[
            "run",
            "--rm",
            "--privileged",
            "--cidfile",
            cidfile.to_str().unwrap(),
            "-v",
            &format!("{}:/t:ro", bin_dir.display()),
            image,
            "sh",
            "-c",
            &format!("mkdir -p /m && /t/newmount {args}"),
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "newmount {args} in a container: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(cidfile).unwrap().trim().to_string()
}

/// Waits up to `timeout` for a match of `rule` from container `cid`.
fn container_match(
    m: &rampart_testkit::MonitorProcess,
    rule: &str,
    cid: &str,
    timeout: Duration,
) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = m
            .all(|v| v["rule"]["id"] == rule && v["container"]["id"] == cid)
            .into_iter()
            .next()
        {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn new_mount_api_and_signal_paths_are_seen() {
    rampart_testkit::require!(
        podman,
        "the evasion suite loads eBPF programs and changes the host"
    );
    let podman =
        rampart_testkit::Podman::new().expect("podman is needed by the container mount cases");
    let image = podman.ensure_busybox_image().unwrap();
    let newmount = rampart_testkit::cc::newmount().expect("building newmount (gcc, static libc)");
    let sigsend = rampart_testkit::cc::sigsend().expect("building sigsend");
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&newmount, bin_dir.path().join("newmount")).unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = monitor();
    let mut failures = Vec::new();

    // mounts in a container: the new API's cgroup mounts match, a tmpfs does not
    let n = std::process::id();
    let attached = in_container(
        &podman,
        image,
        bin_dir.path(),
        &format!("fsmount cgroup - /m none name=rt{n}a"),
    );
    let detached = in_container(
        &podman,
        image,
        bin_dir.path(),
        &format!("detached cgroup - none name=rt{n}b"),
    );
    let benign = in_container(&podman, image, bin_dir.path(), "fsmount tmpfs - /m");
    for (what, cid) in [
        ("fsmount + move_mount", &attached),
        ("fsmount, never attached", &detached),
    ] {
        match container_match(&m, MOUNT_RULE, cid, Duration::from_secs(15)) {
            None => failures.push(format!(
                "{what}: no `{MOUNT_RULE}` match from container {cid}"
            )),
            Some(v) if v["mount"]["fs_type"] != "cgroup" => failures.push(format!(
                "{what}: matched with fs_type {}: {v}",
                v["mount"]["fs_type"]
            )),
            Some(_) => {}
        }
    }

    // signals to a security agent (a copy of sleep named falco) without kill(2)
    let agent_dir = tempfile::tempdir().unwrap();
    let falco = agent_dir.path().join("falco");
    let worker = agent_dir.path().join("sleepy-worker");
    for p in [&falco, &worker] {
        std::fs::copy("/bin/sleep", p).unwrap();
    }
    let mut want = Vec::new();
    let mut quiet = Vec::new();
    for how in ["pidfd", "procfd", "sigqueue", "tgsigqueue"] {
        for (target, is_agent) in [(&falco, true), (&worker, false)] {
            let mut t = super::spawn_asleep(target, "30");
            let mut s = super::spawn(Command::new(&sigsend).args([how, &t.id().to_string(), "15"]));
            let spid = s.id();
            assert!(s.wait().unwrap().success(), "sigsend {how}");
            t.wait().unwrap();
            if is_agent {
                want.push((SIGNAL_RULE, spid));
            } else {
                quiet.push(spid);
            }
        }
    }
    let hows = [
        "pidfd_send_signal",
        "pidfd_send_signal on /proc/PID",
        "rt_sigqueueinfo",
        "rt_tgsigqueueinfo",
    ];
    for ((rule, pid), (how, hit)) in want.iter().zip(hows.iter().zip(wait_all(
        &m,
        &want,
        Duration::from_secs(15),
    ))) {
        if hit.is_none() {
            failures.push(format!(
                "{how}: no `{rule}` match for pid {pid} (its matches: {:?})",
                rules_of(&m, *pid)
            ));
        }
    }

    std::thread::sleep(Duration::from_secs(2));
    if let Some(v) = m
        .all(|v| v["rule"]["id"] == MOUNT_RULE && v["container"]["id"] == benign.as_str())
        .first()
    {
        failures.push(format!("a tmpfs mounted with the new API matched: {v}"));
    }
    for pid in quiet {
        let rules = rules_of(&m, pid);
        if rules.iter().any(|r| r == SIGNAL_RULE) {
            failures.push(format!(
                "signalling an ordinary process (pid {pid}) matched {rules:?}"
            ));
        }
    }
    finish(m, &failures);
}

//! False-positive budget of the default policy: everyday administration and development work must not raise a
//! signal of severity medium or higher. Under one `rampart monitor --json` with the default policy, this
//! installs and purges a Debian package through apt (built locally, so no network is needed), compiles a C file,
//! commits to a git repository and runs a podman container, then checks every match those activities caused.
//! Runs as root (CI does).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_testkit::MonitorProcess;
use serde_json::Value;

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rampart-policy/policies/default.policy"
);

/// One activity: `bash -c SCRIPT MARK`; its pid and MARK identify what it caused.
struct Activity {
    name: &'static str,
    pid: u32,
    mark: String,
}

fn run(name: &'static str, script: &str, dir: &Path, env: &[(String, String)]) -> Activity {
    let mark = format!("rampart-fp-{}-{name}", std::process::id());
    let child = Command::new("bash")
        .args(["-c", script, &mark])
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Activity { name, pid, mark }
}

fn is_root_of(v: &Value, a: &Activity) -> bool {
    v["pid"] == a.pid
        && v["argv"]
            .as_array()
            .is_some_and(|x| x.iter().any(|s| s == a.mark.as_str()))
}

/// The activity an event or match belongs to (by lineage), if any.
fn owner<'a>(v: &Value, acts: &'a [Activity]) -> Option<&'a Activity> {
    acts.iter().find(|a| {
        is_root_of(&v["process"], a)
            || v["process"]["ancestors"]
                .as_array()
                .is_some_and(|anc| anc.iter().any(|p| is_root_of(p, a)))
    })
}

#[test]
fn everyday_work_raises_no_medium_or_higher_signal() {
    rampart_testkit::require!(
        podman,
        "this test loads eBPF programs and installs a package"
    );
    let podman = rampart_testkit::Podman::new().unwrap();
    podman.ensure_busybox_image().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("rampart-fp-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let monitor =
        MonitorProcess::start_with_policy(Path::new(env!("CARGO_BIN_EXE_rampart")), POLICY)
            .unwrap();

    let env = vec![("DEBIAN_FRONTEND".to_string(), "noninteractive".to_string())];
    let acts = vec![
        // A package with a maintainer script, installed and purged through apt and dpkg.
        run(
            "apt",
            r#"set -e
        mkdir -p p/DEBIAN p/usr/share/doc/rampart-fp-probe
        printf 'Package: rampart-fp-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: Rampart <dev@rampart.invalid>\nDescription: false-positive budget probe\n' > p/DEBIAN/control
        printf '#!/bin/sh\nset -e\nmkdir -p /var/lib/rampart-fp-probe\necho installed > /var/lib/rampart-fp-probe/state\n' > p/DEBIAN/postinst
        printf '#!/bin/sh\nset -e\nrm -rf /var/lib/rampart-fp-probe\n' > p/DEBIAN/postrm
        chmod 755 p/DEBIAN/postinst p/DEBIAN/postrm
        echo probe > p/usr/share/doc/rampart-fp-probe/README
        dpkg-deb -b p rampart-fp-probe.deb > /dev/null
        apt-get install -y -q ./rampart-fp-probe.deb > /dev/null
        dpkg -s rampart-fp-probe > /dev/null
        apt-get purge -y -q rampart-fp-probe > /dev/null"#,
            dir.path(),
            &env,
        ),
        // A small build and a commit, the everyday work of a developer.
        run(
            "build",
            r#"set -e
        mkdir -p src && cd src
        printf '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n' > main.c
        cc -O1 -o main main.c && ./main > /dev/null
        git init -q . && git -c user.name=fp -c user.email=fp@rampart.invalid add main.c
        git -c user.name=fp -c user.email=fp@rampart.invalid commit -q -m init
        git log --oneline > /dev/null && git status --short > /dev/null"#,
            dir.path(),
            &env,
        ),
    ];
    // A container: the runtime's own set-up and an ordinary workload inside.
    let ctr = podman
        .run_busybox(&[
            "sh",
            "-c",
            "echo hello; ls / > /dev/null; cat /etc/passwd > /dev/null; sleep 30",
        ])
        .unwrap();
    ctr.exec(&["sh", "-c", "ps > /dev/null; uname -a > /dev/null"])
        .unwrap();
    let ctr_id = ctr.id().to_string();
    drop(ctr);

    std::thread::sleep(Duration::from_secs(3));
    let all = monitor.all(|_| true);
    let monitor_stderr = monitor.stop();

    // The monitor saw the work (the check is not vacuous): the freshly built program runs from the temporary
    // directory, which the low-severity `exec_from_tmp` rule reports.
    assert!(
        all.iter().any(|v| v["rule"]["id"] == "exec_from_tmp"
            && v["exec"]["file"]["name"] == "main"
            && owner(v, &acts).is_some_and(|a| a.name == "build")),
        "the monitor did not report the build's program run from /tmp\nmonitor stderr:\n{monitor_stderr}"
    );

    // Everything this test started: the activities, the container, and the podman commands (children of this
    // test process, like conmon and runc after them). Other work on the machine is not counted.
    let me = std::process::id();
    let in_scope = |v: &Value| {
        owner(v, &acts).is_some()
            || v["container"]["id"] == ctr_id.as_str()
            || v["process"]["ppid"] == me
            || v["process"]["ancestors"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["pid"] == me))
    };
    let matches: Vec<&Value> = all
        .iter()
        .filter(|v| v["rule"]["id"].is_string() && in_scope(v))
        .collect();
    let loud: Vec<String> = matches
        .iter()
        .filter(|m| {
            matches!(
                m["rule"]["tags"]["severity"].as_str(),
                Some("medium" | "high" | "critical")
            )
        })
        .map(|m| {
            format!(
                "{} ({}) by {} {}",
                m["rule"]["id"],
                m["rule"]["tags"]["severity"],
                m["process"]["file"]["path"],
                m["process"]["args"].as_str().unwrap_or("")
            )
        })
        .collect();
    eprintln!(
        "{} matches from the activities, {} of severity medium or higher",
        matches.len(),
        loud.len()
    );
    for m in &matches {
        eprintln!("  {} ({})", m["rule"]["id"], m["rule"]["tags"]["severity"]);
    }
    assert!(
        loud.is_empty(),
        "everyday work raised signals of severity medium or higher:\n  {}\nmonitor stderr:\n{monitor_stderr}",
        loud.join("\n  ")
    );
}

//! End-to-end process monitoring: real processes, the real eBPF probe, `rampart monitor --events --json`.
//! Runs as root (CI does); each test starts its own monitor and filters events by the pids it spawned.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rampart_testkit::monitor::get;
use rampart_testkit::MonitorProcess;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn monitor(env: &[(&str, &str)]) -> MonitorProcess {
    // Only the process events these tests look at: file and kernel activity of a busy host would bury them.
    let mut args = vec!["--events", "--json"];
    for t in ["exec", "fork", "exit"] {
        args.extend(["--event-type", t]);
    }
    MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &args, env).unwrap()
}

/// `rampart monitor --json` with only this policy file.
fn monitor_policy(policy: &Path, env: &[(&str, &str)]) -> MonitorProcess {
    let args = [
        "--json",
        "--no-default-policy",
        "--policy",
        policy.to_str().unwrap(),
    ];
    MonitorProcess::start(Path::new(env!("CARGO_BIN_EXE_rampart")), &args, env).unwrap()
}

fn realpath(p: &str) -> String {
    std::fs::canonicalize(p)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn is(event_type: &str, pid: u32) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["event"]["type"] == event_type && v["process"]["pid"] == pid
}

#[test]
fn exec_carries_path_argv_and_parent_chain() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let m = monitor(&[]);
    let child = Command::new("/bin/sh")
        .args(["-c", "exec /bin/true a \"b c\""])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());

    let exec = m
        .wait_for(WAIT, |v| {
            is("exec", pid)(v) && v["exec"]["argv"] == json!(["a", "b c"])
        })
        .expect("exec event of /bin/true");
    assert_eq!(
        exec["exec"]["file"]["path"],
        realpath("/bin/true"),
        "path resolved in the kernel"
    );
    assert_eq!(exec["exec"]["file"]["name"], "true");
    assert_eq!(exec["exec"]["argv0"], "/bin/true");
    assert_eq!(exec["exec"]["args"], "a b c");
    assert!(exec["exec"]["file"]["inode"].as_u64().unwrap() > 0);
    assert_eq!(exec["process"]["ppid"], std::process::id());
    assert_eq!(exec["process"]["uid"], 0);
    assert_eq!(exec["process"]["user"], "root");

    // Lineage: the sh image this exec replaced (same pid), then this test process.
    let ancestors = exec["process"]["ancestors"].as_array().unwrap();
    assert_eq!(ancestors[0]["pid"], pid);
    assert_eq!(ancestors[0]["file"]["path"], realpath("/bin/sh"));
    assert_eq!(
        ancestors[0]["argv"],
        json!(["-c", "exec /bin/true a \"b c\""])
    );
    assert_eq!(ancestors[1]["pid"], std::process::id());
    assert_eq!(
        ancestors[1]["file"]["path"],
        realpath(&std::env::current_exe().unwrap().to_string_lossy())
    );
    assert_eq!(exec["process"]["parent"], ancestors[0]);

    let fork = m
        .wait_for(WAIT, is("fork", pid))
        .expect("fork event for the sh child");
    assert_eq!(fork["fork"]["parent_pid"], std::process::id());
    let exit = m.wait_for(WAIT, is("exit", pid)).expect("exit event");
    assert_eq!(exit["exit"], json!({"cause": "EXITED", "code": 0}));
    assert_eq!(exit["process"]["file"]["path"], realpath("/bin/true"));
}

#[test]
fn shebang_script_reports_its_interpreter() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let m = monitor(&[]);
    let child = Command::new(&script).arg("x").spawn().unwrap();
    let pid = child.id();
    child.wait_with_output().unwrap();

    let exec = m
        .wait_for(WAIT, is("exec", pid))
        .expect("exec of the script");
    assert_eq!(
        exec["exec"]["interpreter"]["file"]["path"],
        realpath("/bin/sh")
    );
    assert_eq!(
        exec["exec"]["file"]["path"],
        script.to_string_lossy().as_ref(),
        "{exec}"
    );
}

#[test]
fn process_started_before_the_agent_has_ancestors_from_procfs() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    // This shell exists before the monitor starts; only /proc can tell the monitor about it.
    let waiter = Command::new("/bin/sh")
        .args([
            "-c",
            &format!(
                "while [ ! -e {} ]; do sleep 0.05; done; exec /bin/true pre-existing",
                go.display()
            ),
        ])
        .spawn()
        .unwrap();
    let pid = waiter.id();
    std::thread::sleep(Duration::from_millis(200));
    let m = monitor(&[]);
    std::fs::write(&go, "").unwrap();
    waiter.wait_with_output().unwrap();

    let exec = m
        .wait_for(WAIT, |v| {
            is("exec", pid)(v) && v["exec"]["argv"] == json!(["pre-existing"])
        })
        .expect("exec of the pre-existing process");
    let parent = &exec["process"]["ancestors"][0];
    assert_eq!(parent["pid"], pid);
    assert_eq!(parent["file"]["path"], realpath("/bin/sh"));
    assert_eq!(
        get(parent, "argv.0"),
        "-c",
        "argv of the seeded shell comes from /proc"
    );
    assert_eq!(exec["process"]["ancestors"][1]["pid"], std::process::id());
}

#[test]
fn exit_codes_and_signals() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let m = monitor(&[]);
    let code3 = Command::new("/bin/sh")
        .args(["-c", "exit 3"])
        .spawn()
        .unwrap();
    let pid3 = code3.id();
    code3.wait_with_output().unwrap();
    let mut sleeper = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    let pid9 = sleeper.id();
    m.wait_for(WAIT, is("exec", pid9)).expect("sleep started");
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();

    let exited = m.wait_for(WAIT, is("exit", pid3)).expect("exit 3");
    assert_eq!(exited["exit"], json!({"cause": "EXITED", "code": 3}));
    let killed = m.wait_for(WAIT, is("exit", pid9)).expect("killed sleep");
    assert_eq!(killed["exit"], json!({"cause": "SIGNALED", "code": 9}));
    assert_eq!(killed["process"]["file"]["path"], realpath("/bin/sleep"));
}

#[test]
fn drop_counters_are_printed_on_exit() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let m = monitor(&[]);
    Command::new("/bin/true").status().unwrap();
    let stderr = m.stop();
    let line = stderr
        .lines()
        .find(|l| l.contains("kernel events dropped="))
        .expect("counters line");
    assert!(
        line.contains("dropped=0 "),
        "a quiet run drops nothing: {line}"
    );
}

#[test]
fn container_process_has_container_id_and_image() {
    rampart_testkit::require!(podman, "these tests load eBPF programs");
    let podman = rampart_testkit::Podman::new().unwrap();
    let api = podman.start_api_service().unwrap();
    let ctr = podman.run_busybox(&["sleep", "60"]).unwrap();
    let sockets = api.socket_path().to_string_lossy().into_owned();
    let m = monitor(&[("RAMPART_CONTAINER_SOCKETS", &sockets)]);

    // The image details arrive from the runtime API asynchronously: retry the exec until they are in.
    let mut found = None;
    for attempt in 0..20 {
        let marker = format!("ctr-marker-{attempt}");
        ctr.exec(&["/bin/true", &marker]).unwrap();
        let ev = m.wait_for(WAIT, |v| {
            v["event"]["type"] == "exec" && v["exec"]["argv"] == json!([marker])
        });
        let ev = ev.expect("exec inside the container");
        assert_eq!(ev["container"]["id"], ctr.id());
        assert_eq!(ev["process"]["container"]["id"], ctr.id());
        assert_eq!(
            ev["exec"]["file"]["path"], "/bin/busybox",
            "path as seen inside the container"
        );
        if ev["container"]["image"].is_object() {
            found = Some(ev);
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let ev = found.expect("image details resolved through the API socket");
    assert_eq!(
        ev["container"]["image"]["name"],
        rampart_testkit::BUSYBOX_IMAGE_NAME
    );
    assert_eq!(
        ev["container"]["image"]["tag"],
        rampart_testkit::BUSYBOX_IMAGE_TAG
    );
    assert_eq!(ev["container"]["runtime"], "podman");
    assert!(ev["container"]["tags"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("container_name:{}", ctr.name()))));
}

#[test]
fn policy_matches_are_printed_with_rule_and_event() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("test.policy");
    std::fs::write(
        &policy,
        r#"version: 1.0.0
rules:
  - id: true_with_marker
    description: /bin/true run with a marker argument by a shell
    expression: exec.file.name == "true" && "policy-marker" in exec.argv && process.ancestors.file.name in ["sh", "dash"]
    tags: {severity: medium, mitre: T1059}
  - id: broken_rule
    expression: exec.file.nope == 1
"#,
    )
    .unwrap();
    let m = monitor_policy(&policy, &[]);
    assert!(
        m.stderr().contains("broken_rule"),
        "the broken rule is reported by id: {}",
        m.stderr()
    );
    let child = Command::new("/bin/sh")
        .args(["-c", "/bin/true policy-marker; /bin/true other"])
        .spawn()
        .unwrap();
    let sh = child.id();
    child.wait_with_output().unwrap();

    let hit = m
        .wait_for(WAIT, |v| v["rule"]["id"] == "true_with_marker")
        .expect("rule match");
    assert_eq!(hit["rule"]["tags"]["severity"], "medium");
    assert_eq!(hit["event"]["type"], "exec");
    assert_eq!(hit["exec"]["argv"], json!(["policy-marker"]));
    assert_eq!(hit["process"]["ancestors"][0]["pid"], sh);
    assert!(hit["actions"].is_array());
    // Only matches are printed without --events, and the other /bin/true did not match.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(m.all(|_| true).len(), 1, "{:?}", m.all(|_| true));
}

#[test]
fn hash_action_reports_the_executable_digests() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("hash-me");
    std::fs::copy("/bin/true", &binary).unwrap();
    let policy = dir.path().join("hash.policy");
    std::fs::write(
        &policy,
        "version: 1.0.0\nrules:\n  - id: hash_test\n    expression: exec.file.name == \"hash-me\"\n    actions:\n      - hash: {}\n",
    )
    .unwrap();
    let m = monitor_policy(&policy, &[]);
    Command::new(&binary).status().unwrap();
    let hit = m
        .wait_for(WAIT, |v| v["rule"]["id"] == "hash_test")
        .expect("match");
    let sha256 = Command::new("sha256sum").arg(&binary).output().unwrap();
    let expected = String::from_utf8_lossy(&sha256.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        hit["exec"]["file"]["hashes"][0],
        format!("sha256:{expected}"),
        "{hit}"
    );
    assert!(hit["exec"]["file"]["hashes"][2]
        .as_str()
        .unwrap()
        .starts_with("md5:"));
}

/// A pod container and a plain one in a private containerd (Debian's, started here): the pod
/// container's very first exec already carries its image and pod (the first sighting waits for the
/// runtime), its file events too, and rules scoped on `container.tags` match it and not the other.
#[test]
fn containerd_pod_events_carry_image_pod_and_labels() {
    rampart_testkit::require!(
        containerd,
        "starts a private containerd and loads eBPF programs"
    );
    use rampart_testkit::containerd::random_pod_uid;
    use rampart_testkit::{Containerd, CtrSpec};

    let containerd = Containerd::start().unwrap();
    let image = containerd.import_busybox("k8s.io").unwrap();
    containerd.import_busybox("rampart-other").unwrap();
    let namespace = format!("shop-{}", std::process::id());
    let marker = format!("/tmp/rampart-pod-marker-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("pods.policy");
    std::fs::write(
        &policy,
        format!(
            r#"version: 1.0.0
rules:
  - id: pod_started
    expression: exec.file.name == "busybox" && "kube_namespace:{namespace}" in container.tags
  - id: pod_marker
    expression: open.file.path == "{marker}" && open.flags & O_CREAT > 0 && "app:web" in container.tags
  - id: any_marker
    expression: open.file.path == "{marker}" && open.flags & O_CREAT > 0
"#
        ),
    )
    .unwrap();
    let socket = containerd.socket().to_string_lossy().into_owned();
    let m = monitor_policy(
        &policy,
        &[
            ("RAMPART_CONTAINERD_SOCKETS", &socket),
            ("RAMPART_CRI_SOCKETS", &socket),
            (
                "RAMPART_CONTAINER_SOCKETS",
                "/nonexistent/rampart/docker.sock",
            ),
        ],
    );

    // Started after the monitor: the containers' first events are their init's exec.
    let pod_uid = random_pod_uid();
    let sandbox = CtrSpec::new("k8s.io", image, &["sleep", "60"])
        .pod(&namespace, "web-1", &pod_uid)
        .label("io.cri-containerd.kind", "sandbox")
        .label("app", "web");
    containerd.run(&sandbox).unwrap();
    let app = containerd
        .run(
            &CtrSpec::new("k8s.io", image, &["sleep", "60"])
                .pod(&namespace, "web-1", &pod_uid)
                .label("io.cri-containerd.kind", "container")
                .label("io.kubernetes.container.name", "app"),
        )
        .unwrap();
    let other = containerd
        .run(&CtrSpec::new("rampart-other", image, &["sleep", "60"]))
        .unwrap();

    let of = |id: &str| {
        let id = id.to_string();
        move |v: &Value| v["container"]["id"] == id.as_str()
    };
    let in_app = of(app.id());
    let started = m
        .wait_for(WAIT, |v| v["rule"]["id"] == "pod_started" && in_app(v))
        .expect("the pod container's first exec matched on its namespace");
    assert_eq!(started["process"]["pid"], app.pid());
    let tags = |v: &Value| -> Vec<String> {
        v["container"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let started_tags = tags(&started);
    for tag in [
        format!("image_name:{}", rampart_testkit::BUSYBOX_IMAGE_NAME),
        format!("image_tag:{}", rampart_testkit::BUSYBOX_IMAGE_TAG),
        "short_image:rampart-test-busybox".to_string(),
        "pod_name:web-1".into(),
        format!("kube_namespace:{namespace}"),
        "kube_container_name:app".into(),
        format!("pod_uid:{pod_uid}"),
        "app:web".into(),
        "runtime:containerd".into(),
    ] {
        assert!(
            started_tags.contains(&tag),
            "{tag} missing: {started_tags:?}"
        );
    }
    assert_eq!(
        started["container"]["image"]["name"],
        rampart_testkit::BUSYBOX_IMAGE_NAME
    );

    for ctr in [&app, &other] {
        containerd
            .exec(ctr, &["/bin/touch", marker.as_str()])
            .unwrap();
    }
    let pod_file = m
        .wait_for(WAIT, |v| v["rule"]["id"] == "pod_marker")
        .expect("the pod container's file event matched on its pod label");
    assert_eq!(pod_file["container"]["id"], app.id());
    assert_eq!(pod_file["open"]["file"]["path"], marker.as_str());
    let in_other = of(other.id());
    let other_file = m
        .wait_for(WAIT, |v| v["rule"]["id"] == "any_marker" && in_other(v))
        .expect("the other container's file event");
    let other_tags = tags(&other_file);
    assert!(
        other_tags.contains(&format!(
            "image_name:{}",
            rampart_testkit::BUSYBOX_IMAGE_NAME
        )),
        "{other_tags:?}"
    );
    assert!(
        !other_tags
            .iter()
            .any(|t| t.starts_with("kube_") || t.starts_with("pod_")),
        "{other_tags:?}"
    );
    // The other container's exec and file events never matched the pod-scoped rules.
    std::thread::sleep(Duration::from_millis(300));
    let wrong = m.all(|v| {
        ["pod_started", "pod_marker"].contains(&v["rule"]["id"].as_str().unwrap_or(""))
            && in_other(v)
    });
    assert!(wrong.is_empty(), "{wrong:?}");
}

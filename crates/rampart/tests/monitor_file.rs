//! End-to-end file integrity monitoring: `rampart monitor --policy` with file rules, real syscalls, the
//! kernel file filter, and the match JSON (rule, event type, `<type>.file.*` nested as SECL names, process,
//! container). Root only (CI runs as root).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rampart_testkit::MonitorProcess;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn monitor_with(policy: &str) -> (tempfile::TempDir, MonitorProcess) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fim.policy");
    std::fs::write(&path, policy).unwrap();
    let m = MonitorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rampart")),
        &["--json", "--policy", path.to_str().unwrap()],
        &[],
    )
    .unwrap();
    (dir, m)
}

fn sh(script: &str) -> u32 {
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "`{script}` failed");
    pid
}

fn rule(id: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["rule"]["id"] == id
}

#[test]
fn file_rules_match_live_events_and_nothing_else_is_sent() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    let work = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(work.path()).unwrap();
    let (watched, elsewhere) = (root.join("watched"), root.join("elsewhere"));
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let w = watched.display();
    let policy = format!(
        r#"version: 1.0.0
rules:
  - id: fim_create_in_watched
    expression: open.file.path =~ "{w}/*" && open.flags & O_CREAT > 0
    tags: {{severity: high}}
  - id: fim_unlink_in_watched
    expression: unlink.file.path =~ "{w}/*"
  - id: fim_rename_into_watched
    expression: rename.file.destination.path =~ "{w}/*"
  - id: fim_chmod_in_watched
    expression: chmod.file.path =~ "{w}/*"
"#
    );
    let (_keep, m) = monitor_with(&policy);
    let e = elsewhere.display();
    let pid = sh(&format!(
        "cd {e} && : > {w}/created && : > outside && chmod 600 outside && mv outside {w}/moved && \
         chmod 640 {w}/moved && rm ../watched/created"
    ));

    let open = m
        .wait_for(WAIT, rule("fim_create_in_watched"))
        .expect("open match");
    assert_eq!(open["event"]["type"], "open");
    assert_eq!(open["rule"]["tags"]["severity"], "high");
    assert_eq!(open["open"]["file"]["path"], format!("{w}/created"));
    assert_eq!(open["open"]["file"]["name"], "created");
    assert!(open["open"]["file"]["inode"].as_u64().unwrap() > 0);
    assert!(open["process"]["pid"].as_u64().is_some());
    assert_eq!(
        open["process"]["pid"], pid,
        "the shell itself did the redirection"
    );

    let unlink = m
        .wait_for(WAIT, rule("fim_unlink_in_watched"))
        .expect("unlink match");
    assert_eq!(
        unlink["unlink"]["file"]["path"],
        format!("{w}/created"),
        "../watched resolved against the cwd"
    );
    assert_eq!(unlink["unlink"]["retval"], 0);

    let rename = m
        .wait_for(WAIT, rule("fim_rename_into_watched"))
        .expect("rename match");
    assert_eq!(rename["rename"]["file"]["path"], format!("{e}/outside"));
    assert_eq!(
        rename["rename"]["file"]["destination"]["path"],
        format!("{w}/moved")
    );

    let chmod = m
        .wait_for(WAIT, rule("fim_chmod_in_watched"))
        .expect("chmod match");
    assert_eq!(chmod["chmod"]["file"]["path"], format!("{w}/moved"));
    assert_eq!(
        chmod["chmod"]["file"]["destination"]["mode"]
            .as_u64()
            .unwrap()
            & 0o777,
        0o640
    );

    std::thread::sleep(Duration::from_millis(300));
    let outside_matches = m.all(|v| {
        v["rule"]["id"] == "fim_chmod_in_watched"
            && v["chmod"]["file"]["path"] != format!("{w}/moved")
    });
    assert!(outside_matches.is_empty(), "{outside_matches:?}");
    let stderr = m.stop();
    assert!(
        stderr.contains("rampart:"),
        "counters printed on exit: {stderr}"
    );
}

#[test]
fn file_in_a_container_has_the_container_path_and_id() {
    rampart_testkit::require!(podman, "these tests load eBPF programs");
    let podman = rampart_testkit::Podman::new().unwrap();
    let ctr = podman.run_busybox(&["sleep", "60"]).unwrap();
    let policy = r#"version: 1.0.0
rules:
  - id: ctr_marker_written
    expression: open.file.path == "/tmp/rampart-ctr-fim-marker" && open.flags & O_CREAT > 0
"#;
    let (_keep, m) = monitor_with(policy);
    ctr.exec(&["/bin/touch", "/tmp/rampart-ctr-fim-marker"])
        .unwrap();
    let hit = m
        .wait_for(WAIT, rule("ctr_marker_written"))
        .expect("match inside the container");
    assert_eq!(
        hit["open"]["file"]["path"], "/tmp/rampart-ctr-fim-marker",
        "path as seen in the container"
    );
    assert_eq!(hit["container"]["id"], ctr.id());
    assert_eq!(hit["process"]["container"]["id"], ctr.id());
}

#[test]
fn event_type_open_prints_every_open_and_nothing_else() {
    rampart_testkit::require!(root, "these tests load eBPF programs");
    // No rule uses open: `--event-type open` alone makes the kernel send them.
    let m = MonitorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rampart")),
        &[
            "--events",
            "--json",
            "--no-default-policy",
            "--event-type",
            "open",
        ],
        &[],
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = std::fs::canonicalize(work.path()).unwrap().join("seen");
    let pid = sh(&format!(": > {}", file.display()));
    let open = m
        .wait_for(WAIT, |v| {
            v["event"]["type"] == "open" && v["open"]["file"]["path"] == file.to_str().unwrap()
        })
        .expect("the open of the new file");
    assert_eq!(open["process"]["pid"], pid);
    assert!(
        m.all(|v| v["event"]["type"] != "open").is_empty(),
        "only opens are printed"
    );
}

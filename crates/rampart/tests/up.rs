//! `rampart up` end to end, as a user runs it: the first run prints the URL and the admin password, the
//! local agent reports a real rule match to its own server, the match becomes a signal visible through the
//! API with its rule's remediation, `/metrics` shows both halves, and a second run on the same data
//! directory keeps the account (no new password) and the agent's credential (its single-use enrollment
//! token is gone, none is written again, and its matches still arrive). Once the local agent is revoked, a
//! third run does not let it back in. Root only (the agent loads eBPF programs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_testkit::rampart_process::{admin_token as login, Launch, RampartProcess};
use serde_json::Value;

/// A running `rampart up` (a fixed port: the agent's credential is for its server's URL).
fn start_up(data_dir: &Path, policy: &Path, port: u16) -> RampartProcess {
    Launch::up(env!("CARGO_BIN_EXE_rampart"))
        .arg("--no-default-policy")
        .listen(format!("127.0.0.1:{port}"))
        .data_dir(data_dir)
        .arg("--policy")
        .arg(policy)
        .start()
}

/// Stops it; it exits cleanly on SIGTERM.
fn stop(up: RampartProcess) {
    let status = up.stop();
    assert!(
        status.success(),
        "rampart up exits cleanly on SIGTERM: {status}"
    );
}

fn get(url: &str, token: &str, path: &str) -> ureq::Response {
    ureq::get(&format!("{url}{path}"))
        .set("authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[test]
fn up_reports_a_live_match_as_a_signal_and_keeps_its_state() {
    rampart_testkit::require!(root, "`rampart up` loads eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("rampart-up-{}", std::process::id());
    let policy = dir.path().join("up.policy");
    std::fs::write(
        &policy,
        format!(
            "version: 1.0.0\nrules:\n  - id: up_marker_exec\n    description: the up test's marker command\n    \
             expression: exec.file.name == \"true\" && \"{marker}\" in exec.argv\n    \
             tags: {{severity: high, mitre: T1059}}\n    remediation: nothing to do, it is a test\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let token_file = data.join("agent-enrollment.token");
    // One address for every run: the agent's credential is for this server's URL.
    let port = rampart_testkit::free_port();
    let up = start_up(&data, &policy, port);
    let password = up
        .admin_password()
        .map(str::to_owned)
        .expect("the first run prints the admin password");
    assert!(password.len() >= 16, "a strong generated password");
    let url = up.url().expect("the URL line").to_owned();
    let token = login(&url, &password);

    // A real exec the agent sees in the kernel and the rule matches.
    let status = Command::new("/bin/true").arg(&marker).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let signal = loop {
        let list: Value = get(&url, &token, "/api/v1/signals?rule_id=up_marker_exec")
            .into_json()
            .unwrap();
        if let Some(s) = list["signals"].as_array().and_then(|a| a.first()) {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "no signal within 20 s: {list}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(signal["severity"], "high", "{signal}");
    assert_eq!(signal["source"], "agent");
    let detail: Value = get(&url, &token, &format!("/api/v1/signals/{}", signal["id"]))
        .into_json()
        .unwrap();
    assert!(
        detail.to_string().contains("nothing to do, it is a test"),
        "the rule's remediation is on the signal: {detail}"
    );
    assert!(
        detail.to_string().contains(&marker),
        "the sample carries the event: {detail}"
    );

    let metrics = get(&url, &token, "/metrics").into_string().unwrap();
    for name in ["rampart_server_ingest_requests_total", "rampart_agent_"] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }
    assert!(!token_file.exists(), "the agent removed its spent token");
    stop(up);

    // Same data directory: the account and the signal are still there, no new password is printed, and the
    // agent reports with the credential it kept (no token written, no second agent).
    let again = start_up(&data, &policy, port);
    assert_eq!(again.admin_password(), None, "{:#?}", again.printed);
    assert!(again.printed.iter().any(|l| l.contains("sign in as admin")));
    assert!(!token_file.exists(), "{:#?}", again.printed);
    let url = again.url().expect("the URL line").to_owned();
    let token = login(&url, &password);
    let list: Value = get(&url, &token, "/api/v1/signals?rule_id=up_marker_exec")
        .into_json()
        .unwrap();
    assert_eq!(list["signals"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(marker_matches(&url, &token, &marker, 2), 2);
    let id = only_agent(&url, &token)["id"].as_i64().unwrap();
    ureq::delete(&format!("{url}/api/v1/agents/{id}"))
        .set("authorization", &format!("Bearer {token}"))
        .call()
        .expect("revoking the local agent");
    stop(again);

    // Revoked: restarting `rampart up` does not let its agent back in.
    let third = start_up(&data, &policy, port);
    let url = third.url().expect("the URL line").to_owned();
    let token = login(&url, &password);
    let counted = marker_matches(&url, &token, &marker, 3);
    assert_eq!(counted, 2, "no match from the revoked host");
    assert_eq!(only_agent(&url, &token)["revoked"], true);
    stop(third);
}

/// The one agent the server knows (no second enrollment of the local host).
fn only_agent(url: &str, token: &str) -> Value {
    let agents: Value = get(url, token, "/api/v1/agents").into_json().unwrap();
    let list = agents["agents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{agents}");
    list[0].clone()
}

/// Runs the marker command again and returns the matches of its signal once they reach `want` (or after
/// 8 s without reaching it).
fn marker_matches(url: &str, token: &str, marker: &str, want: i64) -> i64 {
    let status = Command::new("/bin/true").arg(marker).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let list: Value = get(url, token, "/api/v1/signals?rule_id=up_marker_exec")
            .into_json()
            .unwrap();
        let count: i64 = list["signals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["count"].as_i64())
            .sum();
        if count >= want || Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

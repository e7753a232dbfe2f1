//! `rampart up` end to end, as a user runs it: the first run prints the URL and the admin password, the
//! local agent reports a real rule match to its own server, the match becomes a signal visible through the
//! API with its rule's remediation, `/metrics` shows both halves, and a second run on the same data
//! directory keeps the account (no new password) and the agent's credential (its single-use enrollment
//! token is gone, none is written again, and its matches still arrive). Once the local agent is revoked, a
//! third run does not let it back in. Root only (the agent loads eBPF programs).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `rampart up` and the lines it printed on stdout until it said the agent runs.
struct Up {
    child: Child,
    url: String,
    stdout: Vec<String>,
}

impl Up {
    fn start(data_dir: &Path, policy: &Path, port: u16) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["up", "--no-default-policy", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--policy")
            .arg(policy)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting rampart up");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stdout.iter().any(|l: &String| l.contains("agent: running")) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => stdout.push(line),
                Err(_) => panic!("rampart up did not start; stdout so far: {stdout:#?}"),
            }
        }
        let url = stdout
            .iter()
            .find_map(|l| l.strip_prefix("Rampart is up: "))
            .expect("the URL line")
            .trim()
            .to_string();
        Up { child, url, stdout }
    }

    fn password(&self) -> Option<String> {
        self.stdout
            .iter()
            .find_map(|l| l.trim().strip_prefix("admin password: "))
            .map(str::to_string)
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "rampart up exits cleanly on SIGTERM: {status}"
        );
    }
}

fn login(url: &str, password: &str) -> String {
    let v: Value = ureq::post(&format!("{url}/api/v1/auth/login"))
        .send_json(serde_json::json!({"username": "admin", "password": password}))
        .expect("login")
        .into_json()
        .unwrap();
    v["token"].as_str().expect("a session token").to_string()
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
    let up = Up::start(&data, &policy, port);
    let password = up
        .password()
        .expect("the first run prints the admin password");
    assert!(password.len() >= 16, "a strong generated password");
    let token = login(&up.url, &password);

    // A real exec the agent sees in the kernel and the rule matches.
    let status = Command::new("/bin/true").arg(&marker).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let signal = loop {
        let list: Value = get(&up.url, &token, "/api/v1/signals?rule_id=up_marker_exec")
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
    let detail: Value = get(
        &up.url,
        &token,
        &format!("/api/v1/signals/{}", signal["id"]),
    )
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

    let metrics = get(&up.url, &token, "/metrics").into_string().unwrap();
    for name in ["rampart_server_ingest_requests_total", "rampart_agent_"] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }
    assert!(!token_file.exists(), "the agent removed its spent token");
    up.stop();

    // Same data directory: the account and the signal are still there, no new password is printed, and the
    // agent reports with the credential it kept (no token written, no second agent).
    let again = Up::start(&data, &policy, port);
    assert_eq!(again.password(), None, "{:#?}", again.stdout);
    assert!(again.stdout.iter().any(|l| l.contains("sign in as admin")));
    assert!(!token_file.exists(), "{:#?}", again.stdout);
    let token = login(&again.url, &password);
    let list: Value = get(&again.url, &token, "/api/v1/signals?rule_id=up_marker_exec")
        .into_json()
        .unwrap();
    assert_eq!(list["signals"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(marker_matches(&again.url, &token, &marker, 2), 2);
    let id = only_agent(&again.url, &token)["id"].as_i64().unwrap();
    ureq::delete(&format!("{}/api/v1/agents/{id}", again.url))
        .set("authorization", &format!("Bearer {token}"))
        .call()
        .expect("revoking the local agent");
    again.stop();

    // Revoked: restarting `rampart up` does not let its agent back in.
    let third = Up::start(&data, &policy, port);
    let token = login(&third.url, &password);
    let counted = marker_matches(&third.url, &token, &marker, 3);
    assert_eq!(counted, 2, "no match from the revoked host");
    assert_eq!(only_agent(&third.url, &token)["revoked"], true);
    third.stop();
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

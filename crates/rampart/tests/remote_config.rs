//! Remote configuration end to end with the real binaries: a `rampart server` and a `rampart agent` (real
//! eBPF probes) that reports to it. A custom rule published on the server matches on the running agent
//! within 5 seconds without a restart; a removed rule stops matching; a broken policy (forced past the
//! server's own check) leaves the agent on its previous rules and the fleet view shows the errors;
//! rollback restores an earlier revision. The agent takes its settings from a `--config` file plus flags,
//! and serves its own `/metrics`. Root only.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{start_server, Proc, Server};

impl Server {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = ureq::request(method, &format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {}", self.token));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    fn fleet_agent(&self) -> Value {
        let (_, v) = self.call("GET", "/api/v1/fleet", None);
        v["agents"][0].clone()
    }

    /// Waits until the agent reports `status` for `revision`.
    fn wait_agent(&self, revision: i64, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let a = self.fleet_agent();
            if a["config_revision"] == revision && a["config_status"] == status {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not report {status} for revision {revision}: {a}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Matches of `rule` the server holds (the signal's count).
    fn matches_of(&self, rule: &str) -> i64 {
        let (_, v) = self.call("GET", &format!("/api/v1/signals?rule_id={rule}"), None);
        v["signals"].as_array().map_or(0, |a| {
            a.iter().map(|s| s["count"].as_i64().unwrap_or(0)).sum()
        })
    }
}

/// Starts the agent from a configuration file (policy, tags, spool, metrics address) plus the server's
/// address and token as flags; returns it and its metrics address.
fn start_agent(dir: &Path, server: &Server) -> (Proc, String) {
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .to_string();
    let config = dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "no_default_policy: true\ntags: [env:test]\nmetrics_listen: {metrics}\nspool_dir: {}\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .arg("--server")
        .arg(&server.url)
        .arg("--token-file")
        .arg(server.data.join("agent-enrollment.token"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting rampart agent");
    (Proc(child), metrics)
}

/// The value of the sample `name` on the agent's own `/metrics`.
fn agent_metric(metrics: &str, name: &str) -> u64 {
    let resp = ureq::get(&format!("http://{metrics}/metrics"))
        .call()
        .unwrap();
    assert!(resp.content_type().starts_with("text/plain"));
    let text = resp.into_string().unwrap();
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

fn marker_rule(mark: &str) -> Value {
    json!({
        "expression": format!("exec.file.name == \"true\" && \"{mark}\" in exec.argv"),
        "severity": "high", "description": "remote configuration test", "remediation": "none",
    })
}

/// Runs `/bin/true MARK` until the server has a match of `rule` or `within` passes; returns how long it took.
fn trigger_until_matched(server: &Server, rule: &str, mark: &str, within: Duration) -> Duration {
    let start = Instant::now();
    while server.matches_of(rule) == 0 {
        assert!(
            start.elapsed() < within,
            "rule {rule} did not match on the agent within {within:?}"
        );
        assert!(Command::new("/bin/true")
            .arg(mark)
            .status()
            .unwrap()
            .success());
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// The match count once the agent's spool has delivered what it had (no change for 2 s: the reporter
/// flushes every second).
fn settled_matches(server: &Server, rule: &str) -> i64 {
    let mut last = server.matches_of(rule);
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(200));
        let now = server.matches_of(rule);
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
    last
}

#[test]
fn published_rules_reach_a_running_agent_and_broken_ones_do_not() {
    rampart_testkit::require!(root, "the agent loads eBPF programs");
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &[]);
    let (_agent, metrics) = start_agent(dir.path(), &server);
    // The agent enrolls, pins the server's key and applies the current configuration (revision 0).
    let a = server.wait_agent(0, "applied");
    assert_eq!(a["tags"], json!(["env:test"]));
    let (_, key) = server.call("GET", "/api/v1/config/public-key", None);
    assert_eq!(key["key"].as_str().map(str::len), Some(64));

    // Publish: the rule matches on the running agent within 5 s of the publish call.
    let mark = format!("rampart-rc-{}", std::process::id());
    let published = Instant::now();
    let (code, v) = server.call(
        "PUT",
        "/api/v1/custom-rules/rc_marker",
        Some(marker_rule(&mark)),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["revision"], 1);
    trigger_until_matched(&server, "rc_marker", &mark, Duration::from_secs(5));
    let latency = published.elapsed();
    assert!(latency < Duration::from_secs(5), "{latency:?}");
    eprintln!("publish → first match on the agent: {latency:?}");
    // The agent's own endpoint counts what it did.
    assert!(agent_metric(&metrics, "rampart_agent_rule_matches_total") >= 1);
    assert!(agent_metric(&metrics, "rampart_agent_events_total") >= 1);
    assert!(agent_metric(&metrics, "rampart_agent_reporter_matches_submitted_total") >= 1);
    server.wait_agent(1, "applied");

    // Remove it: the agent stops matching.
    let (code, v) = server.call("DELETE", "/api/v1/custom-rules/rc_marker", None);
    assert_eq!((code, &v["revision"]), (200, &json!(2)), "{v}");
    server.wait_agent(2, "applied");
    let before = settled_matches(&server, "rc_marker");
    for _ in 0..5 {
        assert!(Command::new("/bin/true")
            .arg(&mark)
            .status()
            .unwrap()
            .success());
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        server.matches_of("rc_marker"),
        before,
        "a removed rule stops matching"
    );

    // A rule that stays, then a broken policy: the server refuses it, and when forced the agent refuses it
    // and keeps the rule that stays.
    let keep = format!("rampart-rc-keep-{}", std::process::id());
    let (code, _) = server.call(
        "PUT",
        "/api/v1/custom-rules/rc_keep",
        Some(marker_rule(&keep)),
    );
    assert_eq!(code, 200);
    server.wait_agent(3, "applied");
    let broken = json!({"content": "version: 1.0.0\nrules:\n  - id: rc_broken\n    expression: exec.file.name == 3\n"});
    let (code, v) = server.call("PUT", "/api/v1/policies/broken", Some(broken.clone()));
    assert_eq!(code, 422, "the server's compiler refuses it: {v}");
    assert_eq!(v["problems"][0]["id"], "rc_broken");
    let mut forced = broken;
    forced["force"] = json!(true);
    let (code, v) = server.call("PUT", "/api/v1/policies/broken", Some(forced));
    assert_eq!((code, &v["revision"]), (200, &json!(4)), "{v}");
    let a = server.wait_agent(4, "failed");
    assert!(
        a["config_errors"].to_string().contains("rc_broken"),
        "the fleet view names the broken rule: {a}"
    );
    trigger_until_matched(&server, "rc_keep", &keep, Duration::from_secs(5));

    // Rollback to revision 1: rc_marker is back (and rc_keep gone).
    let (code, v) = server.call(
        "POST",
        "/api/v1/config/rollback",
        Some(json!({"revision": 1})),
    );
    assert_eq!((code, &v["revision"]), (200, &json!(5)), "{v}");
    server.wait_agent(5, "applied");
    let before = settled_matches(&server, "rc_marker");
    let start = Instant::now();
    while server.matches_of("rc_marker") == before {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "rc_marker is back after rollback"
        );
        assert!(Command::new("/bin/true")
            .arg(&mark)
            .status()
            .unwrap()
            .success());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, history) = server.call("GET", "/api/v1/config/revisions", None);
    assert_eq!(history["revisions"][0]["summary"], "rollback to revision 1");

    // The same through the CLI.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .args(["--server", &server.url])
            .env("RAMPART_TOKEN", &server.token)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rampart {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let fleet = cli(&["agents", "list"]);
    assert!(fleet.contains("\t5\tapplied\t0"), "{fleet}");
    let revisions = cli(&["config", "revisions"]);
    assert!(
        revisions.starts_with("5\tadmin\trollback to revision 1"),
        "{revisions}"
    );
    let file = dir.path().join("cli.policy");
    std::fs::write(&file, "version: 1.0.0\nrules:\n  - id: cli_rule\n    expression: exec.file.name == \"cli-test\"\n").unwrap();
    let pushed = cli(&[
        "policies",
        "push",
        "from-cli",
        file.to_str().unwrap(),
        "--target",
        "env:test",
    ]);
    assert!(pushed.starts_with("published revision 6"), "{pushed}");
    server.wait_agent(6, "applied");
}

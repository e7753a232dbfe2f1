//! Security profiles end to end with real podman containers, a real `rampart server` and a real
//! `rampart agent`: two runs of one image make a learning profile with two snapshots and full commonality
//! for what both runs did; the third makes it stable (threshold 3 here) and it reaches the agent; a fourth
//! run that does something new raises an anomaly signal linked to the profile; the suppression suggestion
//! of a signal whose behaviour is in the profile, once accepted, suppresses the next identical match; a
//! new image tag starts a new profile; exports give JSON and a lockdown policy that compiles. Root only.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_testkit::{Podman, BUSYBOX_IMAGE, BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG};
use serde_json::{json, Value};

mod common;

use common::{start_server, Proc, Server};

impl Server {
    fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_json()
            .unwrap()
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        match ureq::post(&format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {}", self.token))
            .send_json(body)
        {
            Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(c, r)) => (c, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("POST {path}: {e}"),
        }
    }

    fn profile(&self, name: &str, tag: &str) -> Option<Value> {
        let list = self.get("/api/v1/profiles");
        list["profiles"]
            .as_array()?
            .iter()
            .find(|p| p["image_name"] == name && p["image_tag"] == tag)
            .cloned()
    }

    fn wait_profile(&self, name: &str, tag: &str, snapshots: i64) -> Value {
        wait(
            &format!("profile {name}:{tag} with {snapshots} snapshots"),
            || {
                self.profile(name, tag)
                    .filter(|p| p["snapshots"] == snapshots)
            },
        )
    }

    fn signals(&self, rule: &str) -> Vec<Value> {
        self.get(&format!("/api/v1/signals?rule_id={rule}"))["signals"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn count(&self, rule: &str) -> i64 {
        self.signals(rule)
            .iter()
            .map(|s| s["count"].as_i64().unwrap_or(0))
            .sum()
    }

    fn agent_revision(&self) -> i64 {
        self.get("/api/v1/fleet")["agents"][0]["config_revision"]
            .as_i64()
            .unwrap_or(-1)
    }
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

const POLICY: &str = "version: 1.0.0\nrules:\n  - id: cat_in_container\n    description: cat ran in a container\n    \
                      expression: exec.argv0 == \"cat\" && container.id != \"\"\n    tags: {severity: medium}\n";

/// One run of the workload: the shell waits for the agent's dump to start, reads a file, and exits.
fn run(podman: &Podman, image: &str, extra: &str) {
    let script = format!("sleep 2; cat /etc/hostname >/dev/null; {extra} sleep 1");
    let spec = rampart_testkit::ContainerSpec::new(image, &["sh", "-c", &script]);
    let c = podman.run_container(&spec).expect("podman run");
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.pid().is_ok() {
        assert!(Instant::now() < deadline, "the container did not exit");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn profiles_learn_stabilise_flag_anomalies_and_suggest_suppressions() {
    rampart_testkit::require!(podman, "the agent loads eBPF programs and runs containers");
    let podman = Podman::new().unwrap();
    let api = podman.start_api_service().unwrap();
    podman.ensure_busybox_image().unwrap();
    let tag_b = format!("{BUSYBOX_IMAGE_NAME}:b{}", std::process::id());
    assert!(podman
        .command()
        .args(["tag", BUSYBOX_IMAGE, &tag_b])
        .status()
        .unwrap()
        .success());

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let policy = dir.join("p.policy");
    std::fs::write(&policy, POLICY).unwrap();
    let server = start_server(
        dir,
        &[
            "--profile-stable-snapshots",
            "3",
            "--profile-min-agents",
            "1",
        ],
    );
    let _agent = Proc(
        Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args([
                "agent",
                "--no-default-policy",
                "--metrics-listen",
                "none",
                "--no-service-profiles",
            ])
            .args(["--dump-duration", "60s", "--dump-rescan", "1s"])
            .arg("--policy")
            .arg(&policy)
            .arg("--server")
            .arg(&server.url)
            .arg("--token-file")
            .arg(server.data.join("agent-enrollment.token"))
            .arg("--spool-dir")
            .arg(dir.join("spool"))
            .env("RAMPART_CONTAINER_SOCKETS", api.socket_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait("the agent enrolls", || {
        (server.get("/api/v1/fleet")["agents"][0]["config_status"] == "applied").then_some(())
    });

    // Two runs: a learning profile with two snapshots, and what both did at commonality 1.
    run(&podman, BUSYBOX_IMAGE, "");
    server.wait_profile(BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG, 1);
    run(&podman, BUSYBOX_IMAGE, "");
    let p = server.wait_profile(BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG, 2);
    assert_eq!(p["status"], "learning");
    let full = server.get(&format!("/api/v1/profiles/{}", p["id"]));
    let cat = full["behaviors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "process" && b["process"].as_str().unwrap().ends_with("[cat]"))
        .unwrap_or_else(|| panic!("the cat process in the profile: {full}"))
        .clone();
    assert_eq!(cat["commonality"], 1.0, "{cat}");
    let hostname_read = full["behaviors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "file" && b["detail"] == "read:/etc/hostname");
    assert!(
        hostname_read.is_some_and(|b| b["commonality"] == 1.0),
        "{full}"
    );

    // The third run makes it stable; the profile reaches the agent through remote configuration.
    let before = server.agent_revision();
    run(&podman, BUSYBOX_IMAGE, "");
    let p = server.wait_profile(BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG, 3);
    assert_eq!(p["status"], "stable");
    wait("the agent applies the stable profile", || {
        (server.agent_revision() > before).then_some(())
    });

    // A fourth run does something new: an anomaly signal, linked to the profile.
    run(&podman, BUSYBOX_IMAGE, "cat /etc/passwd >/dev/null;");
    let anomaly = wait("an anomaly signal for the read of /etc/passwd", || {
        server
            .signals("anomaly_detection")
            .into_iter()
            .find_map(|s| {
                let detail = server.get(&format!("/api/v1/signals/{}", s["id"]));
                detail["samples"]
                    .as_array()?
                    .iter()
                    .any(|m| m["match"]["anomaly"]["behavior"]["detail"] == "read:/etc/passwd")
                    .then_some(detail)
            })
    });
    let sample = &anomaly["samples"][0]["match"]["anomaly"]["profile"];
    assert_eq!(sample["id"], p["id"], "{sample}");
    assert_eq!(sample["url"], format!("/api/v1/profiles/{}", p["id"]));
    let (stable_count, _) = (
        server.get(&format!("/api/v1/profiles/{}", p["id"]))["snapshots"].clone(),
        (),
    );
    assert_eq!(stable_count, 3, "a stable profile takes no more snapshots");

    // The cat rule's signal: its behaviour is in the stable profile, so there is a suggestion; accepting it
    // suppresses the next identical match.
    let signal = wait("the cat signal", || {
        server.signals("cat_in_container").into_iter().next()
    });
    let detail = server.get(&format!("/api/v1/signals/{}", signal["id"]));
    let suggestion = detail["suggestion"].clone();
    assert!(suggestion.is_object(), "a suggestion: {detail}");
    assert!(
        suggestion["expression"]
            .as_str()
            .unwrap()
            .contains(&format!("image_name:{BUSYBOX_IMAGE_NAME}")),
        "{suggestion}"
    );
    let before = server.agent_revision();
    let (code, v) = server.post(
        &format!("/api/v1/signals/{}/suppress", signal["id"]),
        json!({}),
    );
    assert_eq!(code, 200, "{v}");
    wait("the agent applies the suppression", || {
        (server.agent_revision() > before).then_some(())
    });
    let config = server.get("/api/v1/config");
    assert_eq!(
        config["overrides"]["cat_in_container"]["suppressions"][0]["created_by"], "admin",
        "audited: {config}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let cats = server.count("cat_in_container");
    run(&podman, BUSYBOX_IMAGE, "");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        server.count("cat_in_container"),
        cats,
        "the accepted suppression holds"
    );

    // A new tag of the image: a new profile, learning.
    run(&podman, &tag_b, "");
    let b = server.wait_profile(BUSYBOX_IMAGE_NAME, tag_b.rsplit(':').next().unwrap(), 1);
    assert_eq!(b["status"], "learning");
    assert_ne!(b["id"], p["id"]);

    // Exports: JSON, and a lockdown policy that the rule compiler accepts.
    let json_export = server.get(&format!("/api/v1/profiles/{}/export", p["id"]));
    assert_eq!(json_export["status"], "stable");
    let policy = ureq::get(&format!(
        "{}/api/v1/profiles/{}/export?format=policy&action=kill",
        server.url, p["id"]
    ))
    .set("authorization", &format!("Bearer {}", server.token))
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    let file = dir.join("lockdown.policy");
    std::fs::write(&file, &policy).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["rules", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{policy}\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let _ = podman.command().args(["rmi", &tag_b]).status();
}

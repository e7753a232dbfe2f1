//! The OCI image (scripts/image, deploy/image/Containerfile), built from this build's binary: it runs the
//! server as its unprivileged user, and the agent's sensor as the DaemonSet runs it - host pid namespace,
//! only the chart's capabilities, the chart's host mounts, read-only - and sees a host process's exec.

use std::process::Command;
use std::time::{Duration, Instant};

use rampart_testkit::Podman;
use serde_yaml_ng::Value;

use super::{repo, run, stdout};

/// Builds the image from the debug binary into the test storage; removed on drop.
struct TestImage {
    podman: Podman,
    tag: String,
}

impl TestImage {
    fn build(podman: &Podman) -> TestImage {
        let tag = format!("localhost/rampart-test-image:{}", std::process::id());
        let prefix: Vec<String> = std::iter::once("podman".to_owned())
            .chain(
                podman
                    .storage_args()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned()),
            )
            .collect();
        let out = run(Command::new(repo().join("scripts/image"))
            .arg(&tag)
            .env("RAMPART_BIN", env!("CARGO_BIN_EXE_rampart"))
            .env("PODMAN", prefix.join(" "))
            .env("CONTAINERS_CONF", podman.conf_path()));
        assert_eq!(stdout(&out).trim(), tag);
        TestImage {
            podman: podman.clone(),
            tag,
        }
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let _ = self.podman.run(&["rmi", "-f", &self.tag]);
    }
}

/// A container removed on drop.
struct Named<'a>(&'a Podman, String);

impl Drop for Named<'_> {
    fn drop(&mut self) {
        // Detaching a running sensor takes seconds: give it time before SIGKILL.
        let _ = self.0.run(&["rm", "-f", "-t", "10", &self.1]);
    }
}

fn container_name(what: &str) -> String {
    // The testkit's prefix and our pid: a container left by a killed test run is removed by the next one.
    format!("rampart-test-{}-{what}", std::process::id())
}

#[test]
fn the_image_runs_the_server_unprivileged_and_the_agent_as_the_daemonset_does() {
    rampart_testkit::require!(podman, "builds and runs the image");
    let podman = Podman::new().unwrap();
    let image = TestImage::build(&podman);
    let version = podman
        .run(&["run", "--rm", &image.tag, "--version"])
        .unwrap();
    assert_eq!(version, format!("rampart {}", env!("CARGO_PKG_VERSION")));
    let user = podman
        .run(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}",
            &image.tag,
        ])
        .unwrap();
    assert_eq!(user, "10001:10001");

    // The server, as the image's own user, on the host network: /healthz answers and its data is stored.
    let port = rampart_testkit::free_port();
    let server = Named(&podman, container_name("server"));
    let listen = format!("127.0.0.1:{port}");
    podman
        .run(&[
            "run",
            "-d",
            "--name",
            &server.1,
            "--network",
            "host",
            "--read-only",
            "--tmpfs",
            "/var/lib/rampart:rw,mode=0700,U",
            &image.tag,
            "server",
            "--listen",
            &listen,
        ])
        .unwrap();
    let url = format!("http://{listen}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(resp) = ureq::get(&url).call() {
            assert_eq!(resp.status(), 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server in the image never answered {url}: {}",
            podman.run(&["logs", &server.1]).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = podman.run(&["logs", &server.1]).unwrap();
    assert!(logs.contains("Rampart is up"), "{logs}");
    drop(server);

    // The sensor with the chart's capabilities and mounts sees an exec on the host.
    let values: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("deploy/kubernetes/rampart/values.yaml")).unwrap(),
    )
    .unwrap();
    let caps: Vec<String> = values["agent"]["capabilities"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| format!("CAP_{}", c.as_str().unwrap()))
        .collect();
    let agent = Named(&podman, container_name("agent"));
    let mut args: Vec<String> = [
        "run",
        "-d",
        "--name",
        &agent.1,
        "--pid",
        "host",
        "--user",
        "0",
        "--read-only",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges",
        "--cap-drop",
        "all",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for cap in &caps {
        args.extend(["--cap-add".into(), cap.clone()]);
    }
    for mount in [
        "/sys/kernel/tracing:/sys/kernel/tracing:ro",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "/etc/passwd:/etc/passwd:ro",
        "/etc/group:/etc/group:ro",
    ] {
        args.extend(["-v".into(), mount.into()]);
    }
    args.extend(
        [
            &image.tag,
            "monitor",
            "--events",
            "--json",
            "--event-type",
            "exec",
            "--no-kill",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    podman.run(&args).unwrap();
    // A host program with a name nobody else runs, executed until the sensor in the container reports it.
    let dir = tempfile::tempdir().unwrap();
    let probe = dir
        .path()
        .join(format!("rampart-dsprobe-{}", std::process::id()));
    std::fs::copy("/bin/true", &probe).unwrap();
    // Loading and attaching the sensor took 70 s on this loaded 2-core machine (setpriv with these capabilities, measured once).
    let deadline = Instant::now() + Duration::from_secs(240);
    let seen = loop {
        let _ = Command::new(&probe).status();
        let logs = podman
            .output(&["logs", &agent.1])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if logs.contains(&*probe.to_string_lossy()) {
            break true;
        }
        let state = podman
            .run(&["inspect", "--format", "{{.State.Running}}", &agent.1])
            .unwrap_or_default();
        if state != "true" || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let stderr = podman
        .output(&["logs", &agent.1])
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    assert!(
        seen,
        "the sensor with capabilities {caps:?} never reported {}; it said: {stderr}",
        probe.display()
    );
}

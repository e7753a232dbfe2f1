//! The kit against real podman (root only): image build, a container's pid and cgroup, the API socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use rampart_testkit::{ContainerSpec, Podman, BUSYBOX_IMAGE};

#[test]
fn container_runs_in_its_own_libpod_cgroup() {
    rampart_testkit::require!(podman, "runs real containers");
    let podman = Podman::new().unwrap();
    let ctr = podman.run_busybox(&["sleep", "30"]).unwrap();
    assert_eq!(ctr.id().len(), 64);
    assert_eq!(ctr.image(), BUSYBOX_IMAGE);
    let pid = ctr.pid().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let expected = format!("/libpod_parent/libpod-{}", ctr.id());
    assert!(cgroup.lines().any(|l| l.ends_with(&expected)), "{cgroup}");
    assert_eq!(ctr.exec(&["echo", "hi"]).unwrap(), "hi");

    let id = ctr.id().to_string();
    drop(ctr);
    let out = podman.output(&["container", "exists", &id]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "container still exists after drop"
    );
}

#[test]
fn labels_and_image_are_applied() {
    rampart_testkit::require!(podman, "runs real containers");
    let podman = Podman::new().unwrap();
    let image = podman.ensure_busybox_image().unwrap();
    let spec = ContainerSpec::new(image, &["sleep", "30"]).label("rampart.test", "yes");
    let ctr = podman.run_container(&spec).unwrap();
    assert_eq!(
        ctr.inspect("{{index .Config.Labels \"rampart.test\"}}")
            .unwrap(),
        "yes"
    );
    assert_eq!(ctr.inspect("{{.ImageName}}").unwrap(), BUSYBOX_IMAGE);
}

#[test]
fn api_service_answers_docker_ping_and_stops_on_drop() {
    rampart_testkit::require!(podman, "runs real containers");
    let podman = Podman::new().unwrap();
    let api = podman.start_api_service().unwrap();
    let path = api.socket_path().to_path_buf();
    let mut stream = UnixStream::connect(&path).unwrap();
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{reply}"
    );
    assert!(reply.ends_with("OK"), "{reply}");
    drop(api);
    assert!(!path.exists());
    assert!(UnixStream::connect(&path).is_err());
}

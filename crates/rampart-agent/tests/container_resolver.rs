//! The container resolver against a real podman container and podman's Docker-compatible API
//! (root only): cgroup parsing of a live process, the non-blocking cache filled in the
//! background, image ids resolved through the image API, unknown ids cached as negative.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_agent::container::{
    parse_proc_cgroup, CgroupContainer, ContainerResolver, DockerApi, ResolverConfig, Runtime,
};
use rampart_model::Container;
use rampart_testkit::{ContainerSpec, Podman, BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG};

fn config(api_socket: PathBuf) -> ResolverConfig {
    // A missing socket first: absence must be harmless and not hide the one that answers. No
    // first-sighting wait: these tests show the hot path answering before the API does.
    ResolverConfig {
        first_event_wait: Duration::ZERO,
        ..ResolverConfig::default()
    }
    .with_docker_sockets(vec![
        PathBuf::from("/nonexistent/rampart/docker.sock"),
        api_socket,
    ])
}

/// Polls the non-blocking cache until the background task has described the container.
async fn wait_described(resolver: &ContainerResolver, id: &str) -> Arc<Container> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let current = resolver.get(id).expect("entry stays cached");
        if current.image.is_some() {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "not described in time: {current:?} {:?}",
            resolver.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_busybox(container: &Container, id: &str, name: &str, created_ns: u64) {
    assert_eq!(container.id, id);
    assert_eq!(container.runtime, "podman");
    let image = container.image.as_ref().unwrap();
    assert_eq!(
        (image.name.as_str(), image.tag.as_str()),
        (BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG)
    );
    assert_eq!(container.name.as_deref(), Some(name));
    assert_eq!(container.created_at, created_ns);
    let expected_tags = [
        "runtime:podman".to_string(),
        format!("image_name:{BUSYBOX_IMAGE_NAME}"),
        "short_image:rampart-test-busybox".to_string(),
        format!("image_tag:{BUSYBOX_IMAGE_TAG}"),
        format!("container_name:{name}"),
    ];
    assert_eq!(container.tags, expected_tags);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_a_running_podman_container() {
    rampart_testkit::require!(podman, "runs a container and podman's Docker API service");
    let podman = Podman::new().unwrap();
    let ctr = podman.run_busybox(&["sleep", "30"]).unwrap();
    let api = podman.start_api_service().unwrap();
    let pid = ctr.pid().unwrap();
    let created_ns: u64 = ctr
        .inspect("{{.Created.UnixNano}}")
        .unwrap()
        .parse()
        .unwrap();
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(created_ns > 0 && created_ns <= now_ns && now_ns - created_ns < 600 * 1_000_000_000);

    // The live process's cgroup names the container.
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let parsed = parse_proc_cgroup(&cgroup).unwrap_or_else(|| panic!("no container in {cgroup}"));
    assert_eq!(
        (
            parsed.runtime,
            parsed.id.as_str(),
            parsed.pod_uid.as_deref()
        ),
        (Runtime::Podman, ctr.id(), None)
    );
    // The container's conmon is not the container.
    let conmon = ctr.inspect("{{.State.ConmonPid}}").unwrap();
    let conmon_cgroup = std::fs::read_to_string(format!("/proc/{conmon}/cgroup")).unwrap();
    assert_ne!(
        parse_proc_cgroup(&conmon_cgroup).map(|c| c.id),
        Some(ctr.id().to_string())
    );

    let resolver = ContainerResolver::new(config(api.socket_path().to_path_buf()));

    // Hot path: answers at once with what the cgroup tells, before any API answer.
    let started = Instant::now();
    let first = resolver.lookup_pid(pid).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (first.id.as_str(), first.runtime.as_str()),
        (ctr.id(), "podman")
    );
    assert_eq!(first.tags, ["runtime:podman"]);

    let described = wait_described(&resolver, ctr.id()).await;
    assert_busybox(&described, ctr.id(), ctr.name(), created_ns);
    // Later sightings get the described container from memory.
    let again = resolver.lookup(&parsed);
    assert!(Arc::ptr_eq(&again, &described));
    let stats = resolver.stats();
    assert_eq!(
        (stats.entries, stats.misses, stats.resolved, stats.not_found),
        (1, 1, 1, 0)
    );
    assert!(stats.hits >= 1);

    // The awaited path, on a fresh resolver.
    let other = ContainerResolver::new(config(api.socket_path().to_path_buf()));
    assert_busybox(
        &*other.resolve(&parsed).await,
        ctr.id(),
        ctr.name(),
        created_ns,
    );

    // An id no runtime knows: served from the cgroup view and cached as negative.
    let unknown = CgroupContainer {
        runtime: Runtime::Podman,
        id: "ab".repeat(32),
        pod_uid: None,
    };
    let seen = other.resolve(&unknown).await;
    assert!(seen.image.is_none() && seen.name.is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let not_found = other.stats().not_found;
    assert!(not_found >= 1, "{:?}", other.stats());
    for _ in 0..5 {
        other.lookup(&unknown);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        other.stats().not_found,
        not_found,
        "negative result was not cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_ids_resolve_to_their_tag_and_unknown_ids_to_none() {
    rampart_testkit::require!(podman, "runs a container and podman's Docker API service");
    let podman = Podman::new().unwrap();
    let image = podman.ensure_busybox_image().unwrap();
    let image_id = podman
        .run(&["image", "inspect", "--format", "{{.Id}}", image])
        .unwrap();
    let api_service = podman.start_api_service().unwrap();
    let api = DockerApi::new(api_service.socket_path(), Duration::from_millis(500));
    api.ping().await.unwrap();

    // Docker reports `Config.Image` as `sha256:…` for a container started by image id.
    let by_id = api
        .image_by_id(&format!("sha256:{image_id}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_id.name.as_str(), by_id.tag.as_str()),
        (BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG)
    );
    let bare = api.image_by_id(&image_id).await.unwrap();
    assert_eq!(bare.as_ref(), Some(&by_id));
    assert_eq!(api.image_by_id(&"cd".repeat(32)).await.unwrap(), None);
    assert_eq!(api.inspect_container(&"ef".repeat(32)).await.unwrap(), None);

    // A container started by image id is still described by name and tag.
    let ctr = podman
        .run_container(&ContainerSpec::new(&image_id, &["sleep", "30"]))
        .unwrap();
    let created_ns: u64 = ctr
        .inspect("{{.Created.UnixNano}}")
        .unwrap()
        .parse()
        .unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", ctr.pid().unwrap())).unwrap();
    let parsed = parse_proc_cgroup(&cgroup).unwrap();
    let resolver = ContainerResolver::new(config(api_service.socket_path().to_path_buf()));
    assert_busybox(
        &*resolver.resolve(&parsed).await,
        ctr.id(),
        ctr.name(),
        created_ns,
    );
}

//! Container metadata from a real containerd (Debian's 1.6, started by the test with its own root,
//! state and socket): its native API in every namespace, and the CRI its CRI plugin serves, with a
//! pod made through the CRI itself (host network, a local sandbox image). Root only.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_agent::container::cri_api::proto::{
    self, runtime_service_client::RuntimeServiceClient,
};
use rampart_agent::container::{
    parse_proc_cgroup, ContainerResolver, ContainerdApi, CriApi, ResolverConfig, Runtime,
    RuntimeSockets,
};
use rampart_model::Container;
use rampart_testkit::containerd::random_pod_uid;
use rampart_testkit::{Containerd, CtrSpec, BUSYBOX_IMAGE, BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// containerd's native API (and CRI on the same socket, which knows no `ctr` container) only.
fn resolver_for(socket: PathBuf, wait: Duration) -> ContainerResolver {
    let config = ResolverConfig {
        first_event_wait: wait,
        timeout: Duration::from_secs(2),
        ..ResolverConfig::default()
    };
    ContainerResolver::new(config.with_sockets(RuntimeSockets {
        containerd: vec![socket.clone()],
        cri: vec![socket],
        docker: vec![],
    }))
}

fn has(container: &Container, tag: &str) -> bool {
    container.tags.iter().any(|t| t == tag)
}

fn assert_busybox_image(container: &Container) {
    let image = container.image.as_ref().expect("image described");
    assert_eq!(
        (image.name.as_str(), image.tag.as_str()),
        (BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG)
    );
    for tag in [
        format!("image_name:{BUSYBOX_IMAGE_NAME}"),
        "short_image:rampart-test-busybox".to_string(),
        format!("image_tag:{BUSYBOX_IMAGE_TAG}"),
    ] {
        assert!(has(container, &tag), "{tag} missing: {:?}", container.tags);
    }
    let digest = container
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("image_id:sha256:"))
        .unwrap_or_else(|| panic!("no image digest: {:?}", container.tags));
    assert_eq!(digest.len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_containers_are_described_in_every_namespace() {
    rampart_testkit::require!(containerd, "starts a private containerd");
    let containerd = Containerd::start().unwrap();
    let image = containerd.import_busybox("k8s.io").unwrap();
    containerd.import_busybox("rampart-other").unwrap();

    // A pod as the CRI plugin stores it: the sandbox container carries the pod's labels, the
    // app container the kubelet's `io.kubernetes.*` ones, both in the pod's cgroup.
    let pod_uid = random_pod_uid();
    let sandbox = CtrSpec::new("k8s.io", image, &["sleep", "30"])
        .pod("shop", "web-1", &pod_uid)
        .label("io.cri-containerd.kind", "sandbox")
        .label("app", "web")
        .label("team", "payments")
        .label("kube_namespace", "prod"); // a label must not pass for the namespace
    containerd.run(&sandbox).unwrap();
    let app_spec = CtrSpec::new("k8s.io", image, &["sleep", "30"])
        .pod("shop", "web-1", &pod_uid)
        .label("io.cri-containerd.kind", "container")
        .label("io.kubernetes.container.name", "app");
    let app = containerd.run(&app_spec).unwrap();
    let other = containerd
        .run(&CtrSpec::new("rampart-other", image, &["sleep", "30"]).label("team", "other"))
        .unwrap();

    // The live process's cgroup names the container and its pod.
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", app.pid())).unwrap();
    let parsed = parse_proc_cgroup(&cgroup).unwrap_or_else(|| panic!("no container: {cgroup}"));
    assert_eq!(
        (
            parsed.runtime,
            parsed.id.as_str(),
            parsed.pod_uid.as_deref()
        ),
        (Runtime::Containerd, app.id(), Some(pod_uid.as_str()))
    );

    // The first sighting waits for the runtime's answer: the first event is already described.
    let resolver = resolver_for(containerd.socket().to_path_buf(), Duration::from_secs(3));
    let started = Instant::now();
    let first = resolver.lookup_pid(app.pid()).unwrap();
    let waited = started.elapsed();
    assert_busybox_image(&first);
    let expected = [
        "runtime:containerd".to_string(),
        format!("pod_uid:{pod_uid}"),
        "container_name:app".into(),
        "pod_name:web-1".into(),
        "kube_namespace:shop".into(),
        "kube_container_name:app".into(),
        "app:web".into(),
        "team:payments".into(),
    ];
    for tag in &expected {
        assert!(has(&first, tag), "{tag} missing: {:?}", first.tags);
    }
    assert!(!has(&first, "kube_namespace:prod"), "{:?}", first.tags);
    assert_eq!(first.name.as_deref(), Some("app"));
    assert!(first.created_at > 0 && first.created_at <= now_ns());
    assert!(now_ns() - first.created_at < 120 * 1_000_000_000);
    eprintln!("first sighting described after {waited:?}");

    // A container in another namespace, not in Kubernetes: image, no pod tags.
    let other_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", other.pid())).unwrap();
    assert_eq!(
        parse_proc_cgroup(&other_cgroup).map(|c| c.id),
        Some(other.id().to_string())
    );
    let other_described = resolver.lookup_pid(other.pid()).unwrap();
    assert_busybox_image(&other_described);
    assert!(
        !other_described
            .tags
            .iter()
            .any(|t| t.starts_with("kube_") || t.starts_with("pod_") || t.starts_with("team:")),
        "{:?}",
        other_described.tags
    );

    // Without the wait, the hot path answers at once with the cgroup's view.
    let quick = resolver_for(containerd.socket().to_path_buf(), Duration::ZERO);
    let started = Instant::now();
    let bare: Arc<Container> = quick.lookup_pid(app.pid()).unwrap();
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(bare.image.is_none());

    // The API's own answers; an id nobody knows is `None` in every namespace.
    let api = ContainerdApi::new(containerd.socket(), Duration::from_secs(2));
    let mut namespaces = api.namespaces().await.unwrap();
    namespaces.sort();
    assert_eq!(namespaces, ["k8s.io", "rampart-other"]);
    assert_eq!(api.inspect_container(&"ab".repeat(32)).await.unwrap(), None);
    let details = api.inspect_container(other.id()).await.unwrap().unwrap();
    assert_eq!(
        details.labels.get("team").map(String::as_str),
        Some("other")
    );
    assert!(details.pod_labels.is_empty());
}

/// The kubelet's side of a pod, through the CRI: a host-network sandbox and one container.
async fn run_pod(
    client: &mut RuntimeServiceClient<tonic::transport::Channel>,
    containerd: &Containerd,
    pod_uid: &str,
) -> String {
    let failed = |what: &str, e: tonic::Status| -> ! {
        panic!("{what}: {e}\ncontainerd's log:\n{}", containerd.log())
    };
    let labels = |extra: &[(&str, &str)]| -> HashMap<String, String> {
        [
            ("io.kubernetes.pod.name", "api-0"),
            ("io.kubernetes.pod.namespace", "billing"),
            ("io.kubernetes.pod.uid", pod_uid),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let sandbox_config = proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: "api-0".into(),
            uid: pod_uid.into(),
            namespace: "billing".into(),
            attempt: 0,
        }),
        labels: labels(&[("app", "api"), ("tier", "backend")]),
        linux: Some(proto::LinuxPodSandboxConfig {
            cgroup_parent: format!("/kubepods/besteffort/pod{pod_uid}"),
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(proto::NamespaceOption {
                    network: proto::NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let sandbox_id = client
        .run_pod_sandbox(proto::RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| failed("RunPodSandbox", e))
        .into_inner()
        .pod_sandbox_id;
    let container_id = client
        .create_container(proto::CreateContainerRequest {
            pod_sandbox_id: sandbox_id,
            config: Some(proto::ContainerConfig {
                metadata: Some(proto::ContainerMetadata {
                    name: "server".into(),
                    attempt: 0,
                }),
                image: Some(proto::ImageSpec {
                    image: BUSYBOX_IMAGE.into(),
                    ..Default::default()
                }),
                command: vec!["sleep".into(), "30".into()],
                labels: labels(&[("io.kubernetes.container.name", "server")]),
                ..Default::default()
            }),
            sandbox_config: Some(sandbox_config),
        })
        .await
        .unwrap_or_else(|e| failed("CreateContainer", e))
        .into_inner()
        .container_id;
    client
        .start_container(proto::StartContainerRequest {
            container_id: container_id.clone(),
        })
        .await
        .unwrap_or_else(|e| failed("StartContainer", e));
    container_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_describes_a_pod_container_the_cri_plugin_made() {
    rampart_testkit::require!(containerd, "starts a private containerd");
    let containerd = Containerd::start().unwrap();
    containerd.import_pause().unwrap();
    containerd.import_busybox("k8s.io").unwrap();

    let cri = CriApi::new(containerd.socket(), Duration::from_secs(5));
    let version = cri.version().await.unwrap();
    assert_eq!(
        (
            version.runtime_name.as_str(),
            version.runtime_api_version.as_str()
        ),
        ("containerd", "v1")
    );
    assert!(cri.container_ids().await.unwrap().is_empty());

    let channel = containerd_client::connect(containerd.socket())
        .await
        .unwrap();
    let mut client = RuntimeServiceClient::new(channel);
    let pod_uid = random_pod_uid();
    let id = run_pod(&mut client, &containerd, &pod_uid).await;
    assert_eq!(
        cri.container_ids().await.unwrap(),
        std::slice::from_ref(&id)
    );

    let details = cri.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!(details.name.as_deref(), Some("server"));
    let image = details.image.as_ref().unwrap();
    assert_eq!(
        (image.name.as_str(), image.tag.as_str()),
        (BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG)
    );
    assert!(details
        .image_digest
        .as_deref()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert_eq!(
        details.pod_labels.iter().collect::<Vec<_>>(),
        [
            (&"app".to_string(), &"api".to_string()),
            (&"tier".to_string(), &"backend".to_string())
        ]
    );
    assert!(details.created_at > 0 && details.created_at <= now_ns());
    assert_eq!(cri.inspect_container(&"cd".repeat(32)).await.unwrap(), None);

    // The running container as the agent sees it: from its process's cgroup, through the CRI only.
    let pid = client
        .container_status(proto::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: true,
        })
        .await
        .unwrap()
        .into_inner()
        .info
        .get("info")
        .and_then(|info| {
            let v: serde_json::Value = serde_json::from_str(info).ok()?;
            v["pid"].as_u64()
        })
        .expect("verbose status names the pid") as u32;
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let parsed = parse_proc_cgroup(&cgroup).unwrap_or_else(|| panic!("no container: {cgroup}"));
    assert_eq!(
        (parsed.id.as_str(), parsed.pod_uid.as_deref()),
        (id.as_str(), Some(pod_uid.as_str()))
    );
    let resolver = ContainerResolver::new(
        ResolverConfig {
            first_event_wait: Duration::from_secs(3),
            ..ResolverConfig::default()
        }
        .with_sockets(RuntimeSockets {
            cri: vec![containerd.socket().to_path_buf()],
            ..RuntimeSockets::default()
        }),
    );
    let described = resolver.lookup_pid(pid).unwrap();
    assert_busybox_image(&described);
    for tag in [
        "pod_name:api-0",
        "kube_namespace:billing",
        "kube_container_name:server",
        "container_name:server",
        "app:api",
        "tier:backend",
    ] {
        assert!(has(&described, tag), "{tag} missing: {:?}", described.tags);
    }
}

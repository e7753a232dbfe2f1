//! Container identity from a cgroup path.
//!
//! Every runtime puts a container's processes in a cgroup whose name carries the 64-hex container
//! id, with a runtime-specific prefix (`docker-…scope`, `libpod-…`, `cri-containerd-…scope`,
//! `crio-…scope`) or bare under a runtime-specific parent (`/docker/<id>`,
//! `/kubepods/<qos>/pod<uid>/<id>`). The deepest component that names a container wins, so nested
//! cgroups (`…/libpod-<id>.scope/container`, docker-in-docker) resolve to the innermost container.
//! Monitor processes (`libpod-conmon-…`, `crio-conmon-…`) live beside the container, not in it.

use std::fmt;

/// The runtime whose cgroup layout named the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Podman,
    Containerd,
    CriO,
}

impl Runtime {
    /// The value of `container.runtime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a cgroup path says about the container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CgroupContainer {
    pub runtime: Runtime,
    /// Full 64-hex id, lowercase.
    pub id: String,
    /// Kubernetes pod uid (dashed form) when the path is under a `kubepods` hierarchy.
    pub pod_uid: Option<String>,
}

/// Parses one cgroup path (`/libpod_parent/libpod-<id>`, `/kubepods.slice/…/cri-containerd-<id>.scope`,
/// or a single component as a kernel probe may report it). `None` when it is not a container's.
pub fn parse_cgroup_path(path: &str) -> Option<CgroupContainer> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let (idx, runtime, id) =
        components.iter().enumerate().rev().find_map(|(i, c)| {
            container_in_component(&components[..i], c).map(|(r, id)| (i, r, id))
        })?;
    let pod_uid = components[..idx].iter().rev().find_map(|c| pod_uid(c));
    Some(CgroupContainer {
        runtime,
        id: id.to_string(),
        pod_uid,
    })
}

/// Parses the contents of `/proc/PID/cgroup`: the unified (`0::`) line first, then any v1
/// hierarchy (hybrid hosts keep `0::/` at the root while v1 controllers hold the container path).
pub fn parse_proc_cgroup(contents: &str) -> Option<CgroupContainer> {
    let paths = contents.lines().filter_map(|line| {
        let mut parts = line.splitn(3, ':');
        let hierarchy = parts.next()?;
        let _controllers = parts.next()?;
        Some((hierarchy == "0", parts.next()?))
    });
    let (unified, v1): (Vec<_>, Vec<_>) = paths.partition(|(unified, _)| *unified);
    unified
        .iter()
        .chain(v1.iter())
        .find_map(|(_, path)| parse_cgroup_path(path))
}

/// The container named by one component, given the components above it.
fn container_in_component<'a>(parents: &[&str], component: &'a str) -> Option<(Runtime, &'a str)> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    const PREFIXES: [(&str, Runtime); 5] = [
        ("docker-", Runtime::Docker),
        ("libpod-", Runtime::Podman),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
        ("nerdctl-", Runtime::Containerd),
    ];
    for (prefix, runtime) in PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            // `libpod-conmon-<id>` / `crio-conmon-<id>` hold the monitor, not the container.
            return is_container_id(rest).then_some((runtime, rest));
        }
    }
    if !is_container_id(name) || component != name {
        return None;
    }
    // A bare id: the runtime is told by the hierarchy above it.
    let parent = parents.last().copied().unwrap_or("");
    if parent == "libpod_parent" {
        // Podman (cgroupfs) puts a pod's cgroup there, named by the pod id: not a container.
        return None;
    }
    // The nearest runtime hierarchy decides (kind runs a kubelet inside a docker container).
    parents.iter().rev().find_map(|p| match *p {
        "docker" | "ecs" | "actions_job" => Some((Runtime::Docker, name)),
        // cgroupfs-driver kubelets name containers by bare id; containerd is the common CRI
        // runtime there (CRI-O keeps its `crio-` prefix under either driver).
        p if p.starts_with("kubepods") => Some((Runtime::Containerd, name)),
        _ => None,
    })
}

/// `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_with_underscores>.slice` (systemd).
fn pod_uid(component: &str) -> Option<String> {
    let name = component.strip_suffix(".slice").unwrap_or(component);
    let start = name.rfind("pod")?;
    if start > 0 && !name[..start].ends_with('-') {
        return None;
    }
    let uid = name[start + 3..].replace('_', "-");
    super::kube::is_pod_uid(&uid).then_some(uid)
}

/// Runtimes name containers by 64 lowercase hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "462e2c89182c91947af3910121846a7d6e8d6df2bc33de8175a143497dd3faab";
    const ID2: &str = "0fb1bd7683279e02b1c651eefa549e090ca0c754afed358bfe7285d5838c597c";
    const POD: &str = "5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5d";
    const POD_US: &str = "5a6d9b1c_0f3e_4c2a_9d7b_8e1f2a3b4c5d";

    fn expect(path: &str) -> Option<(Runtime, String, Option<String>)> {
        parse_cgroup_path(path).map(|c| (c.runtime, c.id, c.pod_uid))
    }

    #[test]
    fn real_world_layouts() {
        use Runtime::*;
        let cases: Vec<(String, Runtime, &str, Option<&str>)> = vec![
            // Docker, cgroupfs driver and systemd driver.
            (format!("/docker/{ID}"), Docker, ID, None),
            (format!("/system.slice/docker-{ID}.scope"), Docker, ID, None),
            // Docker-in-Docker: the innermost container.
            (format!("/docker/{ID2}/docker/{ID}"), Docker, ID, None),
            (format!("/ecs/8c2a0a30e1f14ddd9bb37e4e3b5b5d5e/{ID}"), Docker, ID, None),
            (format!("/actions_job/{ID}"), Docker, ID, None),
            // Podman: cgroupfs (this project's machines), systemd, nested, rootless, in a pod.
            (format!("/libpod_parent/libpod-{ID}"), Podman, ID, None),
            (format!("/machine.slice/libpod-{ID}.scope"), Podman, ID, None),
            (format!("/machine.slice/libpod-{ID}.scope/container"), Podman, ID, None),
            (
                format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
                Podman,
                ID,
                None,
            ),
            (
                format!("/machine.slice/machine-libpod_pod_{ID2}.slice/libpod-{ID}.scope"),
                Podman,
                ID,
                None,
            ),
            (format!("/libpod_parent/{ID2}/libpod-{ID}"), Podman, ID, None),
            // containerd / CRI under kubepods, systemd driver.
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_US}.slice/cri-containerd-{ID}.scope"
                ),
                Containerd,
                ID,
                Some(POD),
            ),
            (
                format!("/kubepods.slice/kubepods-pod{POD_US}.slice/cri-containerd-{ID}.scope"),
                Containerd,
                ID,
                Some(POD),
            ),
            // cgroupfs driver: bare ids.
            (format!("/kubepods/besteffort/pod{POD}/{ID}"), Containerd, ID, Some(POD)),
            (format!("/kubepods/burstable/pod{POD}/{ID}"), Containerd, ID, Some(POD)),
            (format!("/kubepods/pod{POD}/{ID}"), Containerd, ID, Some(POD)),
            // kind / nested kubelet under a docker container: the innermost id.
            (format!("/docker/{ID2}/kubepods/besteffort/pod{POD}/{ID}"), Containerd, ID, Some(POD)),
            // CRI-O, systemd and cgroupfs drivers.
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_US}.slice/crio-{ID}.scope"
                ),
                CriO,
                ID,
                Some(POD),
            ),
            (format!("/kubepods/besteffort/pod{POD}/crio-{ID}"), CriO, ID, Some(POD)),
            // Docker as the CRI runtime (cri-dockerd, systemd driver).
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_US}.slice/docker-{ID}.scope"),
                Docker,
                ID,
                Some(POD),
            ),
            (format!("/system.slice/nerdctl-{ID}.scope"), Containerd, ID, None),
            // A single component, as a kernel probe may report the leaf cgroup name.
            (format!("libpod-{ID}"), Podman, ID, None),
            (format!("docker-{ID}.scope"), Docker, ID, None),
        ];
        for (path, runtime, id, pod) in cases {
            assert_eq!(
                expect(&path),
                Some((runtime, id.to_string(), pod.map(str::to_string))),
                "{path}"
            );
        }
    }

    #[test]
    fn non_containers() {
        let cases = vec![
            "".to_string(),
            "/".to_string(),
            "/init.scope".to_string(),
            "/system.slice/docker.service".to_string(),
            "/system.slice/containerd.service".to_string(),
            "/system.slice/crio.service".to_string(),
            "/system.slice/sshd.service".to_string(),
            "/user.slice/user-1000.slice/session-2.scope".to_string(),
            "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope".to_string(),
            "/process_api/40500f30dfea8ea62cb57565b83af0e8".to_string(),
            // Monitors beside the container.
            format!("/machine.slice/libpod-conmon-{ID}.scope"),
            format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_US}.slice/crio-conmon-{ID}.scope"),
            // A podman pod's own cgroup (cgroupfs), and its conmon.
            format!("/libpod_parent/{ID}"),
            format!("/libpod_parent/{ID}/conmon"),
            "/libpod_parent/conmon".to_string(),
            // Kubernetes pod-level cgroups without a container.
            format!("/kubepods/besteffort/pod{POD}"),
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_US}.slice"),
            // Wrong lengths, case, alphabet, prefixes.
            format!("/docker/{}", &ID[..63]),
            format!("/docker/{ID}0"),
            format!("/docker/{}", ID.to_uppercase()),
            format!("/docker/{}g", &ID[..63]),
            format!("/system.slice/docker-{}.scope", &ID[..12]),
            format!("/system.slice/dockerd-{ID}.scope"),
            format!("/system.slice/libpodx-{ID}.scope"),
            // A bare id outside any runtime hierarchy proves nothing.
            format!("/{ID}"),
            format!("/system.slice/{ID}"),
            "garbage:::/\u{0}\u{7f}ü/..//".to_string(),
        ];
        for path in cases {
            assert_eq!(parse_cgroup_path(&path), None, "{path:?}");
        }
    }

    #[test]
    fn proc_cgroup_file_hybrid_and_unified() {
        // Hybrid host (this project's VMs): the unified line stays at the root.
        let hybrid = format!(
            "9:name=systemd:/libpod_parent/libpod-{ID}\n8:pids:/libpod_parent/libpod-{ID}\n\
             4:memory:/libpod_parent/libpod-{ID}\n0::/\n"
        );
        let c = parse_proc_cgroup(&hybrid).unwrap();
        assert_eq!((c.runtime, c.id.as_str()), (Runtime::Podman, ID));

        let unified = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(
            parse_proc_cgroup(&unified).unwrap().runtime,
            Runtime::Docker
        );

        // The unified line wins over v1 lines when both name a container.
        let both = format!("4:memory:/docker/{ID2}\n0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(parse_proc_cgroup(&both).unwrap().id, ID);

        let host =
            "9:name=systemd:/\n4:memory:/process_api/40500f30dfea8ea62cb57565b83af0e8\n0::/\n";
        assert_eq!(parse_proc_cgroup(host), None);
        assert_eq!(parse_proc_cgroup(""), None);
        assert_eq!(parse_proc_cgroup("not a cgroup file"), None);
    }

    #[test]
    fn runtime_names() {
        assert_eq!(Runtime::Docker.to_string(), "docker");
        assert_eq!(Runtime::Podman.as_str(), "podman");
        assert_eq!(Runtime::Containerd.as_str(), "containerd");
        assert_eq!(Runtime::CriO.as_str(), "cri-o");
    }
}

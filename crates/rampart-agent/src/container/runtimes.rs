//! Which runtime APIs to ask about a container, and where their sockets are: the Docker Engine API
//! (Docker, Podman), containerd's native API, and the CRI (containerd's CRI plugin, CRI-O).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cgroup::Runtime;
use super::containerd_api::ContainerdApi;
use super::cri_api::CriApi;
use super::runtime_api::{ApiError, ContainerDetails, DockerApi};

/// Colon-separated socket lists that replace the default ones, per API.
pub const DOCKER_SOCKETS_ENV: &str = super::runtime_api::SOCKETS_ENV;
pub const CONTAINERD_SOCKETS_ENV: &str = "RAMPART_CONTAINERD_SOCKETS";
pub const CRI_SOCKETS_ENV: &str = "RAMPART_CRI_SOCKETS";

/// Where containerd listens (its CRI plugin serves the same socket); k3s keeps its own.
pub const DEFAULT_CONTAINERD_SOCKETS: [&str; 3] = [
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
];
/// CRI-O's socket, then containerd's (for its CRI plugin).
pub const DEFAULT_CRI_SOCKETS: [&str; 4] = [
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
];

/// The sockets of each API, asked in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeSockets {
    pub docker: Vec<PathBuf>,
    pub containerd: Vec<PathBuf>,
    pub cri: Vec<PathBuf>,
}

impl RuntimeSockets {
    /// The environment's lists (`$RAMPART_CONTAINER_SOCKETS`, `$RAMPART_CONTAINERD_SOCKETS`,
    /// `$RAMPART_CRI_SOCKETS`) where set, else the default paths.
    pub fn discover() -> RuntimeSockets {
        let var = |name: &str| std::env::var(name).ok();
        RuntimeSockets {
            docker: super::runtime_api::discover_sockets(),
            containerd: socket_list(var(CONTAINERD_SOCKETS_ENV).as_deref())
                .unwrap_or_else(|| paths(&DEFAULT_CONTAINERD_SOCKETS)),
            cri: socket_list(var(CRI_SOCKETS_ENV).as_deref())
                .unwrap_or_else(|| paths(&DEFAULT_CRI_SOCKETS)),
        }
    }
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

/// A colon-separated list (`unix://` prefixes allowed); `None` when unset or empty.
pub fn socket_list(var: Option<&str>) -> Option<Vec<PathBuf>> {
    let listed: Vec<PathBuf> = var
        .unwrap_or("")
        .split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "unix")
        .map(|s| PathBuf::from(s.trim_start_matches("//")))
        .collect();
    (!listed.is_empty()).then_some(listed)
}

/// One runtime API endpoint.
#[derive(Debug, Clone)]
pub enum RuntimeApi {
    Docker(DockerApi),
    Containerd(ContainerdApi),
    Cri(CriApi),
}

impl RuntimeApi {
    /// Every endpoint of `sockets`: the CRI first (it alone knows a Kubernetes container's name and
    /// pod), then containerd's own API, then Docker's. The same socket is not asked twice for one
    /// API (`/var/run` is usually `/run`).
    pub fn endpoints(sockets: &RuntimeSockets, timeout: Duration) -> Vec<RuntimeApi> {
        let mut seen = std::collections::HashSet::new();
        let mut endpoints = Vec::new();
        let mut add = |kind: &str, path: &PathBuf, make: &dyn Fn(PathBuf) -> RuntimeApi| {
            let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            if seen.insert((kind.to_string(), canonical)) {
                endpoints.push(make(path.clone()));
            }
        };
        for path in &sockets.cri {
            add("cri", path, &|p| RuntimeApi::Cri(CriApi::new(p, timeout)));
        }
        for path in &sockets.containerd {
            add("containerd", path, &|p| {
                RuntimeApi::Containerd(ContainerdApi::new(p, timeout))
            });
        }
        for path in &sockets.docker {
            add("docker", path, &|p| {
                RuntimeApi::Docker(DockerApi::new(p, timeout))
            });
        }
        endpoints
    }

    pub fn socket(&self) -> &Path {
        match self {
            RuntimeApi::Docker(api) => api.socket(),
            RuntimeApi::Containerd(api) => api.socket(),
            RuntimeApi::Cri(api) => api.socket(),
        }
    }

    /// The API's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RuntimeApi::Docker(_) => "docker",
            RuntimeApi::Containerd(_) => "containerd",
            RuntimeApi::Cri(_) => "cri",
        }
    }

    /// Whether this API is the one to ask first for a container of `runtime`.
    pub fn serves(&self, runtime: Runtime) -> bool {
        match self {
            RuntimeApi::Docker(_) => matches!(runtime, Runtime::Docker | Runtime::Podman),
            RuntimeApi::Containerd(_) => runtime == Runtime::Containerd,
            RuntimeApi::Cri(_) => matches!(runtime, Runtime::Containerd | Runtime::CriO),
        }
    }

    /// `Ok(None)` when this runtime does not know the container.
    pub async fn inspect_container(&self, id: &str) -> Result<Option<ContainerDetails>, ApiError> {
        match self {
            RuntimeApi::Docker(api) => api.inspect_container(id).await,
            RuntimeApi::Containerd(api) => api.inspect_container(id).await,
            RuntimeApi::Cri(api) => api.inspect_container(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_lists() {
        assert_eq!(socket_list(None), None);
        assert_eq!(socket_list(Some(" : ")), None);
        assert_eq!(
            socket_list(Some("unix:///run/a.sock:/run/b.sock")),
            Some(vec![
                PathBuf::from("/run/a.sock"),
                PathBuf::from("/run/b.sock")
            ])
        );
    }

    #[test]
    fn endpoints_are_ordered_and_not_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("containerd.sock");
        std::fs::write(&sock, "").unwrap();
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        let sockets = RuntimeSockets {
            docker: vec![PathBuf::from("/run/docker.sock")],
            containerd: vec![sock.clone(), link.clone()],
            cri: vec![link, sock],
        };
        let endpoints = RuntimeApi::endpoints(&sockets, Duration::from_millis(10));
        let kinds: Vec<&str> = endpoints.iter().map(RuntimeApi::kind).collect();
        assert_eq!(kinds, ["cri", "containerd", "docker"]);
        assert!(endpoints[0].serves(Runtime::CriO) && !endpoints[0].serves(Runtime::Podman));
        assert!(endpoints[2].serves(Runtime::Podman));
    }
}

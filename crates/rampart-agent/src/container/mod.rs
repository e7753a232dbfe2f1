//! `container.*` context: which container a process runs in (from its cgroup path, at once) and
//! what its runtime says about it (image, name, labels, Kubernetes pod; from the Docker Engine API,
//! containerd's API or the CRI, in the background).

pub mod cgroup;
pub mod containerd_api;
pub mod cri_api;
mod grpc;
pub mod kube;
pub mod resolver;
pub mod runtime_api;
pub mod runtimes;

pub use cgroup::{parse_cgroup_path, parse_proc_cgroup, CgroupContainer, Runtime};
pub use containerd_api::ContainerdApi;
pub use cri_api::{CriApi, CriVersion};
pub use resolver::{ContainerResolver, ResolverConfig, ResolverStats, DEFAULT_FIRST_EVENT_WAIT};
pub use runtime_api::{discover_sockets, ApiError, ContainerDetails, DockerApi};
pub use runtimes::{RuntimeApi, RuntimeSockets};

/// A unix socket at `path` that accepts connections and never answers, as a hung runtime does (tests of
/// the lookup deadlines); abort the task to close it.
#[cfg(test)]
pub(crate) fn silent_socket(path: &std::path::Path) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    })
}

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

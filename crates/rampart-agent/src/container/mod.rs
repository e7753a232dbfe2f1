//! `container.*` context: which container a process runs in (from its cgroup path, at once) and
//! what the runtime says about it (image, name, creation time; from the Docker Engine API, later).

pub mod cgroup;
pub mod resolver;
pub mod runtime_api;

pub use cgroup::{parse_cgroup_path, parse_proc_cgroup, CgroupContainer, Runtime};
pub use resolver::{ContainerResolver, ResolverConfig, ResolverStats};
pub use runtime_api::{discover_sockets, ApiError, ContainerDetails, DockerApi};

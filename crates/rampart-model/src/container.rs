//! `container.*`: the container a process runs in, derived from its cgroup path and enriched through the
//! container runtime's API when one answers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// Full 64-hex container id.
    pub id: String,
    /// Runtime that owns the cgroup layout the id came from (`docker`, `podman`, `containerd`, `cri-o`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    /// Creation time, nanoseconds since the epoch (0 when unknown).
    #[serde(skip_serializing_if = "crate::file::is_zero")]
    pub created_at: u64,
    /// `image_name:…`, `image_tag:…`, `container_name:…` and any other tags the runtime gives.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Image name and tag, as the runtime reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
}

//! `privilege_gain`: produced by the agent, not the kernel. A process held credentials that nothing it was seen
//! doing explains: no set*id or capset call, no set-id or file-capability exec led to them. It is what a kernel
//! exploit's `commit_creds` (or credentials overwritten in memory) looks like from the outside.

use serde::{Deserialize, Serialize};

use crate::event::EventType;

/// A thread's own credentials, numeric: what the kernel holds in `task->real_cred` (ids are the kernel's, i.e.
/// host, ids whatever user namespace the thread is in). Records of the probe carry them; the privilege check
/// compares them with the thread's history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskCreds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    /// The credentials belong to the host's initial user namespace: only there do capabilities count on the host.
    pub init_user_ns: bool,
}

/// One set of credentials with user and group names (`privilege_gain.previous.*`, `privilege_gain.current.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivilegeCreds {
    #[serde(flatten)]
    pub ids: TaskCreds,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub euser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub egroup: String,
}

/// `privilege_gain.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivilegeGainEvent {
    /// The type of the event whose credentials showed the gain (`exec`, `open`, `fork`, `setuid`, …).
    pub seen_at: EventType,
    /// The credentials the thread was last known to hold legitimately.
    pub previous: PrivilegeCreds,
    /// The credentials it was seen with.
    pub current: PrivilegeCreds,
    /// The ids in `current` that no known state allowed: `uid`, `euid`, `suid`, `fsuid`, `gid`, `egid`, `sgid`,
    /// `fsgid`; `user_ns` when the thread is back in the host's user namespace (the kernel has no way back).
    pub gained_ids: Vec<String>,
    /// Capabilities held in the host's user namespace that no known state allowed (a bit per capability).
    pub gained_caps: u64,
}

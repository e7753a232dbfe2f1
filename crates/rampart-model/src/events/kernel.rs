//! Kernel and credential events: `bpf`, `ptrace`, `mprotect`, modules, `set*id`, `capset`, `signal`, `prctl`,
//! namespaces, `memfd_create` and `setrlimit`.

use serde::{Deserialize, Serialize};

use super::is_default;
use crate::events::file::FileTarget;
use crate::process::ProcessContext;

/// `mprotect.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MprotectEvent {
    pub vm_protection: u64,
    pub req_protection: u64,
    pub retval: i64,
}

/// `ptrace.*`; the tracee's full context is `ptrace.tracee.*` (with its own parent and ancestors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PtraceEvent {
    pub request: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracee: Option<ProcessContext>,
    pub retval: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BpfMap {
    #[serde(rename = "type")]
    pub map_type: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BpfProg {
    #[serde(rename = "type")]
    pub prog_type: u32,
    pub attach_type: u32,
    /// Helper function ids the program calls (`BPF_PROBE_WRITE_USER in bpf.prog.helpers`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub helpers: Vec<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
}

/// `bpf.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BpfEvent {
    pub cmd: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<BpfMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prog: Option<BpfProg>,
    pub retval: i64,
}

/// `load_module.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadModuleEvent {
    /// The module file (empty for a load from memory).
    pub file: FileTarget,
    pub name: String,
    pub loaded_from_memory: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub args: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    pub retval: i64,
}

/// `unload_module.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnloadModuleEvent {
    pub name: String,
    pub retval: i64,
}

/// `setuid.*`: the new ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetuidEvent {
    pub uid: u32,
    pub euid: u32,
    pub fsuid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub euser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fsuser: String,
}

/// `setgid.*`: the new ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetgidEvent {
    pub gid: u32,
    pub egid: u32,
    pub fsgid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub egroup: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fsgroup: String,
}

/// `capset.*`: the new capability sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapsetEvent {
    pub cap_effective: u64,
    pub cap_permitted: u64,
}

/// `signal.*`; the target's context is `signal.target.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalEvent {
    #[serde(rename = "type")]
    pub signal_type: u32,
    pub pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<ProcessContext>,
    pub retval: i64,
}

/// `setrlimit.*`: new resource limits (setrlimit, or prlimit64 when it sets them); the process whose limits
/// they are is `setrlimit.target.*`. `rlim_cur`/`rlim_max` are as the caller passed them (`RLIM_INFINITY` is
/// all ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetrlimitEvent {
    pub resource: u32,
    pub rlim_cur: u64,
    pub rlim_max: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<ProcessContext>,
    pub retval: i64,
}

/// `prctl.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrctlEvent {
    pub option: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub new_name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_name_truncated: bool,
    pub retval: i64,
}

/// `memfd_create.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemfdCreateEvent {
    pub name: String,
    pub flags: u32,
    pub retval: i64,
}

/// `io_uring_setup.*`: an io_uring instance created (its ring sizes and `IORING_SETUP_*` flags; the ring's
/// descriptor is the return value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IoUringSetupEvent {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub retval: i64,
}

/// `unshare.*` and `setns.*`: namespace (clone) flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamespaceEvent {
    pub flags: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub retval: i64,
}

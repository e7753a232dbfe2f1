//! `P(x)` and `PC(x)`: a process, its credentials, and its lineage.
//!
//! The agent's process cache owns one [`ProcessNode`] per live process; each node points at its parent's node,
//! so an event's ancestors are a chain of reference-counted nodes: attaching them to an event costs one `Arc`
//! clone, and walking them allocates nothing.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::file::{is_zero, FileInfo};

/// Real, effective and filesystem ids, the audit login id, and the capability sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
    /// Audit login uid; `u32::MAX` (AUDIT_AUID_UNSET) when never set.
    pub auid: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub euser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub egroup: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fsuser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fsgroup: String,
    pub cap_effective: u64,
    pub cap_permitted: u64,
}

/// The cgroup a process belongs to (`process.cgroup.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cgroup {
    pub id: u64,
    /// Path relative to the cgroup v2 root, e.g. `/system.slice/ssh.service`.
    pub path: String,
}

/// The script interpreter of an exec (`process.interpreter.file.*`), from the shebang line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interpreter {
    pub file: FileInfo,
}

/// The container id a process runs in (`process.container.id`); the full context is the root `container`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessContainer {
    pub id: String,
}

/// One process image: what `process.*`, `exec.*`, `process.parent.*` and each `process.ancestors.*` expose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Process {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub comm: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tty_name: String,
    /// Start of the process (fork), nanoseconds since the epoch.
    pub created_at: u64,
    /// Time of the exec that loaded this image, nanoseconds since the epoch (0 for a fork without exec).
    #[serde(skip_serializing_if = "is_zero")]
    pub exec_time: u64,
    #[serde(flatten)]
    pub credentials: Credentials,
    /// The executable, resolved in the kernel from the task's `mm->exe_file`.
    pub file: FileInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<Interpreter>,
    pub argv0: String,
    /// Arguments without argv0.
    pub argv: Vec<String>,
    /// Arguments without argv0, joined by spaces.
    pub args: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    /// Bytes of the whole argument vector as passed to execve (argv0 included, one NUL per argument), also
    /// when only its head and tail were captured.
    #[serde(skip_serializing_if = "is_zero")]
    pub args_size: u64,
    /// Bytes of the longest argument (argv0 included); when it lies in the part not captured, the least it
    /// can be. An argument padded past the capture (`miner <5 KiB> -o …`) shows here.
    #[serde(skip_serializing_if = "is_zero")]
    pub args_longest: u64,
    /// Environment variable names (values are never collected, except for [`Process::envp`]). Shared:
    /// a fork's copy and the execs of one parent with the same environment point at one list.
    #[serde(skip_serializing_if = "is_empty_list")]
    pub envs: Arc<[String]>,
    /// `NAME=value` for the few variables whose values matter to detection (LD_PRELOAD, …).
    #[serde(skip_serializing_if = "is_empty_list")]
    pub envp: Arc<[String]>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub envs_truncated: bool,
    pub cgroup: Cgroup,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ProcessContainer>,
    /// A clone that never called exec (a thread or a forked child still running its parent's image).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_thread: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_kworker: bool,
    /// `task->start_boottime` (nanoseconds since boot): with the pid, the process's identity. Active
    /// Protection refuses to signal a pid whose holder started at another time (the pid was recycled).
    #[serde(skip)]
    pub start_boot_ns: u64,
    /// `start_boot_ns` came from /proc's `starttime`, in clock ticks, not from the kernel's exact value.
    #[serde(skip)]
    pub start_in_ticks: bool,
    /// The image is 32-bit x86 code (ia32): its syscalls go through the compat ABI. Set at exec from the
    /// kernel's view of the new image (or, for a process running before the agent, from its executable's
    /// ELF header); a fork keeps its parent's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_ia32: bool,
}

impl Process {
    /// Sets `argv0`, `argv` and `args` from a full argument vector (argv0 first).
    pub fn set_argv(&mut self, mut full: Vec<String>) {
        if full.is_empty() {
            self.argv0.clear();
            self.argv.clear();
            self.args.clear();
            return;
        }
        self.argv0 = full.remove(0);
        self.args = full.join(" ");
        self.argv = full;
    }
}

fn is_empty_list(list: &Arc<[String]>) -> bool {
    list.is_empty()
}

/// A process in the lineage chain: the process and its parent's node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessNode {
    pub process: Arc<Process>,
    pub parent: Option<Arc<ProcessNode>>,
}

impl ProcessNode {
    pub fn new(process: Process, parent: Option<Arc<ProcessNode>>) -> Arc<Self> {
        Arc::new(ProcessNode {
            process: Arc::new(process),
            parent,
        })
    }

    /// The lineage, direct parent first.
    pub fn ancestors(&self) -> Ancestors<'_> {
        Ancestors {
            next: self.parent.as_deref(),
        }
    }
}

/// Iterator over a node's ancestors, direct parent first.
#[derive(Clone)]
pub struct Ancestors<'a> {
    next: Option<&'a ProcessNode>,
}

impl<'a> Iterator for Ancestors<'a> {
    type Item = &'a Process;

    fn next(&mut self) -> Option<&'a Process> {
        let node = self.next?;
        self.next = node.parent.as_deref();
        Some(&node.process)
    }
}

/// `PC(process)`: the event's process with `process.parent` and `process.ancestors`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessContext {
    pub node: Arc<ProcessNode>,
}

impl ProcessContext {
    pub fn new(node: Arc<ProcessNode>) -> Self {
        ProcessContext { node }
    }

    pub fn process(&self) -> &Process {
        &self.node.process
    }

    pub fn parent(&self) -> Option<&Process> {
        self.node.parent.as_deref().map(|n| &*n.process)
    }

    pub fn ancestors(&self) -> Ancestors<'_> {
        self.node.ancestors()
    }
}

impl std::ops::Deref for ProcessContext {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.node.process
    }
}

#[derive(Serialize)]
struct ContextOut<'a> {
    #[serde(flatten)]
    process: &'a Process,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<&'a Process>,
    ancestors: Vec<&'a Process>,
}

#[derive(Deserialize)]
struct ContextIn {
    #[serde(flatten)]
    process: Process,
    #[serde(default)]
    parent: Option<Process>,
    #[serde(default)]
    ancestors: Vec<Process>,
}

impl Serialize for ProcessContext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ContextOut {
            process: self.process(),
            parent: self.parent(),
            ancestors: self.ancestors().collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProcessContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ContextIn {
            process,
            parent,
            mut ancestors,
        } = ContextIn::deserialize(d)?;
        // A recorded event may carry only `parent`; the lineage then starts there.
        if ancestors.is_empty() {
            ancestors.extend(parent);
        }
        let mut chain: Option<Arc<ProcessNode>> = None;
        for ancestor in ancestors.into_iter().rev() {
            chain = Some(ProcessNode::new(ancestor, chain));
        }
        Ok(ProcessContext {
            node: ProcessNode::new(process, chain),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, path: &str) -> Process {
        Process {
            pid,
            file: FileInfo::from_path(path),
            ..Default::default()
        }
    }

    #[test]
    fn set_argv_splits_argv0() {
        let mut p = Process::default();
        p.set_argv(vec!["/bin/true".into(), "a".into(), "b c".into()]);
        assert_eq!(p.argv0, "/bin/true");
        assert_eq!(p.argv, vec!["a", "b c"]);
        assert_eq!(p.args, "a b c");
    }

    #[test]
    fn lineage_round_trips_through_json() {
        let init = ProcessNode::new(proc(1, "/sbin/init"), None);
        let sshd = ProcessNode::new(proc(100, "/usr/sbin/sshd"), Some(init));
        let bash = ProcessNode::new(proc(200, "/bin/bash"), Some(sshd));
        let ctx = ProcessContext::new(bash);
        let json = serde_json::to_value(&ctx).unwrap();
        assert_eq!(json["file"]["path"], "/bin/bash");
        assert_eq!(json["parent"]["file"]["path"], "/usr/sbin/sshd");
        assert_eq!(json["ancestors"][1]["file"]["name"], "init");
        let back: ProcessContext = serde_json::from_value(json).unwrap();
        assert_eq!(back, ctx);
        let names: Vec<_> = back.ancestors().map(|p| p.file.name.as_str()).collect();
        assert_eq!(names, ["sshd", "init"]);
    }
}

//! Behaviours: what an event says its workload does, in a form security profiles can count across
//! snapshots and compare against. One definition shared by the agent (snapshots, anomaly detection) and the
//! server (profiles, suppression suggestions), so both sides agree on what "the same behaviour" is.
//!
//! A behaviour is keyed by its kind, the chain of executables that led to it inside the workload (from the
//! workload's first process to the acting one), and a detail: the file and operation, the DNS name, the
//! peer and port, or the kernel event type. Arguments, pids and times are left out on purpose: they differ
//! between runs of the same workload.

use serde::{Deserialize, Serialize};

use crate::{Event, EventData, ProcessContext};

/// How many executables of a lineage a behaviour keeps (the innermost ones).
pub const MAX_CHAIN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Behavior {
    /// `process`, `file`, `dns`, `connect`, `bind`, `accept` or `event`.
    pub kind: String,
    /// Executables from the workload's first process to the acting one, joined by ` > `.
    pub process: String,
    /// `read:/etc/hosts` (file operation and path), `example.com` (DNS), `10.0.0.1:443` (peer), `ptrace`
    /// (kernel event type); empty for `process`.
    pub detail: String,
}

impl Behavior {
    /// One string for set membership and storage.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.kind, self.process, self.detail)
    }

    /// The inverse of [`Behavior::key`].
    pub fn from_key(key: &str) -> Option<Behavior> {
        let mut parts = key.splitn(3, '|');
        Some(Behavior {
            kind: parts.next()?.to_string(),
            process: parts.next()?.to_string(),
            detail: parts.next()?.to_string(),
        })
    }

    /// The acting executable (the last of the chain).
    pub fn executable(&self) -> &str {
        self.process.rsplit(" > ").next().unwrap_or("")
    }
}

/// The workload an event belongs to: its container id, if any.
fn workload_container(event: &Event) -> Option<&str> {
    event
        .container
        .as_ref()
        .map(|c| c.id.as_str())
        .filter(|id| !id.is_empty())
}

/// The executables from the workload's outermost process to the acting one. Inside a container the chain
/// stops at the first ancestor outside it (the runtime); on the host it keeps the innermost
/// [`MAX_CHAIN`]. Consecutive repeats (a shell re-exec'ing itself) collapse.
pub fn process_chain(process: &ProcessContext, container: Option<&str>) -> String {
    let in_workload = |p: &crate::Process| match container {
        Some(id) => p.container.as_ref().is_some_and(|c| c.id == id),
        None => true,
    };
    let mut chain: Vec<String> = Vec::new();
    let me = process.process();
    if in_workload(me) {
        chain.push(image(me));
    }
    for node in process.ancestors() {
        if chain.len() >= MAX_CHAIN || !in_workload(node) {
            break;
        }
        let step = image(node);
        if chain.last() != Some(&step) && !node.file.path.is_empty() {
            chain.push(step);
        }
    }
    chain.reverse();
    chain.join(" > ")
}

/// An executable as a chain step: its path, plus the name it was run as when that differs (a multi-call
/// binary such as busybox is a different program per name: `/bin/busybox[cat]`).
fn image(p: &crate::Process) -> String {
    let run_as = p.argv0.rsplit('/').next().unwrap_or("");
    if run_as.is_empty() || run_as == p.file.name {
        p.file.path.clone()
    } else {
        format!("{}[{run_as}]", p.file.path)
    }
}

/// A path with its run-specific parts replaced by `*`: all-digit components (pids, fds) and long hex ids
/// (container ids), so that the same behaviour of another run keys the same.
pub fn normalize_path(path: &str) -> String {
    path.split('/')
        .map(|c| {
            let volatile = (!c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
                || (c.len() >= 32 && c.bytes().all(|b| b.is_ascii_hexdigit()));
            if volatile {
                "*"
            } else {
                c
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

const O_ACCMODE: u32 = 0o3;
const O_CREAT: u32 = 0o100;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;

/// What `event` says its workload does (none for fork and exit, which add nothing an exec did not).
pub fn behaviors(event: &Event) -> Vec<Behavior> {
    let container = workload_container(event);
    let process = process_chain(&event.process, container);
    let make = |kind: &str, detail: String| Behavior {
        kind: kind.into(),
        process: process.clone(),
        detail,
    };
    match &event.data {
        EventData::Fork(_) | EventData::Exit(_) => Vec::new(),
        EventData::Exec(_) => vec![make("process", String::new())],
        EventData::Open(o) => {
            let write = o.flags & O_ACCMODE != 0 || o.flags & (O_CREAT | O_TRUNC | O_APPEND) != 0;
            let op = if write { "write" } else { "read" };
            vec![make(
                "file",
                format!("{op}:{}", normalize_path(&o.file.file.path)),
            )]
        }
        EventData::Dns(d) => {
            if d.response.is_some() || d.question.name.is_empty() {
                return Vec::new();
            }
            vec![make("dns", d.question.name.to_ascii_lowercase())]
        }
        EventData::Connect(s) => {
            let peer = s
                .addr
                .hostname
                .first()
                .cloned()
                .unwrap_or_else(|| s.addr.ip.to_string());
            vec![make("connect", format!("{peer}:{}", s.addr.port))]
        }
        EventData::Bind(s) => vec![make("bind", s.addr.port.to_string())],
        EventData::Accept(s) => vec![make("accept", s.addr.port.to_string())],
        data => match data.file_target() {
            Some(t) => vec![make(
                "file",
                format!(
                    "{}:{}",
                    data.event_type().as_str(),
                    normalize_path(&t.file.path)
                ),
            )],
            None => vec![make("event", data.event_type().as_str().to_string())],
        },
    }
}

/// What a snapshot profiled: a container (profiles are per image name and tag) or a host service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// `container` or `service`.
    pub kind: String,
    /// Container id, or the systemd unit.
    pub id: String,
    /// Image name and tag (`systemd:<unit>` and the executable's version for services).
    pub image_name: String,
    pub image_tag: String,
}

/// One behaviour in a snapshot: how often it happened and an example of its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotEntry {
    #[serde(flatten)]
    pub behavior: Behavior,
    pub count: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub example: String,
}

/// An activity snapshot: what one workload did over a period, as an agent recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySnapshot {
    /// Unique per agent (the server ignores a snapshot it already has).
    pub id: String,
    pub workload: Workload,
    /// Epoch nanoseconds.
    pub started_at: u64,
    pub ended_at: u64,
    /// Events recorded, and events left out by the load controller.
    pub events: u64,
    pub dropped: u64,
    pub behaviors: Vec<SnapshotEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{FileTarget, OpenEvent};
    use crate::process::ProcessContainer;
    use crate::{Container, FileInfo, Process, ProcessNode};

    fn proc(path: &str, container: Option<&str>) -> Process {
        Process {
            file: FileInfo::from_path(path),
            container: container.map(|id| ProcessContainer { id: id.into() }),
            ..Default::default()
        }
    }

    #[test]
    fn chains_stop_at_the_container_boundary_and_keys_round_trip() {
        let runtime = ProcessNode::new(proc("/usr/bin/conmon", None), None);
        let sh = ProcessNode::new(proc("/bin/sh", Some("c1")), Some(runtime));
        let sh2 = ProcessNode::new(proc("/bin/sh", Some("c1")), Some(sh));
        let cat = ProcessNode::new(proc("/bin/cat", Some("c1")), Some(sh2));
        let mut ev = Event::new(
            1,
            ProcessContext::new(cat),
            EventData::Open(OpenEvent {
                file: FileTarget::from_path("/etc/hosts"),
                flags: 0,
                retval: 3,
                syscall: None,
            }),
        );
        ev.container = Some(Container {
            id: "c1".into(),
            ..Default::default()
        });
        let b = behaviors(&ev);
        assert_eq!(b.len(), 1);
        assert_eq!(
            b[0].process, "/bin/sh > /bin/cat",
            "conmon is outside; sh>sh collapses"
        );
        assert_eq!(b[0].detail, "read:/etc/hosts");
        assert_eq!(b[0].executable(), "/bin/cat");
        assert_eq!(Behavior::from_key(&b[0].key()), Some(b[0].clone()));
    }

    #[test]
    fn volatile_path_parts_and_multicall_binaries() {
        assert_eq!(normalize_path("/proc/4242/fd/3"), "/proc/*/fd/*");
        let id = "ab".repeat(32);
        assert_eq!(normalize_path(&format!("/run/{id}/x")), "/run/*/x");
        assert_eq!(normalize_path("/etc/hosts"), "/etc/hosts");
        let mut p = proc("/bin/busybox", None);
        p.argv0 = "cat".into();
        assert_eq!(image(&p), "/bin/busybox[cat]");
        p.argv0 = "/bin/busybox".into();
        assert_eq!(image(&p), "/bin/busybox");
    }
}

//! The event envelope: `event.*` metadata, the process context, the container, and one typed payload.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::container::Container;
use crate::events;
use crate::process::{Process, ProcessContext, ProcessNode};

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// Every event type a rule can be written for; its SECL prefix is [`EventType::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EventType { $($variant,)* }

        impl EventType {
            /// All event types, in a stable order (the index is usable as a bucket number).
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }
        }

        impl FromStr for EventType {
            type Err = UnknownEventType;
            fn from_str(s: &str) -> Result<Self, UnknownEventType> {
                match s { $($name => Ok(EventType::$variant),)* _ => Err(UnknownEventType(s.to_string())) }
            }
        }
    };
}

event_types! {
    Exec => "exec",
    Fork => "fork",
    Exit => "exit",
    Open => "open",
    Chmod => "chmod",
    Chown => "chown",
    Mkdir => "mkdir",
    Rmdir => "rmdir",
    Unlink => "unlink",
    Rename => "rename",
    Link => "link",
    Utimes => "utimes",
    Setxattr => "setxattr",
    Removexattr => "removexattr",
    Truncate => "truncate",
    Chdir => "chdir",
    Splice => "splice",
    Mmap => "mmap",
    Mprotect => "mprotect",
    Ptrace => "ptrace",
    Bpf => "bpf",
    LoadModule => "load_module",
    UnloadModule => "unload_module",
    Setuid => "setuid",
    Setgid => "setgid",
    Capset => "capset",
    Signal => "signal",
    Setrlimit => "setrlimit",
    Mount => "mount",
    Umount => "umount",
    Prctl => "prctl",
    MemfdCreate => "memfd_create",
    Unshare => "unshare",
    Setns => "setns",
    Dns => "dns",
    Connect => "connect",
    Bind => "bind",
    Accept => "accept",
    Imds => "imds",
    IoUringSetup => "io_uring_setup",
    PrivilegeGain => "privilege_gain",
}

impl EventType {
    /// Position in [`EventType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

/// `event.*`: fields every event has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Nanoseconds since the epoch.
    #[serde(default)]
    pub timestamp: u64,
    /// Unique, stable id of the event (idempotent reporting keys on it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Where the event came from: `ebpf`, `agent` (derived by the agent, e.g. `privilege_gain`), `procfs`
    /// (start-up snapshot) or `replay`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
    /// `event.async`: the operation was submitted asynchronously (through io_uring), not by a syscall of
    /// the process.
    #[serde(rename = "async", default, skip_serializing_if = "std::ops::Not::not")]
    pub is_async: bool,
    /// The activity was made through an ia32 compat syscall (a 32-bit program's, or a 64-bit program's
    /// `int $0x80`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compat: bool,
    /// A kill the kernel already performed for this event (Active Protection at exec). Reported through the
    /// matches' actions, so it is not serialized here.
    #[serde(skip)]
    pub kernel_kill: Option<KernelKill>,
}

/// A signal the kernel sent at the hook, before the process ran any code of its new image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelKill {
    /// The kernel kill slot (maps to a rule through the agent's kill plan).
    pub slot: u32,
    pub signal: u32,
    /// The helper's return value: 0 when the signal was sent.
    pub result: i32,
}

/// How a process ended (`exit.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExitCause {
    Exited,
    Signaled,
    Coredumped,
}

/// `exit.*`: the exit status, or the signal that ended the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    pub cause: ExitCause,
    /// Exit code for `EXITED`, signal number for `SIGNALED`/`COREDUMPED`.
    pub code: u32,
}

/// `fork.*`: a new process (the event's process context is the child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvent {
    pub parent_pid: u32,
    pub child_pid: u32,
}

/// The event-specific payload, serialized under its SECL prefix (`"exec": {…}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventData {
    /// The process image after exec (the same process as the event's `process`).
    Exec(Arc<Process>),
    Fork(ForkEvent),
    Exit(ExitEvent),
    Open(events::OpenEvent),
    Chmod(events::FileEvent),
    Chown(events::FileEvent),
    Mkdir(events::FileEvent),
    Rmdir(events::FileEvent),
    Unlink(events::UnlinkEvent),
    Rename(events::FileEvent),
    Link(events::FileEvent),
    Utimes(events::FileEvent),
    Setxattr(events::FileEvent),
    Removexattr(events::FileEvent),
    Truncate(events::FileEvent),
    Chdir(events::FileEvent),
    Splice(events::SpliceEvent),
    Mmap(events::MmapEvent),
    Mprotect(events::MprotectEvent),
    Ptrace(events::PtraceEvent),
    Bpf(events::BpfEvent),
    LoadModule(events::LoadModuleEvent),
    UnloadModule(events::UnloadModuleEvent),
    Setuid(events::SetuidEvent),
    Setgid(events::SetgidEvent),
    Capset(events::CapsetEvent),
    Signal(events::SignalEvent),
    Setrlimit(events::SetrlimitEvent),
    Mount(events::MountEvent),
    Umount(events::UmountEvent),
    Prctl(events::PrctlEvent),
    MemfdCreate(events::MemfdCreateEvent),
    Unshare(events::NamespaceEvent),
    Setns(events::NamespaceEvent),
    Dns(events::DnsEvent),
    Connect(events::SocketEvent),
    Bind(events::SocketEvent),
    Accept(events::SocketEvent),
    Imds(events::ImdsEvent),
    IoUringSetup(events::IoUringSetupEvent),
    /// Produced by the agent's privilege check, not by a kernel hook.
    PrivilegeGain(events::PrivilegeGainEvent),
}

/// The payloads that are a plain [`events::FileEvent`], as one or-pattern binding it to `$e`: the one list
/// of them, for shared and mutable matches alike.
macro_rules! plain_file_event {
    ($e:pat) => {
        EventData::Chmod($e)
            | EventData::Chown($e)
            | EventData::Mkdir($e)
            | EventData::Rmdir($e)
            | EventData::Rename($e)
            | EventData::Link($e)
            | EventData::Utimes($e)
            | EventData::Setxattr($e)
            | EventData::Removexattr($e)
            | EventData::Truncate($e)
            | EventData::Chdir($e)
    };
}

impl EventData {
    /// The file (and destination) of a file event's payload, whatever its type.
    pub fn file_target(&self) -> Option<&events::FileTarget> {
        match self {
            EventData::Open(e) => Some(&e.file),
            EventData::Unlink(e) => Some(&e.file),
            _ => self.plain_file().map(|e| &e.file),
        }
    }

    /// The return value of a file event's payload.
    pub fn file_retval(&self) -> Option<i64> {
        match self {
            EventData::Open(e) => Some(e.retval),
            EventData::Unlink(e) => Some(e.retval),
            _ => self.plain_file().map(|e| e.retval),
        }
    }

    /// The payload of the file events that carry nothing but a file (chmod, rename, chdir…).
    pub fn plain_file(&self) -> Option<&events::FileEvent> {
        match self {
            plain_file_event!(e) => Some(e),
            _ => None,
        }
    }

    /// [`Self::plain_file`], mutably (the agent fills in hashes).
    pub fn plain_file_mut(&mut self) -> Option<&mut events::FileEvent> {
        match self {
            plain_file_event!(e) => Some(e),
            _ => None,
        }
    }

    pub fn event_type(&self) -> EventType {
        match self {
            EventData::Exec(_) => EventType::Exec,
            EventData::Fork(_) => EventType::Fork,
            EventData::Exit(_) => EventType::Exit,
            EventData::Open(_) => EventType::Open,
            EventData::Chmod(_) => EventType::Chmod,
            EventData::Chown(_) => EventType::Chown,
            EventData::Mkdir(_) => EventType::Mkdir,
            EventData::Rmdir(_) => EventType::Rmdir,
            EventData::Unlink(_) => EventType::Unlink,
            EventData::Rename(_) => EventType::Rename,
            EventData::Link(_) => EventType::Link,
            EventData::Utimes(_) => EventType::Utimes,
            EventData::Setxattr(_) => EventType::Setxattr,
            EventData::Removexattr(_) => EventType::Removexattr,
            EventData::Truncate(_) => EventType::Truncate,
            EventData::Chdir(_) => EventType::Chdir,
            EventData::Splice(_) => EventType::Splice,
            EventData::Mmap(_) => EventType::Mmap,
            EventData::Mprotect(_) => EventType::Mprotect,
            EventData::Ptrace(_) => EventType::Ptrace,
            EventData::Bpf(_) => EventType::Bpf,
            EventData::LoadModule(_) => EventType::LoadModule,
            EventData::UnloadModule(_) => EventType::UnloadModule,
            EventData::Setuid(_) => EventType::Setuid,
            EventData::Setgid(_) => EventType::Setgid,
            EventData::Capset(_) => EventType::Capset,
            EventData::Signal(_) => EventType::Signal,
            EventData::Setrlimit(_) => EventType::Setrlimit,
            EventData::Mount(_) => EventType::Mount,
            EventData::Umount(_) => EventType::Umount,
            EventData::Prctl(_) => EventType::Prctl,
            EventData::MemfdCreate(_) => EventType::MemfdCreate,
            EventData::Unshare(_) => EventType::Unshare,
            EventData::Setns(_) => EventType::Setns,
            EventData::Dns(_) => EventType::Dns,
            EventData::Connect(_) => EventType::Connect,
            EventData::Bind(_) => EventType::Bind,
            EventData::Accept(_) => EventType::Accept,
            EventData::Imds(_) => EventType::Imds,
            EventData::IoUringSetup(_) => EventType::IoUringSetup,
            EventData::PrivilegeGain(_) => EventType::PrivilegeGain,
        }
    }
}

/// One decoded, enriched event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub event: EventMeta,
    pub process: ProcessContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(flatten)]
    pub data: EventData,
}

impl Event {
    pub fn new(timestamp: u64, process: ProcessContext, data: EventData) -> Self {
        Event {
            event: EventMeta {
                event_type: data.event_type(),
                timestamp,
                id: String::new(),
                hostname: String::new(),
                origin: String::new(),
                is_async: false,
                compat: false,
                kernel_kill: None,
            },
            process,
            container: None,
            data,
        }
    }

    /// The exec of `node`'s process: it is both the event's process context and its payload.
    pub fn exec(timestamp: u64, node: Arc<ProcessNode>) -> Self {
        let data = EventData::Exec(node.process.clone());
        Event::new(timestamp, ProcessContext::new(node), data)
    }

    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileInfo;

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
            assert_eq!(EventType::ALL[t.index()], *t);
        }
        assert!("nope".parse::<EventType>().is_err());
    }

    #[test]
    fn exec_event_json_nests_by_secl_name() {
        let mut p = Process {
            pid: 42,
            file: FileInfo::from_path("/bin/true"),
            ..Default::default()
        };
        p.set_argv(vec!["true".into(), "a".into(), "b c".into()]);
        let ev = Event::exec(7, ProcessNode::new(p, None));
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["event"]["type"], "exec");
        assert_eq!(json["exec"]["file"]["path"], "/bin/true");
        assert_eq!(json["exec"]["argv"][1], "b c");
        assert_eq!(json["process"]["pid"], 42);
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn exit_event_json() {
        let node = ProcessNode::new(Process::default(), None);
        let ev = Event::new(
            1,
            ProcessContext::new(node),
            EventData::Exit(ExitEvent {
                cause: ExitCause::Signaled,
                code: 9,
            }),
        );
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["exit"]["cause"], "SIGNALED");
        assert_eq!(json["exit"]["code"], 9);
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), ev);
    }

    #[test]
    fn the_ia32_flags_are_serialized_only_when_set() {
        let plain = Event::exec(1, ProcessNode::new(Process::default(), None));
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json["event"].get("compat").is_none());
        assert!(json["process"].get("is_ia32").is_none());

        let mut ev = Event::exec(
            1,
            ProcessNode::new(
                Process {
                    is_ia32: true,
                    ..Default::default()
                },
                None,
            ),
        );
        ev.event.compat = true;
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["event"]["compat"], true);
        assert_eq!(json["process"]["is_ia32"], true);
        assert_eq!(json["exec"]["is_ia32"], true);
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), ev);
    }
}

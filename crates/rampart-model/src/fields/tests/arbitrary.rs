//! Random events of every type for the property tests, drawn from a tape of words that proptest generates and
//! shrinks (a shorter tape, smaller words: a smaller event). Every struct is written out in full, without
//! `..Default::default()`, so that a new model field fails to compile here until the generator fills it.

use std::net::IpAddr;
use std::sync::Arc;

use crate::container::{Container, ImageRef};
use crate::event::{Event, EventData, EventType, ExitCause, ExitEvent, ForkEvent};
use crate::events::*;
use crate::file::FileInfo;
use crate::process::{
    Cgroup, Credentials, Interpreter, Process, ProcessContainer, ProcessContext, ProcessNode,
};

/// Words drawn in order; an exhausted tape reads zeros.
pub(crate) struct Tape<'a> {
    words: &'a [u64],
    at: usize,
}

impl<'a> Tape<'a> {
    pub(crate) fn new(words: &'a [u64]) -> Self {
        Tape { words, at: 0 }
    }
    fn word(&mut self) -> u64 {
        let w = self.words.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        w
    }
    fn below(&mut self, n: u64) -> u64 {
        self.word() % n
    }
    fn u8(&mut self) -> u8 {
        self.word() as u8
    }
    fn u16(&mut self) -> u16 {
        self.word() as u16
    }
    fn u32(&mut self) -> u32 {
        self.word() as u32
    }
    /// The full range, above `i64::MAX` included (fields read as `i64`).
    fn u64(&mut self) -> u64 {
        self.word()
    }
    fn i64(&mut self) -> i64 {
        self.word() as i64
    }
    fn bool(&mut self) -> bool {
        self.word() & 1 == 1
    }
    /// Short strings over pieces that matter to the accessors: paths, dots, flags, `=`, quotes, non-ASCII.
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "/", ".", "-", "--", "=", "x.yaml", "\"", " ", "é", "etc", "*", "0", "-lc",
            "\u{202e}",
        ];
        (0..self.below(5))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }
    fn strings(&mut self) -> Vec<String> {
        (0..self.below(4)).map(|_| self.string()).collect()
    }
    fn maybe<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        self.bool().then(|| f(self))
    }
    fn ip(&mut self) -> IpAddr {
        if self.bool() {
            IpAddr::from(self.u32().to_be_bytes())
        } else {
            IpAddr::from(((self.u64() as u128) << 64 | self.u64() as u128).to_be_bytes())
        }
    }
}

pub(crate) fn file(t: &mut Tape<'_>) -> FileInfo {
    FileInfo {
        path: t.string(),
        name: t.string(),
        inode: t.u64(),
        mount_id: t.u32(),
        dev: t.u64(),
        filesystem: t.string(),
        mode: t.u32(),
        uid: t.u32(),
        gid: t.u32(),
        user: t.string(),
        group: t.string(),
        change_time: t.u64(),
        modification_time: t.u64(),
        in_upper_layer: t.bool(),
        hashes: t.strings(),
    }
}

fn credentials(t: &mut Tape<'_>) -> Credentials {
    Credentials {
        uid: t.u32(),
        gid: t.u32(),
        euid: t.u32(),
        egid: t.u32(),
        fsuid: t.u32(),
        fsgid: t.u32(),
        auid: t.u32(),
        user: t.string(),
        group: t.string(),
        euser: t.string(),
        egroup: t.string(),
        fsuser: t.string(),
        fsgroup: t.string(),
        cap_effective: t.u64(),
        cap_permitted: t.u64(),
    }
}

pub(crate) fn process(t: &mut Tape<'_>) -> Process {
    Process {
        pid: t.u32(),
        tid: t.u32(),
        ppid: t.u32(),
        comm: t.string(),
        tty_name: t.string(),
        created_at: t.u64(),
        exec_time: t.u64(),
        credentials: credentials(t),
        file: file(t),
        interpreter: t.maybe(|t| Interpreter { file: file(t) }),
        argv0: t.string(),
        argv: t.strings(),
        args: t.string(),
        args_truncated: t.bool(),
        args_size: t.u64(),
        args_longest: t.u64(),
        envs: t.strings().into(),
        envp: t.strings().into(),
        envs_truncated: t.bool(),
        cgroup: Cgroup {
            id: t.u64(),
            path: t.string(),
        },
        container: t.maybe(|t| ProcessContainer { id: t.string() }),
        is_thread: t.bool(),
        is_kworker: t.bool(),
        start_boot_ns: t.u64(),
        start_in_ticks: t.bool(),
        is_ia32: t.bool(),
    }
}

/// A process with up to three ancestors.
fn context(t: &mut Tape<'_>) -> ProcessContext {
    let mut chain = None;
    for _ in 0..t.below(4) {
        chain = Some(ProcessNode::new(process(t), chain));
    }
    ProcessContext::new(ProcessNode::new(process(t), chain))
}

fn target(t: &mut Tape<'_>) -> FileTarget {
    FileTarget {
        file: file(t),
        destination: t.maybe(|t| Destination {
            file: file(t),
            namespace: t.string(),
        }),
    }
}

fn syscall(t: &mut Tape<'_>) -> Option<SyscallArgs> {
    t.maybe(|t| SyscallArgs {
        path: t.string(),
        destination: t.maybe(|t| SyscallPath { path: t.string() }),
        flags: t.u32(),
        mode: t.u32(),
        uid: t.u32(),
        gid: t.u32(),
        dirfd: t.i64(),
    })
}

fn file_event(t: &mut Tape<'_>) -> FileEvent {
    FileEvent {
        file: target(t),
        retval: t.i64(),
        syscall: syscall(t),
    }
}

fn mount_path(t: &mut Tape<'_>) -> MountPath {
    MountPath { path: t.string() }
}

fn socket(t: &mut Tape<'_>) -> SocketEvent {
    SocketEvent {
        addr: SockAddr {
            ip: t.ip(),
            port: t.u16(),
            family: t.u16(),
            hostname: t.strings(),
        },
        protocol: t.u16(),
        retval: t.i64(),
    }
}

fn namespace(t: &mut Tape<'_>) -> NamespaceEvent {
    NamespaceEvent {
        flags: t.u64(),
        retval: t.i64(),
    }
}

fn privilege_creds(t: &mut Tape<'_>) -> PrivilegeCreds {
    PrivilegeCreds {
        ids: TaskCreds {
            uid: t.u32(),
            euid: t.u32(),
            suid: t.u32(),
            fsuid: t.u32(),
            gid: t.u32(),
            egid: t.u32(),
            sgid: t.u32(),
            fsgid: t.u32(),
            cap_effective: t.u64(),
            cap_permitted: t.u64(),
            init_user_ns: t.bool(),
        },
        user: t.string(),
        euser: t.string(),
        group: t.string(),
        egroup: t.string(),
    }
}

/// The payload of an event of type `ty`; the match is exhaustive, so a new event type needs a generator here.
fn payload(ty: EventType, t: &mut Tape<'_>) -> EventData {
    use EventData as D;
    use EventType as T;
    match ty {
        T::Exec => D::Exec(Arc::new(process(t))),
        T::Fork => D::Fork(ForkEvent {
            parent_pid: t.u32(),
            child_pid: t.u32(),
        }),
        T::Exit => D::Exit(ExitEvent {
            cause: [
                ExitCause::Exited,
                ExitCause::Signaled,
                ExitCause::Coredumped,
            ][t.below(3) as usize],
            code: t.u32(),
        }),
        T::Open => D::Open(OpenEvent {
            file: target(t),
            flags: t.u32(),
            retval: t.i64(),
            syscall: syscall(t),
        }),
        T::Chmod => D::Chmod(file_event(t)),
        T::Chown => D::Chown(file_event(t)),
        T::Mkdir => D::Mkdir(file_event(t)),
        T::Rmdir => D::Rmdir(file_event(t)),
        T::Unlink => D::Unlink(UnlinkEvent {
            file: target(t),
            flags: t.u32(),
            retval: t.i64(),
            syscall: syscall(t),
        }),
        T::Rename => D::Rename(file_event(t)),
        T::Link => D::Link(file_event(t)),
        T::Utimes => D::Utimes(file_event(t)),
        T::Setxattr => D::Setxattr(file_event(t)),
        T::Removexattr => D::Removexattr(file_event(t)),
        T::Truncate => D::Truncate(file_event(t)),
        T::Chdir => D::Chdir(file_event(t)),
        T::Splice => D::Splice(SpliceEvent {
            file: target(t),
            pipe_entry_flag: t.u32(),
            pipe_exit_flag: t.u32(),
            retval: t.i64(),
        }),
        T::Mmap => D::Mmap(MmapEvent {
            file: target(t),
            protection: t.u64(),
            flags: t.u64(),
            retval: t.i64(),
        }),
        T::Mprotect => D::Mprotect(MprotectEvent {
            vm_protection: t.u64(),
            req_protection: t.u64(),
            retval: t.i64(),
        }),
        T::Ptrace => D::Ptrace(PtraceEvent {
            request: t.u32(),
            tracee: t.maybe(context),
            retval: t.i64(),
        }),
        T::Bpf => D::Bpf(BpfEvent {
            cmd: t.u32(),
            map: t.maybe(|t| BpfMap {
                map_type: t.u32(),
                name: t.string(),
            }),
            prog: t.maybe(|t| BpfProg {
                prog_type: t.u32(),
                attach_type: t.u32(),
                helpers: (0..t.below(4)).map(|_| t.u32()).collect(),
                name: t.string(),
                tag: t.string(),
            }),
            retval: t.i64(),
        }),
        T::LoadModule => D::LoadModule(LoadModuleEvent {
            file: target(t),
            name: t.string(),
            loaded_from_memory: t.bool(),
            args: t.string(),
            argv: t.strings(),
            args_truncated: t.bool(),
            retval: t.i64(),
        }),
        T::UnloadModule => D::UnloadModule(UnloadModuleEvent {
            name: t.string(),
            retval: t.i64(),
        }),
        T::Setuid => D::Setuid(SetuidEvent {
            uid: t.u32(),
            euid: t.u32(),
            fsuid: t.u32(),
            user: t.string(),
            euser: t.string(),
            fsuser: t.string(),
        }),
        T::Setgid => D::Setgid(SetgidEvent {
            gid: t.u32(),
            egid: t.u32(),
            fsgid: t.u32(),
            group: t.string(),
            egroup: t.string(),
            fsgroup: t.string(),
        }),
        T::Capset => D::Capset(CapsetEvent {
            cap_effective: t.u64(),
            cap_permitted: t.u64(),
        }),
        T::Signal => D::Signal(SignalEvent {
            signal_type: t.u32(),
            pid: t.u32(),
            target: t.maybe(context),
            retval: t.i64(),
        }),
        T::Setrlimit => D::Setrlimit(SetrlimitEvent {
            resource: t.u32(),
            rlim_cur: t.u64(),
            rlim_max: t.u64(),
            target: t.maybe(context),
            retval: t.i64(),
        }),
        T::Mount => D::Mount(MountEvent {
            fs_type: t.string(),
            mountpoint: mount_path(t),
            source: mount_path(t),
            root: mount_path(t),
            mount_id: t.u32(),
            detached: t.bool(),
            visible: t.bool(),
            retval: t.i64(),
            syscall: syscall(t),
        }),
        T::Umount => D::Umount(UmountEvent {
            mount_id: t.u32(),
            mountpoint: mount_path(t),
            retval: t.i64(),
        }),
        T::Prctl => D::Prctl(PrctlEvent {
            option: t.u32(),
            new_name: t.string(),
            is_name_truncated: t.bool(),
            retval: t.i64(),
        }),
        T::MemfdCreate => D::MemfdCreate(MemfdCreateEvent {
            name: t.string(),
            flags: t.u32(),
            retval: t.i64(),
        }),
        T::Unshare => D::Unshare(namespace(t)),
        T::Setns => D::Setns(namespace(t)),
        T::Dns => D::Dns(DnsEvent {
            id: t.u16(),
            question: DnsQuestion {
                name: t.string(),
                qtype: t.u16(),
                class: t.u16(),
                length: t.u16(),
                count: t.u16(),
            },
            response: t.maybe(|t| DnsResponse {
                code: t.u8(),
                answers: (0..t.below(4))
                    .map(|_| DnsAnswer {
                        name: t.string(),
                        rtype: t.u16(),
                        class: t.u16(),
                        ttl: t.u32(),
                        address: t.maybe(Tape::ip),
                        target: t.string(),
                    })
                    .collect(),
            }),
        }),
        T::Connect => D::Connect(socket(t)),
        T::Bind => D::Bind(socket(t)),
        T::Accept => D::Accept(socket(t)),
        T::Imds => D::Imds(ImdsEvent {
            imds_type: t.string(),
            cloud_provider: t.string(),
            url: t.string(),
            host: t.string(),
            user_agent: t.string(),
            server: t.string(),
            aws: ImdsAws {
                is_imds_v2: t.bool(),
                security_credentials: ImdsAwsCredentials {
                    cred_type: t.string(),
                },
            },
        }),
        T::IoUringSetup => D::IoUringSetup(IoUringSetupEvent {
            sq_entries: t.u32(),
            cq_entries: t.u32(),
            flags: t.u32(),
            retval: t.i64(),
        }),
        T::PrivilegeGain => D::PrivilegeGain(PrivilegeGainEvent {
            seen_at: EventType::ALL[t.below(EventType::ALL.len() as u64) as usize],
            previous: privilege_creds(t),
            current: privilege_creds(t),
            gained_ids: t.strings(),
            gained_caps: t.u64(),
        }),
    }
}

/// A random event of type `ty`: envelope, process context, container and payload.
pub(crate) fn event(ty: EventType, t: &mut Tape<'_>) -> Event {
    let mut ev = Event::new(t.u64(), context(t), payload(ty, t));
    ev.event.id = t.string();
    ev.event.hostname = t.string();
    // `procfs` is the origin `event.source` tells apart.
    ev.event.origin = if t.bool() {
        "procfs".into()
    } else {
        t.string()
    };
    ev.event.is_async = t.bool();
    ev.event.compat = t.bool();
    ev.container = t.maybe(|t| Container {
        id: t.string(),
        runtime: t.string(),
        created_at: t.u64(),
        tags: t.strings(),
        image: t.maybe(|t| ImageRef {
            name: t.string(),
            tag: t.string(),
        }),
        name: t.maybe(Tape::string),
    });
    ev
}

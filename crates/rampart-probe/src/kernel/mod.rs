//! Kernel-activity family: decoding `kact_event` records (`bpf/kernel.h`) into the model's payloads, plus
//! what the three activity families (kernel, network, DNS) share: program selection and attachment, the
//! in-kernel filter settings and the per-type counters.

pub mod attach;
pub mod config;
pub mod counters;

use rampart_model::events::{
    BpfEvent, BpfMap, BpfProg, CapsetEvent, FileTarget, IoUringSetupEvent, LoadModuleEvent,
    MemfdCreateEvent, MmapEvent, MountEvent, MountPath, MprotectEvent, NamespaceEvent, PrctlEvent,
    PtraceEvent, SetgidEvent, SetrlimitEvent, SetuidEvent, SignalEvent, SpliceEvent, UmountEvent,
    UnloadModuleEvent,
};
use rampart_model::process::{Process, ProcessContext, ProcessNode};
use rampart_model::EventData;

use libbpf_rs::libbpf_sys;

use crate::abi::{has, lossy, read_record};
use crate::decode::DecodeError;
use crate::record::{ActivityRecord, ProbeRecord};
use crate::skel::types::{exec_limit, kact_event, kact_flag, kact_limit, kact_op};

/// What the kernel keeps of a PR_SET_NAME name: TASK_COMM_LEN (the C side's COMM_LEN) less its NUL.
const COMM_MAX: usize = exec_limit::COMM_LEN.0 as usize - 1;
/// Bound of the user string section s1 (module arguments): a full section means they were cut.
const KACT_STR_MAX: usize = kact_limit::KACT_STR_MAX.0 as usize;
const BPF_MAP_CREATE: u64 = libbpf_sys::BPF_MAP_CREATE as u64;
const BPF_PROG_LOAD: u64 = libbpf_sys::BPF_PROG_LOAD as u64;
const PTRACE_TRACEME: u64 = libc::PTRACE_TRACEME as u64;
const PR_SET_NAME: u64 = libc::PR_SET_NAME as u64;

pub(crate) fn decode(bytes: &[u8]) -> Result<ProbeRecord, DecodeError> {
    let (e, mut sections) = read_record::<kact_event>(bytes)?;
    let s0 = sections.take(e.s0_len)?;
    let s1 = sections.take(e.s1_len)?;
    let s2 = sections.take(e.s2_len)?;
    let file = has(e.flags, kact_flag::KACT_HAS_FILE.0).then(|| FileTarget {
        file: crate::decode::file(
            &e.file,
            crate::decode::path_string(s0, has(e.flags, kact_flag::KACT_PATH_TRUNCATED.0)),
        ),
        destination: None,
    });
    let a = e.args;
    let x = e.extra;
    let retval = e.retval;
    let data = match kact_op(e.op) {
        kact_op::KOP_BPF => bpf(&e, s2),
        kact_op::KOP_PTRACE => EventData::Ptrace(PtraceEvent {
            request: a[0] as u32,
            // The tracee as a bare pid; the agent replaces it with the cached process context.
            tracee: Some(bare_process(if a[0] == PTRACE_TRACEME {
                e.pid
            } else {
                a[1] as u32
            })),
            retval,
        }),
        kact_op::KOP_MMAP => EventData::Mmap(MmapEvent {
            file: file.unwrap_or_default(),
            protection: a[2],
            flags: a[3],
            retval,
        }),
        kact_op::KOP_MPROTECT => EventData::Mprotect(MprotectEvent {
            vm_protection: x[0],
            req_protection: a[2],
            retval,
        }),
        kact_op::KOP_INIT_MODULE | kact_op::KOP_FINIT_MODULE => {
            let args = lossy(s1);
            let file = file.unwrap_or_default();
            EventData::LoadModule(LoadModuleEvent {
                name: module_name_from_file(&file.file.name),
                loaded_from_memory: e.op == kact_op::KOP_INIT_MODULE.0,
                argv: args.split_whitespace().map(str::to_string).collect(),
                args_truncated: s1.len() >= KACT_STR_MAX - 1,
                args,
                file,
                retval,
            })
        }
        kact_op::KOP_DELETE_MODULE => EventData::UnloadModule(UnloadModuleEvent {
            name: lossy(s2),
            retval,
        }),
        kact_op::KOP_SETUID => EventData::Setuid(SetuidEvent {
            uid: x[0] as u32,
            euid: x[1] as u32,
            fsuid: x[2] as u32,
            ..Default::default()
        }),
        kact_op::KOP_SETGID => EventData::Setgid(SetgidEvent {
            gid: x[0] as u32,
            egid: x[1] as u32,
            fsgid: x[2] as u32,
            ..Default::default()
        }),
        kact_op::KOP_CAPSET => EventData::Capset(CapsetEvent {
            cap_effective: x[0],
            cap_permitted: x[1],
        }),
        kact_op::KOP_KILL => EventData::Signal(SignalEvent {
            signal_type: a[1] as u32,
            // kill(2) takes an i32: 0 and negative values name process groups, kept as their bits.
            pid: a[0] as i32 as u32,
            target: None,
            retval,
        }),
        kact_op::KOP_SETRLIMIT => EventData::Setrlimit(SetrlimitEvent {
            resource: a[1] as u32,
            rlim_cur: x[0],
            rlim_max: x[1],
            // pid 0 is the caller (and setrlimit's only target); the agent fills in the context.
            target: Some(bare_process(match a[0] as u32 {
                0 => e.pid,
                pid => pid,
            })),
            retval,
        }),
        kact_op::KOP_MOUNT => mount(&e, s0, s1, s2),
        kact_op::KOP_UMOUNT => EventData::Umount(UmountEvent {
            mountpoint: MountPath { path: lossy(s0) },
            retval,
            ..Default::default()
        }),
        kact_op::KOP_MEMFD_CREATE => EventData::MemfdCreate(MemfdCreateEvent {
            name: lossy(s2),
            flags: a[1] as u32,
            retval,
        }),
        kact_op::KOP_SPLICE => EventData::Splice(SpliceEvent {
            file: file.unwrap_or_default(),
            pipe_entry_flag: x[0] as u32,
            pipe_exit_flag: x[1] as u32,
            retval,
        }),
        kact_op::KOP_PRCTL => {
            let is_set_name = a[0] == PR_SET_NAME;
            EventData::Prctl(PrctlEvent {
                option: a[0] as u32,
                new_name: if is_set_name {
                    lossy(&s2[..s2.len().min(COMM_MAX)])
                } else {
                    String::new()
                },
                is_name_truncated: is_set_name && s2.len() > COMM_MAX,
                retval,
            })
        }
        kact_op::KOP_UNSHARE => EventData::Unshare(NamespaceEvent {
            flags: a[0],
            retval,
        }),
        kact_op::KOP_URING_SETUP => EventData::IoUringSetup(IoUringSetupEvent {
            sq_entries: a[0] as u32,
            cq_entries: a[1] as u32,
            flags: a[2] as u32,
            retval,
        }),
        // nstype 0 means "whatever the fd is": the kernel side then reads the namespace's own type.
        kact_op::KOP_SETNS => EventData::Setns(NamespaceEvent {
            flags: if x[0] != 0 { x[0] } else { a[1] },
            retval,
        }),
        other => return Err(DecodeError::UnknownKind(other.0)),
    };
    Ok(ProbeRecord::Activity(ActivityRecord {
        timestamp_boot_ns: e.hdr.timestamp_ns,
        pid: e.pid,
        tid: e.tid,
        creds: Some(crate::decode::task_creds(&e.creds)),
        origin: crate::record::Origin::from_raw(e.origin),
        data,
    }))
}

fn bpf(e: &kact_event, name: &[u8]) -> EventData {
    let cmd = e.args[0];
    let name = lossy(name);
    let map = (cmd == BPF_MAP_CREATE).then(|| BpfMap {
        map_type: e.extra[0] as u32,
        name: name.clone(),
    });
    let prog = (cmd == BPF_PROG_LOAD).then(|| BpfProg {
        prog_type: e.extra[0] as u32,
        attach_type: e.extra[1] as u32,
        helpers: Vec::new(),
        name,
        tag: if e.extra[3] == 1 {
            e.extra[2]
                .to_ne_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        } else {
            String::new()
        },
    });
    EventData::Bpf(BpfEvent {
        cmd: cmd as u32,
        map,
        prog,
        retval: e.retval,
    })
}

/// A mount record: mount(2) carries its arguments as passed; the new API (`extra[2]` != 0: move_mount,
/// fsmount, open_tree) the kernel's view of the mount (`extra[0]` its id, `extra[1]` 1 while detached) and
/// paths joined from a directory and a name, normalised here.
fn mount(e: &kact_event, s0: &[u8], s1: &[u8], s2: &[u8]) -> EventData {
    let new_api = e.extra[2] != 0;
    let path = |b: &[u8]| {
        let p = lossy(b);
        if new_api && p.starts_with('/') {
            crate::file::decode::normalize(&p)
        } else {
            p
        }
    };
    let detached = new_api && e.extra[1] == 1;
    EventData::Mount(MountEvent {
        fs_type: lossy(s2),
        mountpoint: MountPath { path: path(s0) },
        source: MountPath { path: path(s1) },
        mount_id: e.extra[0] as u32,
        detached,
        visible: e.retval == 0 && !detached,
        retval: e.retval,
        ..Default::default()
    })
}

/// A process known only by its pid: what a target field holds until the agent fills it from its cache.
pub fn bare_process(pid: u32) -> ProcessContext {
    ProcessContext::new(ProcessNode::new(
        Process {
            pid,
            tid: pid,
            ..Default::default()
        },
        None,
    ))
}

/// `nf_conntrack.ko.zst` → `nf_conntrack` (modules name themselves after their file, `-` as `_`).
fn module_name_from_file(file_name: &str) -> String {
    let stem = file_name.split(".ko").next().unwrap_or_default();
    stem.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_from_files() {
        assert_eq!(module_name_from_file("nf-conntrack.ko.zst"), "nf_conntrack");
        assert_eq!(module_name_from_file("dummy.ko"), "dummy");
        assert_eq!(module_name_from_file(""), "");
    }

    #[test]
    fn short_records_are_errors() {
        assert!(decode(&[0u8; 8]).is_err());
        let e = kact_event {
            op: kact_op::KOP_MEMFD_CREATE.0,
            s2_len: 10, // claims a name the record does not carry
            ..Default::default()
        };
        let bytes = crate::abi::bytes_of(&e);
        assert!(matches!(decode(bytes), Err(DecodeError::Sections { .. })));
    }
}

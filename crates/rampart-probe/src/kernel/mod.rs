//! Kernel-activity family: decoding `kact_event` records (`bpf/kernel.h`) into the model's payloads, plus
//! what the three activity families (kernel, network, DNS) share: program selection and attachment, the
//! in-kernel filter settings and the per-type counters.

pub mod attach;
pub mod config;
pub mod counters;
pub(crate) mod raw;

use std::mem::size_of;

use rampart_model::events::{
    BpfEvent, BpfMap, BpfProg, CapsetEvent, FileTarget, LoadModuleEvent, MemfdCreateEvent,
    MmapEvent, MountEvent, MountPath, MprotectEvent, NamespaceEvent, PrctlEvent, PtraceEvent,
    SetgidEvent, SetuidEvent, SignalEvent, SpliceEvent, UmountEvent, UnloadModuleEvent,
};
use rampart_model::process::{Process, ProcessContext, ProcessNode};
use rampart_model::{EventData, FileInfo};

use crate::decode::DecodeError;
use crate::record::{ActivityRecord, ProbeRecord};
use crate::skel::types::{file_info, kact_event};
use raw::{c_string, lossy, read_pod, tail};

// Mirrored from bpf/act_events.h (#defines do not reach BTF).
pub(crate) const KOP_BPF: u32 = 0;
pub(crate) const KOP_PTRACE: u32 = 1;
pub(crate) const KOP_MMAP: u32 = 2;
pub(crate) const KOP_MPROTECT: u32 = 3;
pub(crate) const KOP_INIT_MODULE: u32 = 4;
pub(crate) const KOP_FINIT_MODULE: u32 = 5;
pub(crate) const KOP_DELETE_MODULE: u32 = 6;
pub(crate) const KOP_SETUID: u32 = 7;
pub(crate) const KOP_SETGID: u32 = 8;
pub(crate) const KOP_CAPSET: u32 = 9;
pub(crate) const KOP_KILL: u32 = 10;
pub(crate) const KOP_MOUNT: u32 = 11;
pub(crate) const KOP_UMOUNT: u32 = 12;
pub(crate) const KOP_MEMFD_CREATE: u32 = 13;
pub(crate) const KOP_SPLICE: u32 = 14;
pub(crate) const KOP_PRCTL: u32 = 15;
pub(crate) const KOP_UNSHARE: u32 = 16;
pub(crate) const KOP_SETNS: u32 = 17;
const KACT_HAS_FILE: u32 = 1;
const KACT_PATH_TRUNCATED: u32 = 2;
/// Bound of the user string section s1 (module arguments): a full section means they were cut.
const KACT_STR_MAX: usize = 1024;

const BPF_MAP_CREATE: u64 = 0;
const BPF_PROG_LOAD: u64 = 5;
const PTRACE_TRACEME: u64 = 0;
const PR_SET_NAME: u64 = 15;
/// TASK_COMM_LEN - 1: what the kernel keeps of a PR_SET_NAME name.
const COMM_MAX: usize = 15;

pub(crate) fn decode(bytes: &[u8]) -> Result<ProbeRecord, DecodeError> {
    let e: kact_event = read_pod(bytes)?;
    let base = size_of::<kact_event>();
    let (l0, l1, l2) = (e.s0_len as usize, e.s1_len as usize, e.s2_len as usize);
    let s0 = tail(bytes, base, l0)?;
    let s1 = tail(bytes, base + l0, l1)?;
    let s2 = tail(bytes, base + l0 + l1, l2)?;
    let file = (e.flags & KACT_HAS_FILE != 0).then(|| FileTarget {
        file: file(&e.file, s0, e.flags & KACT_PATH_TRUNCATED != 0),
        destination: None,
    });
    let a = e.args;
    let x = e.extra;
    let retval = e.retval;
    let data = match e.op {
        KOP_BPF => bpf(&e, s2),
        KOP_PTRACE => EventData::Ptrace(PtraceEvent {
            request: a[0] as u32,
            // The tracee as a bare pid; the agent replaces it with the cached process context.
            tracee: Some(bare_process(if a[0] == PTRACE_TRACEME {
                e.pid
            } else {
                a[1] as u32
            })),
            retval,
        }),
        KOP_MMAP => EventData::Mmap(MmapEvent {
            file: file.unwrap_or_default(),
            protection: a[2],
            flags: a[3],
            retval,
        }),
        KOP_MPROTECT => EventData::Mprotect(MprotectEvent {
            vm_protection: x[0],
            req_protection: a[2],
            retval,
        }),
        KOP_INIT_MODULE | KOP_FINIT_MODULE => {
            let args = lossy(s1);
            let file = file.unwrap_or_default();
            EventData::LoadModule(LoadModuleEvent {
                name: module_name_from_file(&file.file.name),
                loaded_from_memory: e.op == KOP_INIT_MODULE,
                argv: args.split_whitespace().map(str::to_string).collect(),
                args_truncated: s1.len() >= KACT_STR_MAX - 1,
                args,
                file,
                retval,
            })
        }
        KOP_DELETE_MODULE => EventData::UnloadModule(UnloadModuleEvent {
            name: lossy(s2),
            retval,
        }),
        KOP_SETUID => EventData::Setuid(SetuidEvent {
            uid: x[0] as u32,
            euid: x[1] as u32,
            fsuid: x[2] as u32,
            ..Default::default()
        }),
        KOP_SETGID => EventData::Setgid(SetgidEvent {
            gid: x[0] as u32,
            egid: x[1] as u32,
            fsgid: x[2] as u32,
            ..Default::default()
        }),
        KOP_CAPSET => EventData::Capset(CapsetEvent {
            cap_effective: x[0],
            cap_permitted: x[1],
        }),
        KOP_KILL => EventData::Signal(SignalEvent {
            signal_type: a[1] as u32,
            // kill(2) takes an i32: 0 and negative values name process groups, kept as their bits.
            pid: a[0] as i32 as u32,
            target: None,
            retval,
        }),
        KOP_MOUNT => EventData::Mount(MountEvent {
            fs_type: lossy(s2),
            mountpoint: MountPath { path: lossy(s0) },
            source: MountPath { path: lossy(s1) },
            retval,
            ..Default::default()
        }),
        KOP_UMOUNT => EventData::Umount(UmountEvent {
            mountpoint: MountPath { path: lossy(s0) },
            retval,
            ..Default::default()
        }),
        KOP_MEMFD_CREATE => EventData::MemfdCreate(MemfdCreateEvent {
            name: lossy(s2),
            flags: a[1] as u32,
            retval,
        }),
        KOP_SPLICE => EventData::Splice(SpliceEvent {
            file: file.unwrap_or_default(),
            pipe_entry_flag: x[0] as u32,
            pipe_exit_flag: x[1] as u32,
            retval,
        }),
        KOP_PRCTL => {
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
        KOP_UNSHARE => EventData::Unshare(NamespaceEvent {
            flags: a[0],
            retval,
        }),
        // nstype 0 means "whatever the fd is": the kernel side then reads the namespace's own type.
        KOP_SETNS => EventData::Setns(NamespaceEvent {
            flags: if x[0] != 0 { x[0] } else { a[1] },
            retval,
        }),
        other => return Err(DecodeError::UnknownKind(other)),
    };
    Ok(ProbeRecord::Activity(ActivityRecord {
        timestamp_boot_ns: e.hdr.timestamp_ns,
        pid: e.pid,
        tid: e.tid,
        creds: Some(crate::decode::task_creds(&e.creds)),
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

fn file(f: &file_info, path: &[u8], truncated: bool) -> FileInfo {
    let path = if truncated {
        format!("{}{}", crate::decode::TRUNCATED_PATH_MARKER, lossy(path))
    } else {
        lossy(path)
    };
    FileInfo {
        inode: f.inode,
        mount_id: f.mount_id,
        filesystem: c_string(&f.fs_type),
        mode: f.mode,
        uid: f.uid,
        gid: f.gid,
        change_time: f.ctime_ns,
        modification_time: f.mtime_ns,
        ..FileInfo::from_path(path)
    }
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
        let mut e: kact_event = unsafe { std::mem::zeroed() };
        e.op = KOP_MEMFD_CREATE;
        e.s2_len = 10; // claims a name the record does not carry
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&e as *const kact_event).cast::<u8>(),
                size_of::<kact_event>(),
            )
        };
        assert!(matches!(decode(bytes), Err(DecodeError::Sections { .. })));
    }
}

//! Ring-buffer bytes → [`ProbeRecord`]: bounds-checked, never panics; a short or inconsistent record is an
//! error the caller counts and skips.

use std::mem::size_of;

use rampart_model::process::Credentials;
use rampart_model::{ExitCause, FileInfo};

use crate::env::{Environ, EnvironCache};
use crate::record::{
    ExecRecord, ExitRecord, ForkRecord, KernelKillRecord, ProbeRecord, TaskCreds, TaskInfo,
};
use crate::skel::types::{
    cred_info, exec_event, exit_event, file_info, fork_event, kill_event, record_header, task_info,
};

// Constants mirrored from bpf/events.h (#defines do not reach BTF).
const RECORD_EXEC: u32 = 1;
const RECORD_FORK: u32 = 2;
const RECORD_EXIT: u32 = 3;
const RECORD_KACT: u32 = 48;
const RECORD_SOCK: u32 = 49;
const RECORD_DNS: u32 = 50;
const RECORD_KILL: u32 = 8;
const TASK_KTHREAD: u32 = 1;
const EXEC_INTERPRETED: u32 = 1;
const EXEC_PATH_TRUNCATED: u32 = 2;
const EXEC_SCRIPT_TRUNCATED: u32 = 4;
const EXEC_ARGS_TRUNCATED: u32 = 16;
const EXEC_ENVS_TRUNCATED: u32 = 32;
const EXEC_ENV_BLOCK: u32 = 128;
const CRED_INIT_USER_NS: u32 = 1;

/// Prefix of a path whose head did not fit the kernel's 4 KiB buffer (the tail is kept).
pub const TRUNCATED_PATH_MARKER: &str = "...";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than its {need}-byte layout")]
    Short { len: usize, need: usize },
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("variable sections ({need} bytes) overrun the record ({len} bytes)")]
    Sections { len: usize, need: usize },
    #[error("malformed DNS packet: {0}")]
    Dns(crate::dns::DnsError),
}

/// Decoder settings that come from the probe configuration.
#[derive(Debug)]
pub struct Decoder {
    pub max_args: usize,
    /// Names allowed in `envp` (the kernel matches by hash; this re-checks the name).
    pub env_values: Vec<String>,
    pub environs: EnvironCache,
}

impl Decoder {
    pub fn decode(&mut self, bytes: &[u8]) -> Result<ProbeRecord, DecodeError> {
        let header: record_header = read_pod(bytes)?;
        match header.kind {
            RECORD_EXEC => self.exec(bytes).map(ProbeRecord::Exec),
            RECORD_FORK => fork(bytes).map(ProbeRecord::Fork),
            RECORD_EXIT => exit(bytes).map(ProbeRecord::Exit),
            crate::file::RECORD_FILE_FIRST..=crate::file::RECORD_FILE_LAST => {
                crate::file::decode::decode(bytes).map(ProbeRecord::Activity)
            }
            RECORD_KACT => crate::kernel::decode(bytes),
            RECORD_SOCK => crate::net::decode(bytes),
            RECORD_DNS => crate::dns::decode(bytes),
            RECORD_KILL => kill(bytes).map(ProbeRecord::KernelKill),
            other => Err(DecodeError::UnknownKind(other)),
        }
    }

    fn exec(&mut self, bytes: &[u8]) -> Result<ExecRecord, DecodeError> {
        let e: exec_event = read_pod(bytes)?;
        let mut sections = Sections::new(&bytes[size_of::<exec_event>()..]);
        let exe_path = sections.take(e.exe_path_len)?;
        let script_path = sections.take(e.script_path_len)?;
        let cgroup_path = sections.take(e.cgroup_path_len)?;
        let args = sections.take(e.args_len)?;
        let envs = sections.take(e.envs_len)?;
        let envp = sections.take(e.envp_len)?;

        let mut task = task(&e.task);
        task.cgroup_path = lossy(cgroup_path);
        let exe = file(
            &e.file,
            path_string(exe_path, e.flags & EXEC_PATH_TRUNCATED != 0),
        );
        let (file, interpreter) = if e.flags & EXEC_INTERPRETED != 0 {
            let script = path_string(script_path, e.flags & EXEC_SCRIPT_TRUNCATED != 0);
            (FileInfo::from_path(script), Some(exe))
        } else {
            (exe, None)
        };

        let (argv, mut args_truncated) = split_strings(args, self.max_args);
        args_truncated |= e.flags & EXEC_ARGS_TRUNCATED != 0 || (e.argc as usize) > argv.len();
        let env_values = &self.env_values;
        let value_allowed = |name: &str| env_values.iter().any(|allowed| allowed == name);
        let whole_block = e.flags & EXEC_ENV_BLOCK != 0;
        // the flag is part of the key too: the same bytes mean a block in one layout and names in the other
        let layout: &[u8] = if whole_block { b"block" } else { b"walked" };
        let env = self.environs.get_or_decode([layout, envs, envp], || {
            if whole_block {
                // the whole environment: names and the allow-listed values are picked here
                let mut env = crate::env::split_environ(envs, value_allowed, usize::MAX);
                env.truncated |= envs.last().is_some_and(|b| *b != 0); // cut mid-string
                env
            } else {
                let (names, cut) = split_strings(envs, usize::MAX);
                let (values, _) = split_strings(envp, usize::MAX);
                let values = values
                    .into_iter()
                    .filter(|kv| value_allowed(kv.split_once('=').map_or(kv, |(n, _)| n)))
                    .collect();
                Environ {
                    names: names.into(),
                    values,
                    truncated: cut,
                }
            }
        });
        Ok(ExecRecord {
            timestamp_boot_ns: e.hdr.timestamp_ns,
            task,
            file,
            argv,
            args_truncated,
            envs: env.names,
            envp: env.values,
            envs_truncated: env.truncated || e.flags & EXEC_ENVS_TRUNCATED != 0,
            interpreter,
        })
    }
}

fn fork(bytes: &[u8]) -> Result<ForkRecord, DecodeError> {
    let f: fork_event = read_pod(bytes)?;
    let mut sections = Sections::new(&bytes[size_of::<fork_event>()..]);
    let cgroup_path = sections.take(f.cgroup_path_len)?;
    let mut child = task(&f.child);
    child.cgroup_path = lossy(cgroup_path);
    Ok(ForkRecord {
        timestamp_boot_ns: f.hdr.timestamp_ns,
        parent_pid: f.parent_pid,
        child,
    })
}

fn exit(bytes: &[u8]) -> Result<ExitRecord, DecodeError> {
    let x: exit_event = read_pod(bytes)?;
    let (cause, code) = exit_status(x.exit_code);
    Ok(ExitRecord {
        timestamp_boot_ns: x.hdr.timestamp_ns,
        pid: x.pid,
        tid: x.tid,
        group_dead: x.group_dead != 0,
        cause,
        code,
    })
}

fn kill(bytes: &[u8]) -> Result<KernelKillRecord, DecodeError> {
    let k: kill_event = read_pod(bytes)?;
    Ok(KernelKillRecord {
        timestamp_boot_ns: k.hdr.timestamp_ns,
        pid: k.pid,
        tid: k.tid,
        slot: k.slot,
        signal: k.signal,
        result: k.result,
    })
}

/// `task->exit_code` as wait(2) encodes it: low 7 bits the signal, 0x80 the core dump, else code << 8.
pub fn exit_status(raw: u32) -> (ExitCause, u32) {
    let signal = raw & 0x7f;
    if signal == 0 {
        (ExitCause::Exited, (raw >> 8) & 0xff)
    } else if raw & 0x80 != 0 {
        (ExitCause::Coredumped, signal)
    } else {
        (ExitCause::Signaled, signal)
    }
}

fn task(t: &task_info) -> TaskInfo {
    TaskInfo {
        pid: t.pid,
        tid: t.tid,
        ppid: t.ppid,
        comm: c_string(&t.comm),
        credentials: Credentials {
            uid: t.uid,
            gid: t.gid,
            euid: t.euid,
            egid: t.egid,
            fsuid: t.fsuid,
            fsgid: t.fsgid,
            auid: t.auid,
            cap_effective: t.cap_effective,
            cap_permitted: t.cap_permitted,
            ..Default::default()
        },
        cgroup_id: t.cgroup_id,
        cgroup_path: String::new(),
        tty_name: c_string(&t.tty),
        start_time_boot_ns: t.start_boottime_ns,
        is_kthread: t.flags & TASK_KTHREAD != 0,
    }
}

/// The acting thread's credentials as an activity record carries them (`struct cred_info`).
pub(crate) fn task_creds(c: &cred_info) -> TaskCreds {
    TaskCreds {
        uid: c.uid,
        euid: c.euid,
        suid: c.suid,
        fsuid: c.fsuid,
        gid: c.gid,
        egid: c.egid,
        sgid: c.sgid,
        fsgid: c.fsgid,
        cap_effective: c.cap_effective,
        cap_permitted: c.cap_permitted,
        init_user_ns: c.flags & CRED_INIT_USER_NS != 0,
    }
}

fn file(f: &file_info, path: String) -> FileInfo {
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

fn path_string(bytes: &[u8], truncated: bool) -> String {
    let path = lossy(bytes);
    if truncated {
        format!("{TRUNCATED_PATH_MARKER}{path}")
    } else {
        path
    }
}

/// Consecutive byte sections of the variable tail.
struct Sections<'a> {
    rest: &'a [u8],
    consumed: usize,
}

impl<'a> Sections<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Sections { rest, consumed: 0 }
    }

    fn take(&mut self, len: u16) -> Result<&'a [u8], DecodeError> {
        let len = len as usize;
        if len > self.rest.len() {
            return Err(DecodeError::Sections {
                len: self.consumed + self.rest.len(),
                need: self.consumed + len,
            });
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        self.consumed += len;
        Ok(head)
    }
}

/// NUL-separated strings, at most `max`; true when some were cut (over `max`, or a last string without NUL).
fn split_strings(block: &[u8], max: usize) -> (Vec<String>, bool) {
    if block.is_empty() {
        return (Vec::new(), false);
    }
    let unterminated = block.last() != Some(&0);
    let body = if unterminated {
        block
    } else {
        &block[..block.len() - 1]
    };
    let mut out = Vec::new();
    for (i, piece) in body.split(|b| *b == 0).enumerate() {
        if i >= max {
            return (out, true);
        }
        out.push(lossy(piece));
    }
    (out, unterminated)
}

fn c_string(raw: &[i8]) -> String {
    // SAFETY-free reinterpretation: i8 and u8 have the same size; collect the bytes up to the first NUL.
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    lossy(&bytes)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Plain-old-data the BPF side wrote: every field of the generated `#[repr(C)]` types is an integer or an
/// integer array, so any bit pattern is a valid value.
trait Pod: Copy {}
impl Pod for record_header {}
impl Pod for exec_event {}
impl Pod for fork_event {}
impl Pod for exit_event {}
impl Pod for kill_event {}

fn read_pod<T: Pod>(bytes: &[u8]) -> Result<T, DecodeError> {
    let need = size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::Short {
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: the length is checked above, read_unaligned copes with any alignment, and `T: Pod` admits
    // every bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

#[cfg(test)]
mod tests;

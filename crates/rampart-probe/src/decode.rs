//! Ring-buffer bytes → [`ProbeRecord`]: bounds-checked, never panics; a short or inconsistent record is an
//! error the caller counts and skips.

use rampart_model::process::Credentials;
use rampart_model::{ExitCause, FileInfo};

use crate::abi::{c_string, has, lossy, read_pod, read_record};
use crate::env::{Environ, EnvironCache};
use crate::record::{
    ExecRecord, ExitRecord, ForkRecord, KernelKillRecord, ProbeRecord, TaskCreds, TaskInfo,
};
use crate::skel::types::{
    cred_flag, cred_info, exec_event, exec_flag, exit_event, file_info, fork_event, kill_event,
    record_header, record_kind, task_flag, task_info,
};

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
    /// Names allowed in `envp` (the kernel matches by hash; this re-checks the name).
    pub env_values: Vec<String>,
    pub environs: EnvironCache,
}

impl Decoder {
    pub fn decode(&mut self, bytes: &[u8]) -> Result<ProbeRecord, DecodeError> {
        let header: record_header = read_pod(bytes)?;
        let file_kinds = record_kind::RECORD_FILE_BASE.0..=record_kind::RECORD_FILE_LAST.0;
        match record_kind(header.kind) {
            record_kind::RECORD_EXEC => self.exec(bytes).map(ProbeRecord::Exec),
            record_kind::RECORD_FORK => fork(bytes).map(ProbeRecord::Fork),
            record_kind::RECORD_EXIT => exit(bytes).map(ProbeRecord::Exit),
            kind if file_kinds.contains(&kind.0) => {
                crate::file::decode::decode(bytes).map(ProbeRecord::Activity)
            }
            record_kind::RECORD_KACT => crate::kernel::decode(bytes),
            record_kind::RECORD_SOCK => crate::net::decode(bytes),
            record_kind::RECORD_DNS => crate::dns::decode(bytes),
            record_kind::RECORD_KILL => kill(bytes).map(ProbeRecord::KernelKill),
            other => Err(DecodeError::UnknownKind(other.0)),
        }
    }

    fn exec(&mut self, bytes: &[u8]) -> Result<ExecRecord, DecodeError> {
        let (e, mut sections) = read_record::<exec_event>(bytes)?;
        let exe_path = sections.take(e.exe_path_len)?;
        let script_path = sections.take(e.script_path_len)?;
        let cgroup_path = sections.take(e.cgroup_path_len)?;
        let args = sections.take(e.args_len)?;
        let envs = sections.take(e.envs_len)?;
        let envp = sections.take(e.envp_len)?;

        let mut task = task(&e.task);
        task.cgroup_path = lossy(cgroup_path);
        let exe_path = path_string(exe_path, has(e.flags, exec_flag::EXEC_PATH_TRUNCATED.0));
        let mut exe = FileInfo {
            dev: user_dev(e.file.dev),
            ..file(&e.file, exe_path)
        };
        exe.in_upper_layer = has(e.flags, exec_flag::EXEC_FILE_UPPER.0);
        let (file, interpreter) = if has(e.flags, exec_flag::EXEC_INTERPRETED.0) {
            let script = path_string(
                script_path,
                has(e.flags, exec_flag::EXEC_SCRIPT_TRUNCATED.0),
            );
            (FileInfo::from_path(script), Some(exe))
        } else {
            (exe, None)
        };

        let head_len = (e.args_head_len as usize).min(args.len());
        let argv = crate::argv::from_capture(
            &args[..head_len],
            &args[head_len..],
            u64::from(e.args_size),
            e.argc as usize,
        );
        let env_values = &self.env_values;
        let value_allowed = |name: &str| env_values.iter().any(|allowed| allowed == name);
        let whole_block = has(e.flags, exec_flag::EXEC_ENV_BLOCK.0);
        // the flag is part of the key too: the same bytes mean a block in one layout and names in the other
        let layout: &[u8] = if whole_block { b"block" } else { b"walked" };
        let env = self.environs.get_or_decode([layout, envs, envp], || {
            if whole_block {
                // the whole environment: names and the allow-listed values are picked here
                let mut env = crate::env::split_environ(envs, value_allowed, usize::MAX);
                env.truncated |= envs.last().is_some_and(|b| *b != 0); // cut mid-string
                env
            } else {
                let (names, cut) = split_strings(envs);
                let (values, _) = split_strings(envp);
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
            args_truncated: argv.truncated || has(e.flags, exec_flag::EXEC_ARGS_TRUNCATED.0),
            args_size: argv.size,
            args_longest: argv.longest,
            args_gap: argv.gap,
            argv: argv.argv,
            envs: env.names,
            envp: env.values,
            envs_truncated: env.truncated || has(e.flags, exec_flag::EXEC_ENVS_TRUNCATED.0),
            interpreter,
            is_ia32: has(e.flags, exec_flag::EXEC_IA32.0),
        })
    }
}

fn fork(bytes: &[u8]) -> Result<ForkRecord, DecodeError> {
    let (f, mut sections) = read_record::<fork_event>(bytes)?;
    let cgroup_path = sections.take(f.cgroup_path_len)?;
    let mut child = task(&f.child);
    child.cgroup_path = lossy(cgroup_path);
    Ok(ForkRecord {
        timestamp_boot_ns: f.hdr.timestamp_ns,
        parent_pid: f.parent_pid,
        parent_tid: f.parent_tid,
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
    let c = task_creds(&t.cred);
    TaskInfo {
        pid: t.pid,
        tid: t.tid,
        ppid: t.ppid,
        comm: c_string(&t.comm),
        credentials: Credentials {
            uid: c.uid,
            gid: c.gid,
            euid: c.euid,
            egid: c.egid,
            fsuid: c.fsuid,
            fsgid: c.fsgid,
            auid: t.auid,
            cap_effective: c.cap_effective,
            cap_permitted: c.cap_permitted,
            ..Default::default()
        },
        suid: c.suid,
        sgid: c.sgid,
        init_user_ns: c.init_user_ns,
        cgroup_id: t.cgroup_id,
        cgroup_path: String::new(),
        tty_name: c_string(&t.tty),
        start_time_boot_ns: t.start_boottime_ns,
        is_kthread: has(t.flags, task_flag::TASK_KTHREAD.0),
    }
}

/// A thread's credentials as records carry them (`struct cred_info`).
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
        init_user_ns: has(c.flags, cred_flag::CRED_INIT_USER_NS.0),
    }
}

/// A record's `struct file_info`, at `path` (exec records add the device).
pub(crate) fn file(f: &file_info, path: String) -> FileInfo {
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

/// A device number as the kernel stores it (`s_dev`: MAJOR << 20 | MINOR) in `stat`'s encoding.
pub fn user_dev(kernel_dev: u32) -> u64 {
    libc::makedev(kernel_dev >> 20, kernel_dev & 0xf_ffff)
}

/// A path from a record; one that kept only its tail says so with [`TRUNCATED_PATH_MARKER`].
pub(crate) fn path_string(bytes: &[u8], truncated: bool) -> String {
    let path = lossy(bytes);
    if truncated {
        format!("{TRUNCATED_PATH_MARKER}{path}")
    } else {
        path
    }
}

/// NUL-separated strings; true when the last one has no NUL (cut mid-string).
fn split_strings(block: &[u8]) -> (Vec<String>, bool) {
    let (pieces, cut) = crate::argv::split(block);
    (pieces.into_iter().map(lossy).collect(), cut)
}

#[cfg(test)]
mod tests;

//! Decoded kernel records: what the probe hands the agent, before any enrichment.
//!
//! These are owned Rust values built from the ring-buffer records (whose layout the C side owns). The agent's
//! process cache turns them into [`rampart_model::Event`]s with lineage and container context.

use std::sync::Arc;

use rampart_model::process::Credentials;
use rampart_model::{EventData, ExitCause, FileInfo};

/// The task that produced a record, as the kernel saw it at the hook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskInfo {
    /// Thread-group id (what user space calls the pid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Thread-group id of the real parent.
    pub ppid: u32,
    pub comm: String,
    pub credentials: Credentials,
    /// Saved set-user-id and set-group-id (not in the model's `process.*`: the privilege check reads them).
    pub suid: u32,
    pub sgid: u32,
    /// The credentials belong to the host's initial user namespace.
    pub init_user_ns: bool,
    /// cgroup v2 id (kernfs node id) of the task's default-hierarchy cgroup.
    pub cgroup_id: u64,
    /// Path of that cgroup relative to the cgroup v2 root, e.g. `/system.slice/ssh.service`.
    pub cgroup_path: String,
    /// Controlling terminal name (`pts/0`), empty when none.
    pub tty_name: String,
    /// Task start time, nanoseconds since boot including suspend (`task->start_boottime`, the clock of
    /// `bpf_ktime_get_boot_ns` used for every record timestamp).
    pub start_time_boot_ns: u64,
    /// A kernel thread (no mm).
    pub is_kthread: bool,
}

impl TaskInfo {
    /// The task's credentials, numeric, in the form activity records carry them.
    pub fn creds(&self) -> TaskCreds {
        let c = &self.credentials;
        TaskCreds {
            uid: c.uid,
            euid: c.euid,
            suid: self.suid,
            fsuid: c.fsuid,
            gid: c.gid,
            egid: c.egid,
            sgid: self.sgid,
            fsgid: c.fsgid,
            cap_effective: c.cap_effective,
            cap_permitted: c.cap_permitted,
            init_user_ns: self.init_user_ns,
        }
    }
}

/// A successful execve/execveat, seen at `sched_process_exec` (the new image is in place).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRecord {
    /// Nanoseconds since boot.
    pub timestamp_boot_ns: u64,
    pub task: TaskInfo,
    /// The new executable, path resolved from `mm->exe_file` dentries. For an interpreted exec (shebang
    /// script, binfmt_misc) this is the script: its path is `bprm->filename` made absolute against the
    /// cwd (no inode: the kernel has released the script's file by then; the agent reads it through
    /// `/proc/PID/root`), and the interpreter is below. `in_upper_layer` says the executable was written in
    /// an overlayfs upper layer (inside a container). A path longer than 4 KiB keeps its tail behind a `...`
    /// prefix.
    pub file: FileInfo,
    /// Argument vector, argv0 first, bounded (4 KiB, `ProbeConfig::max_args_bytes`): a longer one keeps its
    /// head and its tail ([`crate::argv`]). For a script it is the vector binfmt_script built: interpreter,
    /// its optional argument, the script, then the original args.
    pub argv: Vec<String>,
    pub args_truncated: bool,
    /// Bytes of the whole vector as passed to execve (one NUL per argument), captured or not.
    pub args_size: u64,
    /// Bytes of the longest argument (argv0 included); a lower bound when it lies in the gap.
    pub args_longest: u64,
    /// What was not captured of a vector longer than the bound.
    pub args_gap: Option<crate::argv::ArgsGap>,
    /// Environment variable names, bounded.
    pub envs: Arc<[String]>,
    /// `NAME=value` for the few variables whose value is collected (LD_PRELOAD, …).
    pub envp: Arc<[String]>,
    pub envs_truncated: bool,
    /// The script interpreter when the exec went through a shebang (`binfmt_script`) or binfmt_misc:
    /// the binary the kernel really runs (`mm->exe_file`), with inode and mount id.
    pub interpreter: Option<FileInfo>,
    /// The new image is 32-bit x86 code (ia32: its user code segment is the 32-bit one), whose syscalls
    /// are compat ones.
    pub is_ia32: bool,
}

/// A new task (process or thread), seen at `sched_process_fork`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForkRecord {
    pub timestamp_boot_ns: u64,
    pub parent_pid: u32,
    /// The thread that called fork/clone (its credentials are the ones the child copies).
    pub parent_tid: u32,
    /// The child; its `tid` differs from its `pid` for a new thread.
    pub child: TaskInfo,
}

/// A task leaving, seen at `sched_process_exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    pub timestamp_boot_ns: u64,
    pub pid: u32,
    pub tid: u32,
    /// True when the whole thread group is gone (the last thread exited): only then is the process dead.
    pub group_dead: bool,
    pub cause: ExitCause,
    /// Exit code for `EXITED`, signal number otherwise.
    pub code: u32,
}

/// Any other activity of a process (file, network, DNS, kernel): the payload is already the model's
/// event data; the agent adds the process context from its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    pub timestamp_boot_ns: u64,
    pub pid: u32,
    pub tid: u32,
    /// The acting thread's credentials at the hook, where the record carries them (DNS packets do not).
    pub creds: Option<TaskCreds>,
    /// How the activity reached the kernel.
    pub origin: Origin,
    pub data: EventData,
}

/// How an activity was submitted to the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// A native syscall of the process (or a packet, for DNS).
    #[default]
    Syscall,
    /// An ia32 compat syscall: a 32-bit program's, or a 64-bit program's `int $0x80` (`event.compat`).
    Ia32,
    /// An io_uring request (`event.async`). `completed`: reported at its completion, with its result;
    /// otherwise reported at submission with the result unknown (0), because no completion would be seen
    /// (`IOSQE_CQE_SKIP_SUCCESS`) or could be waited for.
    IoUring { completed: bool },
}

impl Origin {
    /// From a record's `origin` (`ORIGIN_*` in bpf/events.h); unknown values read as a syscall.
    pub(crate) fn from_raw(raw: u32) -> Origin {
        use crate::skel::types::origin;
        match origin(raw) {
            origin::ORIGIN_IA32 => Origin::Ia32,
            origin::ORIGIN_URING => Origin::IoUring { completed: true },
            origin::ORIGIN_URING_SUBMITTED => Origin::IoUring { completed: false },
            _ => Origin::Syscall,
        }
    }

    /// Submitted asynchronously (io_uring): SECL `event.async`.
    pub fn is_async(self) -> bool {
        matches!(self, Origin::IoUring { .. })
    }
}

/// The acting thread's own credentials (`task->real_cred`, not a temporary override) as the kernel saw them at
/// the hook, numeric only: what a privilege check compares with the process's known history.
pub use rampart_model::events::TaskCreds;

/// A kill the kernel performed at exec (Active Protection, `bpf/kill.h`); it precedes the exec record of
/// the same process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelKillRecord {
    pub timestamp_boot_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub slot: u32,
    pub signal: u32,
    /// `bpf_send_signal`'s return value (0 = sent).
    pub result: i32,
}

/// One decoded kernel record.
// Exec dominates the stream's bytes anyway; boxing it would cost an allocation per exec for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeRecord {
    Exec(ExecRecord),
    Fork(ForkRecord),
    Exit(ExitRecord),
    Activity(ActivityRecord),
    KernelKill(KernelKillRecord),
}

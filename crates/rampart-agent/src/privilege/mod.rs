//! The privilege-history check: credentials that nothing a process was seen doing explains.
//!
//! A kernel exploit grants itself root by replacing its task's credentials (`commit_creds`, or writing the
//! `struct cred` in place): no set*id or capset call, no set-user-id exec. Every record that carries the acting
//! thread's credentials (exec, fork, and activity records that have them) is compared with what that thread
//! was known to hold: the credentials after its process's last exec (or at fork, or in `/proc` when the agent
//! started), then each set*id or capset result the probe reported for it. What the kernel's rules cannot reach
//! from there ([`reach`]) is a [`Gain`], which the pipeline reports as a `privilege_gain` event.
//!
//! Credentials are per thread (glibc changes them thread by thread when a process calls setuid), so each
//! thread is judged against its own history; a thread never seen apart from its process holds the
//! process's baseline. The set*id and capset hooks must be attached while the check runs (the agent's
//! activity selection adds them): a change the probe does not see looks like an exploit.

mod image;
mod procfs;
pub(crate) mod reach;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rampart_model::{EventData, EventType};
use rampart_probe::record::{
    ActivityRecord, ExecRecord, ExitRecord, ForkRecord, ProbeRecord, TaskCreds,
};
use rampart_secl::fxhash::FxHashMap as HashMap;
use smallvec::SmallVec;

use image::ImageGrant;
pub use reach::Gained;
use reach::{gain_over, Change};

/// States kept per thread (or per process baseline). One, as a rule: several only where records left a
/// value unknown (a set*id record without credentials) or threads of a process seen in `/proc` differ.
const MAX_STATES: usize = 8;
/// Threads of one process tracked apart; beyond it a new thread's states join the process's baseline.
const MAX_THREADS: usize = 4096;

type States = SmallVec<[TaskCreds; 1]>;

/// One process: the states a thread not tracked apart may hold, and the threads seen in other states.
#[derive(Debug, Clone, Default)]
struct Process {
    baseline: States,
    threads: HashMap<u32, States>,
    /// When its states were read from `/proc` (boot-clock ns; 0 when learnt from records): an older record
    /// of it is already reflected, or superseded, and is ignored.
    read_at_boot_ns: u64,
}

impl Process {
    fn new(state: TaskCreds) -> Self {
        Process {
            baseline: SmallVec::from_buf([state]),
            threads: HashMap::default(),
            read_at_boot_ns: 0,
        }
    }

    fn of_thread(&self, tid: u32) -> &[TaskCreds] {
        self.threads.get(&tid).unwrap_or(&self.baseline)
    }

    /// Every state some thread may hold.
    fn all(&self) -> States {
        let mut all = self.baseline.clone();
        for s in self.threads.values().flatten() {
            push_bounded(&mut all, *s);
        }
        all
    }

    fn set_thread(&mut self, tid: u32, states: States) {
        if states.iter().all(|s| self.baseline.contains(s)) {
            self.threads.remove(&tid);
        } else if self.threads.len() < MAX_THREADS || self.threads.contains_key(&tid) {
            self.threads.insert(tid, states);
        } else {
            for s in states {
                push_bounded(&mut self.baseline, s);
            }
        }
    }
}

/// Adds `s` unless present; when full, the oldest state but the first (the exec or seed state) makes room.
fn push_bounded(states: &mut States, s: TaskCreds) {
    if states.contains(&s) {
        return;
    }
    if states.len() >= MAX_STATES {
        states.remove(1);
    }
    states.push(s);
}

/// Credentials a thread was seen with that its history does not explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gain {
    pub pid: u32,
    pub tid: u32,
    pub timestamp_boot_ns: u64,
    /// The event whose record carried the credentials.
    pub seen_at: EventType,
    /// The known state closest to `current`.
    pub previous: TaskCreds,
    pub current: TaskCreds,
    pub gained: Gained,
}

/// Counters of the check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivilegeStats {
    pub processes: usize,
    pub gains: u64,
    /// Execs whose file capabilities could not be read (the file was gone): their capabilities count as gained.
    pub unverified_file_caps: u64,
    /// Records of a process with no history (its fork record was lost): taken as its starting point.
    pub unknown: u64,
}

pub struct PrivilegeCheck {
    processes: HashMap<u32, Process>,
    proc_root: PathBuf,
    stats: PrivilegeStats,
}

impl PrivilegeCheck {
    /// A check with no history: every process is learnt from its first record.
    pub fn new(proc_root: &Path) -> Self {
        PrivilegeCheck {
            processes: HashMap::default(),
            proc_root: proc_root.to_path_buf(),
            stats: PrivilegeStats::default(),
        }
    }

    /// A check starting from the processes running now, whose current credentials (every thread's) are
    /// taken as legitimate.
    pub fn seeded(proc_root: &Path) -> Self {
        let mut check = PrivilegeCheck::new(proc_root);
        let proc = procfs::ProcCreds::new(proc_root);
        for pid in proc.pids() {
            let read_at_boot_ns = crate::clock::BootClock::boot_now_ns();
            let states = proc.threads(pid, MAX_STATES);
            if !states.is_empty() {
                let process = Process {
                    baseline: states.into_iter().collect(),
                    threads: HashMap::default(),
                    read_at_boot_ns,
                };
                check.processes.insert(pid, process);
            }
        }
        check
    }

    pub fn stats(&self) -> PrivilegeStats {
        PrivilegeStats {
            processes: self.processes.len(),
            ..self.stats.clone()
        }
    }

    /// Updates the history with `record` and returns the gain it shows, if any.
    pub fn observe(&mut self, record: &ProbeRecord) -> Option<Gain> {
        match record {
            ProbeRecord::Exec(r) => self.on_exec(r),
            ProbeRecord::Fork(r) => self.on_fork(r),
            ProbeRecord::Exit(r) => {
                self.on_exit(r);
                None
            }
            ProbeRecord::Activity(r) => self.on_activity(r),
            ProbeRecord::KernelKill(_) => None,
        }
    }

    /// Forgets processes that are gone (their exit record was lost).
    pub fn sweep_dead(&mut self) {
        let root = &self.proc_root;
        self.processes
            .retain(|pid, _| root.join(pid.to_string()).exists());
    }

    fn on_exec(&mut self, r: &ExecRecord) -> Option<Gain> {
        if r.task.is_kthread {
            return None;
        }
        let (pid, seen) = (r.task.pid, r.task.creds());
        let process = self.processes.get(&pid);
        if process.is_some_and(|p| r.timestamp_boot_ns < p.read_at_boot_ns) {
            return None; // the /proc snapshot is newer
        }
        // Any thread may have called execve; a process never seen had its parent's (a fork copies them).
        let known = process
            .or_else(|| {
                let parent = self.processes.get(&r.task.ppid)?;
                (parent.read_at_boot_ns <= r.timestamp_boot_ns).then_some(parent)
            })
            .map(Process::all);
        self.processes.insert(pid, Process::new(seen));
        let mut grant = ImageGrant::new(r, &self.proc_root);
        let found = judge(
            &mut self.stats,
            known.as_deref(),
            &seen,
            &mut Change::Exec(&mut grant),
        );
        if grant.unverified {
            self.stats.unverified_file_caps += 1;
        }
        found.map(|(previous, gained)| Gain {
            pid,
            tid: r.task.tid,
            timestamp_boot_ns: r.timestamp_boot_ns,
            seen_at: EventType::Exec,
            previous,
            current: seen,
            gained,
        })
    }

    fn on_fork(&mut self, r: &ForkRecord) -> Option<Gain> {
        if r.child.is_kthread {
            return None;
        }
        let (pid, tid, seen) = (r.child.pid, r.child.tid, r.child.creds());
        if self
            .processes
            .get(&pid)
            .is_some_and(|p| r.timestamp_boot_ns < p.read_at_boot_ns)
        {
            return None; // the /proc snapshot is newer
        }
        // The child copies the calling thread's credentials (in a new user namespace with CLONE_NEWUSER);
        // a parent read from /proc after this fork may have changed since.
        let known: Option<States> = self
            .processes
            .get(&r.parent_pid)
            .filter(|p| p.read_at_boot_ns <= r.timestamp_boot_ns)
            .map(|p| p.of_thread(r.parent_tid).into());
        if pid == tid {
            self.processes.insert(pid, Process::new(seen));
        } else {
            self.processes
                .entry(pid)
                .or_insert_with(|| Process::new(seen))
                .set_thread(tid, SmallVec::from_buf([seen]));
        }
        let found = judge(
            &mut self.stats,
            known.as_deref(),
            &seen,
            &mut Change::Silent,
        );
        found.map(|(previous, gained)| Gain {
            pid,
            tid,
            timestamp_boot_ns: r.timestamp_boot_ns,
            seen_at: EventType::Fork,
            previous,
            current: seen,
            gained,
        })
    }

    fn on_exit(&mut self, r: &ExitRecord) {
        if r.group_dead {
            self.processes.remove(&r.pid);
        } else if let Some(p) = self.processes.get_mut(&r.pid) {
            p.threads.remove(&r.tid);
        }
    }

    fn on_activity(&mut self, r: &ActivityRecord) -> Option<Gain> {
        let Some(seen) = r.creds else {
            self.apply_unreported(r);
            return None;
        };
        let Some(process) = self.processes.get_mut(&r.pid) else {
            self.stats.unknown += 1;
            self.processes.insert(r.pid, Process::new(seen));
            return None;
        };
        if process.of_thread(r.tid).contains(&seen) || r.timestamp_boot_ns < process.read_at_boot_ns
        {
            return None; // nearly every record: nothing changed (or the /proc snapshot is newer)
        }
        let known: States = process.of_thread(r.tid).into();
        process.set_thread(r.tid, SmallVec::from_buf([seen]));
        let mut change = match r.data {
            EventData::Setuid(_) | EventData::Setgid(_) | EventData::Capset(_) => Change::Syscall,
            _ => Change::Silent,
        };
        let found = judge(&mut self.stats, Some(&known), &seen, &mut change);
        found.map(|(previous, gained)| Gain {
            pid: r.pid,
            tid: r.tid,
            timestamp_boot_ns: r.timestamp_boot_ns,
            seen_at: r.data.event_type(),
            previous,
            current: seen,
            gained,
        })
    }

    /// A set*id or capset record without the thread's credentials (recorded by an older probe, or
    /// replayed): the ids it names replace the known ones; what it leaves unknown (the saved ids) keeps the
    /// earlier states possible too.
    fn apply_unreported(&mut self, r: &ActivityRecord) {
        let credential_call = matches!(
            r.data,
            EventData::Setuid(_) | EventData::Setgid(_) | EventData::Capset(_)
        );
        let fresh = |p: &&mut Process| r.timestamp_boot_ns >= p.read_at_boot_ns;
        let Some(process) = self
            .processes
            .get_mut(&r.pid)
            .filter(|p| credential_call && fresh(p))
        else {
            return;
        };
        let mut states: States = process.of_thread(r.tid).into();
        let derived: Vec<TaskCreds> = states
            .iter()
            .filter_map(|k| {
                let mut s = *k;
                match &r.data {
                    EventData::Setuid(x) => (s.uid, s.euid, s.fsuid) = (x.uid, x.euid, x.fsuid),
                    EventData::Setgid(x) => (s.gid, s.egid, s.fsgid) = (x.gid, x.egid, x.fsgid),
                    EventData::Capset(x) => {
                        (s.cap_effective, s.cap_permitted) = (x.cap_effective, x.cap_permitted)
                    }
                    _ => return None,
                }
                Some(s)
            })
            .collect();
        if derived.is_empty() {
            return;
        }
        // newest first; the oldest fall off
        let old = std::mem::take(&mut states);
        for s in derived.into_iter().chain(old) {
            if states.len() < MAX_STATES && !states.contains(&s) {
                states.push(s);
            }
        }
        process.set_thread(r.tid, states);
    }
}

/// The gain of `seen` over `known`, unless there is no history.
fn judge(
    stats: &mut PrivilegeStats,
    known: Option<&[TaskCreds]>,
    seen: &TaskCreds,
    change: &mut Change<'_>,
) -> Option<(TaskCreds, Gained)> {
    let Some(known) = known else {
        stats.unknown += 1;
        return None;
    };
    let (previous, gained) = gain_over(known, seen, change)?;
    stats.gains += 1;
    Some((*previous, gained))
}

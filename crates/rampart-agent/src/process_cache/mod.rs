//! The process cache: one lineage node per live process, kept current from kernel records.
//!
//! Seeded from /proc at start-up so processes older than the agent have ancestors; updated by fork, exec and
//! exit records; every record becomes an [`Event`] carrying its process context (the node and its chain of
//! ancestors). Memory is bounded: entries are freed on exit, dead entries whose exit was lost are swept, and
//! past the configured limit the oldest entries are evicted (and counted).

mod proc_file;
pub mod procfs;
mod updates;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rampart_model::process::{Cgroup, Interpreter, ProcessContainer};
use rampart_model::{Event, EventData, ExitEvent, ForkEvent, Process, ProcessContext, ProcessNode};
use rampart_probe::record::{
    ActivityRecord, ExecRecord, ExitRecord, ForkRecord, Origin, ProbeRecord, TaskInfo,
};

use crate::clock::{clock_ticks_per_sec, BootClock};
use crate::users::UserDirectory;

/// Maps a cgroup path to the id of the container it belongs to, if any.
pub type ContainerIdFn = fn(&str) -> Option<String>;

#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most live entries kept; past it the oldest are evicted.
    pub max_entries: usize,
    pub proc_root: PathBuf,
    /// Longest lineage kept per node, so an endless exec chain cannot grow without bound.
    pub max_lineage: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 65_536,
            proc_root: PathBuf::from("/proc"),
            max_lineage: 64,
        }
    }
}

/// Counters about the cache's size and about what it had to guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub seeded: u64,
    pub inserted: u64,
    pub removed: u64,
    /// Entries dropped because the cache was full.
    pub evicted: u64,
    /// Entries dropped by a sweep because their process was gone (its exit record was lost).
    pub swept: u64,
    /// Records about a pid the cache did not know; filled from /proc when possible.
    pub misses: u64,
    /// Misses that /proc could fill.
    pub filled_from_procfs: u64,
}

struct Entry {
    node: Arc<ProcessNode>,
    /// Insertion order, to evict the oldest first.
    seq: u64,
}

pub struct ProcessCache {
    config: CacheConfig,
    entries: HashMap<u32, Entry>,
    next_seq: u64,
    clock: BootClock,
    ticks_per_sec: u64,
    users: UserDirectory,
    container_id: ContainerIdFn,
    stats: CacheStats,
}

impl ProcessCache {
    pub fn new(config: CacheConfig, container_id: ContainerIdFn) -> Self {
        ProcessCache {
            config,
            entries: HashMap::new(),
            next_seq: 0,
            clock: BootClock::now(),
            ticks_per_sec: clock_ticks_per_sec(),
            users: UserDirectory::host(),
            container_id,
            stats: CacheStats::default(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.len(),
            ..self.stats.clone()
        }
    }

    pub fn get(&self, pid: u32) -> Option<&Arc<ProcessNode>> {
        self.entries.get(&pid).map(|e| &e.node)
    }

    /// Every cached process.
    pub fn nodes(&self) -> impl Iterator<Item = &Arc<ProcessNode>> {
        self.entries.values().map(|e| &e.node)
    }

    pub fn clock(&self) -> &BootClock {
        &self.clock
    }

    pub fn proc_root(&self) -> &std::path::Path {
        &self.config.proc_root
    }

    pub fn users(&self) -> &UserDirectory {
        &self.users
    }

    /// Loads every running process from /proc, parents before children.
    pub fn seed_from_procfs(&mut self) -> usize {
        let root = self.config.proc_root.clone();
        let mut pending: HashMap<u32, procfs::ProcEntry> = procfs::list_pids(&root)
            .into_iter()
            .filter_map(|pid| {
                procfs::read_process(&root, pid, self.ticks_per_sec).map(|e| (pid, e))
            })
            .collect();
        let pids: Vec<u32> = pending.keys().copied().collect();
        let before = self.entries.len();
        for pid in pids {
            self.seed_one(pid, &mut pending);
        }
        let added = self.entries.len() - before;
        self.stats.seeded += added as u64;
        added
    }

    /// Inserts `pid` after its ancestors (iteratively: lineages can be deep).
    fn seed_one(&mut self, pid: u32, pending: &mut HashMap<u32, procfs::ProcEntry>) {
        let mut chain = Vec::new();
        let mut cur = pid;
        while let Some(entry) = pending.remove(&cur) {
            let ppid = entry.ppid;
            chain.push(entry);
            if self.entries.contains_key(&ppid) || ppid == 0 {
                break;
            }
            cur = ppid;
        }
        for entry in chain.into_iter().rev() {
            let parent = self.get(entry.ppid).cloned();
            let process = self.finish_procfs_process(entry);
            self.insert(ProcessNode::new(process, parent));
        }
    }

    fn finish_procfs_process(&self, entry: procfs::ProcEntry) -> Process {
        let mut process = entry.process;
        process.created_at = self.clock.to_epoch_ns(entry.start_boot_ns);
        process.start_boot_ns = entry.start_boot_ns;
        process.start_in_ticks = true;
        process.container = self.container_of(&process.cgroup.path);
        self.users.name_credentials(&mut process.credentials);
        process
    }

    /// Applies one kernel record and returns the event it describes, if it is one worth reporting
    /// (thread creation and thread exits update the cache silently).
    pub fn handle(&mut self, record: ProbeRecord) -> Option<Event> {
        match record {
            ProbeRecord::Exec(r) => Some(self.on_exec(r)),
            ProbeRecord::Fork(r) => self.on_fork(r),
            ProbeRecord::Exit(r) => self.on_exit(r),
            ProbeRecord::Activity(r) => Some(self.on_activity(r)),
            // Paired with the exec record by the pipeline; nothing to cache.
            ProbeRecord::KernelKill(_) => None,
        }
    }

    fn on_exec(&mut self, r: ExecRecord) -> Event {
        let previous = self.lookup_or_fill(r.task.pid);
        // The exec'd image descends from the image it replaces when that one was itself exec'd (so
        // `sh -c 'exec true'` shows sh as the parent of true); a fork copy adds nothing and is skipped.
        let parent = match &previous {
            Some(prev) if !prev.process.is_thread => Some(prev.clone()),
            Some(prev) => prev.parent.clone(),
            None => self.lookup_or_fill(r.task.ppid),
        };
        let timestamp = self.clock.to_epoch_ns(r.timestamp_boot_ns);
        let mut process = self.process_from_task(&r.task);
        process.exec_time = timestamp;
        // A script: the record has only the path the caller gave; read the file through the process.
        process.file = match &r.interpreter {
            Some(_) => proc_file::script(
                &self.config.proc_root,
                r.task.pid,
                r.task.start_time_boot_ns,
                self.ticks_per_sec,
                &r.file.path,
            )
            .unwrap_or(r.file),
            None => r.file,
        };
        process.set_argv(r.argv);
        process.args_truncated = r.args_truncated;
        process.args_size = r.args_size;
        process.args_longest = r.args_longest;
        process.envs = r.envs;
        process.envp = r.envp;
        process.envs_truncated = r.envs_truncated;
        process.interpreter = r.interpreter.map(|file| Interpreter { file });
        process.is_ia32 = r.is_ia32;
        let node = ProcessNode::new(process, self.bounded(parent));
        self.insert(node.clone());
        let exec = node.process.clone();
        Event::new(timestamp, ProcessContext::new(node), EventData::Exec(exec))
    }

    fn on_fork(&mut self, r: ForkRecord) -> Option<Event> {
        if r.child.pid != r.child.tid {
            return None; // a new thread of an existing process
        }
        let parent = self.lookup_or_fill(r.parent_pid);
        let timestamp = self.clock.to_epoch_ns(r.timestamp_boot_ns);
        // The child runs its parent's image until it execs: inherit the image, take identity from the record.
        let mut process = match &parent {
            Some(p) => (*p.process).clone(),
            None => Process::default(),
        };
        let fresh = self.process_from_task(&r.child);
        process.pid = fresh.pid;
        process.tid = fresh.tid;
        process.ppid = r.parent_pid;
        process.comm = fresh.comm;
        process.credentials = fresh.credentials;
        process.cgroup = fresh.cgroup;
        process.container = fresh.container;
        process.tty_name = fresh.tty_name;
        process.created_at = fresh.created_at;
        process.start_boot_ns = fresh.start_boot_ns;
        process.start_in_ticks = false;
        process.exec_time = 0;
        process.is_thread = true;
        let node = ProcessNode::new(process, self.bounded(parent));
        self.insert(node.clone());
        let fork = ForkEvent {
            parent_pid: r.parent_pid,
            child_pid: r.child.pid,
        };
        Some(Event::new(
            timestamp,
            ProcessContext::new(node),
            EventData::Fork(fork),
        ))
    }

    fn on_exit(&mut self, r: ExitRecord) -> Option<Event> {
        if !r.group_dead {
            return None; // one thread of a process that lives on
        }
        let node = match self.entries.remove(&r.pid) {
            Some(entry) => {
                self.stats.removed += 1;
                entry.node
            }
            None => {
                self.stats.misses += 1;
                ProcessNode::new(
                    Process {
                        pid: r.pid,
                        tid: r.tid,
                        ..Default::default()
                    },
                    None,
                )
            }
        };
        let timestamp = self.clock.to_epoch_ns(r.timestamp_boot_ns);
        let exit = ExitEvent {
            cause: r.cause,
            code: r.code,
        };
        Some(Event::new(
            timestamp,
            ProcessContext::new(node),
            EventData::Exit(exit),
        ))
    }

    fn on_activity(&mut self, r: ActivityRecord) -> Event {
        let node = self.lookup_or_fill(r.pid).unwrap_or_else(|| {
            ProcessNode::new(
                Process {
                    pid: r.pid,
                    tid: r.tid,
                    ..Default::default()
                },
                None,
            )
        });
        let timestamp = self.clock.to_epoch_ns(r.timestamp_boot_ns);
        let mut data = r.data;
        self.apply_activity(&node, r.tid, &mut data);
        let mut event = Event::new(timestamp, ProcessContext::new(node), data);
        event.event.compat = r.origin == Origin::Ia32;
        event.event.is_async = r.origin.is_async();
        event
    }

    /// The process fields a kernel task record carries directly.
    fn process_from_task(&self, task: &TaskInfo) -> Process {
        let mut credentials = task.credentials.clone();
        self.users.name_credentials(&mut credentials);
        Process {
            pid: task.pid,
            tid: task.tid,
            ppid: task.ppid,
            comm: task.comm.clone(),
            tty_name: task.tty_name.clone(),
            created_at: self.clock.to_epoch_ns(task.start_time_boot_ns),
            start_boot_ns: task.start_time_boot_ns,
            credentials,
            cgroup: Cgroup {
                id: task.cgroup_id,
                path: task.cgroup_path.clone(),
            },
            container: self.container_of(&task.cgroup_path),
            is_kworker: task.is_kthread,
            ..Default::default()
        }
    }

    fn container_of(&self, cgroup_path: &str) -> Option<ProcessContainer> {
        (self.container_id)(cgroup_path).map(|id| ProcessContainer { id })
    }

    /// The cached node for `pid`, or one read from /proc when the kernel never told us about it.
    fn lookup_or_fill(&mut self, pid: u32) -> Option<Arc<ProcessNode>> {
        if pid == 0 {
            return None;
        }
        if let Some(node) = self.get(pid) {
            return Some(node.clone());
        }
        self.stats.misses += 1;
        let root = self.config.proc_root.clone();
        let entry = procfs::read_process(&root, pid, self.ticks_per_sec)?;
        self.stats.filled_from_procfs += 1;
        let parent = if entry.ppid != pid {
            self.get(entry.ppid).cloned()
        } else {
            None
        };
        let node = ProcessNode::new(self.finish_procfs_process(entry), parent);
        self.insert(node.clone());
        Some(node)
    }

    /// Cuts a lineage that has grown past `max_lineage` (an exec loop), keeping the nearest ancestors.
    fn bounded(&self, parent: Option<Arc<ProcessNode>>) -> Option<Arc<ProcessNode>> {
        let parent = parent?;
        if parent.ancestors().count() + 1 < self.config.max_lineage {
            return Some(parent);
        }
        let mut kept: Vec<Arc<Process>> = Vec::new();
        let mut cur = Some(&parent);
        while let Some(node) = cur {
            if kept.len() + 1 == self.config.max_lineage {
                break;
            }
            kept.push(node.process.clone());
            cur = node.parent.as_ref();
        }
        kept.into_iter().rev().fold(None, |chain, process| {
            Some(Arc::new(ProcessNode {
                process,
                parent: chain,
            }))
        })
    }

    fn insert(&mut self, node: Arc<ProcessNode>) {
        let pid = node.process.pid;
        if !self.entries.contains_key(&pid) && self.entries.len() >= self.config.max_entries {
            self.sweep_dead();
            if self.entries.len() >= self.config.max_entries {
                self.evict_oldest();
            }
        }
        self.next_seq += 1;
        self.entries.insert(
            pid,
            Entry {
                node,
                seq: self.next_seq,
            },
        );
        self.stats.inserted += 1;
    }

    fn evict_oldest(&mut self) {
        if let Some(pid) = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.seq)
            .map(|(pid, _)| *pid)
        {
            self.entries.remove(&pid);
            self.stats.evicted += 1;
        }
    }

    /// Drops entries whose process no longer exists (their exit record was lost). Returns how many.
    pub fn sweep_dead(&mut self) -> usize {
        let root = self.config.proc_root.clone();
        let before = self.entries.len();
        self.entries
            .retain(|pid, _| root.join(pid.to_string()).exists());
        let swept = before - self.entries.len();
        self.stats.swept += swept as u64;
        swept
    }

    /// Picks up edits to /etc/passwd and /etc/group.
    pub fn refresh_user_names(&mut self) {
        self.users.refresh();
    }
}

#[cfg(test)]
mod tests;

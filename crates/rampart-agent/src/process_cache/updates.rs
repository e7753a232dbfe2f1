//! Activity that changes a cached process: credential changes (set*id, capset) and a new name
//! (PR_SET_NAME). The event keeps the process as it was when the call was made; later events see a new
//! node with the new values (copy on write: nodes are shared by children and in-flight events).

use std::sync::Arc;

use rampart_model::{EventData, ProcessNode};
use rampart_probe::record::TaskCreds;

use super::ProcessCache;

const PR_SET_NAME: u32 = 15;

impl ProcessCache {
    /// Names the ids of a credential event (`setuid.user`, …) and, when the call changed the process,
    /// replaces its cached node with an updated copy. `tid` is the calling thread: a thread renaming
    /// itself does not rename its process.
    pub(super) fn apply_activity(
        &mut self,
        node: &Arc<ProcessNode>,
        tid: u32,
        data: &mut EventData,
    ) {
        let pid = node.process.pid;
        let mut process = (*node.process).clone();
        let creds = &mut process.credentials;
        match data {
            EventData::Setuid(s) => {
                (creds.uid, creds.euid, creds.fsuid) = (s.uid, s.euid, s.fsuid);
                self.users.name_credentials(creds);
                (s.user, s.euser, s.fsuser) = (
                    creds.user.clone(),
                    creds.euser.clone(),
                    creds.fsuser.clone(),
                );
            }
            EventData::Setgid(s) => {
                (creds.gid, creds.egid, creds.fsgid) = (s.gid, s.egid, s.fsgid);
                self.users.name_credentials(creds);
                (s.group, s.egroup, s.fsgroup) = (
                    creds.group.clone(),
                    creds.egroup.clone(),
                    creds.fsgroup.clone(),
                );
            }
            EventData::Capset(c) => {
                (creds.cap_effective, creds.cap_permitted) = (c.cap_effective, c.cap_permitted);
            }
            EventData::Prctl(p) if p.option == PR_SET_NAME && p.retval == 0 && tid == pid => {
                process.comm = p.new_name.clone();
            }
            _ => return,
        }
        if pid != 0 && self.entries.contains_key(&pid) && process != *node.process {
            self.insert(ProcessNode::new(process, node.parent.clone()));
        }
    }

    /// Gives the cached process `pid` the credentials a record showed without a credential call (a
    /// privilege gain), so later events carry them; returns its node.
    pub fn set_credentials(&mut self, pid: u32, seen: &TaskCreds) -> Option<Arc<ProcessNode>> {
        let node = self.get(pid)?.clone();
        let mut process = (*node.process).clone();
        let c = &mut process.credentials;
        (c.uid, c.euid, c.fsuid) = (seen.uid, seen.euid, seen.fsuid);
        (c.gid, c.egid, c.fsgid) = (seen.gid, seen.egid, seen.fsgid);
        (c.cap_effective, c.cap_permitted) = (seen.cap_effective, seen.cap_permitted);
        if process == *node.process {
            return Some(node);
        }
        self.users.name_credentials(&mut process.credentials);
        let node = ProcessNode::new(process, node.parent.clone());
        self.insert(node.clone());
        Some(node)
    }

    /// The process `pid` as cached (filled from /proc when the kernel never told us about it): the
    /// target of a signal or the tracee of a ptrace call.
    pub fn target_node(&mut self, pid: u32) -> Option<Arc<ProcessNode>> {
        self.lookup_or_fill(pid)
    }
}

#[cfg(test)]
mod tests {
    use rampart_model::events::{CapsetEvent, PrctlEvent, SetuidEvent, SignalEvent};
    use rampart_model::{Event, FileInfo};
    use rampart_probe::record::{ActivityRecord, ExecRecord, ProbeRecord, TaskInfo};

    use super::*;
    use crate::process_cache::CacheConfig;

    fn cache() -> (tempfile::TempDir, ProcessCache) {
        let empty = tempfile::tempdir().unwrap();
        let config = CacheConfig {
            proc_root: empty.path().into(),
            ..Default::default()
        };
        let mut cache = ProcessCache::new(config, |_| None);
        for (pid, ppid, path) in [(10, 0, "/bin/parent"), (20, 10, "/bin/child")] {
            cache.handle(ProbeRecord::Exec(ExecRecord {
                task: TaskInfo {
                    pid,
                    tid: pid,
                    ppid,
                    comm: "old".into(),
                    ..Default::default()
                },
                file: FileInfo::from_path(path),
                ..Default::default()
            }));
        }
        (empty, cache)
    }

    fn activity(cache: &mut ProcessCache, pid: u32, tid: u32, data: EventData) -> Event {
        let record = ProbeRecord::Activity(ActivityRecord {
            timestamp_boot_ns: 1,
            pid,
            tid,
            creds: None,
            origin: rampart_probe::record::Origin::Syscall,
            data,
        });
        cache.handle(record).unwrap()
    }

    #[test]
    fn setuid_names_ids_and_updates_the_process_afterwards() {
        let (_d, mut cache) = cache();
        let data = EventData::Setuid(SetuidEvent {
            uid: 0,
            euid: 0,
            fsuid: 0,
            ..Default::default()
        });
        // give the process a non-root uid first, then switch to root
        let _ = activity(
            &mut cache,
            20,
            20,
            EventData::Setuid(SetuidEvent {
                uid: 4444,
                euid: 4444,
                fsuid: 4444,
                ..Default::default()
            }),
        );
        assert_eq!(cache.get(20).unwrap().process.credentials.uid, 4444);
        let event = activity(&mut cache, 20, 20, data);
        assert_eq!(
            event.process.credentials.uid, 4444,
            "the event shows the credentials before the call"
        );
        match &event.data {
            EventData::Setuid(s) => assert_eq!(s.user, "root"),
            other => panic!("{other:?}"),
        }
        let now = cache.get(20).unwrap();
        assert_eq!(
            (
                now.process.credentials.uid,
                now.process.credentials.user.as_str()
            ),
            (0, "root")
        );
        assert_eq!(now.parent.as_ref().unwrap().process.pid, 10, "lineage kept");
    }

    #[test]
    fn capset_and_thread_names() {
        let (_d, mut cache) = cache();
        activity(
            &mut cache,
            20,
            20,
            EventData::Capset(CapsetEvent {
                cap_effective: 1,
                cap_permitted: 3,
            }),
        );
        let creds = &cache.get(20).unwrap().process.credentials;
        assert_eq!((creds.cap_effective, creds.cap_permitted), (1, 3));
        let rename = |name: &str| {
            EventData::Prctl(PrctlEvent {
                option: PR_SET_NAME,
                new_name: name.into(),
                ..Default::default()
            })
        };
        activity(&mut cache, 20, 21, rename("worker")); // a thread: the process keeps its name
        assert_eq!(cache.get(20).unwrap().process.comm, "old");
        activity(&mut cache, 20, 20, rename("renamed"));
        assert_eq!(cache.get(20).unwrap().process.comm, "renamed");
    }

    #[test]
    fn signal_targets_come_from_the_cache() {
        let (_d, mut cache) = cache();
        let mut event = activity(
            &mut cache,
            20,
            20,
            EventData::Signal(SignalEvent {
                signal_type: 9,
                pid: 10,
                ..Default::default()
            }),
        );
        crate::targets::fill(&mut cache, &mut event);
        match &event.data {
            EventData::Signal(s) => assert_eq!(s.target.as_ref().unwrap().file.path, "/bin/parent"),
            other => panic!("{other:?}"),
        }
        // a process group (negative pid) has no single target
        let mut event = activity(
            &mut cache,
            20,
            20,
            EventData::Signal(SignalEvent {
                signal_type: 9,
                pid: -10i32 as u32,
                ..Default::default()
            }),
        );
        crate::targets::fill(&mut cache, &mut event);
        assert!(matches!(&event.data, EventData::Signal(s) if s.target.is_none()));
    }
}

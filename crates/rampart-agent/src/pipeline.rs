//! Turns decoded kernel records into enriched events: process cache (lineage), container context, ids.
//!
//! One code path after decoding, whatever the [`crate::source::EventSource`]: the kernel in production,
//! recorded records in tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_model::events::{PrivilegeCreds, PrivilegeGainEvent};
use rampart_model::{
    Container, Event, EventData, EventType, KernelKill, Process, ProcessContext, ProcessNode,
};
use rampart_probe::record::{ProbeRecord, TaskCreds};

use crate::container::ContainerResolver;
use crate::privilege::{Gain, PrivilegeCheck, PrivilegeStats};
use crate::process_cache::{CacheStats, ProcessCache};
use crate::source::EventSource;

/// Gives the container context for a process's cgroup path without blocking (a cache read).
pub trait ContainerLookup {
    fn lookup(&self, cgroup_path: &str) -> Option<Arc<Container>>;

    /// Starts describing a container whose events come later; never waits.
    fn prefetch(&self, cgroup_path: &str) {
        self.lookup(cgroup_path);
    }
}

impl ContainerLookup for ContainerResolver {
    fn lookup(&self, cgroup_path: &str) -> Option<Arc<Container>> {
        self.lookup_cgroup(cgroup_path)
    }

    fn prefetch(&self, cgroup_path: &str) {
        self.prefetch_cgroup(cgroup_path);
    }
}

/// How often housekeeping (sweeping dead cache entries, reloading user names) runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

pub struct Pipeline {
    cache: ProcessCache,
    containers: Box<dyn ContainerLookup + Send>,
    hostname: String,
    /// Prefix making event ids unique across agent runs; a counter makes them unique within one.
    run_id: String,
    next_event: u64,
    last_housekeeping: Instant,
    /// Kills the kernel performed at exec, waiting for the exec record of the same process (which follows).
    pending_kernel_kills: HashMap<u32, KernelKill>,
    /// The privilege-history check, while some rule or output wants `privilege_gain` events.
    privileges: Option<PrivilegeCheck>,
}

impl Pipeline {
    pub fn new(cache: ProcessCache, containers: Box<dyn ContainerLookup + Send>) -> Self {
        // Containers already running get their runtime lookups queued now, so their first events are complete.
        for node in cache.nodes().filter(|n| n.process.container.is_some()) {
            containers.prefetch(&node.process.cgroup.path);
        }
        Pipeline {
            cache,
            containers,
            hostname: hostname(),
            run_id: run_id(),
            next_event: 0,
            last_housekeeping: Instant::now(),
            pending_kernel_kills: HashMap::new(),
            privileges: None,
        }
    }

    /// Turns the privilege-history check on (starting from the credentials every process holds now) or off.
    /// The caller attaches the set*id and capset hooks first: a change the probe misses looks like a gain.
    pub fn set_privilege_check(&mut self, on: bool) {
        match (on, self.privileges.is_some()) {
            (true, false) => {
                self.privileges = Some(PrivilegeCheck::seeded(self.cache.proc_root()));
            }
            (false, true) => self.privileges = None,
            _ => {}
        }
    }

    /// The privilege check's counters, while it runs.
    pub fn privilege_stats(&self) -> Option<PrivilegeStats> {
        self.privileges.as_ref().map(PrivilegeCheck::stats)
    }

    pub fn cache(&self) -> &ProcessCache {
        &self.cache
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Applies one record and hands `sink` the enriched event it describes, if any, then the
    /// `privilege_gain` event its credentials show, if any.
    pub fn process(&mut self, record: ProbeRecord, sink: &mut dyn FnMut(Event)) {
        if let ProbeRecord::KernelKill(k) = &record {
            let kill = KernelKill {
                slot: k.slot,
                signal: k.signal,
                result: k.result,
            };
            self.pending_kernel_kills.insert(k.pid, kill);
            return;
        }
        let gain = self.privileges.as_mut().and_then(|p| p.observe(&record));
        if let Some(mut event) = self.cache.handle(record) {
            crate::targets::fill(&mut self.cache, &mut event);
            if event.event_type() == EventType::Exec {
                event.event.kernel_kill = self.pending_kernel_kills.remove(&event.process.pid);
            }
            self.finish(&mut event, "ebpf");
            sink(event);
        }
        if let Some(gain) = gain {
            let mut event = self.gain_event(gain);
            self.finish(&mut event, "agent");
            sink(event);
        }
    }

    /// Ids, host, origin and container context.
    fn finish(&mut self, event: &mut Event, origin: &str) {
        self.next_event += 1;
        event.event.id = format!("{}-{}", self.run_id, self.next_event);
        event.event.hostname.clone_from(&self.hostname);
        event.event.origin = origin.to_string();
        if event.process.container.is_some() {
            event.container = self
                .containers
                .lookup(&event.process.cgroup.path)
                .map(|c| (*c).clone());
        }
    }

    /// The `privilege_gain` event of `gain`, in the context of its process as cached, with the
    /// credentials it was seen with from now on (later events show them too).
    fn gain_event(&mut self, gain: Gain) -> Event {
        let node = self
            .cache
            .set_credentials(gain.pid, &gain.current)
            .unwrap_or_else(|| {
                let process = Process {
                    pid: gain.pid,
                    tid: gain.tid,
                    ..Default::default()
                };
                ProcessNode::new(process, None)
            });
        let users = self.cache.users();
        let named = |c: &TaskCreds| PrivilegeCreds {
            ids: *c,
            user: users.user_name(c.uid).unwrap_or_default().to_string(),
            euser: users.user_name(c.euid).unwrap_or_default().to_string(),
            group: users.group_name(c.gid).unwrap_or_default().to_string(),
            egroup: users.group_name(c.egid).unwrap_or_default().to_string(),
        };
        let data = PrivilegeGainEvent {
            seen_at: gain.seen_at,
            previous: named(&gain.previous),
            current: named(&gain.current),
            gained_ids: gain.gained.ids.iter().map(|s| s.to_string()).collect(),
            gained_caps: gain.gained.caps,
        };
        let timestamp = self.cache.clock().to_epoch_ns(gain.timestamp_boot_ns);
        Event::new(
            timestamp,
            ProcessContext::new(node),
            EventData::PrivilegeGain(data),
        )
    }

    /// Polls `source` once and hands every resulting event to `sink`; runs housekeeping when due.
    pub fn pump(
        &mut self,
        source: &mut dyn EventSource,
        timeout: Duration,
        sink: &mut dyn FnMut(Event),
    ) -> anyhow::Result<usize> {
        let n = source.poll(timeout, &mut |record| self.process(record, sink))?;
        if self.last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
            self.cache.sweep_dead();
            if let Some(p) = self.privileges.as_mut() {
                p.sweep_dead();
            }
            // A kill whose exec record was lost (ring buffer full) must not wait forever.
            self.pending_kernel_kills.clear();
            self.cache.refresh_user_names();
            self.last_housekeeping = Instant::now();
        }
        Ok(n)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn run_id() -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    uuid.trim().replace('-', "").chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_cache::CacheConfig;
    use crate::source::ReplaySource;
    use rampart_model::FileInfo;
    use rampart_probe::record::{ExecRecord, TaskInfo};

    struct PrefixContainers;

    impl ContainerLookup for PrefixContainers {
        fn lookup(&self, cgroup_path: &str) -> Option<Arc<Container>> {
            let id = cgroup_path.strip_prefix("/c/")?;
            Some(Arc::new(Container {
                id: id.to_string(),
                ..Default::default()
            }))
        }
    }

    #[test]
    fn events_get_ids_host_and_container() {
        let empty = tempfile::tempdir().unwrap();
        let config = CacheConfig {
            proc_root: empty.path().into(),
            ..Default::default()
        };
        let cache = ProcessCache::new(config, |p| p.strip_prefix("/c/").map(str::to_string));
        let mut pipeline = Pipeline::new(cache, Box::new(PrefixContainers));
        let record = |pid, cgroup: &str| {
            ProbeRecord::Exec(ExecRecord {
                task: TaskInfo {
                    pid,
                    tid: pid,
                    cgroup_path: cgroup.into(),
                    ..Default::default()
                },
                file: FileInfo::from_path("/bin/x"),
                ..Default::default()
            })
        };
        let mut source = ReplaySource::new([record(1, "/c/abc"), record(2, "/user.slice")]);
        let mut events = Vec::new();
        pipeline
            .pump(&mut source, Duration::ZERO, &mut |e| events.push(e))
            .unwrap();
        assert_eq!(events.len(), 2);
        assert_ne!(events[0].event.id, events[1].event.id);
        assert!(events[0].event.id.ends_with("-1"));
        assert_eq!(events[0].event.origin, "ebpf");
        assert_eq!(events[0].container.as_ref().unwrap().id, "abc");
        assert!(events[1].container.is_none());
    }
}

#[cfg(test)]
mod privilege_tests {
    use super::*;
    use crate::process_cache::CacheConfig;
    use crate::source::ReplaySource;
    use rampart_model::events::OpenEvent;
    use rampart_model::FileInfo;
    use rampart_probe::record::{ActivityRecord, ExecRecord, TaskInfo};

    struct NoContainers;

    impl ContainerLookup for NoContainers {
        fn lookup(&self, _cgroup_path: &str) -> Option<Arc<Container>> {
            None
        }
    }

    fn pipeline(proc_root: &std::path::Path) -> Pipeline {
        let config = CacheConfig {
            proc_root: proc_root.into(),
            ..Default::default()
        };
        Pipeline::new(ProcessCache::new(config, |_| None), Box::new(NoContainers))
    }

    /// The exec of pid 100 as uid 1000, then an open by it as root with no credential call in between.
    fn records() -> Vec<ProbeRecord> {
        let mut task = TaskInfo {
            pid: 100,
            tid: 100,
            suid: 1000,
            sgid: 1000,
            init_user_ns: true,
            ..Default::default()
        };
        let c = &mut task.credentials;
        (c.uid, c.euid, c.fsuid, c.gid, c.egid, c.fsgid) = (1000, 1000, 1000, 1000, 1000, 1000);
        let exec = ProbeRecord::Exec(ExecRecord {
            timestamp_boot_ns: 1,
            task,
            file: FileInfo::from_path("/bin/bash"),
            ..Default::default()
        });
        let root = TaskCreds {
            cap_effective: 1 << 21,
            cap_permitted: 1 << 21,
            init_user_ns: true,
            ..Default::default()
        };
        let open = ProbeRecord::Activity(ActivityRecord {
            timestamp_boot_ns: 2,
            pid: 100,
            tid: 100,
            creds: Some(root),
            origin: Default::default(),
            data: EventData::Open(OpenEvent::default()),
        });
        vec![exec, open]
    }

    fn run(pipeline: &mut Pipeline) -> Vec<Event> {
        let mut events = Vec::new();
        let mut source = ReplaySource::new(records());
        pipeline
            .pump(&mut source, Duration::ZERO, &mut |e| events.push(e))
            .unwrap();
        events
    }

    #[test]
    fn a_gain_follows_the_event_that_showed_it_with_the_process_context() {
        let empty = tempfile::tempdir().unwrap();
        let mut pipeline = pipeline(empty.path());
        pipeline.set_privilege_check(true);
        let events = run(&mut pipeline);
        let types: Vec<EventType> = events.iter().map(Event::event_type).collect();
        assert_eq!(
            types,
            [EventType::Exec, EventType::Open, EventType::PrivilegeGain]
        );
        let gain = &events[2];
        assert_eq!(gain.event.origin, "agent");
        assert_ne!(gain.event.id, events[1].event.id);
        assert_eq!(gain.process.pid, 100);
        assert_eq!(gain.process.file.path, "/bin/bash");
        assert_eq!(
            (
                gain.process.credentials.uid,
                gain.process.credentials.user.as_str()
            ),
            (0, "root"),
            "the process context shows the credentials it was seen with"
        );
        let EventData::PrivilegeGain(g) = &gain.data else {
            panic!("{gain:?}")
        };
        assert_eq!(g.seen_at, EventType::Open);
        assert_eq!((g.previous.ids.uid, g.current.ids.uid), (1000, 0));
        assert_eq!(g.current.user, "root");
        assert_eq!(g.gained_caps, 1 << 21);
        assert!(g.gained_ids.iter().any(|i| i == "euid"), "{g:?}");
        let json = serde_json::to_value(gain).unwrap();
        assert_eq!(json["privilege_gain"]["current"]["uid"], 0);
        assert_eq!(pipeline.privilege_stats().unwrap().gains, 1);
    }

    #[test]
    fn no_check_no_gain() {
        let empty = tempfile::tempdir().unwrap();
        let mut pipeline = pipeline(empty.path());
        let events = run(&mut pipeline);
        assert_eq!(events.len(), 2);
        assert!(pipeline.privilege_stats().is_none());
    }
}

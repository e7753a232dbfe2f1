//! Turns decoded kernel records into enriched events: process cache (lineage), container context, ids.
//!
//! One code path after decoding, whatever the [`crate::source::EventSource`]: the kernel in production,
//! recorded records in tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_model::{Container, Event, EventType, KernelKill};
use rampart_probe::record::ProbeRecord;

use crate::container::ContainerResolver;
use crate::process_cache::{CacheStats, ProcessCache};
use crate::source::EventSource;

/// Gives the container context for a process's cgroup path without blocking (a cache read).
pub trait ContainerLookup {
    fn lookup(&self, cgroup_path: &str) -> Option<Arc<Container>>;
}

impl ContainerLookup for ContainerResolver {
    fn lookup(&self, cgroup_path: &str) -> Option<Arc<Container>> {
        self.lookup_cgroup(cgroup_path)
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
}

impl Pipeline {
    pub fn new(cache: ProcessCache, containers: Box<dyn ContainerLookup + Send>) -> Self {
        // Containers already running get their runtime lookups queued now, so their first events are complete.
        for node in cache.nodes().filter(|n| n.process.container.is_some()) {
            containers.lookup(&node.process.cgroup.path);
        }
        Pipeline {
            cache,
            containers,
            hostname: hostname(),
            run_id: run_id(),
            next_event: 0,
            last_housekeeping: Instant::now(),
            pending_kernel_kills: HashMap::new(),
        }
    }

    pub fn cache(&self) -> &ProcessCache {
        &self.cache
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Applies one record; returns the enriched event it describes, if any.
    pub fn process(&mut self, record: ProbeRecord) -> Option<Event> {
        if let ProbeRecord::KernelKill(k) = &record {
            let kill = KernelKill {
                slot: k.slot,
                signal: k.signal,
                result: k.result,
            };
            self.pending_kernel_kills.insert(k.pid, kill);
            return None;
        }
        let mut event = self.cache.handle(record)?;
        crate::targets::fill(&mut self.cache, &mut event);
        if event.event_type() == EventType::Exec {
            event.event.kernel_kill = self.pending_kernel_kills.remove(&event.process.pid);
        }
        self.next_event += 1;
        event.event.id = format!("{}-{}", self.run_id, self.next_event);
        event.event.hostname.clone_from(&self.hostname);
        event.event.origin = "ebpf".to_string();
        if event.process.container.is_some() {
            event.container = self
                .containers
                .lookup(&event.process.cgroup.path)
                .map(|c| (*c).clone());
        }
        Some(event)
    }

    /// Polls `source` once and hands every resulting event to `sink`; runs housekeeping when due.
    pub fn pump(
        &mut self,
        source: &mut dyn EventSource,
        timeout: Duration,
        sink: &mut dyn FnMut(Event),
    ) -> anyhow::Result<usize> {
        let n = source.poll(timeout, &mut |record| {
            if let Some(event) = self.process(record) {
                sink(event);
            }
        })?;
        if self.last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
            self.cache.sweep_dead();
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

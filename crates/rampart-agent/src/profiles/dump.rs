//! One activity dump: the behaviours of one workload over a period, bounded by a load controller.

use std::collections::HashMap;

use rampart_model::behavior::{behaviors, ActivitySnapshot, SnapshotEntry, Workload};
use rampart_model::{Event, EventData};

/// Bounds of one dump. Past `max_behaviors` new behaviours are counted as dropped (known ones are still
/// counted); past `max_events_per_sec` events are dropped for the rest of that second. A dump degrades by
/// missing detail, never by using more memory or CPU.
#[derive(Debug, Clone, Copy)]
pub struct DumpLimits {
    pub max_behaviors: usize,
    pub max_events_per_sec: u64,
}

impl Default for DumpLimits {
    fn default() -> Self {
        DumpLimits {
            max_behaviors: 5_000,
            max_events_per_sec: 2_000,
        }
    }
}

pub struct ActivityDump {
    pub workload: Workload,
    pub cgroup_id: u64,
    pub started_at: u64,
    /// Monotonic deadline.
    pub ends: std::time::Instant,
    entries: HashMap<String, SnapshotEntry>,
    events: u64,
    dropped: u64,
    limits: DumpLimits,
    second: u64,
    in_second: u64,
}

impl ActivityDump {
    pub fn new(
        workload: Workload,
        cgroup_id: u64,
        started_at: u64,
        ends: std::time::Instant,
        limits: DumpLimits,
    ) -> ActivityDump {
        ActivityDump {
            workload,
            cgroup_id,
            started_at,
            ends,
            entries: HashMap::new(),
            events: 0,
            dropped: 0,
            limits,
            second: 0,
            in_second: 0,
        }
    }

    pub fn record(&mut self, event: &Event) {
        let second = event.event.timestamp / 1_000_000_000;
        if second != self.second {
            self.second = second;
            self.in_second = 0;
        }
        self.in_second += 1;
        if self.in_second > self.limits.max_events_per_sec {
            self.dropped += 1;
            return;
        }
        self.events += 1;
        let example = match &event.data {
            EventData::Exec(p) => p.args.chars().take(256).collect(),
            _ => String::new(),
        };
        for b in behaviors(event) {
            let key = b.key();
            if let Some(e) = self.entries.get_mut(&key) {
                e.count += 1;
                continue;
            }
            if self.entries.len() >= self.limits.max_behaviors {
                self.dropped += 1;
                continue;
            }
            self.entries.insert(
                key,
                SnapshotEntry {
                    behavior: b,
                    count: 1,
                    example: example.clone(),
                },
            );
        }
    }

    pub fn behaviors(&self) -> usize {
        self.entries.len()
    }

    /// The finished snapshot.
    pub fn finish(self, id: String, ended_at: u64) -> ActivitySnapshot {
        let mut behaviors: Vec<SnapshotEntry> = self.entries.into_values().collect();
        behaviors.sort_by(|a, b| a.behavior.cmp(&b.behavior));
        ActivitySnapshot {
            id,
            workload: self.workload,
            started_at: self.started_at,
            ended_at,
            events: self.events,
            dropped: self.dropped,
            behaviors,
        }
    }
}

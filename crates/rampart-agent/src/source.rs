//! The seam between the kernel and the rest of the pipeline: anything that yields decoded kernel records.
//!
//! Production uses the eBPF probe; tests drive the same pipeline with records they build themselves.

use std::collections::VecDeque;
use std::time::Duration;

use rampart_probe::record::ProbeRecord;
use rampart_probe::Probe;

/// Counters a source keeps about what it could not deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Records the kernel could not queue (ring buffer full), per CPU.
    pub dropped_per_cpu: Vec<u64>,
    /// Records that reached user space but could not be decoded.
    pub malformed: u64,
    /// Records emitted by the kernel (or replayed).
    pub delivered: u64,
}

impl SourceStats {
    pub fn dropped_total(&self) -> u64 {
        self.dropped_per_cpu.iter().sum()
    }
}

/// A producer of decoded kernel records.
pub trait EventSource {
    /// Waits up to `timeout` for records, hands each one to `sink`, and returns how many it delivered.
    fn poll(
        &mut self,
        timeout: Duration,
        sink: &mut dyn FnMut(ProbeRecord),
    ) -> anyhow::Result<usize>;

    /// Current delivery and drop counters.
    fn stats(&self) -> SourceStats;
}

/// A source replaying records held in memory (tests, recorded sessions).
#[derive(Debug, Default)]
pub struct ReplaySource {
    records: VecDeque<ProbeRecord>,
    delivered: u64,
}

impl ReplaySource {
    pub fn new(records: impl IntoIterator<Item = ProbeRecord>) -> Self {
        ReplaySource {
            records: records.into_iter().collect(),
            delivered: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl EventSource for ReplaySource {
    fn poll(
        &mut self,
        _timeout: Duration,
        sink: &mut dyn FnMut(ProbeRecord),
    ) -> anyhow::Result<usize> {
        let n = self.records.len();
        for record in self.records.drain(..) {
            sink(record);
        }
        self.delivered += n as u64;
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            delivered: self.delivered,
            ..Default::default()
        }
    }
}

impl EventSource for Probe {
    fn poll(
        &mut self,
        timeout: Duration,
        sink: &mut dyn FnMut(ProbeRecord),
    ) -> anyhow::Result<usize> {
        Ok(Probe::poll(self, timeout, &mut |record| sink(record))?)
    }

    fn stats(&self) -> SourceStats {
        match Probe::stats(self) {
            Ok(s) => SourceStats {
                // Every family: process records, file events, network/DNS/kernel activity.
                delivered: s.exec_emitted
                    + s.fork_emitted
                    + s.exit_emitted
                    + s.file.total().sent
                    + s.activity.values().map(|k| k.sent).sum::<u64>(),
                malformed: s.decode_errors,
                dropped_per_cpu: s.drops_per_cpu,
            },
            Err(e) => {
                tracing::warn!("cannot read probe counters: {e}");
                SourceStats::default()
            }
        }
    }
}

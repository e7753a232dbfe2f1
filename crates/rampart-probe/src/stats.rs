//! Drop and emit accounting, read from the per-CPU `counters` map.

use crate::abi::read_pod;
use crate::skel::types::{counter_slot, counters};

/// Counter slots (`CNT_*` in bpf/events.h).
const CNT_DROPS: usize = counter_slot::CNT_DROPS.0 as usize;
const CNT_EXEC: usize = counter_slot::CNT_EXEC.0 as usize;
const CNT_FORK: usize = counter_slot::CNT_FORK.0 as usize;
const CNT_EXIT: usize = counter_slot::CNT_EXIT.0 as usize;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Records lost because the ring buffer was full, per possible CPU.
    pub drops_per_cpu: Vec<u64>,
    /// Sum of `drops_per_cpu`.
    pub drops: u64,
    /// Records written to the ring buffer, per type.
    pub exec_emitted: u64,
    pub fork_emitted: u64,
    pub exit_emitted: u64,
    /// Records that reached user space but could not be decoded (skipped).
    pub decode_errors: u64,
    /// Kernel, network and DNS activity per kind (`bpf`, `connect`, `dns`, …): seen, filtered in the
    /// kernel, sent, lost. Kinds that never fired are absent.
    pub activity: std::collections::BTreeMap<String, crate::kernel::counters::KindCounters>,
    /// Syscalls of the activity families that have no tracepoint on this kernel (not monitored).
    pub activity_unavailable: Vec<String>,
    /// File events per type: seen, dropped by approvers / discarders in the kernel, sent, lost.
    pub file: crate::file::FileStats,
    /// io_uring requests: how each was reported (at completion or at submission) and what was lost.
    pub uring: crate::uring::UringStats,
}

impl ProbeStats {
    /// Builds the totals from the per-CPU values of the counters map (each a `struct counters`).
    pub(crate) fn from_per_cpu(values: &[Vec<u8>], decode_errors: u64) -> Self {
        let mut stats = ProbeStats {
            decode_errors,
            ..Default::default()
        };
        for cpu in values {
            // a short value (never seen: the kernel returns whole values) counts as zeros
            let c: counters = read_pod(cpu).unwrap_or_default();
            stats.drops_per_cpu.push(c.v[CNT_DROPS]);
            stats.exec_emitted += c.v[CNT_EXEC];
            stats.fork_emitted += c.v[CNT_FORK];
            stats.exit_emitted += c.v[CNT_EXIT];
        }
        stats.drops = stats.drops_per_cpu.iter().sum();
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_cpu_slots() {
        let cpu = |v: [u64; counter_slot::CNT_MAX.0 as usize]| {
            v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>()
        };
        let s = ProbeStats::from_per_cpu(&[cpu([1, 2, 3, 4]), cpu([5, 6, 7, 8]), vec![1; 3]], 9);
        assert_eq!(s.drops_per_cpu, vec![1, 5, 0]);
        assert_eq!(
            (
                s.drops,
                s.exec_emitted,
                s.fork_emitted,
                s.exit_emitted,
                s.decode_errors
            ),
            (6, 8, 10, 12, 9)
        );
    }
}

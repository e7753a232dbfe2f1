//! Drop and emit accounting, read from the per-CPU `counters` map.

/// Counter slots, as in bpf/events.h (`CNT_*`).
const CNT_DROPS: usize = 0;
const CNT_EXEC: usize = 1;
const CNT_FORK: usize = 2;
const CNT_EXIT: usize = 3;
const CNT_MAX: usize = 4;

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
    /// Builds the totals from the per-CPU values of the counters map (each `CNT_MAX` native-endian u64s).
    pub(crate) fn from_per_cpu(values: &[Vec<u8>], decode_errors: u64) -> Self {
        let mut stats = ProbeStats {
            decode_errors,
            ..Default::default()
        };
        for cpu in values {
            let slot = |i: usize| {
                cpu.get(i * 8..i * 8 + 8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes)
                    .unwrap_or(0)
            };
            debug_assert!(cpu.len() >= CNT_MAX * 8);
            stats.drops_per_cpu.push(slot(CNT_DROPS));
            stats.exec_emitted += slot(CNT_EXEC);
            stats.fork_emitted += slot(CNT_FORK);
            stats.exit_emitted += slot(CNT_EXIT);
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
        let cpu = |v: [u64; CNT_MAX]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        let s = ProbeStats::from_per_cpu(&[cpu([1, 2, 3, 4]), cpu([5, 6, 7, 8])], 9);
        assert_eq!(s.drops_per_cpu, vec![1, 5]);
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

//! Per-event-type counters of the activity families, read from the per-CPU `act_counters` map.

use std::collections::BTreeMap;

/// Counter slots per kind, as in bpf/act_events.h (`KOP_SLOTS`), and the kinds in `KOP_*` order.
const KOP_SLOTS: usize = 32;
const KOP_NAMES: &[&str] = &[
    "bpf",
    "ptrace",
    "mmap",
    "mprotect",
    "load_module(memory)",
    "load_module(file)",
    "unload_module",
    "setuid",
    "setgid",
    "capset",
    "signal",
    "mount",
    "umount",
    "memfd_create",
    "splice",
    "prctl",
    "unshare",
    "setns",
    "connect",
    "bind",
    "accept",
    "dns",
    "io_uring_setup",
];

/// What happened to the records of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounters {
    /// Hook hits (for DNS: port-53 packets).
    pub seen: u64,
    /// Dropped by an in-kernel filter (mmap/mprotect protection, bpf command, socket family, failed
    /// credential changes, accept's EAGAIN, unattributed DNS responses, …).
    pub filtered: u64,
    /// Written to the ring buffer.
    pub sent: u64,
    /// Lost because the ring buffer was full (also counted in the global drops).
    pub lost: u64,
}

/// Sums the per-CPU values (each four arrays of `KOP_SLOTS` native-endian u64s) by kind name; kinds that
/// never fired are left out.
pub(crate) fn from_per_cpu(values: &[Vec<u8>]) -> BTreeMap<String, KindCounters> {
    let mut out = BTreeMap::new();
    for (kind, name) in KOP_NAMES.iter().enumerate() {
        let mut c = KindCounters::default();
        for cpu in values {
            let slot = |array: usize| {
                let at = (array * KOP_SLOTS + kind) * 8;
                cpu.get(at..at + 8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes)
                    .unwrap_or(0)
            };
            c.seen += slot(0);
            c.filtered += slot(1);
            c.sent += slot(2);
            c.lost += slot(3);
        }
        if c != KindCounters::default() {
            out.insert(name.to_string(), c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_cpu() {
        let cpu = |kind: usize, v: [u64; 4]| {
            let mut b = vec![0u8; 4 * KOP_SLOTS * 8];
            for (array, x) in v.iter().enumerate() {
                let at = (array * KOP_SLOTS + kind) * 8;
                b[at..at + 8].copy_from_slice(&x.to_ne_bytes());
            }
            b
        };
        let s = from_per_cpu(&[
            cpu(21, [5, 1, 4, 0]),
            cpu(21, [2, 0, 1, 1]),
            cpu(0, [1, 0, 1, 0]),
        ]);
        assert_eq!(
            s["dns"],
            KindCounters {
                seen: 7,
                filtered: 1,
                sent: 5,
                lost: 1
            }
        );
        assert_eq!(s["bpf"].sent, 1);
        assert!(!s.contains_key("ptrace"));
    }
}

//! Per-event-type counters of the activity families, read from the per-CPU `act_counters` map.

use std::collections::BTreeMap;

use crate::abi::read_pod;
use crate::skel::types::{act_counters, kact_op};

/// The name of each op's counters.
const KOP_NAMES: &[(kact_op, &str)] = &[
    (kact_op::KOP_BPF, "bpf"),
    (kact_op::KOP_PTRACE, "ptrace"),
    (kact_op::KOP_MMAP, "mmap"),
    (kact_op::KOP_MPROTECT, "mprotect"),
    (kact_op::KOP_INIT_MODULE, "load_module(memory)"),
    (kact_op::KOP_FINIT_MODULE, "load_module(file)"),
    (kact_op::KOP_DELETE_MODULE, "unload_module"),
    (kact_op::KOP_SETUID, "setuid"),
    (kact_op::KOP_SETGID, "setgid"),
    (kact_op::KOP_CAPSET, "capset"),
    (kact_op::KOP_KILL, "signal"),
    (kact_op::KOP_MOUNT, "mount"),
    (kact_op::KOP_UMOUNT, "umount"),
    (kact_op::KOP_MEMFD_CREATE, "memfd_create"),
    (kact_op::KOP_SPLICE, "splice"),
    (kact_op::KOP_PRCTL, "prctl"),
    (kact_op::KOP_UNSHARE, "unshare"),
    (kact_op::KOP_SETNS, "setns"),
    (kact_op::KOP_CONNECT, "connect"),
    (kact_op::KOP_BIND, "bind"),
    (kact_op::KOP_ACCEPT, "accept"),
    (kact_op::KOP_DNS, "dns"),
    (kact_op::KOP_URING_SETUP, "io_uring_setup"),
    (kact_op::KOP_SETRLIMIT, "setrlimit"),
];

// Every op named, once: a new KOP_* fails the build until it has a name here.
const _: () = {
    assert!(KOP_NAMES.len() == kact_op::KOP_MAX.0 as usize);
    let mut i = 0;
    while i < KOP_NAMES.len() {
        assert!(KOP_NAMES[i].0 .0 as usize == i);
        i += 1;
    }
};

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
    let per_cpu: Vec<act_counters> = values.iter().filter_map(|v| read_pod(v).ok()).collect();
    let mut out = BTreeMap::new();
    for (op, name) in KOP_NAMES {
        let kind = op.0 as usize;
        let mut c = KindCounters::default();
        for cpu in &per_cpu {
            c.seen += cpu.seen[kind];
            c.filtered += cpu.filtered[kind];
            c.sent += cpu.sent[kind];
            c.lost += cpu.lost[kind];
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
        let cpu = |op: kact_op, [seen, filtered, sent, lost]: [u64; 4]| {
            let mut c = act_counters::default();
            let kind = op.0 as usize;
            (c.seen[kind], c.filtered[kind], c.sent[kind], c.lost[kind]) =
                (seen, filtered, sent, lost);
            crate::abi::bytes_of(&c).to_vec()
        };
        let s = from_per_cpu(&[
            cpu(kact_op::KOP_DNS, [5, 1, 4, 0]),
            cpu(kact_op::KOP_DNS, [2, 0, 1, 1]),
            cpu(kact_op::KOP_BPF, [1, 0, 1, 0]),
            vec![0xff; 7], // short: skipped
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

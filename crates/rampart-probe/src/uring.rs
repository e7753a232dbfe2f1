//! io_uring (`bpf/uring.h`): the file and network operations a ring performs are reported as their syscalls
//! (origin [`crate::record::Origin::IoUring`]), and every ring created as an `io_uring_setup` record.
//!
//! The submission and completion programs are attached while some file event type or a connect, bind or
//! accept event is wanted; `uring_setup` is an activity program like the others (see `kernel::attach`).

use libbpf_rs::btf::types::{Enum, Typedef};
use libbpf_rs::btf::Btf;
use libbpf_rs::{Link, MapCore, MapFlags};
use rampart_model::EventType;

use crate::abi::read_pod;
use crate::errors::ProbeError;
use crate::kernel::config::ActivityConfig;
use crate::skel::types::{kact_op, uring_counter, uring_counters};
use crate::skel::{OpenSensorSkel, SensorSkel};

/// The tracepoints the request programs need (all of them: a submission never completed would be lost).
const REQUEST_TRACEPOINTS: [&str; 3] = [
    "io_uring_submit_req",
    "io_uring_complete",
    "io_uring_cqe_overflow",
];
const SETUP_TRACEPOINT: &str = "io_uring_create";

/// Before load: keeps the programs whose tracepoints this kernel has, and tells the kernel side which
/// request flag marks a personality (registered credentials). Returns whether the request programs are kept.
pub(crate) fn prepare(open: &mut OpenSensorSkel<'_>) -> Result<bool, ProbeError> {
    let btf = Btf::from_vmlinux().ok();
    let has = |tp: &str| {
        btf.as_ref().is_some_and(|btf| {
            btf.type_by_name::<Typedef<'_>>(&format!("btf_trace_{tp}"))
                .is_some()
        })
    };
    let requests = REQUEST_TRACEPOINTS.iter().all(|tp| has(tp));
    let progs = &mut open.progs;
    if !requests {
        progs.uring_submit.set_autoload(false);
        progs.uring_complete.set_autoload(false);
        progs.uring_overflow.set_autoload(false);
        tracing::info!(
            "this kernel has no io_uring request tracepoints: operations submitted through io_uring are not seen"
        );
    }
    if !has(SETUP_TRACEPOINT) {
        progs.uring_setup.set_autoload(false);
    }
    let flag = |name: &str| {
        btf.as_ref()
            .and_then(|btf| enumerator(btf, name))
            .filter(|b| (0..64).contains(b))
            .map_or(0, |b| 1u64 << b)
    };
    let (creds, cleanup) = (flag("REQ_F_CREDS_BIT"), flag("REQ_F_NEED_CLEANUP_BIT"));
    let rodata = open.maps.rodata_data.as_deref_mut().ok_or_else(|| {
        ProbeError::Config("the BPF object has no .rodata (build problem)".into())
    })?;
    rodata.uring_creds_flag = creds;
    rodata.uring_cleanup_flag = cleanup;
    Ok(requests)
}

/// The value of enumerator `name` in the kernel's BTF (the request flag bits are an anonymous enum whose
/// numbering changes between releases).
fn enumerator(btf: &Btf<'_>, name: &str) -> Option<i64> {
    btf.type_by_kind::<Enum<'_>>().find_map(|e| {
        e.iter()
            .find(|m| m.name.is_some_and(|n| n == name))
            .map(|m| m.value)
    })
}

/// The io_uring operations of the network family wanted by `config`, as the kernel's `uring_net_ops`
/// mask (bit `KOP_*`).
pub(crate) fn net_mask(config: &ActivityConfig) -> u32 {
    [
        (EventType::Connect, kact_op::KOP_CONNECT),
        (EventType::Bind, kact_op::KOP_BIND),
        (EventType::Accept, kact_op::KOP_ACCEPT),
    ]
    .iter()
    .filter(|(t, _)| config.wants(*t))
    .fold(0, |m, (_, op)| m | 1 << op.0)
}

/// The attached request programs.
#[derive(Default)]
pub(crate) struct UringHooks {
    links: Vec<Link>,
    /// A file event type is on (the file programs are attached).
    file_on: bool,
    /// `uring_net_ops` as last written.
    net_ops: u32,
}

impl UringHooks {
    /// Every link, for the caller to drop.
    pub(crate) fn take_links(&mut self) -> Vec<Link> {
        std::mem::take(&mut self.links)
    }

    /// The file programs were attached or detached.
    pub(crate) fn set_file(
        &mut self,
        skel: &mut SensorSkel<'_>,
        on: bool,
    ) -> Result<(), ProbeError> {
        self.file_on = on;
        self.sync(skel)
    }

    /// The activity set changed.
    pub(crate) fn set_activity(
        &mut self,
        skel: &mut SensorSkel<'_>,
        config: &ActivityConfig,
    ) -> Result<(), ProbeError> {
        self.net_ops = net_mask(config);
        if let Some(bss) = skel.maps.bss_data.as_deref_mut() {
            bss.uring_net_ops = self.net_ops;
        }
        self.sync(skel)
    }

    fn sync(&mut self, skel: &SensorSkel<'_>) -> Result<(), ProbeError> {
        let want = self.file_on || self.net_ops != 0;
        let progs = &skel.progs;
        if !want || !progs.uring_submit.autoload() {
            self.links.clear();
            return Ok(());
        }
        if !self.links.is_empty() {
            return Ok(());
        }
        let attach = |prog: &libbpf_rs::ProgramMut<'_>, name: &str| {
            prog.attach().map_err(|source| ProbeError::Attach {
                program: name.into(),
                source,
            })
        };
        // Completions first: a request submitted once the submission program runs finds its completion
        // hooked.
        let links = vec![
            attach(&progs.uring_complete, "uring_complete")?,
            attach(&progs.uring_overflow, "uring_overflow")?,
            attach(&progs.uring_submit, "uring_submit")?,
        ];
        self.links = links;
        Ok(())
    }
}

/// Counters of the request programs (summed over CPUs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UringStats {
    /// Requests of a wanted operation.
    pub submitted: u64,
    /// Reported at their completion.
    pub completed: u64,
    /// Of which, completions that overflowed the completion queue.
    pub overflowed: u64,
    /// Reported at submission because they post no completion on success (`IOSQE_CQE_SKIP_SUCCESS`).
    pub skip_success: u64,
    /// Reported at submission because the table of requests in flight was full.
    pub table_full: u64,
    /// Reported at submission because another request in flight on the ring had the same `user_data`.
    pub duplicate_user_data: u64,
    /// Requests in flight replaced by a new request at the same address: never completed.
    pub stale: u64,
    /// Completions with no request in flight (submitted before the programs were attached).
    pub missed: u64,
    /// Overflowed completions carrying a pending request's `user_data` that were not that request's.
    pub foreign: u64,
}

pub(crate) fn stats(skel: &SensorSkel<'_>) -> Result<UringStats, ProbeError> {
    let values = skel
        .maps
        .uring_counters
        .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|source| ProbeError::Map {
            map: "uring_counters",
            source,
        })?
        .unwrap_or_default();
    let per_cpu: Vec<uring_counters> = values.iter().filter_map(|v| read_pod(v).ok()).collect();
    let sum = |c: uring_counter| per_cpu.iter().map(|cpu| cpu.v[c.0 as usize]).sum();
    Ok(UringStats {
        submitted: sum(uring_counter::URC_SUBMITTED),
        completed: sum(uring_counter::URC_COMPLETED),
        overflowed: sum(uring_counter::URC_OVERFLOWED),
        skip_success: sum(uring_counter::URC_SKIP),
        table_full: sum(uring_counter::URC_FULL),
        duplicate_user_data: sum(uring_counter::URC_DUP),
        stale: sum(uring_counter::URC_STALE),
        missed: sum(uring_counter::URC_MISSED),
        foreign: sum(uring_counter::URC_FOREIGN),
    })
}

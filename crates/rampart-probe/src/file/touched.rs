//! The ctime tracepoint programs of `bpf/file.h` (`file_ctime_*`): they tell `file_sys_exit` which inode a
//! path-based call (chmod, unlink, rename, …) worked on, so those events carry the file's inode, mode and
//! owner. The tracepoints exist since Linux 6.13; on older kernels the programs are not loaded and such
//! events carry their path only.

use libbpf_rs::btf::types::Typedef;
use libbpf_rs::btf::Btf;

use crate::errors::ProbeError;
use crate::skel::{OpenSensorSkel, SensorSkel};

/// The tracepoints of `file_ctime_set`, `file_ctime_xchg` and `file_ctime_skip`.
const TRACEPOINTS: [&str; 3] = ["inode_set_ctime_to_ts", "ctime_ns_xchg", "ctime_xchg_skip"];

/// Before load: keeps the programs only when the kernel has all three tracepoints (one alone would miss
/// the updates the others trace). Returns whether they are kept.
pub(crate) fn prepare(open: &mut OpenSensorSkel<'_>) -> bool {
    let available = Btf::from_vmlinux().is_ok_and(|btf| {
        TRACEPOINTS.iter().all(|tp| {
            btf.type_by_name::<Typedef<'_>>(&format!("btf_trace_{tp}"))
                .is_some()
        })
    });
    if !available {
        let progs = &mut open.progs;
        progs.file_ctime_set.set_autoload(false);
        progs.file_ctime_xchg.set_autoload(false);
        progs.file_ctime_skip.set_autoload(false);
        tracing::info!(
            "this kernel has no ctime tracepoints (Linux < 6.13): path-based file events carry no inode"
        );
    }
    available
}

/// Attaches the programs (when loaded) while the file program is attached, and detaches them with it.
pub(crate) fn set_attached(skel: &mut SensorSkel<'_>, want: bool) -> Result<(), ProbeError> {
    let err = |program: &str| {
        let program = program.to_string();
        move |source| ProbeError::Attach { program, source }
    };
    let links = &mut skel.links;
    if !want {
        links.file_ctime_set = None;
        links.file_ctime_xchg = None;
        links.file_ctime_skip = None;
        return Ok(());
    }
    let progs = &skel.progs;
    if !progs.file_ctime_set.autoload() || links.file_ctime_set.is_some() {
        return Ok(());
    }
    links.file_ctime_set = Some(
        progs
            .file_ctime_set
            .attach()
            .map_err(err("file_ctime_set"))?,
    );
    links.file_ctime_xchg = Some(
        progs
            .file_ctime_xchg
            .attach()
            .map_err(err("file_ctime_xchg"))?,
    );
    links.file_ctime_skip = Some(
        progs
            .file_ctime_skip
            .attach()
            .map_err(err("file_ctime_skip"))?,
    );
    Ok(())
}

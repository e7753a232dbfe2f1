//! tracefs, which classic `tracepoint/` programs need: where it is (mounted when absent) and which syscall
//! tracepoints this kernel has.

use std::ffi::CString;
use std::path::{Path, PathBuf};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// The tracefs directory, mounting tracefs at /sys/kernel/tracing when no instance is visible.
pub(crate) fn tracing_dir() -> Option<PathBuf> {
    for dir in [TRACEFS, DEBUGFS_TRACING] {
        if Path::new(dir).join("events").is_dir() {
            return Some(PathBuf::from(dir));
        }
    }
    let target = CString::new(TRACEFS).ok()?;
    let fstype = CString::new("tracefs").ok()?;
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        tracing::warn!(
            "tracefs is not mounted and mounting it failed: {}",
            std::io::Error::last_os_error()
        );
        return None;
    }
    Some(PathBuf::from(TRACEFS))
}

/// Whether `syscalls/sys_enter_<syscall>` (and so its `sys_exit_` twin) exists.
pub(crate) fn syscall_tracepoint_exists(tracing: &Path, syscall: &str) -> bool {
    tracing
        .join("events/syscalls")
        .join(format!("sys_enter_{syscall}"))
        .is_dir()
}

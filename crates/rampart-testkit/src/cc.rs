//! C test programs compiled at test time with the host's gcc: what an attacker would build (a liburing
//! program, a static 32-bit binary). Each build is cached by its source and flags under the system temp
//! directory, so a test suite compiles each program once.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

/// `uring_ops`: one file or network operation through io_uring (see the source for its options).
pub const URING_OPS: &str = include_str!("../c/uring_ops.c");
/// `newmount`: mounts through fsopen/fsmount, open_tree and move_mount.
pub const NEWMOUNT: &str = include_str!("../c/newmount.c");
/// `sigsend`: signals through pidfd_send_signal, rt_sigqueueinfo and rt_tgsigqueueinfo.
pub const SIGSEND: &str = include_str!("../c/sigsend.c");
/// `driver32`: one file, kernel-activity or network operation through the ia32 syscall ABI, as a 32-bit
/// static program (see the source for its operations).
pub const DRIVER32: &str = include_str!("../c/driver32.c");
/// `int80`: ia32 syscalls made with `int $0x80` by a 64-bit static program.
pub const INT80: &str = include_str!("../c/int80.c");

/// Compiles `source` into an executable named `name` (`args` go to gcc after the source, e.g.
/// `["-luring"]`) and returns its path. Concurrent callers may both compile; the rename makes the result
/// whole either way.
pub fn build(name: &str, source: &str, args: &[&str]) -> Result<PathBuf> {
    let mut h = DefaultHasher::new();
    (source, args).hash(&mut h);
    let dir = std::env::temp_dir().join(format!("rampart-cc-{:016x}", h.finish()));
    let exe = dir.join(name);
    if exe.exists() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // unique per call: test threads of one process build at the same time too
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = format!(
        "{}-{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    );
    let src = dir.join(format!("{name}.{call}.c"));
    std::fs::write(&src, source)?;
    let tmp = dir.join(format!("{name}.{call}.tmp"));
    let out = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&tmp)
        .arg(&src)
        .args(args)
        .output()
        .context("running gcc (install gcc)")?;
    if !out.status.success() {
        bail!(
            "gcc failed for {name}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::rename(&tmp, &exe)?;
    let _ = std::fs::remove_file(&src);
    Ok(exe)
}

/// [`URING_OPS`], built (needs liburing-dev).
pub fn uring_ops() -> Result<PathBuf> {
    build("uring_ops", URING_OPS, &["-luring"])
}

/// [`NEWMOUNT`], built static (it also runs inside a minimal container image).
pub fn newmount() -> Result<PathBuf> {
    build("newmount", NEWMOUNT, &["-static"])
}

/// [`SIGSEND`], built.
pub fn sigsend() -> Result<PathBuf> {
    build("sigsend", SIGSEND, &[])
}

/// [`DRIVER32`], built as `rampart-ia32-driver` (needs gcc-multilib).
pub fn driver32() -> Result<PathBuf> {
    build("rampart-ia32-driver", DRIVER32, &["-m32", "-static"])
}

/// [`INT80`], built as `rampart-int80`: static and not position-independent, so its data lies below 4 GiB,
/// where 32-bit pointers reach.
pub fn int80() -> Result<PathBuf> {
    build("rampart-int80", INT80, &["-static", "-no-pie"])
}

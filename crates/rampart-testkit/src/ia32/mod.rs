//! Programs that make ia32 (32-bit x86) syscalls, built at test time: `driver32` (a 32-bit static program,
//! `gcc -m32 -static`, gcc-multilib) performs one file, kernel-activity or network operation per run, and
//! `int80` (a 64-bit static program) makes ia32 syscalls with `int $0x80`. See the C sources for the
//! operations. Each is built once per test process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const DRIVER32_C: &str = include_str!("driver32.c");
const INT80_C: &str = include_str!("int80.c");

/// The 32-bit driver (`rampart-ia32-driver`).
pub fn driver32() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("rampart-ia32-driver", DRIVER32_C, &["-m32", "-static"]))
}

/// The 64-bit `int $0x80` program (`rampart-int80`).
pub fn int80() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build("rampart-int80", INT80_C, &["-static", "-no-pie"]))
}

/// Compiles `source` into a directory of its own under the temp dir, readable and executable by every
/// user (tests run the programs as other users too); kept for the life of the process.
fn build(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the build directory");
    set_mode(&dir, 0o755);
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("writing the C source");
    let out = dir.join(name);
    let result = Command::new("gcc")
        .args(flags)
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("running gcc (the ia32 tests need gcc and gcc-multilib)");
    assert!(
        result.status.success(),
        "building {name} failed (is gcc-multilib installed?):\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs `program ARGS` to completion and returns its pid; panics when it fails.
pub fn run(program: &Path, args: &[&str]) -> u32 {
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let pid = child.id();
    let status = child.wait().expect("waiting for the program");
    assert!(
        status.success(),
        "{} {args:?} failed: {status}",
        program.display()
    );
    pid
}

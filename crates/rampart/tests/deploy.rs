//! The deployment artefacts under deploy/ do what they say: the Helm chart lints and renders exactly the
//! committed manifests, the systemd units verify with no warning, the image runs the server, and the .deb
//! installs into a clean Debian, creates its user and data directories, and upgrades in place keeping data.

#[path = "deploy/chart.rs"]
mod chart;
#[path = "deploy/debian.rs"]
mod debian;
#[path = "deploy/image.rs"]
mod image;
#[path = "deploy/systemd.rs"]
mod systemd;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Runs `cmd`; panics with its output unless it succeeds.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

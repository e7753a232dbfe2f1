//! The `podman` command with the project's configuration and an isolated storage root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use anyhow::{bail, Context, Result};

/// Persistent state: image and container storage, the image-build lock. Kept across runs so the
/// test image is built once per machine.
const STATE_DIR: &str = "/var/tmp/rampart-podman";
/// Run-time state on tmpfs, so a reboot resets podman's view of running containers.
const RUN_DIR: &str = "/run/rampart-podman";
/// Name prefix of every container the kit starts; the owner's pid follows, for stale clean-up.
pub(crate) const NAME_PREFIX: &str = "rampart-test-";

static SEQ: AtomicU64 = AtomicU64::new(0);
static CLEANUP: Once = Once::new();

/// A handle on podman configured for tests. Cheap to create and clone.
#[derive(Debug, Clone)]
pub struct Podman {
    conf: PathBuf,
    state_dir: PathBuf,
    run_dir: PathBuf,
}

impl Podman {
    /// Checks that podman is usable (installed, running as root) and prepares the storage dirs.
    pub fn new() -> Result<Podman> {
        if !crate::is_root() {
            bail!("rampart-testkit runs real containers and needs root");
        }
        let conf = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/podman/containers.conf"
        ));
        if !conf.is_file() {
            bail!("project podman configuration missing: {}", conf.display());
        }
        let podman = Podman {
            conf,
            state_dir: PathBuf::from(STATE_DIR),
            run_dir: PathBuf::from(RUN_DIR),
        };
        for dir in [&podman.state_dir, &podman.run_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let version = Command::new("podman").arg("--version").output();
        match version {
            Ok(out) if out.status.success() => {}
            Ok(out) => bail!(
                "`podman --version` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => {
                bail!("podman not found ({e}): install it with `apt-get install -y podman runc`")
            }
        }
        CLEANUP.call_once(|| podman.remove_stale_containers());
        Ok(podman)
    }

    /// The project's `containers.conf`.
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }

    /// Persistent state directory (storage root, build lock).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A `podman` command with `CONTAINERS_CONF` and the isolated storage flags set; add the
    /// sub-command and its arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", &self.conf)
            .args(self.storage_args())
            .stdin(Stdio::null());
        cmd
    }

    /// The options that point podman at the isolated storage (a script given `podman` as a command line
    /// needs them, and `CONTAINERS_CONF` set to [`Podman::conf_path`]).
    pub fn storage_args(&self) -> [PathBuf; 6] {
        [
            "--root".into(),
            self.state_dir.join("storage"),
            "--runroot".into(),
            self.run_dir.join("runroot"),
            "--tmpdir".into(),
            self.run_dir.join("libpod"),
        ]
    }

    /// Runs `podman ARGS…` to completion and returns its trimmed stdout; fails with podman's stderr.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String> {
        let out = self.output(args)?;
        if !out.status.success() {
            bail!("{}", failure_message(args, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Runs `podman ARGS…` and returns its raw output whatever the exit status.
    pub fn output<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Output> {
        let mut cmd = self.command();
        cmd.args(args);
        cmd.output()
            .with_context(|| format!("spawning podman {}", display_args(args)))
    }

    /// A name unique among this machine's live test processes: prefix, pid, sequence number.
    pub(crate) fn unique_name(&self) -> String {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        format!("{NAME_PREFIX}{}-{n}", std::process::id())
    }

    /// Removes containers left by test processes that died without running their destructors
    /// (their pid is in the name and no longer alive), so names never collide and storage stays small.
    fn remove_stale_containers(&self) {
        let filter = format!("name=^{NAME_PREFIX}");
        let Ok(names) = self.run(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])
        else {
            return;
        };
        for name in names.lines() {
            let owner = name
                .strip_prefix(NAME_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = owner {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = self.run(&["rm", "-f", "-t", "0", name]);
                }
            }
        }
    }
}

pub(crate) fn display_args<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn failure_message<S: AsRef<std::ffi::OsStr>>(args: &[S], out: &Output) -> String {
    format!(
        "`podman {}` failed ({}): {}",
        display_args(args),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

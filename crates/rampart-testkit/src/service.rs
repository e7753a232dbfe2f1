//! `podman system service`: the Docker Engine (and libpod) API on a private unix socket.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::Podman;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// How long podman gets to open its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running API service; killed and its socket removed on drop.
#[derive(Debug)]
pub struct ApiService {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Podman {
    /// Starts `podman system service --time=0 unix:///tmp/rampart-testkit-<pid>-<n>/api.sock` on the
    /// test storage and waits until the socket accepts connections.
    pub fn start_api_service(&self) -> Result<ApiService> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!("/tmp/rampart-testkit-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let socket = dir.join("api.sock");
        let log_path = dir.join("service.log");
        let log = std::fs::File::create(&log_path)?;
        let child = self
            .command()
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning `podman system service`")?;
        let mut service = ApiService { child, dir, socket };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if UnixStream::connect(&service.socket).is_ok() {
                return Ok(service);
            }
            if let Some(status) = service.child.try_wait()? {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("`podman system service` exited ({status}): {}", log.trim());
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!(
                    "`podman system service` did not open {} in time: {}",
                    service.socket.display(),
                    log.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl ApiService {
    /// Path of the unix socket serving the API.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// `unix:///…` form of the socket, as Docker clients take it.
    pub fn uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for ApiService {
    fn drop(&mut self) {
        // SIGTERM lets podman shut its listener down cleanly; fall back to SIGKILL.
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

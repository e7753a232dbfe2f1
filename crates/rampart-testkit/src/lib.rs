//! Test helpers that run real containers with podman, reproducibly and as root, without touching
//! the host's podman configuration or storage.
//!
//! Every podman call goes through [`Podman::command`], which points `CONTAINERS_CONF` at the
//! project's `podman/containers.conf` and uses an isolated storage root, so tests neither depend on
//! nor disturb anything else on the machine.
//!
//! ```no_run
//! use rampart_testkit::Podman;
//!
//! let podman = Podman::new()?;
//! let ctr = podman.run_busybox(&["sleep", "30"])?; // removed on drop
//! let pid = ctr.pid()?;
//! let api = podman.start_api_service()?; // Docker Engine API on a temp unix socket, stopped on drop
//! println!("{} runs as pid {pid}; API at {}", ctr.id(), api.socket_path().display());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cc;
mod cgroup;
mod container;
pub mod containerd;
mod debian;
pub mod html;
mod image;
pub mod load;
mod lock;
pub mod monitor;
pub mod pg;
mod podman;
pub mod rampart_process;
pub mod require;
mod service;

pub use cgroup::TestCgroup;
pub use container::{ContainerSpec, RunningContainer};
pub use containerd::{Containerd, CtrContainer, CtrSpec};
pub use debian::DEBIAN_IMAGE;
pub use image::{BUSYBOX_IMAGE, BUSYBOX_IMAGE_NAME, BUSYBOX_IMAGE_TAG};
pub use monitor::MonitorProcess;
pub use podman::Podman;
pub use service::ApiService;

/// True when the process runs as root. A test that needs root starts with [`require!(root)`](require!) instead.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Held by a test that runs an armed `rampart monitor` (kill rules on), across test processes: every monitor
/// sees every exec on the host, so one test's kill rules would kill what another test expects to survive.
pub struct ArmedMonitorLock {
    _lock: lock::FileLock,
}

/// Waits for the other armed monitors of this machine's tests to finish.
pub fn armed_monitor_lock() -> anyhow::Result<ArmedMonitorLock> {
    let path = std::env::temp_dir().join("rampart-tests-armed-monitor.lock");
    Ok(ArmedMonitorLock {
        _lock: lock::FileLock::acquire(&path)?,
    })
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

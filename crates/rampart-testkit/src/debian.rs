//! A clean Debian bookworm image (`debootstrap --variant=minbase`, plus the runtime libraries a Rampart
//! package depends on that minbase lacks), for installing the .deb as a user would. No registry: the tree
//! comes from the Debian mirror (a package registry) and is imported with `podman import`. Built once per
//! machine under the image lock: 5 min on a loaded 2-core machine (mostly downloads), then cached in the
//! test storage.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::Podman;

pub const DEBIAN_IMAGE: &str = "localhost/rampart-test-debian:bookworm";

/// What `debootstrap` installs beyond minbase: the package's `Depends` that are not in it (libelf for
/// libbpf, the CA bundle the server's HTTPS clients load at start). `dpkg -i` in the test refuses the
/// package if its dependencies are not all here.
const EXTRA_PACKAGES: &str = "libelf1,ca-certificates";

/// The mirror: `RAMPART_DEBIAN_MIRROR`, or Debian's CDN.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

static READY: OnceLock<()> = OnceLock::new();

impl Podman {
    /// Makes sure [`DEBIAN_IMAGE`] exists in the test storage and returns its reference.
    pub fn ensure_debian_image(&self) -> Result<&'static str> {
        self.ensure_image(&READY, DEBIAN_IMAGE, build)
    }
}

fn build(podman: &Podman, work: &std::path::Path) -> Result<()> {
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(work)?;
    let mirror = std::env::var("RAMPART_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.into());
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={EXTRA_PACKAGES}"),
            "bookworm",
        ])
        .arg(&rootfs)
        .arg(&mirror)
        .output()
        .context("running debootstrap (apt-get install -y debootstrap)")?;
    if !out.status.success() {
        bail!(
            "debootstrap bookworm from {mirror} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // The apt lists and downloaded packages are half the tree and no test needs them.
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let _ = std::fs::remove_dir_all(rootfs.join(dir));
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    crate::image::import_rootfs(
        podman,
        &rootfs,
        &work.join("rootfs.tar"),
        DEBIAN_IMAGE,
        r#"CMD ["/bin/bash"]"#,
    )
}

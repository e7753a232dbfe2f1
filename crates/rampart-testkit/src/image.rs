//! The tiny test image: Debian's static busybox with one symlink per applet, imported with
//! `podman import` (no registry needed). Built once per machine under a file lock.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::lock::FileLock;
use crate::Podman;

pub const BUSYBOX_IMAGE_NAME: &str = "localhost/rampart-test-busybox";
pub const BUSYBOX_IMAGE_TAG: &str = "1.0";
pub const BUSYBOX_IMAGE: &str = "localhost/rampart-test-busybox:1.0";

/// Debian's busybox-static installs here.
const BUSYBOX: &str = "/bin/busybox";

static READY: OnceLock<()> = OnceLock::new();
static PAUSE_READY: OnceLock<()> = OnceLock::new();

impl Podman {
    /// Makes sure [`BUSYBOX_IMAGE`] exists in the test storage and returns its reference.
    /// Idempotent and safe when many test processes call it at once.
    pub fn ensure_busybox_image(&self) -> Result<&'static str> {
        self.ensure_image(&READY, BUSYBOX_IMAGE, |podman, work| {
            ensure_busybox_static()?;
            build_in(podman, work)
        })
    }

    /// Makes sure [`crate::containerd::PAUSE_IMAGE`] exists: the busybox image whose command sleeps,
    /// as a pod sandbox's must.
    pub fn ensure_pause_image(&self) -> Result<&'static str> {
        self.ensure_busybox_image()?;
        self.ensure_image(
            &PAUSE_READY,
            crate::containerd::PAUSE_IMAGE,
            |podman, work| {
                std::fs::create_dir_all(work)?;
                std::fs::write(
                    work.join("Containerfile"),
                    format!("FROM {BUSYBOX_IMAGE}\nCMD [\"/bin/sleep\", \"2147483647\"]\n"),
                )?;
                podman.run(&[
                    "build".as_ref(),
                    "--pull=never".as_ref(),
                    "-t".as_ref(),
                    crate::containerd::PAUSE_IMAGE.as_ref(),
                    work.as_os_str(),
                ])?;
                Ok(())
            },
        )
    }

    /// Makes sure `image` exists, `build` making it under the image lock (in a scratch directory of its
    /// own, removed after) when it does not; `ready` remembers it for the rest of the process.
    pub(crate) fn ensure_image(
        &self,
        ready: &OnceLock<()>,
        image: &'static str,
        build: impl FnOnce(&Podman, &Path) -> Result<()>,
    ) -> Result<&'static str> {
        if ready.get().is_some() {
            return Ok(image);
        }
        let _lock = FileLock::acquire(&self.state_dir().join("image.lock"))?;
        if !self.image_exists(image)? {
            let work = self
                .state_dir()
                .join(format!("build-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&work);
            let result = build(self, &work);
            let _ = std::fs::remove_dir_all(&work);
            result?;
        }
        let _ = ready.set(());
        Ok(image)
    }

    /// True when `image` is in the test storage.
    pub fn image_exists(&self, image: &str) -> Result<bool> {
        let out = self.output(&["image", "exists", image])?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!(
                "{}",
                crate::podman::failure_message(&["image", "exists", image], &out)
            ),
        }
    }
}

fn build_in(podman: &Podman, work: &Path) -> Result<()> {
    let rootfs = work.join("rootfs");
    for dir in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).context("copying busybox")?;
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n")?;
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .context("busybox --list")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
            symlink("busybox", rootfs.join("bin").join(applet))?;
        }
    }
    import_rootfs(
        podman,
        &rootfs,
        &work.join("rootfs.tar"),
        BUSYBOX_IMAGE,
        r#"CMD ["/bin/sh"]"#,
    )
}

/// Makes `rootfs` the image `image` (one layer, `change` a Containerfile line such as `CMD [...]`).
pub(crate) fn import_rootfs(
    podman: &Podman,
    rootfs: &Path,
    tarball: &Path,
    image: &str,
    change: &str,
) -> Result<()> {
    // Fixed owners, order and times: the same tree gives the same layer on every machine.
    let tar = Command::new("tar")
        .args(["--numeric-owner", "--mtime=@0", "--sort=name", "-C"])
        .arg(rootfs)
        .arg("-cf")
        .arg(tarball)
        .arg(".")
        .output()
        .context("running tar")?;
    if !tar.status.success() {
        bail!(
            "tar failed: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        );
    }
    podman.run(&[
        "import".as_ref(),
        "--change".as_ref(),
        change.as_ref(),
        tarball.as_os_str(),
        image.as_ref(),
    ])?;
    Ok(())
}

/// Installs Debian's `busybox-static` when the static binary is missing (a dynamic busybox would
/// need the host's libc inside the image).
fn ensure_busybox_static() -> Result<()> {
    if is_static_busybox() {
        return Ok(());
    }
    let out = Command::new("apt-get")
        .args(["install", "-y", "busybox-static"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .context("running apt-get install -y busybox-static")?;
    if !out.status.success() || !is_static_busybox() {
        bail!(
            "could not install busybox-static (apt-get: {}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn is_static_busybox() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "busybox-static"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
        && Path::new(BUSYBOX).is_file()
}

//! A private containerd (Debian's, with its CRI plugin) for a test: its own root, state and socket
//! under a fresh directory, the test busybox image imported from podman, and containers made with
//! `ctr run` as the CRI plugin lays them out (labels, `/kubepods/…/pod<uid>/<id>` cgroup). On drop
//! every task and container of every namespace (the CRI plugin's pods too) is removed, then
//! containerd stopped.
//!
//! ```no_run
//! use rampart_testkit::{Containerd, CtrSpec};
//!
//! let containerd = Containerd::start()?;
//! let image = containerd.import_busybox("k8s.io")?;
//! let pod = rampart_testkit::containerd::random_pod_uid();
//! let spec = CtrSpec::new("k8s.io", image, &["sleep", "30"]).pod("shop", "web-1", &pod);
//! let ctr = containerd.run(&spec)?;
//! println!("{} runs as pid {} (socket {})", ctr.id(), ctr.pid(), containerd.socket().display());
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{Podman, BUSYBOX_IMAGE};

/// Parent of every test containerd's directory (on disk: overlayfs needs a real filesystem).
const BASE_DIR: &str = "/var/tmp/rampart-containerd";
/// The sandbox ("pause") image of the CRI plugin: busybox sleeping, built once per machine.
pub const PAUSE_IMAGE: &str = "localhost/rampart-test-pause:1.0";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A running private containerd.
pub struct Containerd {
    dir: PathBuf,
    socket: PathBuf,
    child: Child,
}

/// What `ctr run` is given.
#[derive(Debug, Clone)]
pub struct CtrSpec {
    pub namespace: String,
    pub image: String,
    pub command: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// Kubernetes pod uid: the container goes to `/kubepods/besteffort/pod<uid>/<id>`, else to
    /// `/system.slice/nerdctl-<id>.scope`.
    pub pod_uid: Option<String>,
}

impl CtrSpec {
    pub fn new<S: AsRef<str>>(namespace: &str, image: &str, command: &[S]) -> CtrSpec {
        CtrSpec {
            namespace: namespace.into(),
            image: image.into(),
            command: command.iter().map(|s| s.as_ref().to_string()).collect(),
            labels: Vec::new(),
            pod_uid: None,
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// The labels the kubelet gives a pod's containers through the CRI, and the pod's cgroup.
    pub fn pod(mut self, namespace: &str, pod: &str, uid: &str) -> Self {
        self = self
            .label("io.kubernetes.pod.name", pod)
            .label("io.kubernetes.pod.namespace", namespace)
            .label("io.kubernetes.pod.uid", uid);
        self.pod_uid = Some(uid.to_string());
        self
    }
}

/// A container `ctr run -d` started; removed with its containerd.
#[derive(Debug, Clone)]
pub struct CtrContainer {
    id: String,
    namespace: String,
    pid: u32,
    pod_uid: Option<String>,
}

impl CtrContainer {
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// The container's init process on the host.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    pub fn pod_uid(&self) -> Option<&str> {
        self.pod_uid.as_deref()
    }
}

impl Containerd {
    /// Starts containerd and waits until it answers (a few hundred ms).
    pub fn start() -> Result<Containerd> {
        if !crate::is_root() {
            bail!("a private containerd needs root");
        }
        let dir = Path::new(BASE_DIR).join(format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cni"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let socket = dir.join("containerd.sock");
        let d = dir.display();
        // CNI: none (pods use the host network); the sandbox image is local. This VM's root lacks
        // CAP_SYS_RESOURCE: the sandbox's oom_score_adj (-998) is kept at containerd's own.
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni"
    conf_dir = "{d}/cni"
"#
        );
        std::fs::write(dir.join("config.toml"), config)?;
        let log = std::fs::File::create(dir.join("containerd.log"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting containerd (apt-get install -y containerd)")?;
        let containerd = Containerd { dir, socket, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while containerd.ctr("default", &["version"]).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "containerd did not answer on {}: {}",
                    containerd.socket.display(),
                    containerd.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(containerd)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// containerd's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address SOCK -n NAMESPACE ARGS…`; its trimmed stdout.
    pub fn ctr<S: AsRef<std::ffi::OsStr>>(&self, namespace: &str, args: &[S]) -> Result<String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["-n", namespace])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running ctr")?;
        if !out.status.success() {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            bail!(
                "ctr -n {namespace} {} failed: {}",
                shown.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Imports the test busybox image (from podman's storage) into `namespace`; its reference.
    pub fn import_busybox(&self, namespace: &str) -> Result<&'static str> {
        self.import_from_podman(namespace, BUSYBOX_IMAGE)?;
        Ok(BUSYBOX_IMAGE)
    }

    /// Imports the sandbox image [`PAUSE_IMAGE`] into `k8s.io`, for the CRI plugin's pods.
    pub fn import_pause(&self) -> Result<&'static str> {
        let podman = Podman::new()?;
        podman.ensure_pause_image()?;
        self.import_from_podman("k8s.io", PAUSE_IMAGE)?;
        Ok(PAUSE_IMAGE)
    }

    fn import_from_podman(&self, namespace: &str, image: &str) -> Result<()> {
        let podman = Podman::new()?;
        podman.ensure_busybox_image()?;
        let archive = self
            .dir
            .join(format!("image-{}.tar", SEQ.fetch_add(1, Ordering::Relaxed)));
        podman.run(&[
            "save".as_ref(),
            "--format".as_ref(),
            "oci-archive".as_ref(),
            "-o".as_ref(),
            archive.as_os_str(),
            image.as_ref(),
        ])?;
        let imported = self.ctr(
            namespace,
            &["images".as_ref(), "import".as_ref(), archive.as_os_str()],
        );
        let _ = std::fs::remove_file(&archive);
        imported.map(drop)
    }

    /// `ctr run -d` with the spec's labels (and pod cgroup); the id is a fresh 64-hex one, as the
    /// CRI plugin makes.
    pub fn run(&self, spec: &CtrSpec) -> Result<CtrContainer> {
        let id = random_hex(32);
        let mut args: Vec<String> = vec!["run".into(), "-d".into()];
        for (k, v) in &spec.labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        // As the kubelet's cgroupfs driver lays out a pod's container, else as nerdctl's systemd
        // driver does (ctr's own `/<namespace>/<id>` names no runtime).
        args.push("--cgroup".into());
        args.push(match &spec.pod_uid {
            Some(uid) => format!("/kubepods/besteffort/pod{uid}/{id}"),
            None => format!("/system.slice/nerdctl-{id}.scope"),
        });
        args.push(spec.image.clone());
        args.push(id.clone());
        args.extend(spec.command.iter().cloned());
        self.ctr(&spec.namespace, &args)?;
        let tasks = self.ctr(&spec.namespace, &["task", "ls"])?;
        let pid = tasks
            .lines()
            .find_map(|l| {
                let mut cols = l.split_whitespace();
                (cols.next() == Some(id.as_str())).then(|| cols.next()?.parse().ok())?
            })
            .with_context(|| format!("no task for {id} in: {tasks}"))?;
        Ok(CtrContainer {
            id,
            namespace: spec.namespace.clone(),
            pid,
            pod_uid: spec.pod_uid.clone(),
        })
    }

    /// Runs `command` inside a container (`ctr task exec`), to completion; its stdout.
    pub fn exec<S: AsRef<str>>(&self, ctr: &CtrContainer, command: &[S]) -> Result<String> {
        let exec_id = format!("exec{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let mut args = vec![
            "task".to_string(),
            "exec".into(),
            "--exec-id".into(),
            exec_id,
            ctr.id.clone(),
        ];
        args.extend(command.iter().map(|s| s.as_ref().to_string()));
        self.ctr(&ctr.namespace, &args)
    }

    /// Every container of every namespace, with its task.
    fn remove_everything(&self) {
        let namespaces = self
            .ctr("default", &["namespaces", "ls", "-q"])
            .unwrap_or_default();
        for namespace in namespaces.lines() {
            let ids = self
                .ctr(namespace, &["containers", "ls", "-q"])
                .unwrap_or_default();
            for id in ids.lines() {
                self.remove_container(namespace, id);
            }
        }
    }

    fn remove_container(&self, namespace: &str, id: &str) {
        let _ = self.ctr(namespace, &["task", "kill", "-s", "SIGKILL", id]);
        for _ in 0..50 {
            if self.ctr(namespace, &["task", "delete", id]).is_ok()
                || self
                    .ctr(namespace, &["task", "ls", "-q"])
                    .is_ok_and(|l| !l.contains(id))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.ctr(namespace, &["container", "delete", id]);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.remove_everything();
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The CRI plugin's sandbox /dev/shm (and a rootfs whose shim outlived its task) stay
        // mounted under the directory: detach them, deepest first, before removing it.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in under {
            if let Ok(path) = std::ffi::CString::new(mount) {
                // SAFETY: a valid NUL-terminated path; MNT_DETACH has no other preconditions.
                unsafe {
                    libc::umount2(path.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` random bytes as hex, from the kernel's generator.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // SAFETY: the buffer is valid for n bytes.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), n, 0) };
    assert_eq!(got, n as isize, "getrandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh uid in the dashed form the kubelet uses (the kernel's random UUID).
pub fn random_pod_uid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .expect("reading /proc/sys/kernel/random/uuid")
        .trim()
        .to_string()
}

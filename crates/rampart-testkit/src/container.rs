//! A detached container that is force-removed when its handle drops.

use anyhow::{bail, Context, Result};

use crate::Podman;

/// What to run. `ContainerSpec::new(image, cmd)` gives no network (tests need no firewall set-up)
/// and a unique name.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub image: String,
    pub command: Vec<String>,
    /// Defaults to a unique `rampart-test-<pid>-<n>` name.
    pub name: Option<String>,
    /// `--network` value; `none` by default.
    pub network: String,
    pub labels: Vec<(String, String)>,
    /// Extra `podman run` flags, placed before the image.
    pub extra_args: Vec<String>,
}

impl ContainerSpec {
    pub fn new<S: AsRef<str>>(image: &str, command: &[S]) -> ContainerSpec {
        ContainerSpec {
            image: image.to_string(),
            command: command.iter().map(|s| s.as_ref().to_string()).collect(),
            name: None,
            network: "none".to_string(),
            labels: Vec::new(),
            extra_args: Vec::new(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }
}

/// A running (or exited) container owned by the test; `podman rm -f` on drop.
#[derive(Debug)]
pub struct RunningContainer {
    podman: Podman,
    id: String,
    name: String,
    image: String,
}

impl Podman {
    /// Runs `spec` detached and returns once podman reports its id.
    pub fn run_container(&self, spec: &ContainerSpec) -> Result<RunningContainer> {
        let name = spec.name.clone().unwrap_or_else(|| self.unique_name());
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--network".into(),
            spec.network.clone(),
        ];
        for (k, v) in &spec.labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.extend(spec.extra_args.iter().cloned());
        args.push(spec.image.clone());
        args.extend(spec.command.iter().cloned());
        let stdout = self.run(&args)?;
        // `podman run -d` may print pull progress first: the id is the last line.
        let id = stdout.lines().last().unwrap_or("").trim().to_string();
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = self.run(&["rm", "-f", "-t", "0", &name]);
            bail!("podman run printed no container id: {stdout:?}");
        }
        Ok(RunningContainer {
            podman: self.clone(),
            id,
            name,
            image: spec.image.clone(),
        })
    }

    /// Runs `command` in the busybox test image (built first if needed).
    pub fn run_busybox<S: AsRef<str>>(&self, command: &[S]) -> Result<RunningContainer> {
        let image = self.ensure_busybox_image()?;
        self.run_container(&ContainerSpec::new(image, command))
    }
}

impl RunningContainer {
    /// Full 64-hex id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image reference the container was started from.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// `podman inspect --format FORMAT` on this container.
    pub fn inspect(&self, format: &str) -> Result<String> {
        self.podman.run(&["inspect", "--format", format, &self.id])
    }

    /// Host pid of the container's init process (fails once it has exited).
    pub fn pid(&self) -> Result<u32> {
        let raw = self.inspect("{{.State.Pid}}")?;
        let pid: u32 = raw
            .parse()
            .with_context(|| format!("pid from podman inspect: {raw:?}"))?;
        if pid == 0 {
            bail!("container {} is not running", self.name);
        }
        Ok(pid)
    }

    /// `podman exec` a command in the container and return its stdout.
    pub fn exec<S: AsRef<str>>(&self, command: &[S]) -> Result<String> {
        let mut args = vec!["exec".to_string(), self.id.clone()];
        args.extend(command.iter().map(|s| s.as_ref().to_string()));
        self.podman.run(&args)
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        if let Err(e) = self.podman.run(&["rm", "-f", "-t", "0", &self.id]) {
            eprintln!("rampart-testkit: removing container {}: {e:#}", self.name);
        }
    }
}

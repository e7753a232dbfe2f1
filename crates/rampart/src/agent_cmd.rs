//! `rampart agent [--config /etc/rampart/agent.yaml] [--server URL --token-file F]`: the agent alone,
//! reporting to a server. Flags only fill an [`AgentConfig`] (over the file's values); the agent process
//! itself is `rampart_agent::daemon`. Also the agent flags of `rampart up`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rampart_agent::daemon::{AgentConfig, Daemon};

/// The agent's flags. Each one left out keeps the configuration file's value (or the default shown).
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Policy file or directory to load after the default policy (repeatable).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Do not load Rampart's default policy.
    #[arg(long)]
    pub no_default_policy: bool,
    /// Kernel ring buffer size in MiB (a power of two) [default: 8].
    #[arg(long, value_name = "MIB")]
    pub ring_mib: Option<u32>,
    /// Report what `kill` actions would do, but send no signal.
    #[arg(long)]
    pub no_kill: bool,
    /// An executable Active Protection never kills in its system instance (root, no LD_* variable, a
    /// protected cgroup), besides init, systemd, sshd and Rampart (repeatable).
    #[arg(long = "protect", value_name = "PATH")]
    pub protected: Vec<PathBuf>,
    /// A cgroup v2 path where protected executables' system instances run, besides pid 1's and
    /// /system.slice/ssh(d).service (repeatable), e.g. `/system.slice/myagent.service`.
    #[arg(long = "protect-cgroup", value_name = "PATH")]
    pub protected_cgroups: Vec<String>,
    /// Disarm a kill rule once the host's root reaches this many distinct killed executables per minute
    /// (other users and containers never disarm a rule) [default: 5].
    #[arg(long, value_name = "N")]
    pub disarm_after: Option<usize>,
    /// How long a disarmed rule stays disarmed before it kills again [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub disarm_cooldown: Option<humantime::Duration>,
    /// Do not hook ia32 compat syscalls (32-bit programs, and `int $0x80` from 64-bit ones). Saves every
    /// syscall of every process one BPF program run (docs/PERFORMANCE.md), but the file, network and
    /// kernel activity made through them goes unseen: an evasion left open.
    #[arg(long)]
    pub no_ia32_syscalls: bool,
    /// A targeting tag reported at enrollment, e.g. `env:prod` (repeatable): remotely configured policies
    /// can be aimed at agents by tag.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Do not take rules from the server (remote configuration); run only the local policies.
    #[arg(long)]
    pub no_remote_config: bool,
    /// Do not record activity snapshots for security profiles (nor detect anomalies).
    #[arg(long)]
    pub no_profiling: bool,
    /// How long one activity dump records a workload [default: 30m].
    #[arg(long, value_name = "DURATION")]
    pub dump_duration: Option<humantime::Duration>,
    /// Workloads dumped at the same time [default: 5].
    #[arg(long, value_name = "N")]
    pub dump_max: Option<usize>,
    /// Profile containers only, not host services (systemd units).
    #[arg(long)]
    pub no_service_profiles: bool,
    /// How often the cgroup tree is scanned for workloads that ended (new containers are seen at their
    /// first event) [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub dump_rescan: Option<humantime::Duration>,
    /// A containerd socket for its native API (repeatable) [default: /run/containerd/containerd.sock,
    /// /run/k3s/containerd/containerd.sock].
    #[arg(long = "containerd-socket", value_name = "PATH")]
    pub containerd_sockets: Vec<PathBuf>,
    /// A CRI socket (repeatable) [default: /run/crio/crio.sock, /run/containerd/containerd.sock].
    #[arg(long = "cri-socket", value_name = "PATH")]
    pub cri_sockets: Vec<PathBuf>,
    /// A Docker Engine API socket, Docker's or Podman's (repeatable) [default: /var/run/docker.sock,
    /// /run/podman/podman.sock].
    #[arg(long = "docker-socket", value_name = "PATH")]
    pub docker_sockets: Vec<PathBuf>,
    /// How long a container's first event waits for its runtime to describe it (image, pod) [default:
    /// 100ms].
    #[arg(long, value_name = "DURATION")]
    pub container_wait: Option<humantime::Duration>,
}

impl AgentArgs {
    /// Overrides `config` with every flag given.
    pub fn apply(&self, c: &mut AgentConfig) {
        fn list<T: Clone>(flag: &[T], value: &mut Vec<T>) {
            if !flag.is_empty() {
                *value = flag.to_vec();
            }
        }
        fn set<T: Clone>(flag: &Option<T>, value: &mut T) {
            if let Some(v) = flag {
                *value = v.clone();
            }
        }
        list(&self.policies, &mut c.policies);
        list(&self.protected, &mut c.protect);
        list(&self.protected_cgroups, &mut c.protect_cgroups);
        list(&self.tags, &mut c.tags);
        list(&self.containerd_sockets, &mut c.containerd_sockets);
        list(&self.cri_sockets, &mut c.cri_sockets);
        list(&self.docker_sockets, &mut c.docker_sockets);
        set(&self.container_wait.map(Into::into), &mut c.container_wait);
        set(&self.ring_mib, &mut c.ring_mib);
        set(&self.disarm_after, &mut c.disarm_after);
        set(&self.dump_max, &mut c.dump_max);
        set(
            &self.disarm_cooldown.map(Into::into),
            &mut c.disarm_cooldown,
        );
        set(&self.dump_duration.map(Into::into), &mut c.dump_duration);
        set(&self.dump_rescan.map(Into::into), &mut c.dump_rescan);
        c.no_default_policy |= self.no_default_policy;
        c.no_kill |= self.no_kill;
        c.no_ia32_syscalls |= self.no_ia32_syscalls;
        c.no_remote_config |= self.no_remote_config;
        c.no_profiling |= self.no_profiling;
        c.no_service_profiles |= self.no_service_profiles;
    }
}

#[derive(Debug, Args)]
pub struct AgentCmd {
    /// YAML configuration file (the keys are these flags' names with `_`, see docs/agent.md); flags
    /// override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Server base URL, e.g. http://127.0.0.1:7878 or https://rampart.example:7878.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// File holding the enrollment token (used once, then removed; the agent keeps its own credential in the
    /// spool).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Spool directory: matches wait here until the server acknowledged them [default:
    /// /var/lib/rampart/agent].
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// PEM CA certificate to trust for an https server.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow a plain http:// server that is not on loopback (the credential travels in clear, and at
    /// enrollment a man in the middle could make the agent pin his configuration-signing key).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (`none` to disable) [default: 127.0.0.1:7879].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
}

impl AgentCmd {
    /// The configuration file's values (or the defaults), overridden by the flags given.
    pub fn config(&self) -> anyhow::Result<AgentConfig> {
        let mut c = match &self.config {
            Some(path) => AgentConfig::from_file(path)?,
            None => AgentConfig::default(),
        };
        self.agent.apply(&mut c);
        if self.server.is_some() {
            c.server.clone_from(&self.server);
        }
        if self.token_file.is_some() {
            c.token_file.clone_from(&self.token_file);
        }
        if let Some(dir) = &self.spool_dir {
            c.spool_dir.clone_from(dir);
        }
        if self.ca_file.is_some() {
            c.ca_file.clone_from(&self.ca_file);
        }
        c.allow_insecure_http |= self.allow_insecure_http;
        match self.metrics_listen.as_deref() {
            None => {}
            Some("none") => c.metrics_listen = None,
            Some(addr) => {
                let addr: SocketAddr = addr.parse().context("--metrics-listen")?;
                c.metrics_listen = Some(addr);
            }
        }
        Ok(c)
    }
}

/// SIGINT/SIGTERM set the returned flag.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

pub fn run(cmd: AgentCmd) -> anyhow::Result<()> {
    let stop = stop_flag()?;
    Daemon::run(cmd.config()?, &stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cmd: AgentCmd,
    }

    fn config(args: &[&str]) -> anyhow::Result<AgentConfig> {
        Cli::try_parse_from(std::iter::once("rampart").chain(args.iter().copied()))?
            .cmd
            .config()
    }

    #[test]
    fn flags_override_the_file_and_unset_flags_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.yaml");
        std::fs::write(
            &file,
            "server: https://file.example:7878\ntoken_file: /file/token\nring_mib: 16\n\
             tags: [env:file]\nmetrics_listen: 127.0.0.1:9100\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = config(&[
            "--config",
            path,
            "--server",
            "https://flag.example",
            "--no-kill",
        ])
        .unwrap();
        assert_eq!(c.server.as_deref(), Some("https://flag.example"));
        assert_eq!(c.token_file, Some(PathBuf::from("/file/token")));
        assert_eq!(c.ring_mib, 16);
        assert_eq!(c.tags, ["env:file"]);
        assert!(c.no_kill);
        assert_eq!(c.metrics_listen, "127.0.0.1:9100".parse().ok());
        let c = config(&[
            "--config",
            path,
            "--tag",
            "env:flag",
            "--metrics-listen",
            "none",
        ])
        .unwrap();
        assert_eq!(c.tags, ["env:flag"]);
        assert_eq!(c.metrics_listen, None);
        let c = config(&[
            "--config",
            path,
            "--cri-socket",
            "/run/crio/crio.sock",
            "--containerd-socket",
            "/run/k3s/containerd/containerd.sock",
            "--container-wait",
            "300ms",
        ])
        .unwrap();
        assert_eq!(c.cri_sockets, [PathBuf::from("/run/crio/crio.sock")]);
        assert_eq!(
            c.containerd_sockets,
            [PathBuf::from("/run/k3s/containerd/containerd.sock")]
        );
        assert!(c.docker_sockets.is_empty());
        assert_eq!(c.container_wait, std::time::Duration::from_millis(300));
        // Without a file: the defaults the flags always had.
        let c = config(&["--server", "http://127.0.0.1:7878", "--token-file", "/t"]).unwrap();
        assert_eq!(c.spool_dir, PathBuf::from("/var/lib/rampart/agent"));
        assert_eq!(c.metrics_listen, "127.0.0.1:7879".parse().ok());
        assert_eq!(c.disarm_cooldown, std::time::Duration::from_secs(300));
    }

    #[test]
    fn a_file_with_an_unknown_key_is_refused_naming_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.yaml");
        std::fs::write(
            &file,
            "server: https://x.example\nmetrics_listn: 127.0.0.1:1\n",
        )
        .unwrap();
        let err = format!(
            "{:#}",
            config(&["--config", file.to_str().unwrap()]).unwrap_err()
        );
        assert!(err.contains("unknown field `metrics_listn`"), "{err}");
        assert!(err.contains("agent.yaml"), "{err}");
    }
}

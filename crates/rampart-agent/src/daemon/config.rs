//! The agent's whole configuration: one struct, read from `/etc/rampart/agent.yaml` (`--config`) and
//! overridden by command-line flags. Each key is the long flag's name with `_` for `-`; an unknown key is
//! an error (a misspelt `no_kill` must not silently arm kills).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::container::{ResolverConfig, RuntimeSockets};
use crate::profiles::ProfilerConfig;
use crate::report::ReporterConfig;
use crate::runtime::AgentOptions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Server base URL, e.g. `https://rampart.example:7878`.
    pub server: Option<String>,
    /// File holding the enrollment token (used once, then removed).
    pub token_file: Option<PathBuf>,
    /// Matches wait here until the server acknowledged them; activity snapshots too.
    pub spool_dir: PathBuf,
    /// PEM CA certificate to trust for an https server.
    pub ca_file: Option<PathBuf>,
    /// Allow a plain http:// server that is not on loopback.
    pub allow_insecure_http: bool,
    /// Where `/metrics` is served; `null` disables it.
    pub metrics_listen: Option<SocketAddr>,
    /// Policy files or directories loaded after the default policy.
    pub policies: Vec<PathBuf>,
    pub no_default_policy: bool,
    /// Kernel ring buffer size in MiB (a power of two).
    pub ring_mib: u32,
    /// Report what `kill` actions would do, but send no signal.
    pub no_kill: bool,
    /// Executables Active Protection never kills in their system instance.
    pub protect: Vec<PathBuf>,
    /// cgroup v2 paths where protected executables' system instances run.
    pub protect_cgroups: Vec<String>,
    /// Distinct killed executables per minute (by the host's root) that disarm a kill rule.
    pub disarm_after: usize,
    #[serde(with = "humantime_serde")]
    pub disarm_cooldown: Duration,
    pub no_ia32_syscalls: bool,
    /// Targeting tags reported at enrollment, e.g. `env:prod`.
    pub tags: Vec<String>,
    pub no_remote_config: bool,
    pub no_profiling: bool,
    #[serde(with = "humantime_serde")]
    pub dump_duration: Duration,
    pub dump_max: usize,
    pub no_service_profiles: bool,
    #[serde(with = "humantime_serde")]
    pub dump_rescan: Duration,
    /// containerd sockets (native API); empty: the usual paths.
    pub containerd_sockets: Vec<PathBuf>,
    /// CRI sockets (CRI-O, containerd's CRI plugin); empty: the usual paths.
    pub cri_sockets: Vec<PathBuf>,
    /// Docker Engine API sockets (Docker, Podman); empty: the usual paths.
    pub docker_sockets: Vec<PathBuf>,
    /// How long a container's first event waits for its runtime's description.
    #[serde(with = "humantime_serde")]
    pub container_wait: Duration,
}

/// `/metrics` on loopback: readable by local scrapers only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:7879";

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            server: None,
            token_file: None,
            spool_dir: PathBuf::from("/var/lib/rampart/agent"),
            ca_file: None,
            allow_insecure_http: false,
            metrics_listen: DEFAULT_METRICS_LISTEN.parse().ok(),
            policies: Vec::new(),
            no_default_policy: false,
            ring_mib: 8,
            no_kill: false,
            protect: Vec::new(),
            protect_cgroups: Vec::new(),
            disarm_after: 5,
            disarm_cooldown: Duration::from_secs(5 * 60),
            no_ia32_syscalls: false,
            tags: Vec::new(),
            no_remote_config: false,
            no_profiling: false,
            dump_duration: Duration::from_secs(30 * 60),
            dump_max: 5,
            no_service_profiles: false,
            dump_rescan: Duration::from_secs(10),
            containerd_sockets: Vec::new(),
            cri_sockets: Vec::new(),
            docker_sockets: Vec::new(),
            container_wait: crate::container::DEFAULT_FIRST_EVENT_WAIT,
        }
    }
}

impl AgentConfig {
    /// Reads a YAML configuration file; unknown keys and ill-typed values are refused, naming the key.
    pub fn from_file(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Self::from_yaml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<AgentConfig> {
        // An empty file is a valid configuration: every default.
        if text.trim().is_empty() {
            return Ok(AgentConfig::default());
        }
        Ok(serde_yaml_ng::from_str(text)?)
    }

    /// The kernel side's options; activity snapshots are written into `spool_dir` for the uploader.
    pub fn agent_options(&self) -> AgentOptions {
        let profiling = (!self.no_profiling).then(|| {
            let mut p = ProfilerConfig::new(&self.spool_dir);
            p.duration = self.dump_duration;
            p.cooldown = p.duration;
            p.max_concurrent = self.dump_max;
            p.services = !self.no_service_profiles;
            p.rescan = self.dump_rescan;
            p
        });
        AgentOptions {
            policies: self.policies.clone(),
            default_policy: !self.no_default_policy,
            ring_mib: self.ring_mib,
            no_kill: self.no_kill,
            protected: self.protect.clone(),
            protected_cgroups: self.protect_cgroups.clone(),
            disarm_after: self.disarm_after,
            disarm_cooldown: self.disarm_cooldown,
            profiling,
            ia32_syscalls: !self.no_ia32_syscalls,
            containers: self.container_resolver(),
            ..AgentOptions::default()
        }
    }

    /// The container resolver's sockets: each list given here replaces that API's default paths.
    pub fn container_resolver(&self) -> ResolverConfig {
        let mut sockets = RuntimeSockets::discover();
        for (given, used) in [
            (&self.containerd_sockets, &mut sockets.containerd),
            (&self.cri_sockets, &mut sockets.cri),
            (&self.docker_sockets, &mut sockets.docker),
        ] {
            if !given.is_empty() {
                used.clone_from(given);
            }
        }
        ResolverConfig {
            first_event_wait: self.container_wait,
            ..ResolverConfig::default()
        }
        .with_sockets(sockets)
    }

    /// The reporter's configuration; fails without a server URL or an enrollment token file.
    pub fn reporter_config(&self) -> anyhow::Result<ReporterConfig> {
        let server = self.server.as_deref().ok_or_else(|| {
            anyhow::anyhow!("no server: set `server:` in the configuration file or pass --server")
        })?;
        let token_file = self.token_file.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no enrollment token file: set `token_file:` in the configuration file or pass --token-file"
            )
        })?;
        let mut config = ReporterConfig::new(&self.spool_dir, server, token_file);
        config.ca_file = self.ca_file.clone();
        config.allow_insecure_http = self.allow_insecure_http;
        config.tags = self.tags.clone();
        Ok(config)
    }
}

/// Durations as people write them (`30m`, `10s`), the same syntax as the flags.
mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e} (e.g. 30s, 5m, 1h)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_file_and_keeps_defaults_for_missing_keys() {
        let c = AgentConfig::from_yaml(
            "server: https://rampart.example:7878\n\
             token_file: /etc/rampart/token\n\
             ca_file: /etc/rampart/ca.pem\n\
             metrics_listen: 127.0.0.1:9100\n\
             policies: [/etc/rampart/policies]\n\
             no_kill: true\n\
             tags: [env:prod, team:payments]\n\
             disarm_cooldown: 10m\n\
             dump_max: 2\n\
             containerd_sockets: [/run/k3s/containerd/containerd.sock]\n\
             container_wait: 250ms\n",
        )
        .unwrap();
        let containers = c.container_resolver();
        assert_eq!(
            containers.sockets.containerd,
            [PathBuf::from("/run/k3s/containerd/containerd.sock")]
        );
        assert!(containers
            .sockets
            .cri
            .contains(&PathBuf::from("/run/crio/crio.sock")));
        assert_eq!(containers.first_event_wait, Duration::from_millis(250));
        assert_eq!(c.server.as_deref(), Some("https://rampart.example:7878"));
        assert_eq!(c.token_file, Some(PathBuf::from("/etc/rampart/token")));
        assert_eq!(c.metrics_listen, "127.0.0.1:9100".parse().ok());
        assert_eq!(c.policies, vec![PathBuf::from("/etc/rampart/policies")]);
        assert!(c.no_kill);
        assert_eq!(c.tags, ["env:prod", "team:payments"]);
        assert_eq!(c.disarm_cooldown, Duration::from_secs(600));
        assert_eq!(c.dump_max, 2);
        // Untouched keys keep the flags' defaults.
        assert_eq!(c.ring_mib, 8);
        assert_eq!(c.spool_dir, PathBuf::from("/var/lib/rampart/agent"));
        assert_eq!(c.dump_duration, Duration::from_secs(1800));
        assert!(!c.no_profiling);
    }

    #[test]
    fn refuses_an_unknown_key_naming_it() {
        let err = AgentConfig::from_yaml("server: https://x\nno_kil: true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `no_kil`"), "{err}");
    }

    #[test]
    fn refuses_a_bad_duration_and_a_bad_address() {
        let err = AgentConfig::from_yaml("dump_duration: soon\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("soon"), "{err}");
        assert!(AgentConfig::from_yaml("metrics_listen: localhost\n").is_err());
    }

    #[test]
    fn an_empty_file_is_the_defaults_and_the_defaults_round_trip() {
        assert_eq!(
            AgentConfig::from_yaml("\n").unwrap(),
            AgentConfig::default()
        );
        let yaml = serde_yaml_ng::to_string(&AgentConfig::default()).unwrap();
        assert_eq!(
            AgentConfig::from_yaml(&yaml).unwrap(),
            AgentConfig::default()
        );
    }

    #[test]
    fn a_reporter_needs_a_server_and_a_token_file() {
        let err = AgentConfig::default()
            .reporter_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--server"), "{err}");
        let c = AgentConfig {
            server: Some("http://127.0.0.1:7878".into()),
            ..AgentConfig::default()
        };
        assert!(c
            .reporter_config()
            .unwrap_err()
            .to_string()
            .contains("--token-file"));
    }
}

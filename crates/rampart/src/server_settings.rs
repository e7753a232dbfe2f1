//! Every `rampart server` setting, from three places: a flag, its `RAMPART_*` environment variable, and a key
//! of the YAML file given with `--config` (`/etc/rampart/server.yaml`; the key is the flag's long name with
//! `_` for `-`). A flag (or its variable) overrides the file, the file overrides the default; a list flag
//! replaces the file's list. An unknown key is refused with its name: a misspelt `retain_audit` must not
//! silently keep the default. Defaults are the server library's (`rampart_server::config`), so a setting
//! given nowhere changes nothing. The profile, limit and retention groups are `rampart up`'s flags too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use clap::{Args, CommandFactory};
use rampart_server::ServerConfig;
use serde::{Deserialize, Deserializer};

/// The settings of `rampart server` (flags and file keys alike).
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long, env = "RAMPART_LISTEN", value_name = "ADDR")]
    #[serde(deserialize_with = "parsed")]
    pub listen: Option<SocketAddr>,
    /// `postgres://user:pass@host:port/db` or `sqlite://PATH` (default: rampart.db in --data-dir).
    #[arg(
        long,
        env = "RAMPART_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Directory for the SQLite database, the secrets key and the generated enrollment token [default:
    /// /var/lib/rampart].
    #[arg(long, env = "RAMPART_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The key sealing the secrets stored in the database (bundle-signing key, channel tokens), created
    /// (mode 0600) if missing. Default: secrets.key in --data-dir. Every replica of a PostgreSQL database
    /// needs the same one.
    #[arg(long, env = "RAMPART_SECRETS_KEY_FILE", value_name = "FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "RAMPART_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "RAMPART_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Backend rule file to load after the defaults (repeatable; comma-separated in the variable).
    #[arg(
        long = "backend-rules",
        env = "RAMPART_BACKEND_RULES",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub backend_rules: Vec<PathBuf>,
    /// Do not load the default backend rules.
    #[arg(long, env = "RAMPART_NO_DEFAULT_BACKEND_RULES")]
    pub no_default_backend_rules: bool,
    /// The URL people reach this server at, for the signal links in notifications (default: the listen
    /// address).
    #[arg(long, env = "RAMPART_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub profiles: ProfileArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub guard: GuardArgs,
}

/// The listen address when none is given: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
/// The data directory when none is given.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/rampart";

impl ServerSettings {
    /// Reads a YAML settings file; an unknown key, an ill-typed value or half a TLS pair is refused, naming
    /// the key and the file. An empty file is every default.
    pub fn from_file(path: &Path) -> anyhow::Result<ServerSettings> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("{}", path.display()))
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<ServerSettings> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
        let map = match value {
            serde_yaml_ng::Value::Null => return Ok(ServerSettings::default()),
            serde_yaml_ng::Value::Mapping(map) => map,
            _ => bail!("a server configuration is a mapping of settings (key: value)"),
        };
        // serde cannot deny unknown fields through `flatten`: the keys are checked against the flags.
        let known = known_keys();
        for key in map.keys() {
            let name = key.as_str().unwrap_or_default();
            if !known.iter().any(|k| k == name) {
                bail!(
                    "unknown field `{}`, expected one of: {}",
                    key.as_str()
                        .map_or_else(|| format!("{key:?}"), str::to_owned),
                    known.join(", ")
                );
            }
        }
        serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(map.clone())).map_err(|e| {
            // Through `flatten` serde's error loses the key: name the one that fails on its own.
            let bad = map.iter().find_map(|(key, value)| {
                let mut one = serde_yaml_ng::Mapping::new();
                one.insert(key.clone(), value.clone());
                serde_yaml_ng::from_value::<ServerSettings>(serde_yaml_ng::Value::Mapping(one))
                    .is_err()
                    .then(|| key.as_str().map(str::to_owned))
                    .flatten()
            });
            match bad {
                Some(key) => anyhow::anyhow!("{key}: {e}"),
                None => e.into(),
            }
        })
    }

    /// These settings (flags and variables) over `file`'s.
    pub fn over(self, file: ServerSettings) -> ServerSettings {
        ServerSettings {
            listen: self.listen.or(file.listen),
            database_url: self.database_url.or(file.database_url),
            data_dir: self.data_dir.or(file.data_dir),
            secrets_key_file: self.secrets_key_file.or(file.secrets_key_file),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            backend_rules: list(self.backend_rules, file.backend_rules),
            no_default_backend_rules: self.no_default_backend_rules
                || file.no_default_backend_rules,
            public_url: self.public_url.or(file.public_url),
            profiles: self.profiles.over(file.profiles),
            limits: self.limits.over(file.limits),
            guard: self.guard.over(file.guard),
        }
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid default address"))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The server library's configuration: the defaults, overridden by every setting given.
    pub fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let data_dir = self.data_dir();
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| rampart_server::storage::sqlite_url(&data_dir.join("rampart.db")));
        let mut config = ServerConfig::new(self.listen(), url);
        config.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(rampart_server::config::TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => bail!("tls_cert and tls_key go together: give both (or neither, for plain HTTP)"),
        };
        config.backend_rule_files = self.backend_rules.clone();
        config.default_backend_rules = !self.no_default_backend_rules;
        config.profiles = self.profiles.config(3)?;
        config.secrets_key_file = Some(
            self.secrets_key_file
                .clone()
                .unwrap_or_else(|| data_dir.join("secrets.key")),
        );
        self.limits.apply(&mut config);
        config.notifications.public_url = self.public_url.clone();
        self.guard.apply(&mut config);
        Ok(config)
    }
}

/// The keys a file may hold: the flags' ids, which clap derives from the field names.
fn known_keys() -> Vec<String> {
    #[derive(clap::Parser)]
    struct Keys {
        #[command(flatten)]
        settings: ServerSettings,
    }
    Keys::command()
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .filter(|id| id != "help")
        .collect()
}

/// A list given (non-empty) replaces the file's.
fn list<T>(given: Vec<T>, file: Vec<T>) -> Vec<T> {
    if given.is_empty() {
        file
    } else {
        given
    }
}

/// A file value in the flag's syntax (`30s`, `10.0.0.0/8`, `off`), parsed by the flag's own parser.
fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    text.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
}

/// A list of file values in the flag's syntax.
fn parsed_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|text| {
            text.parse()
                .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
        })
        .collect()
}

/// Where notifications may go, and how long data is kept.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct GuardArgs {
    /// A non-public network notification channels may reach (repeatable), e.g. 10.0.0.0/8 for an internal
    /// relay or 127.0.0.0/8 for a receiver on this host. Loopback, private, link-local (cloud metadata),
    /// multicast and other special-purpose addresses are refused otherwise.
    #[arg(
        long = "notify-allow-net",
        env = "RAMPART_NOTIFY_ALLOW_NET",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    #[serde(deserialize_with = "parsed_list")]
    pub notify_allow_net: Vec<ipnet::IpNet>,
    /// Keep signals this long after their last match ("off": forever) [default: 365d].
    #[arg(long, env = "RAMPART_RETAIN_SIGNALS", value_name = "AGE")]
    #[serde(deserialize_with = "parsed")]
    pub retain_signals: Option<Age>,
    /// Keep raw matches this long (a kept signal's samples stay with it) [default: 30d].
    #[arg(long, env = "RAMPART_RETAIN_MATCHES", value_name = "AGE")]
    #[serde(deserialize_with = "parsed")]
    pub retain_matches: Option<Age>,
    /// Keep activity snapshots this long (the profiles they built stay) [default: 90d].
    #[arg(long, env = "RAMPART_RETAIN_SNAPSHOTS", value_name = "AGE")]
    #[serde(deserialize_with = "parsed")]
    pub retain_snapshots: Option<Age>,
    /// Keep finished notification deliveries this long [default: 90d].
    #[arg(long, env = "RAMPART_RETAIN_DELIVERIES", value_name = "AGE")]
    #[serde(deserialize_with = "parsed")]
    pub retain_deliveries: Option<Age>,
    /// Keep audit log entries this long [default: 400d].
    #[arg(long, env = "RAMPART_RETAIN_AUDIT", value_name = "AGE")]
    #[serde(deserialize_with = "parsed")]
    pub retain_audit: Option<Age>,
    /// How often retention runs [default: 1h].
    #[arg(long, env = "RAMPART_RETENTION_INTERVAL", value_name = "DURATION")]
    #[serde(deserialize_with = "parsed")]
    pub retention_interval: Option<humantime::Duration>,
}

/// A retention age: a duration, or none ("off": keep forever).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Age(pub Option<std::time::Duration>);

impl FromStr for Age {
    type Err = String;

    fn from_str(s: &str) -> Result<Age, String> {
        if s == "off" {
            return Ok(Age(None));
        }
        let d: std::time::Duration = s
            .parse::<humantime::Duration>()
            .map_err(|e| format!("{e} (a duration such as 30d, or off)"))?
            .into();
        if d.is_zero() {
            return Err("an age of 0 would delete everything; use off to keep data forever".into());
        }
        Ok(Age(Some(d)))
    }
}

impl GuardArgs {
    fn over(self, file: GuardArgs) -> GuardArgs {
        GuardArgs {
            notify_allow_net: list(self.notify_allow_net, file.notify_allow_net),
            retain_signals: self.retain_signals.or(file.retain_signals),
            retain_matches: self.retain_matches.or(file.retain_matches),
            retain_snapshots: self.retain_snapshots.or(file.retain_snapshots),
            retain_deliveries: self.retain_deliveries.or(file.retain_deliveries),
            retain_audit: self.retain_audit.or(file.retain_audit),
            retention_interval: self.retention_interval.or(file.retention_interval),
        }
    }

    pub fn apply(&self, config: &mut ServerConfig) {
        config.notifications.allow_nets = self.notify_allow_net.clone();
        let r = &mut config.retention;
        for (given, value) in [
            (self.retain_signals, &mut r.signals),
            (self.retain_matches, &mut r.matches),
            (self.retain_snapshots, &mut r.snapshots),
            (self.retain_deliveries, &mut r.deliveries),
            (self.retain_audit, &mut r.audit),
        ] {
            if let Some(Age(age)) = given {
                *value = age;
            }
        }
        if let Some(d) = self.retention_interval {
            r.interval = d.into();
        }
    }
}

/// What one client can hold or try: connections, slow requests, password guesses, policy compiles.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct LimitArgs {
    /// Client connections open at once; more are answered 503 and closed [default: 4096].
    #[arg(long, env = "RAMPART_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Client connections open at once from one address (an IPv6 /64); raise it for many agents behind
    /// one NAT address [default: 256].
    #[arg(long, env = "RAMPART_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// A request's headers must arrive within this; an idle keep-alive connection is closed after it
    /// [default: 10s].
    #[arg(long, env = "RAMPART_HEADER_TIMEOUT", value_name = "DURATION")]
    #[serde(deserialize_with = "parsed")]
    pub header_timeout: Option<humantime::Duration>,
    /// A request must be read and answered within this (408 otherwise; agents' long polls get 60s more)
    /// [default: 60s].
    #[arg(long, env = "RAMPART_REQUEST_TIMEOUT", value_name = "DURATION")]
    #[serde(deserialize_with = "parsed")]
    pub request_timeout: Option<humantime::Duration>,
    /// Failed sign-ins (per user name, and per client address) that lock it out... [default: 10]
    #[arg(long, env = "RAMPART_LOGIN_LOCKOUT_AFTER", value_name = "N")]
    pub login_lockout_after: Option<u32>,
    /// ...for this long (after 5 failures, each attempt already waits 1s, 2s, 4s…) [default: 15m].
    #[arg(long, env = "RAMPART_LOGIN_LOCKOUT", value_name = "DURATION")]
    #[serde(deserialize_with = "parsed")]
    pub login_lockout: Option<humantime::Duration>,
    /// Time one check of the configuration's policies may take before its remaining rules fail [default:
    /// 10s].
    #[arg(long, env = "RAMPART_POLICY_COMPILE_BUDGET", value_name = "DURATION")]
    #[serde(deserialize_with = "parsed")]
    pub policy_compile_budget: Option<humantime::Duration>,
}

impl LimitArgs {
    fn over(self, file: LimitArgs) -> LimitArgs {
        LimitArgs {
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(file.max_connections_per_ip),
            header_timeout: self.header_timeout.or(file.header_timeout),
            request_timeout: self.request_timeout.or(file.request_timeout),
            login_lockout_after: self.login_lockout_after.or(file.login_lockout_after),
            login_lockout: self.login_lockout.or(file.login_lockout),
            policy_compile_budget: self.policy_compile_budget.or(file.policy_compile_budget),
        }
    }

    pub fn apply(&self, config: &mut ServerConfig) {
        let c = &mut config.connections;
        set(
            self.max_connections.map(|n| n.max(1)),
            &mut c.max_connections,
        );
        set(
            self.max_connections_per_ip.map(|n| n.max(1)),
            &mut c.max_connections_per_ip,
        );
        set(self.header_timeout.map(Into::into), &mut c.header_timeout);
        set(self.request_timeout.map(Into::into), &mut c.request_timeout);
        let l = &mut config.login;
        set(
            self.login_lockout_after.map(|n| n.max(1)),
            &mut l.lockout_after,
        );
        set(self.login_lockout.map(Into::into), &mut l.lockout);
        set(
            self.policy_compile_budget.map(Into::into),
            &mut config.limits.compile_budget,
        );
    }
}

/// A setting given replaces the library's default.
fn set<T>(given: Option<T>, value: &mut T) {
    if let Some(v) = given {
        *value = v;
    }
}

/// When security profiles stop learning, and what one agent may contribute.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct ProfileArgs {
    /// A learning profile becomes stable after this many snapshots... [default: 200]
    #[arg(long, env = "RAMPART_PROFILE_STABLE_SNAPSHOTS", value_name = "N")]
    pub profile_stable_snapshots: Option<i64>,
    /// ...or this long after its first snapshot... [default: 48h]
    #[arg(long, env = "RAMPART_PROFILE_STABLE_AFTER", value_name = "DURATION")]
    #[serde(deserialize_with = "parsed")]
    pub profile_stable_after: Option<humantime::Duration>,
    /// ...once this many distinct agents sent snapshots of it; a stable profile keeps only the behaviours
    /// that many agents saw (default: 3 for `server`, 1 for `up`, whose only agent is the host itself).
    #[arg(long, env = "RAMPART_PROFILE_MIN_AGENTS", value_name = "N", value_parser = clap::value_parser!(u8).range(MIN_AGENTS_RANGE))]
    pub profile_min_agents: Option<u8>,
    /// Activity snapshots one agent may send per hour (beyond: 429, the agent sends them later) [default:
    /// 60].
    #[arg(
        long,
        env = "RAMPART_PROFILE_SNAPSHOTS_PER_AGENT_HOUR",
        value_name = "N"
    )]
    pub profile_snapshots_per_agent_hour: Option<u32>,
}

/// Distinct agents a profile may be asked to wait for (`profiles::quorum::MAX_QUORUM` is the top).
const MIN_AGENTS_RANGE: std::ops::RangeInclusive<i64> = 1..=16;

impl ProfileArgs {
    fn over(self, file: ProfileArgs) -> ProfileArgs {
        ProfileArgs {
            profile_stable_snapshots: self
                .profile_stable_snapshots
                .or(file.profile_stable_snapshots),
            profile_stable_after: self.profile_stable_after.or(file.profile_stable_after),
            profile_min_agents: self.profile_min_agents.or(file.profile_min_agents),
            profile_snapshots_per_agent_hour: self
                .profile_snapshots_per_agent_hour
                .or(file.profile_snapshots_per_agent_hour),
        }
    }

    /// The profile settings, with `default_min_agents` unless `profile_min_agents` is given.
    pub fn config(
        &self,
        default_min_agents: u8,
    ) -> anyhow::Result<rampart_server::config::ProfileConfig> {
        let mut c = rampart_server::config::ProfileConfig::default();
        set(
            self.profile_stable_snapshots.map(|n| n.max(1)),
            &mut c.stable_after_snapshots,
        );
        set(
            self.profile_stable_after.map(Into::into),
            &mut c.stable_after,
        );
        // A file's value has not been through the flag's range check.
        let min_agents = self.profile_min_agents.unwrap_or(default_min_agents);
        if !MIN_AGENTS_RANGE.contains(&i64::from(min_agents)) {
            bail!("profile_min_agents: {min_agents} is not in {MIN_AGENTS_RANGE:?}");
        }
        c.min_agents = min_agents.into();
        set(
            self.profile_snapshots_per_agent_hour
                .map(|n| i64::from(n.max(1))),
            &mut c.snapshots_per_agent_hour,
        );
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cmd: crate::server_cmd::ServerCmd,
    }

    fn settings(args: &[&str]) -> anyhow::Result<ServerSettings> {
        Cli::try_parse_from(std::iter::once("rampart").chain(args.iter().copied()))?
            .cmd
            .settings()
    }

    fn file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.yaml");
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap().to_owned();
        (dir, path)
    }

    const FULL: &str = "listen: 0.0.0.0:8443\n\
        database_url: postgres://rampart@db/rampart\n\
        data_dir: /srv/rampart\n\
        secrets_key_file: /etc/rampart/secrets.key\n\
        tls_cert: /etc/rampart/tls.crt\n\
        tls_key: /etc/rampart/tls.key\n\
        backend_rules: [/etc/rampart/backend.yaml]\n\
        no_default_backend_rules: true\n\
        public_url: https://rampart.example\n\
        profile_stable_snapshots: 50\n\
        profile_stable_after: 12h\n\
        profile_min_agents: 2\n\
        profile_snapshots_per_agent_hour: 30\n\
        max_connections: 100\n\
        max_connections_per_ip: 10\n\
        header_timeout: 5s\n\
        request_timeout: 30s\n\
        login_lockout_after: 3\n\
        login_lockout: 1h\n\
        policy_compile_budget: 2s\n\
        notify_allow_net: [10.0.0.0/8]\n\
        retain_signals: off\n\
        retain_matches: 7d\n\
        retain_snapshots: 14d\n\
        retain_deliveries: 21d\n\
        retain_audit: 800d\n\
        retention_interval: 10m\n";

    #[test]
    fn every_key_of_a_full_file_reaches_the_server_configuration() {
        let (_dir, path) = file(FULL);
        let c = settings(&["--config", &path])
            .unwrap()
            .server_config()
            .unwrap();
        let day = |d: u64| Some(Duration::from_secs(d * 86_400));
        assert_eq!(c.listen, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(c.database_url, "postgres://rampart@db/rampart");
        assert_eq!(
            c.secrets_key_file,
            Some(PathBuf::from("/etc/rampart/secrets.key"))
        );
        let tls = c.tls.expect("tls");
        assert_eq!(
            (tls.cert, tls.key),
            ("/etc/rampart/tls.crt".into(), "/etc/rampart/tls.key".into())
        );
        assert_eq!(
            c.backend_rule_files,
            [PathBuf::from("/etc/rampart/backend.yaml")]
        );
        assert!(!c.default_backend_rules);
        assert_eq!(
            c.notifications.public_url.as_deref(),
            Some("https://rampart.example")
        );
        assert_eq!(c.profiles.stable_after_snapshots, 50);
        assert_eq!(c.profiles.stable_after, Duration::from_secs(12 * 3600));
        assert_eq!(c.profiles.min_agents, 2);
        assert_eq!(c.profiles.snapshots_per_agent_hour, 30);
        assert_eq!(c.connections.max_connections, 100);
        assert_eq!(c.connections.max_connections_per_ip, 10);
        assert_eq!(c.connections.header_timeout, Duration::from_secs(5));
        assert_eq!(c.connections.request_timeout, Duration::from_secs(30));
        assert_eq!(c.login.lockout_after, 3);
        assert_eq!(c.login.lockout, Duration::from_secs(3600));
        assert_eq!(c.limits.compile_budget, Duration::from_secs(2));
        assert_eq!(
            c.notifications.allow_nets,
            ["10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()]
        );
        let r = &c.retention;
        assert_eq!(
            (r.signals, r.matches, r.snapshots, r.deliveries, r.audit),
            (None, day(7), day(14), day(21), day(800))
        );
        assert_eq!(r.interval, Duration::from_secs(600));
        // The file's data directory holds the SQLite database when no URL is given.
        let (_dir, path) = file("data_dir: /srv/rampart\n");
        let c = settings(&["--config", &path])
            .unwrap()
            .server_config()
            .unwrap();
        assert!(
            c.database_url.contains("/srv/rampart/rampart.db"),
            "{}",
            c.database_url
        );
        assert_eq!(
            c.secrets_key_file,
            Some(PathBuf::from("/srv/rampart/secrets.key"))
        );
    }

    #[test]
    fn every_flag_is_a_file_key_and_every_key_a_flag() {
        // A key the struct reads but no flag declares (or the reverse) would be refused or ignored.
        let keys: Vec<String> = FULL
            .lines()
            .map(|l| l.split(':').next().unwrap().to_owned())
            .collect();
        let mut known = known_keys();
        known.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(known, keys_sorted);
    }

    #[test]
    fn flags_override_the_file_and_unset_flags_keep_it() {
        let (_dir, path) = file(
            "listen: 0.0.0.0:9000\nretain_audit: 800d\nnotify_allow_net: [10.0.0.0/8]\n\
             max_connections: 100\n",
        );
        let s = settings(&[
            "--config",
            &path,
            "--listen",
            "127.0.0.1:9001",
            "--notify-allow-net",
            "192.168.0.0/16",
        ])
        .unwrap();
        let c = s.server_config().unwrap();
        assert_eq!(c.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(
            c.notifications.allow_nets,
            ["192.168.0.0/16".parse::<ipnet::IpNet>().unwrap()]
        );
        assert_eq!(c.connections.max_connections, 100);
        assert_eq!(c.retention.audit, Some(Duration::from_secs(800 * 86_400)));
        // Neither file nor flag: the library's defaults.
        let c = settings(&[]).unwrap().server_config().unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert!(c.database_url.contains("/var/lib/rampart/rampart.db"));
        assert_eq!(c.connections.max_connections, 4096);
        assert_eq!(c.retention.signals, Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(c.profiles.min_agents, 3);
        assert!(c.default_backend_rules && c.tls.is_none());
    }

    #[test]
    fn an_unknown_key_is_refused_naming_it_and_the_file() {
        let (_dir, path) = file("listen: 127.0.0.1:1\nretain_audti: 10d\n");
        let err = format!("{:#}", settings(&["--config", &path]).unwrap_err());
        assert!(err.contains("unknown field `retain_audti`"), "{err}");
        assert!(err.contains("server.yaml"), "{err}");
        assert!(
            err.contains("retain_audit"),
            "the valid keys are listed: {err}"
        );
    }

    #[test]
    fn ill_typed_and_inconsistent_values_are_refused_naming_them() {
        for (text, needle) in [
            ("retain_matches: soon\n", "soon"),
            ("retain_matches: 0s\n", "an age of 0"),
            ("header_timeout: 5 parsecs\n", "5 parsecs"),
            ("listen: localhost\n", "localhost"),
            ("max_connections: -1\n", "max_connections: invalid value"),
            ("login_lockout_after: many\n", "login_lockout_after"),
            ("notify_allow_net: [10.0.0.0/99]\n", "10.0.0.0/99"),
            ("- listen\n", "mapping"),
        ] {
            let err = ServerSettings::from_yaml(text)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let half_tls = ServerSettings::from_yaml("tls_cert: /c.pem\n").unwrap();
        let err = half_tls.server_config().unwrap_err().to_string();
        assert!(err.contains("tls_key"), "{err}");
        let zero = ServerSettings::from_yaml("profile_min_agents: 0\n").unwrap();
        let err = zero.server_config().unwrap_err().to_string();
        assert!(err.contains("profile_min_agents"), "{err}");
        // An empty file is every default.
        assert!(ServerSettings::from_yaml("\n").unwrap().listen.is_none());
    }
}

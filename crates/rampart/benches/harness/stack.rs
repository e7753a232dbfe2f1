//! The system under test as users run it: a `rampart server` process and a `rampart agent` process
//! reporting to it over loopback, each started, killed (-9) and restarted by the harness.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rampart_testkit::free_port;
use rampart_testkit::rampart_process::{admin_token, Launch, RampartProcess};
use serde_json::{json, Value};

fn rampart() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// A `rampart server` on a fixed loopback port (so a restart keeps its URL), SQLite in `data_dir` unless
/// a database URL is given.
pub struct Server {
    proc: Option<RampartProcess>,
    launch: Launch,
    pub url: String,
    pub data_dir: PathBuf,
    pub token: String,
}

impl Server {
    pub fn start(data_dir: &Path, database_url: Option<String>) -> Server {
        let port = free_port();
        let mut launch = Launch::server(rampart())
            .listen(format!("127.0.0.1:{port}"))
            .data_dir(data_dir);
        if let Some(url) = &database_url {
            launch = launch.arg("--database-url").arg(url);
        }
        let proc = launch.start();
        let url = format!("http://127.0.0.1:{port}");
        let token = admin_token(
            &url,
            proc.admin_password()
                .expect("the first run prints the admin password"),
        );
        Server {
            proc: Some(proc),
            launch,
            url,
            data_dir: data_dir.to_path_buf(),
            token,
        }
    }

    /// A file holding a new single-use enrollment token (each agent needs its own: the agent removes the
    /// file once it enrolled).
    pub fn enrollment_token_file(&self, path: &Path) -> PathBuf {
        let v: Value = ureq::post(&format!("{}/api/v1/enrollment-tokens", self.url))
            .set("authorization", &format!("Bearer {}", self.token))
            .send_json(json!({"name": "harness"}))
            .expect("an enrollment token")
            .into_json()
            .unwrap();
        std::fs::write(path, v["token"].as_str().unwrap()).unwrap();
        path.to_path_buf()
    }

    pub fn kill9(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill9();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.proc = Some(self.launch.start());
    }

    pub fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_json()
            .unwrap()
    }
}

/// A `rampart agent` with the default policy plus the harness's policy, reporting to a [`Server`].
pub struct AgentProc {
    proc: Option<RampartProcess>,
    launch: Launch,
    pub metrics_url: String,
}

impl AgentProc {
    pub fn start(server: &Server, spool: &Path, policy: &Path, extra: &[&str]) -> AgentProc {
        let metrics = format!("127.0.0.1:{}", free_port());
        let token = server.enrollment_token_file(&spool.with_extension("token"));
        let launch = Launch::agent(rampart())
            .arg("--server")
            .arg(&server.url)
            .arg("--token-file")
            .arg(&token)
            .arg("--spool-dir")
            .arg(spool)
            .arg("--metrics-listen")
            .arg(&metrics)
            .arg("--policy")
            .arg(policy)
            .args(extra);
        AgentProc {
            proc: Some(launch.start()),
            launch,
            metrics_url: format!("http://{metrics}/metrics"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.as_ref().map_or(0, RampartProcess::pid)
    }

    pub fn kill9(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill9();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.proc = Some(self.launch.start());
    }

    pub fn stop(mut self) {
        drop(self.proc.take());
    }

    /// The agent's Prometheus counters (name without labels → value).
    pub fn metrics(&self) -> HashMap<String, f64> {
        let text = ureq::get(&self.metrics_url)
            .call()
            .map(|r| r.into_string().unwrap_or_default())
            .unwrap_or_default();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    pub fn metric(&self, name: &str) -> f64 {
        self.metrics().get(name).copied().unwrap_or(0.0)
    }
}

/// What the harness asks the agent to watch, besides the default policy: an executable whose every run is
/// a reported match (numbered through its arguments), and a file whose opens pass the kernel filter but
/// never match in user space (load that costs the agent a full evaluation).
pub struct Fixture {
    pub dir: PathBuf,
    pub marker: PathBuf,
    pub hot_file: PathBuf,
    pub policy: PathBuf,
}

pub const MARKER_RULE: &str = "bench_marker_exec";

impl Fixture {
    pub fn create(dir: &Path) -> Fixture {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let marker = bin.join("rampart-bench-marker");
        std::fs::copy("/bin/true", &marker).expect("copying /bin/true");
        let hot_file = dir.join("hot");
        std::fs::write(&hot_file, b"x").unwrap();
        let policy = dir.join("bench.policy");
        std::fs::write(
            &policy,
            format!(
                "version: 1.0.0\nrules:\n  - id: {MARKER_RULE}\n    expression: exec.file.path == \"{}\"\n  - id: bench_hot_open\n    expression: open.file.path == \"{}\" && process.ancestors.file.name == \"rampart-no-such-ancestor\"\n",
                marker.display(),
                hot_file.display()
            ),
        )
        .unwrap();
        Fixture {
            dir: dir.to_path_buf(),
            marker,
            hot_file,
            policy,
        }
    }

    /// Runs the marker once with sequence number `seq` in its arguments; the wall-clock time (ns) it ran.
    pub fn mark(&self, seq: u64) -> i64 {
        let t = rampart_server::storage::now_ns();
        let ok = Command::new(&self.marker)
            .arg(format!("rbseq-{seq}-end"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "running the marker");
        t
    }
}

/// Sequence numbers found in stored match bodies (`rbseq-N-end`).
pub fn sequences(text: &str) -> Vec<u64> {
    text.split("rbseq-")
        .skip(1)
        .filter_map(|rest| rest.split_once("-end")?.0.parse().ok())
        .collect()
}

/// The marker matches stored by the server: (event time ns, received time ns, body).
pub fn stored_marks(database_url: &str) -> Vec<(i64, i64, String)> {
    use sqlx::Row;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = rampart_server::storage::Db::connect(database_url)
            .await
            .expect("opening the server's database");
        let rows = sqlx::query("SELECT ts, received_at, body FROM matches WHERE rule_id = $1")
            .bind(MARKER_RULE)
            .fetch_all(&db.pool)
            .await
            .expect("reading matches");
        rows.iter()
            .map(|r| {
                (
                    r.try_get("ts").unwrap(),
                    r.try_get("received_at").unwrap(),
                    r.try_get("body").unwrap(),
                )
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sequences_are_read_back() {
        assert_eq!(
            super::sequences("{\"args\":\"rbseq-12-end\",\"x\":\"rbseq-3-end rbseq-x-end\"}"),
            vec![12, 3]
        );
    }
}

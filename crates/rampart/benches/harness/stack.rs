//! The system under test as users run it: a `rampart server` process and a `rampart agent` process
//! reporting to it over loopback, each started, killed (-9) and restarted by the harness.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rampart_testkit::free_port;
use serde_json::{json, Value};

fn rampart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
}

/// Lines of a child's stream, read on a thread so the child never blocks on a full pipe.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits for a line containing `needle`; the lines seen so far on failure.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {needle:?} within {timeout:?}; saw {seen:#?}"),
        }
    }
}

fn sigkill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn sigterm(child: &mut Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// A `rampart server` on a fixed loopback port (so a restart keeps its URL), SQLite in `data_dir` unless
/// a database URL is given.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    pub data_dir: PathBuf,
    database_url: Option<String>,
    password: String,
    pub token: String,
}

impl Server {
    pub fn start(data_dir: &Path, database_url: Option<String>) -> Server {
        let port = free_port();
        let mut s = Server {
            child: None,
            port,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            database_url,
            password: String::new(),
            token: String::new(),
        };
        let out = s.spawn();
        s.password = out
            .iter()
            .find_map(|l| l.trim().strip_prefix("admin password: "))
            .expect("the first run prints the admin password")
            .to_string();
        let login = ureq::post(&format!("{}/api/v1/auth/login", s.url))
            .send_json(json!({"username": "admin", "password": s.password}))
            .expect("admin login")
            .into_json::<Value>()
            .unwrap();
        s.token = login["token"].as_str().unwrap().to_string();
        s
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

    /// Starts the process and waits until it answers; its stdout up to the enrollment-token line.
    fn spawn(&mut self) -> Vec<String> {
        let mut cmd = rampart();
        cmd.args(["server", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(url) = &self.database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.spawn().expect("starting rampart server");
        let out = wait_line(
            &lines_of(child.stdout.take().unwrap()),
            "agent enrollment token",
            Duration::from_secs(60),
        );
        self.child = Some(child);
        out
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigkill(&mut c);
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
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

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigterm(&mut c);
        }
    }
}

/// A `rampart agent` with the default policy plus the harness's policy, reporting to a [`Server`].
pub struct AgentProc {
    child: Option<Child>,
    args: Vec<String>,
    pub metrics_url: String,
}

impl AgentProc {
    pub fn start(server: &Server, spool: &Path, policy: &Path, extra: &[&str]) -> AgentProc {
        let metrics = format!("127.0.0.1:{}", free_port());
        let token = server.enrollment_token_file(&spool.with_extension("token"));
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--server".into(),
            server.url.clone(),
            "--token-file".into(),
            token.display().to_string(),
            "--spool-dir".into(),
            spool.display().to_string(),
            "--metrics-listen".into(),
            metrics.clone(),
            "--policy".into(),
            policy.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut a = AgentProc {
            child: None,
            args,
            metrics_url: format!("http://{metrics}/metrics"),
        };
        a.spawn();
        a
    }

    fn spawn(&mut self) {
        let mut child = rampart()
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting rampart agent");
        wait_line(
            &lines_of(child.stderr.take().unwrap()),
            "agent reporting to",
            Duration::from_secs(90),
        );
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigkill(&mut c);
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            sigterm(&mut c);
        }
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

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigterm(&mut c);
        }
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

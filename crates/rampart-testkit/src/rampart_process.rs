//! `rampart server`, `rampart up` and `rampart agent` as child processes, for end-to-end tests and the
//! benchmark harness: a [`Launch`] builder says what to run and which line means "ready"; the started
//! [`RampartProcess`] keeps the lines printed until then (URL, first-run password) and is stopped with SIGTERM
//! on drop.
//!
//! ```no_run
//! use rampart_testkit::rampart_process::{admin_token, Launch};
//!
//! let server = Launch::server("target/debug/rampart").data_dir("/tmp/x").start();
//! let url = server.url().unwrap();
//! let token = admin_token(url, server.admin_password().unwrap());
//! ```

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How to start one `rampart` process; reusable, so a harness can restart the same process.
#[derive(Debug, Clone)]
pub struct Launch {
    bin: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    listen: Option<OsString>,
    ready: String,
    ready_on_stderr: bool,
    timeout: Duration,
}

impl Launch {
    /// `rampart server`, ready once it printed where agents find their enrollment token (after the URL and,
    /// on the first run, the admin password). Listens on a free loopback port unless [`Launch::listen`] says.
    pub fn server(bin: impl Into<PathBuf>) -> Launch {
        Launch::new(bin, "server", "agent enrollment token").listen("127.0.0.1:0")
    }

    /// `rampart up` (server and local agent), ready once its agent runs.
    pub fn up(bin: impl Into<PathBuf>) -> Launch {
        Launch::new(bin, "up", "agent: running").listen("127.0.0.1:0")
    }

    /// `rampart agent`, ready once it logged (on stderr) that it reports to its server.
    pub fn agent(bin: impl Into<PathBuf>) -> Launch {
        let mut l = Launch::new(bin, "agent", "agent reporting to");
        l.ready_on_stderr = true;
        l.timeout = Duration::from_secs(90);
        l
    }

    fn new(bin: impl Into<PathBuf>, subcommand: &str, ready: &str) -> Launch {
        Launch {
            bin: bin.into(),
            args: vec![subcommand.into()],
            envs: Vec::new(),
            listen: None,
            ready: ready.to_owned(),
            ready_on_stderr: false,
            timeout: Duration::from_secs(60),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Launch {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Launch {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable of the process (e.g. a `RAMPART_*` setting).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// `--listen <addr>` (a server's default: a free loopback port).
    pub fn listen(mut self, addr: impl AsRef<OsStr>) -> Launch {
        self.listen = Some(addr.as_ref().to_owned());
        self
    }

    /// `--data-dir <dir>`.
    pub fn data_dir(self, dir: impl AsRef<Path>) -> Launch {
        self.arg("--data-dir").arg(dir.as_ref())
    }

    /// Gives up (panics) when the ready line has not come after this long.
    pub fn timeout(mut self, timeout: Duration) -> Launch {
        self.timeout = timeout;
        self
    }

    /// Starts the process and waits for its ready line; panics with what it printed when it does not come.
    pub fn start(&self) -> RampartProcess {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args).envs(self.envs.iter().cloned());
        if let Some(addr) = &self.listen {
            cmd.arg("--listen").arg(addr);
        }
        if self.ready_on_stderr {
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} {:?}: {e}", self.bin.display(), self.args));
        let lines = if self.ready_on_stderr {
            lines_of(child.stderr.take().unwrap())
        } else {
            lines_of(child.stdout.take().unwrap())
        };
        let printed = wait_line(&lines, &self.ready, self.timeout).unwrap_or_else(|seen| {
            panic!(
                "rampart {:?} did not start; it printed {seen:#?}",
                self.args
            )
        });
        RampartProcess {
            child: Some(child),
            printed,
        }
    }
}

/// A running `rampart` process; SIGTERM and wait on drop.
#[derive(Debug)]
pub struct RampartProcess {
    child: Option<Child>,
    /// What it printed up to and including its ready line.
    pub printed: Vec<String>,
}

impl RampartProcess {
    /// The server's URL (`Rampart is up: <url>`).
    pub fn url(&self) -> Option<&str> {
        self.printed
            .iter()
            .find_map(|l| l.strip_prefix("Rampart is up: "))
            .map(str::trim)
    }

    /// The generated admin password, printed on the run that created the account only.
    pub fn admin_password(&self) -> Option<&str> {
        self.printed
            .iter()
            .find_map(|l| l.trim().strip_prefix("admin password: "))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL and wait: a crash, for durability tests.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; how it exited.
    pub fn stop(mut self) -> ExitStatus {
        sigterm(self.child.take().expect("a running child"))
    }
}

impl Drop for RampartProcess {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            sigterm(c);
        }
    }
}

fn sigterm(mut child: Child) -> ExitStatus {
    // SAFETY: kill(2) on our own child, not yet waited for (its pid is not reused).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().expect("waiting for a rampart child")
}

/// Signs in as `admin`; the session token.
pub fn admin_token(url: &str, password: &str) -> String {
    let v: Value = ureq::post(&format!("{url}/api/v1/auth/login"))
        .send_json(json!({"username": "admin", "password": password}))
        .expect("admin login")
        .into_json()
        .expect("a JSON login answer");
    v["token"].as_str().expect("a session token").to_owned()
}

/// Lines of a child's stream, read on a thread so the child never blocks on a full pipe.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            // Drained to the end even once nobody listens: a full pipe would block the child.
            let _ = tx.send(line);
        }
    });
    rx
}

/// The lines up to the first containing `needle`; what came before when it did not come in time.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    needle: &str,
    timeout: Duration,
) -> Result<Vec<String>, Vec<String>> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return Ok(seen);
                }
            }
            Err(_) => return Err(seen),
        }
    }
}

//! Runs `rampart monitor` as a child process and collects the JSON objects it prints, so tests can wait for
//! the event or match they caused.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// How long the monitor may take to attach its probes before a test gives up.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Collected {
    lines: Vec<Value>,
    stderr: Vec<String>,
    attached: bool,
    stdout_closed: bool,
}

/// A running `rampart monitor`; stopped with SIGTERM on drop.
pub struct MonitorProcess {
    child: Child,
    shared: Arc<(Mutex<Collected>, Condvar)>,
}

impl MonitorProcess {
    /// Starts `binary monitor --json --policy <policy>`, reporting kill actions without sending them when the
    /// build can (`--no-kill`): a test's trigger must survive to finish.
    pub fn start_with_policy(binary: &Path, policy: &str) -> Result<MonitorProcess> {
        MonitorProcess::start_with_policy_args(binary, policy, &[])
    }

    /// [`MonitorProcess::start_with_policy`] with more `monitor` arguments.
    pub fn start_with_policy_args(
        binary: &Path,
        policy: &str,
        extra: &[&str],
    ) -> Result<MonitorProcess> {
        let help = Command::new(binary)
            .args(["monitor", "--help"])
            .output()
            .with_context(|| format!("running {} monitor --help", binary.display()))?;
        let mut args = vec!["--json", "--policy", policy];
        if String::from_utf8_lossy(&help.stdout).contains("--no-kill") {
            args.push("--no-kill");
        }
        args.extend_from_slice(extra);
        MonitorProcess::start(binary, &args, &[])
    }

    /// Starts `binary monitor <args>` with `env` and waits until it reports its probes attached.
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<MonitorProcess> {
        let mut child = Command::new(binary)
            .arg("monitor")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let shared: Arc<(Mutex<Collected>, Condvar)> = Arc::default();
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let out = shared.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let (lock, cv) = &*out;
                    lock.lock().unwrap().lines.push(v);
                    cv.notify_all();
                }
            }
            let (lock, cv) = &*out;
            lock.lock().unwrap().stdout_closed = true;
            cv.notify_all();
        });
        let err = shared.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                let (lock, cv) = &*err;
                let mut c = lock.lock().unwrap();
                c.attached |= line.contains("rampart: monitoring");
                c.stderr.push(line);
                cv.notify_all();
            }
        });
        let monitor = MonitorProcess { child, shared };
        monitor.wait_attached()?;
        Ok(monitor)
    }

    fn wait_attached(&self) -> Result<()> {
        let (lock, cv) = &*self.shared;
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        let mut c = lock.lock().unwrap();
        while !c.attached {
            if c.stdout_closed || Instant::now() >= deadline {
                bail!(
                    "rampart monitor did not attach; stderr:\n{}",
                    c.stderr.join("\n")
                );
            }
            c = cv.wait_timeout(c, Duration::from_millis(100)).unwrap().0;
        }
        Ok(())
    }

    /// The monitor's process id (to pause it with SIGSTOP, for one).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for a printed object that satisfies `pred`, and returns it.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let (lock, cv) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut c = lock.lock().unwrap();
        // Each wake-up scans only the lines that arrived since the last scan: a busy host prints thousands
        // of events, and rescanning all of them under the lock would starve the reader thread.
        let mut scanned = 0;
        loop {
            if let Some(v) = c.lines[scanned..].iter().find(|v| pred(v)) {
                return Some(v.clone());
            }
            scanned = c.lines.len();
            let now = Instant::now();
            if now >= deadline || c.stdout_closed {
                return None;
            }
            c = cv.wait_timeout(c, deadline - now).unwrap().0;
        }
    }

    /// Every object printed so far that satisfies `pred`.
    pub fn all(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.shared
            .0
            .lock()
            .unwrap()
            .lines
            .iter()
            .filter(|v| pred(v))
            .cloned()
            .collect()
    }

    /// What the monitor wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.shared.0.lock().unwrap().stderr.join("\n")
    }

    /// Stops the monitor (SIGTERM) and returns its stderr, which ends with its counters.
    pub fn stop(mut self) -> String {
        self.terminate();
        // Give the stderr reader a moment to drain the final counters line.
        let (lock, cv) = &*self.shared;
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut c = lock.lock().unwrap();
        while !c.stderr.iter().any(|l| l.contains("dropped=")) && Instant::now() < deadline {
            c = cv.wait_timeout(c, Duration::from_millis(50)).unwrap().0;
        }
        c.stderr.join("\n")
    }

    fn terminate(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for MonitorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Looks a dotted path up in a JSON value (`"exec.file.path"`); array indices are numbers (`"argv.0"`).
pub fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |cur, key| match key.parse::<usize>() {
            Ok(i) if cur.is_array() => &cur[i],
            _ => &cur[key],
        })
}

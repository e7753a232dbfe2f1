//! Sending finished snapshots from the spool to the server (deleted only once the server has them, so a
//! server outage or an agent restart loses none), and relaying the server's activity-dump requests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Backoff, HttpError, Retry, ServerClient};
use crate::report::credentials::Credentials;

/// A dump request relayed to the profiler.
#[derive(Debug, Clone, PartialEq)]
pub enum DumpCommand {
    Start {
        request_id: i64,
        container_id: String,
        duration: Duration,
    },
    Stop {
        container_id: String,
    },
}

pub struct Uploader {
    commands: Receiver<DumpCommand>,
    finished: Sender<i64>,
    stop: Arc<AtomicBool>,
}

impl Uploader {
    pub fn start(
        server_url: &str,
        spool_dir: &Path,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Uploader> {
        let server = ServerClient::new(server_url, spool_dir, ca_file, Duration::from_secs(30))?;
        let (tx, commands) = mpsc::channel();
        let (finished, finished_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            server,
            spool: spool_dir.to_path_buf(),
            commands: tx,
            finished: finished_rx,
            stop: stop.clone(),
            relayed: Vec::new(),
        };
        std::thread::Builder::new()
            .name("rampart-snapshots".into())
            .spawn(move || worker.run())?;
        Ok(Uploader {
            commands,
            finished,
            stop,
        })
    }

    /// Dump requests that arrived from the server.
    pub fn commands(&self) -> Vec<DumpCommand> {
        self.commands.try_iter().collect()
    }

    /// The dump serving request `id` ended (its snapshot is in the spool).
    pub fn finished(&self, id: i64) {
        let _ = self.finished.send(id);
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long a snapshot refused because its workload report has not arrived yet is sent again.
const WORKLOAD_REPORT_GRACE: Duration = Duration::from_secs(3600);

fn younger_than(file: &Path, age: Duration) -> bool {
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().unwrap_or_default() < age)
}

struct Worker {
    server: ServerClient,
    spool: PathBuf,
    commands: Sender<DumpCommand>,
    finished: Receiver<i64>,
    stop: Arc<AtomicBool>,
    /// Requests handed to the profiler (id, container).
    relayed: Vec<(i64, String)>,
}

impl Worker {
    fn run(mut self) {
        let mut last_requests = Instant::now() - Duration::from_secs(60);
        let mut retry = Retry::new(Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        });
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            let Some(creds) = self.server.credentials() else {
                continue;
            };
            for id in self.finished.try_iter().collect::<Vec<_>>() {
                self.set_state(&creds, id, "done");
                self.relayed.retain(|(r, _)| *r != id);
            }
            if last_requests.elapsed() >= Duration::from_secs(5) {
                last_requests = Instant::now();
                self.relay_requests(&creds);
            }
            match self.send_one(&creds) {
                Ok(true) => retry.succeeded(),
                Ok(false) => {}
                Err(e) => {
                    let delay = retry.failed();
                    tracing::warn!("snapshots: {e}; retrying in {delay:?}");
                    std::thread::sleep(delay);
                }
            }
        }
    }

    /// Sends the oldest snapshot of the spool; `Ok(false)` when there is none.
    fn send_one(&self, creds: &Credentials) -> Result<bool, String> {
        let dir = self.spool.join("snapshots");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let Some(file) = files.first() else {
            return Ok(false);
        };
        let body = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        let resp = self
            .server
            .request("POST", "/api/v1/agents/snapshots", &creds.secret)
            .set("content-type", "application/json")
            .send_bytes(&body)
            .map_err(HttpError::from);
        match resp {
            Ok(_) => {
                let _ = std::fs::remove_file(file);
                Ok(true)
            }
            // The server takes a snapshot only of a workload this agent reported: the report may still
            // be on its way (a retry settles it); a snapshot still refused after an hour never will be.
            Err(HttpError::Status(409, why)) if younger_than(file, WORKLOAD_REPORT_GRACE) => {
                Err(format!("sending {}: {why}", file.display()))
            }
            Err(HttpError::Status(code, why)) if HttpError::permanent(code) => {
                // Refused as invalid: it would be refused forever. Kept aside, never silently deleted.
                let rejected = dir.join("rejected");
                let _ = std::fs::create_dir_all(&rejected);
                let to = rejected.join(file.file_name().unwrap_or_default());
                let _ = std::fs::rename(file, &to);
                tracing::error!(
                    "the server refused snapshot {} ({code}: {why}); kept in {}",
                    file.display(),
                    to.display()
                );
                Ok(true)
            }
            Err(e) => Err(format!("sending {}: {e}", file.display())),
        }
    }

    fn relay_requests(&mut self, creds: &Credentials) {
        let resp = self.server.get("/api/v1/agents/dumps", &creds.secret);
        let Ok(v) = resp
            .map_err(|e| e.to_string())
            .and_then(|r| r.into_json::<Value>().map_err(|e| e.to_string()))
        else {
            return;
        };
        for d in v["dumps"].as_array().into_iter().flatten() {
            let (Some(id), Some(container)) = (d["id"].as_i64(), d["container_id"].as_str()) else {
                continue;
            };
            let relayed = self.relayed.iter().any(|(r, _)| *r == id);
            match d["state"].as_str() {
                Some("pending") if !relayed => {
                    let duration = Duration::from_nanos(
                        d["duration_ns"].as_u64().unwrap_or(1_800_000_000_000),
                    );
                    let _ = self.commands.send(DumpCommand::Start {
                        request_id: id,
                        container_id: container.to_string(),
                        duration,
                    });
                    self.relayed.push((id, container.to_string()));
                    self.set_state(creds, id, "running");
                }
                Some("cancelled") if relayed => {
                    let _ = self.commands.send(DumpCommand::Stop {
                        container_id: container.to_string(),
                    });
                    self.relayed.retain(|(r, _)| *r != id);
                }
                _ => {}
            }
        }
    }

    fn set_state(&self, creds: &Credentials, id: i64, state: &str) {
        let resp = self.server.put_json(
            &format!("/api/v1/agents/dumps/{id}"),
            &creds.secret,
            &serde_json::json!({"state": state}),
        );
        if let Err(e) = resp {
            tracing::debug!("dump request {id} → {state}: {e}");
        }
    }
}

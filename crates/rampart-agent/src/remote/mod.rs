//! Remote configuration, agent side: a background thread long-polls the server for the agent's signed
//! configuration bundle, verifies it against the key pinned at enrollment, checks it was issued to this
//! agent, is fresh, and is not older than the highest revision applied before (kept on disk, `floor`),
//! refusing and reporting any bundle that fails, hands good bundles to the agent loop, and reports back how
//! each was applied. The last applied bundle is cached in the spool directory so a restarted agent runs the
//! same rules before it reaches the server.

mod floor;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use rampart_policy::bundle::{Bundle, SignedBundle};
use serde_json::{json, Value};

use crate::client::{Backoff, Retry, ServerClient};
use crate::report::credentials::Credentials;

/// Where the server is and how long to wait for changes.
#[derive(Debug, Clone)]
pub struct RemoteConfigOptions {
    pub server_url: String,
    /// The reporter's spool directory: the credential lives there, and the cached bundle.
    pub spool_dir: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// How long one long poll waits at the server.
    pub poll_wait: Duration,
    /// Pause after an error before polling again (doubling, with jitter, up to a minute while errors
    /// repeat; the client's one [`Retry`] policy).
    pub retry_after: Duration,
}

impl RemoteConfigOptions {
    pub fn new(server_url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        RemoteConfigOptions {
            server_url: server_url.into().trim_end_matches('/').to_string(),
            spool_dir: spool_dir.into(),
            ca_file: None,
            poll_wait: Duration::from_secs(30),
            retry_after: Duration::from_secs(2),
        }
    }
}

/// How the agent loop fared with a bundle.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Ok,
    /// The rules did not load: the agent keeps its previous rule set. One entry per problem.
    Failed(Vec<Value>),
}

/// The agent loop's handle on the client thread.
pub struct RemoteConfig {
    bundles: Receiver<Bundle>,
    outcomes: Sender<(i64, Applied)>,
    stop: Arc<AtomicBool>,
}

const CACHE_FILE: &str = "config-bundle.json";

impl RemoteConfig {
    /// Starts the client thread. A cached bundle that still verifies is delivered first.
    pub fn start(options: RemoteConfigOptions) -> anyhow::Result<RemoteConfig> {
        let server = ServerClient::new(
            &options.server_url,
            &options.spool_dir,
            options.ca_file.as_deref(),
            options.poll_wait + Duration::from_secs(15),
        )?;
        let (bundle_tx, bundles) = mpsc::channel();
        let (outcomes, outcome_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let retry = Retry::new(Backoff {
            initial: options.retry_after,
            max: Duration::from_secs(60),
        });
        let client = Client {
            server,
            options,
            retry,
            bundles: bundle_tx,
            outcomes: outcome_rx,
            stop: stop.clone(),
            applied: None,
        };
        std::thread::Builder::new()
            .name("rampart-config".into())
            .spawn(move || client.run())?;
        Ok(RemoteConfig {
            bundles,
            outcomes,
            stop,
        })
    }

    /// A verified bundle newer than the running one, if one arrived.
    pub fn try_recv(&self) -> Option<Bundle> {
        self.bundles.try_recv().ok()
    }

    /// Tells the client (and through it the server) how `revision` was applied.
    pub fn applied(&self, revision: i64, outcome: Applied) {
        let _ = self.outcomes.send((revision, outcome));
    }
}

impl Drop for RemoteConfig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Client {
    server: ServerClient,
    options: RemoteConfigOptions,
    /// Pauses after errors: doubling from `retry_after` while they repeat.
    retry: Retry,
    bundles: Sender<Bundle>,
    outcomes: Receiver<(i64, Applied)>,
    stop: Arc<AtomicBool>,
    /// The revision the agent runs (None until the first bundle is applied).
    applied: Option<i64>,
}

enum Poll {
    Bundle(SignedBundle),
    Unchanged,
}

impl Client {
    fn run(mut self) {
        let cache = self.options.spool_dir.join(CACHE_FILE);
        let mut cached = read_cache(&cache);
        while !self.stop.load(Ordering::Relaxed) {
            let Some(creds) = self.server.credentials() else {
                // The reporter enrolls; until then there is nothing to authenticate with.
                self.pause(Duration::from_millis(500));
                continue;
            };
            let Some(key) = creds.config_key.clone() else {
                tracing::warn!(
                    "remote configuration: the server gave no bundle-signing key at enrollment; not polling"
                );
                self.pause(Duration::from_secs(30));
                continue;
            };
            let floor = floor::load(&self.options.spool_dir, &creds);
            if let Some(signed) = cached.take() {
                // The bundle the agent ran before it restarted, if it still verifies. It comes from the
                // agent's own disk, where it was written after every check: its age does not matter.
                match signed.verify_for(&key, creds.agent_id) {
                    Ok(bundle) if floor.is_none_or(|f| bundle.revision >= f) => {
                        self.deliver(&creds, bundle, None)
                    }
                    _ => {}
                }
            }
            let polled = self.poll(&creds);
            if polled.is_ok() {
                self.retry.succeeded();
            }
            match polled {
                Ok(Poll::Unchanged) => {}
                Ok(Poll::Bundle(signed)) => match self.accept(&signed, &key, &creds, floor) {
                    Ok(Some(bundle)) => self.deliver(&creds, bundle, Some((&cache, &signed))),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!("remote configuration: bundle refused: {e}");
                        let revision = serde_json::from_str::<Value>(&signed.bundle)
                            .ok()
                            .and_then(|v| v["revision"].as_i64())
                            .unwrap_or(-1);
                        self.report(&creds, revision, "refused", vec![json!({"error": e})]);
                        let delay = self.retry.failed();
                        self.pause(delay);
                    }
                },
                Err(e) => {
                    tracing::debug!("remote configuration: {e}");
                    let delay = self.retry.failed();
                    self.pause(delay);
                }
            }
        }
    }

    fn pause(&self, d: Duration) {
        let step = Duration::from_millis(100);
        let mut left = d;
        while !left.is_zero() && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(left.min(step));
            left = left.saturating_sub(step);
        }
    }

    /// The checks after the signature: issued to this agent, fresh, newer than what runs (`Ok(None)` when
    /// it is not: nothing to do) and not older than what ran before a restart (a replay).
    fn accept(
        &self,
        signed: &SignedBundle,
        key: &str,
        creds: &Credentials,
        floor: Option<i64>,
    ) -> Result<Option<Bundle>, String> {
        let bundle = signed
            .verify_for(key, creds.agent_id)
            .map_err(|e| e.to_string())?;
        bundle
            .check_fresh(crate::clock::epoch_now_ns())
            .map_err(|e| e.to_string())?;
        if self.applied.is_some_and(|a| bundle.revision <= a) {
            return Ok(None);
        }
        if let Some(f) = floor.filter(|f| bundle.revision < *f) {
            return Err(format!(
                "revision {} is older than revision {f}, which this agent applied already: a replayed bundle",
                bundle.revision
            ));
        }
        Ok(Some(bundle))
    }

    fn poll(&self, creds: &Credentials) -> Result<Poll, String> {
        let mut path = "/api/v1/agents/config?bound=true".to_string();
        if let Some(a) = self.applied {
            path.push_str(&format!(
                "&since={a}&wait={}",
                self.options.poll_wait.as_secs()
            ));
        }
        match self.server.get(&path, &creds.secret) {
            Ok(r) if r.status() == 204 => Ok(Poll::Unchanged),
            Ok(r) => r
                .into_json::<SignedBundle>()
                .map(Poll::Bundle)
                .map_err(|e| format!("reading the bundle: {e}")),
            Err(e) => Err(format!("polling: {e}")),
        }
    }

    /// Hands a verified bundle to the agent loop, waits for the outcome and reports it. A bundle that
    /// applied is cached (`cache`) for the next start.
    fn deliver(
        &mut self,
        creds: &Credentials,
        bundle: Bundle,
        cache: Option<(&Path, &SignedBundle)>,
    ) {
        let revision = bundle.revision;
        if self.bundles.send(bundle).is_err() {
            self.stop.store(true, Ordering::Relaxed);
            return;
        }
        let outcome = loop {
            match self.outcomes.recv_timeout(Duration::from_millis(200)) {
                Ok((r, outcome)) if r == revision => break outcome,
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) if !self.stop.load(Ordering::Relaxed) => {
                    continue
                }
                Err(_) => return,
            }
        };
        // A failed revision is not retried: the server is told, and the next revision may fix it.
        self.applied = Some(revision);
        if let Err(e) = floor::raise(&self.options.spool_dir, creds, revision) {
            tracing::warn!("remote configuration: recording revision {revision}: {e}");
        }
        match outcome {
            Applied::Ok => {
                if let Some((path, signed)) = cache {
                    write_cache(path, signed);
                }
                self.report(creds, revision, "applied", Vec::new());
            }
            Applied::Failed(errors) => self.report(creds, revision, "failed", errors),
        }
    }

    fn report(&self, creds: &Credentials, revision: i64, status: &str, errors: Vec<Value>) {
        let resp = self.server.put_json(
            "/api/v1/agents/config-status",
            &creds.secret,
            &json!({"revision": revision, "status": status, "errors": errors}),
        );
        if let Err(e) = resp {
            tracing::warn!("remote configuration: reporting status of revision {revision}: {e}");
        }
    }
}

fn read_cache(path: &Path) -> Option<SignedBundle> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_cache(path: &Path, signed: &SignedBundle) {
    let tmp = path.with_extension("tmp");
    let written = serde_json::to_vec(signed)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::warn!(
            "remote configuration: caching the bundle in {}: {e}",
            path.display()
        );
    }
}

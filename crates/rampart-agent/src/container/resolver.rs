//! A non-blocking container cache for event enrichment.
//!
//! [`ContainerResolver::lookup`] answers from memory at once: the id and runtime come from the
//! cgroup path; the first sighting queues the container for a background task that asks the
//! runtime API and replaces the cached value with a fully described one. Lookups the API could not
//! answer are not retried before `negative_ttl`, and a socket that did not answer is left alone for
//! as long, so a host without any runtime API costs nothing after the first try.
//!
//! A container's first sighting may wait, up to `first_event_wait`, for the runtime's answer, so
//! its first event (usually the exec that started it) is already described; it does not wait when
//! every runtime API is known to be down.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rampart_model::Container;
use tokio::sync::mpsc;

use super::cgroup::{parse_cgroup_path, parse_proc_cgroup, CgroupContainer};
use super::kube::{label_tags, short_image};
use super::runtime_api::{ApiError, ContainerDetails};
use super::runtimes::{RuntimeApi, RuntimeSockets};

#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// The runtime APIs' sockets.
    pub sockets: RuntimeSockets,
    /// Bound on one API lookup.
    pub timeout: Duration,
    /// How long a container's first sighting waits for the runtime's answer (0: not at all).
    pub first_event_wait: Duration,
    /// Containers kept in the cache; the oldest entry goes first when full.
    pub capacity: usize,
    /// How long an unanswered lookup, or a socket that did not answer, is left alone.
    pub negative_ttl: Duration,
    /// Lookups waiting for the background task; a sighting that finds it full is retried later.
    pub queue: usize,
}

impl Default for ResolverConfig {
    /// Sockets from the environment or the usual paths ([`RuntimeSockets::discover`]).
    fn default() -> Self {
        ResolverConfig {
            sockets: RuntimeSockets::discover(),
            timeout: Duration::from_millis(500),
            first_event_wait: DEFAULT_FIRST_EVENT_WAIT,
            capacity: 4096,
            negative_ttl: Duration::from_secs(30),
            queue: 1024,
        }
    }
}

/// A local runtime answers a lookup in a few milliseconds; a first exec waiting longer than this
/// holds up the events behind it more than a late image name is worth.
pub const DEFAULT_FIRST_EVENT_WAIT: Duration = Duration::from_millis(100);

impl ResolverConfig {
    pub fn with_sockets(mut self, sockets: RuntimeSockets) -> Self {
        self.sockets = sockets;
        self
    }

    /// Only these Docker-Engine-API sockets, no containerd or CRI.
    pub fn with_docker_sockets(self, sockets: Vec<PathBuf>) -> Self {
        self.with_sockets(RuntimeSockets {
            docker: sockets,
            ..RuntimeSockets::default()
        })
    }
}

/// Counters since start, and the current cache size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolverStats {
    pub entries: usize,
    /// Lookups answered from an existing entry (described or not yet).
    pub hits: u64,
    /// Lookups that created an entry.
    pub misses: u64,
    /// Containers the API described.
    pub resolved: u64,
    /// API lookups no socket knew the container for.
    pub not_found: u64,
    /// API lookups that failed on every socket (absent, timed out, bad answer).
    pub api_errors: u64,
    pub evictions: u64,
    /// Sightings that found the background queue full.
    pub queue_full: u64,
}

/// Shared handle; clones are cheap and see the same cache.
#[derive(Clone)]
pub struct ContainerResolver {
    shared: Arc<Shared>,
    queue: mpsc::Sender<CgroupContainer>,
}

struct Shared {
    config: ResolverConfig,
    cache: Mutex<Cache>,
    /// Signalled (with `cache`) when a lookup finishes, for first sightings that wait.
    answered: Condvar,
    endpoints: Vec<Endpoint>,
    counters: Counters,
}

struct Endpoint {
    api: RuntimeApi,
    /// Not asked again before this instant after failing to answer.
    down_until: Mutex<Option<Instant>>,
    /// Absence is normal (no Docker here): say so once, at debug.
    reported: AtomicBool,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    resolved: AtomicU64,
    not_found: AtomicU64,
    api_errors: AtomicU64,
    evictions: AtomicU64,
    queue_full: AtomicU64,
}

impl ContainerResolver {
    /// Starts the background task on the current Tokio runtime (panics outside one).
    pub fn new(config: ResolverConfig) -> ContainerResolver {
        Self::with_handle(config, &tokio::runtime::Handle::current())
    }

    /// Starts the background task on `handle`; the resolver itself may then be used from any thread.
    pub fn with_handle(
        config: ResolverConfig,
        handle: &tokio::runtime::Handle,
    ) -> ContainerResolver {
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let endpoints = RuntimeApi::endpoints(&config.sockets, config.timeout)
            .into_iter()
            .map(|api| Endpoint {
                api,
                down_until: Mutex::new(None),
                reported: AtomicBool::new(false),
            })
            .collect();
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::new(config.capacity.max(1))),
            answered: Condvar::new(),
            config,
            endpoints,
            counters: Counters::default(),
        });
        handle.spawn(background(Arc::downgrade(&shared), rx));
        ContainerResolver { shared, queue }
    }

    /// The container for a cgroup path, from memory; `None` when the path names no container.
    pub fn lookup_cgroup(&self, cgroup_path: &str) -> Option<Arc<Container>> {
        parse_cgroup_path(cgroup_path).map(|c| self.lookup(&c))
    }

    /// The container of a live process, from `/proc/PID/cgroup` (a small file read, then memory).
    pub fn lookup_pid(&self, pid: u32) -> Option<Arc<Container>> {
        let contents = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        parse_proc_cgroup(&contents).map(|c| self.lookup(&c))
    }

    /// Never does I/O: the cached container, or one with the id and runtime only while the
    /// runtime API is asked in the background (a later lookup sees the described container). A
    /// container's first sighting waits up to `first_event_wait` for the background's answer; call
    /// it from a thread other than the Tokio runtime's the resolver was started on.
    pub fn lookup(&self, cg: &CgroupContainer) -> Arc<Container> {
        self.lookup_waiting(cg, true)
    }

    /// Queues the runtime lookup of a container without waiting for it (the agent's start-up does
    /// this for every running container: their events come later).
    pub fn prefetch_cgroup(&self, cgroup_path: &str) {
        if let Some(cg) = parse_cgroup_path(cgroup_path) {
            self.lookup_waiting(&cg, false);
        }
    }

    fn lookup_waiting(&self, cg: &CgroupContainer, wait: bool) -> Arc<Container> {
        let now = Instant::now();
        let (container, enqueue, first) = {
            let mut cache = self.shared.cache.lock().unwrap();
            match cache.get_mut(&cg.id) {
                Some(entry) => {
                    self.shared.counters.hits.fetch_add(1, Ordering::Relaxed);
                    let retry = matches!(entry.state, State::Retry { at } if at <= now);
                    if retry {
                        entry.state = State::Pending;
                    }
                    (entry.container.clone(), retry, false)
                }
                None => {
                    self.shared.counters.misses.fetch_add(1, Ordering::Relaxed);
                    let container = Arc::new(basic_container(cg));
                    if cache.insert(cg.id.clone(), container.clone(), State::Pending) {
                        self.shared
                            .counters
                            .evictions
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    (container, true, true)
                }
            }
        };
        if enqueue && self.enqueue(cg) && first && wait {
            return self.wait_first_answer(&cg.id).unwrap_or(container);
        }
        container
    }

    /// Waits (bounded) until the background has asked the runtimes about `id`; the entry then.
    fn wait_first_answer(&self, id: &str) -> Option<Arc<Container>> {
        let wait = self.shared.config.first_event_wait;
        if wait.is_zero() || self.shared.all_endpoints_down() {
            return None;
        }
        let cache = self.shared.cache.lock().unwrap();
        let (mut cache, _) = self
            .shared
            .answered
            .wait_timeout_while(cache, wait, |c| {
                c.map.get(id).is_some_and(|e| e.state == State::Pending)
            })
            .unwrap();
        cache.get_mut(id).map(|e| e.container.clone())
    }

    /// Like [`lookup`](Self::lookup) but waits for the runtime API (bounded by the request timeout
    /// per socket) when the container is not described yet. For callers off the hot path.
    pub async fn resolve(&self, cg: &CgroupContainer) -> Arc<Container> {
        let current = self.lookup(cg);
        if self.shared.cache.lock().unwrap().is_resolved(&cg.id) {
            return current;
        }
        self.shared.resolve_now(cg).await.unwrap_or(current)
    }

    /// The cached container with this id, if any; queues nothing.
    pub fn get(&self, id: &str) -> Option<Arc<Container>> {
        self.shared
            .cache
            .lock()
            .unwrap()
            .get_mut(id)
            .map(|e| e.container.clone())
    }

    /// Drops a container (it exited): the next sighting asks the API again.
    pub fn forget(&self, id: &str) {
        self.shared.cache.lock().unwrap().remove(id);
    }

    pub fn stats(&self) -> ResolverStats {
        let c = &self.shared.counters;
        ResolverStats {
            entries: self.shared.cache.lock().unwrap().map.len(),
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            resolved: c.resolved.load(Ordering::Relaxed),
            not_found: c.not_found.load(Ordering::Relaxed),
            api_errors: c.api_errors.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
        }
    }

    /// Queues a lookup; false when it could not be queued.
    fn enqueue(&self, cg: &CgroupContainer) -> bool {
        if let Err(e) = self.queue.try_send(cg.clone()) {
            let retry_in = match e {
                mpsc::error::TrySendError::Full(_) => {
                    self.shared
                        .counters
                        .queue_full
                        .fetch_add(1, Ordering::Relaxed);
                    Duration::from_secs(1)
                }
                // The runtime that ran the task is gone: stay with what the cgroup told.
                mpsc::error::TrySendError::Closed(_) => self.shared.config.negative_ttl,
            };
            let at = Instant::now() + retry_in;
            self.shared
                .cache
                .lock()
                .unwrap()
                .set_state(&cg.id, State::Retry { at });
            return false;
        }
        true
    }
}

/// Serves queued lookups one at a time until the resolver is dropped.
async fn background(shared: std::sync::Weak<Shared>, mut rx: mpsc::Receiver<CgroupContainer>) {
    while let Some(cg) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.resolve_now(&cg).await;
    }
}

impl Shared {
    /// Asks the API and stores the answer (or a retry time). `None` when no socket described it.
    async fn resolve_now(&self, cg: &CgroupContainer) -> Option<Arc<Container>> {
        let answer = self.ask_and_store(cg).await;
        self.answered.notify_all();
        answer
    }

    async fn ask_and_store(&self, cg: &CgroupContainer) -> Option<Arc<Container>> {
        match self.ask_endpoints(cg).await {
            Lookup::Found(details) => {
                self.counters.resolved.fetch_add(1, Ordering::Relaxed);
                let container = Arc::new(described_container(cg, &details));
                // Only refresh a live entry: an evicted or forgotten one stays gone.
                let mut cache = self.cache.lock().unwrap();
                if let Some(entry) = cache.get_mut(&cg.id) {
                    entry.container = container.clone();
                    entry.state = State::Resolved;
                }
                Some(container)
            }
            outcome => {
                let counter = match outcome {
                    Lookup::NotFound => &self.counters.not_found,
                    _ => &self.counters.api_errors,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let at = Instant::now() + self.config.negative_ttl;
                self.cache
                    .lock()
                    .unwrap()
                    .set_state(&cg.id, State::Retry { at });
                None
            }
        }
    }

    /// True when no endpoint may be asked now (none configured, or all silent lately).
    fn all_endpoints_down(&self) -> bool {
        let now = Instant::now();
        self.endpoints.iter().all(|e| {
            e.down_until
                .lock()
                .unwrap()
                .is_some_and(|until| until > now)
        })
    }

    /// Asks the APIs that serve the container's runtime first, then the others.
    async fn ask_endpoints(&self, cg: &CgroupContainer) -> Lookup {
        let id = cg.id.as_str();
        let preferred = self.endpoints.iter().filter(|e| e.api.serves(cg.runtime));
        let others = self.endpoints.iter().filter(|e| !e.api.serves(cg.runtime));
        let mut answered = false;
        for endpoint in preferred.chain(others) {
            let now = Instant::now();
            if endpoint
                .down_until
                .lock()
                .unwrap()
                .is_some_and(|until| until > now)
            {
                continue;
            }
            match endpoint.api.inspect_container(id).await {
                Ok(Some(details)) => return Lookup::Found(details),
                Ok(None) => answered = true,
                Err(e) => self.endpoint_failed(endpoint, &e),
            }
        }
        if answered {
            Lookup::NotFound
        } else {
            Lookup::Unreachable
        }
    }

    fn endpoint_failed(&self, endpoint: &Endpoint, error: &ApiError) {
        // A socket that answers badly (HTTP status, bad JSON) is up: only silence takes it out.
        if matches!(error, ApiError::Connect { .. } | ApiError::Timeout { .. }) {
            *endpoint.down_until.lock().unwrap() = Some(Instant::now() + self.config.negative_ttl);
        }
        if !endpoint.reported.swap(true, Ordering::Relaxed) {
            tracing::debug!(api = endpoint.api.kind(), socket = %endpoint.api.socket().display(), %error, "container runtime API unavailable");
        }
    }
}

enum Lookup {
    Found(ContainerDetails),
    NotFound,
    Unreachable,
}

/// What the cgroup path alone tells.
fn basic_container(cg: &CgroupContainer) -> Container {
    let mut tags = vec![format!("runtime:{}", cg.runtime)];
    if let Some(uid) = &cg.pod_uid {
        tags.push(format!("pod_uid:{uid}"));
    }
    Container {
        id: cg.id.clone(),
        runtime: cg.runtime.as_str().to_string(),
        tags,
        ..Container::default()
    }
}

/// The cgroup's view completed with the runtime's answer; tags named as Datadog's agent names them.
fn described_container(cg: &CgroupContainer, details: &ContainerDetails) -> Container {
    let mut container = basic_container(cg);
    if cg.pod_uid.is_none() {
        let label = details.labels.get(super::kube::POD_UID_LABEL);
        if let Some(uid) = label.filter(|u| super::kube::is_pod_uid(u)) {
            container.tags.push(format!("pod_uid:{uid}"));
        }
    }
    if let Some(image) = &details.image {
        container.tags.push(format!("image_name:{}", image.name));
        container
            .tags
            .push(format!("short_image:{}", short_image(&image.name)));
        if !image.tag.is_empty() {
            container.tags.push(format!("image_tag:{}", image.tag));
        }
    }
    if let Some(digest) = &details.image_digest {
        container.tags.push(format!("image_id:{digest}"));
    }
    if let Some(name) = &details.name {
        container.tags.push(format!("container_name:{name}"));
    }
    container
        .tags
        .extend(label_tags(&details.labels, &details.pod_labels));
    container.created_at = details.created_at;
    container.image = details.image.clone();
    container.name = details.name.clone();
    container
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Queued or being asked.
    Pending,
    Resolved,
    /// Not described; ask again from `at` on.
    Retry {
        at: Instant,
    },
}

struct Entry {
    container: Arc<Container>,
    state: State,
    /// Insertion number, to tell a live entry from a stale one in `order`.
    seq: u64,
}

/// A bounded map that evicts in insertion order.
struct Cache {
    map: HashMap<String, Entry>,
    order: VecDeque<(String, u64)>,
    capacity: usize,
    next_seq: u64,
}

impl Cache {
    fn new(capacity: usize) -> Cache {
        Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            next_seq: 0,
        }
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.map.get_mut(id)
    }

    fn is_resolved(&self, id: &str) -> bool {
        self.map.get(id).is_some_and(|e| e.state == State::Resolved)
    }

    fn set_state(&mut self, id: &str, state: State) {
        if let Some(entry) = self.map.get_mut(id) {
            entry.state = state;
        }
    }

    /// Inserts a new entry; true when an older one was evicted to make room.
    fn insert(&mut self, id: String, container: Arc<Container>, state: State) -> bool {
        let mut evicted = false;
        while self.map.len() >= self.capacity {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.seq == seq) {
                self.map.remove(&old);
                evicted = true;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((id.clone(), seq));
        self.map.insert(
            id,
            Entry {
                container,
                state,
                seq,
            },
        );
        // `forget` leaves stale order entries behind: compact before they outgrow the map.
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            self.order
                .retain(|(id, seq)| map.get(id).is_some_and(|e| e.seq == *seq));
        }
        evicted
    }

    fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cgroup::Runtime;

    fn cg(n: u8) -> CgroupContainer {
        CgroupContainer {
            runtime: Runtime::Podman,
            id: format!("{n:064x}"),
            pod_uid: None,
        }
    }

    fn config(sockets: Vec<PathBuf>) -> ResolverConfig {
        ResolverConfig {
            sockets: RuntimeSockets {
                docker: sockets,
                ..RuntimeSockets::default()
            },
            timeout: Duration::from_millis(200),
            first_event_wait: Duration::ZERO,
            capacity: 3,
            negative_ttl: Duration::from_secs(60),
            queue: 16,
        }
    }

    #[tokio::test]
    async fn without_any_api_the_cgroup_view_is_served_and_not_retried() {
        let resolver =
            ContainerResolver::new(config(vec![PathBuf::from("/nonexistent/rampart.sock")]));
        let path = format!("/libpod_parent/libpod-{:064x}", 7);
        let first = resolver.lookup_cgroup(&path).unwrap();
        assert_eq!(first.id, format!("{:064x}", 7));
        assert_eq!(first.runtime, "podman");
        assert_eq!(first.tags, vec!["runtime:podman".to_string()]);
        assert!(first.image.is_none());
        assert!(resolver
            .lookup_cgroup("/system.slice/sshd.service")
            .is_none());

        // The awaited path reports the same failure, and leaves the entry in negative cache.
        let again = resolver.resolve(&cg(7)).await;
        assert_eq!(*again, *first);
        tokio::time::sleep(Duration::from_millis(50)).await; // let the background task finish
        let stats = resolver.stats();
        assert_eq!((stats.misses, stats.entries), (1, 1));
        assert!(stats.api_errors >= 1, "{stats:?}");
        let errors = stats.api_errors;
        for _ in 0..10 {
            resolver.lookup(&cg(7));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            resolver.stats().api_errors,
            errors,
            "negative entry was retried"
        );
        assert_eq!(resolver.stats().hits, 11);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_first_sighting_waits_a_bounded_time_and_not_for_a_silent_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silent.sock");
        let server = crate::container::silent_socket(&path);
        let resolver = ContainerResolver::new(ResolverConfig {
            timeout: Duration::from_millis(300),
            first_event_wait: Duration::from_millis(150),
            ..config(vec![path])
        });
        let path_of = |n: u8| format!("/libpod_parent/libpod-{n:064x}");

        // Start-up prefetches do not wait.
        let started = Instant::now();
        resolver.prefetch_cgroup(&path_of(1));
        assert!(started.elapsed() < Duration::from_millis(50));

        // A new container's first event waits, up to the bound, then goes on without the image.
        let started = Instant::now();
        let first = resolver.lookup_cgroup(&path_of(2)).unwrap();
        let waited = started.elapsed();
        assert!(first.image.is_none());
        assert!(
            waited >= Duration::from_millis(140) && waited < Duration::from_secs(1),
            "{waited:?}"
        );

        // Once the runtime timed out it is known down: first sightings stop waiting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        resolver.lookup_cgroup(&path_of(3)).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
        server.abort();
    }

    #[tokio::test]
    async fn cache_is_bounded_and_forget_drops_entries() {
        let resolver = ContainerResolver::new(config(vec![]));
        for n in 0..5 {
            resolver.lookup(&cg(n));
        }
        let stats = resolver.stats();
        assert_eq!((stats.entries, stats.evictions, stats.misses), (3, 2, 5));
        assert!(resolver.get(&cg(0).id).is_none(), "oldest entry evicted");
        assert!(resolver.get(&cg(4).id).is_some());
        resolver.forget(&cg(4).id);
        assert!(resolver.get(&cg(4).id).is_none());
        // Many forget/insert cycles keep the eviction order bounded and correct.
        for round in 0..100u8 {
            resolver.lookup(&cg(10 + round % 4));
            resolver.forget(&cg(10 + round % 4).id);
        }
        assert!(resolver.shared.cache.lock().unwrap().order.len() <= 6);
        assert_eq!(resolver.stats().entries, 2);
    }

    #[test]
    fn tags_from_details() {
        let mut c = cg(1);
        c.pod_uid = Some("5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5d".into());
        let details = ContainerDetails {
            id: c.id.clone(),
            name: Some("web".into()),
            image: Some(rampart_model::container::ImageRef {
                name: "nginx".into(),
                tag: "1.25".into(),
            }),
            image_digest: None,
            pod_labels: Default::default(),
            created_at: 42,
            labels: [
                (
                    "io.kubernetes.pod.namespace".to_string(),
                    "prod".to_string(),
                ),
                ("other".into(), "x".into()),
            ]
            .into_iter()
            .collect(),
        };
        let container = described_container(&c, &details);
        assert_eq!(
            container.tags,
            [
                "runtime:podman",
                "pod_uid:5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5d",
                "image_name:nginx",
                "short_image:nginx",
                "image_tag:1.25",
                "container_name:web",
                "kube_namespace:prod"
            ]
        );
        assert_eq!(
            (container.created_at, container.name.as_deref()),
            (42, Some("web"))
        );
    }
}

//! The profiler: which workloads are dumped now, what each dump records, when dumps end (written as
//! snapshots into the spool), and anomaly detection against the stable profiles the server pushed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rampart_model::behavior::{behaviors, Behavior, Workload};
use rampart_model::Event;
use rampart_policy::bundle::BundleProfile;

use super::dump::{ActivityDump, DumpLimits};
use super::workloads::{scan, WorkloadCgroup, WorkloadKind};

#[derive(Debug, Clone)]
pub struct ProfilerConfig {
    /// How long one dump records (Datadog: 30 minutes).
    pub duration: Duration,
    /// Workloads dumped at once.
    pub max_concurrent: usize,
    pub limits: DumpLimits,
    /// Profile host services (systemd units) too.
    pub services: bool,
    /// The cgroup v2 root (default: found in /proc/self/mountinfo).
    pub cgroup_root: Option<PathBuf>,
    /// Finished snapshots go to `<spool_dir>/snapshots`.
    pub spool_dir: PathBuf,
    /// How often the cgroup tree is scanned for new workloads.
    pub rescan: Duration,
    /// A workload is dumped again this long after its last dump ended.
    pub cooldown: Duration,
    /// An anomaly (profile, behaviour) is reported at most once per this period.
    pub anomaly_every: Duration,
}

impl ProfilerConfig {
    pub fn new(spool_dir: impl Into<PathBuf>) -> ProfilerConfig {
        ProfilerConfig {
            duration: Duration::from_secs(30 * 60),
            max_concurrent: 5,
            limits: DumpLimits::default(),
            services: true,
            cgroup_root: None,
            spool_dir: spool_dir.into(),
            rescan: Duration::from_secs(10),
            cooldown: Duration::from_secs(30 * 60),
            anomaly_every: Duration::from_secs(3600),
        }
    }
}

/// A behaviour of a profiled workload that its stable profile does not contain.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub profile_id: i64,
    pub image_name: String,
    pub image_tag: String,
    pub behavior: Behavior,
}

struct Known {
    cgroups: Vec<u64>,
    image: Option<(String, String)>,
    last_end: Option<Instant>,
}

struct Active {
    dump: ActivityDump,
    /// The API dump request this dump serves, if any.
    request: Option<i64>,
}

pub struct Profiler {
    config: ProfilerConfig,
    known: HashMap<WorkloadKind, Known>,
    by_cgroup: HashMap<u64, WorkloadKind>,
    active: HashMap<WorkloadKind, Active>,
    /// Dump requests from the API: container id → (request id, duration).
    requested: HashMap<String, (i64, Duration)>,
    profiles: HashMap<(String, String), (i64, HashSet<String>)>,
    reported: HashMap<(i64, String), Instant>,
    last_scan: Option<Instant>,
    /// The cgroups last handed to the kernel.
    kernel_set: Vec<u64>,
    seq: u64,
    hostname: String,
    /// Request ids whose dump ended since the last call to `take_finished_requests`.
    finished_requests: Vec<i64>,
    /// Workloads whose snapshot was written lately (still reported: the snapshot may be on its way).
    recently_finished: Vec<(Workload, Instant)>,
    /// Snapshots written, and those left out because the workload's image never became known.
    pub written: u64,
    pub skipped_no_image: u64,
}

/// How long a workload whose snapshot was written is still reported.
const RECENTLY_FINISHED: Duration = Duration::from_secs(3600);

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Profiler {
    pub fn new(config: ProfilerConfig) -> Profiler {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Profiler {
            config,
            known: HashMap::new(),
            by_cgroup: HashMap::new(),
            active: HashMap::new(),
            requested: HashMap::new(),
            profiles: HashMap::new(),
            reported: HashMap::new(),
            last_scan: None,
            kernel_set: Vec::new(),
            seq: 0,
            hostname,
            finished_requests: Vec::new(),
            recently_finished: Vec::new(),
            written: 0,
            skipped_no_image: 0,
        }
    }

    /// The stable profiles to check events against (from the configuration bundle).
    pub fn set_profiles(&mut self, profiles: &[BundleProfile]) {
        self.profiles = profiles
            .iter()
            .map(|p| {
                (
                    (p.image_name.clone(), p.image_tag.clone()),
                    (p.id, p.behaviors.iter().cloned().collect()),
                )
            })
            .collect();
    }

    /// A dump request from the API: that container is dumped next (for `duration`).
    pub fn request(&mut self, request_id: i64, container_id: &str, duration: Duration) {
        self.requested
            .insert(container_id.to_string(), (request_id, duration));
    }

    /// A cancelled request: its dump ends now.
    pub fn cancel(&mut self, container_id: &str) {
        self.requested.remove(container_id);
        let key = WorkloadKind::Container(container_id.to_string());
        if let Some(a) = self.active.get_mut(&key) {
            a.dump.ends = Instant::now();
        }
    }

    pub fn take_finished_requests(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.finished_requests)
    }

    /// Workloads being dumped.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// The workloads the agent tells the server it profiles: those dumped now whose image is known, and
    /// those whose snapshot was written in the last hour (it may still be on its way). The server takes
    /// snapshots only of workloads their agent reported. Sorted, so a change is easy to see.
    pub fn reported_workloads(&self) -> Vec<Workload> {
        let mut out: Vec<Workload> = self
            .active
            .values()
            .map(|a| a.dump.workload.clone())
            .filter(|w| !w.image_name.is_empty())
            .chain(self.recently_finished.iter().map(|(w, _)| w.clone()))
            .collect();
        out.sort_by(|a, b| {
            (&a.id, &a.image_name, &a.image_tag).cmp(&(&b.id, &b.image_name, &b.image_tag))
        });
        out.dedup();
        out
    }

    /// The workload an event belongs to.
    fn workload_of(&self, event: &Event) -> Option<WorkloadKind> {
        if let Some(c) = event.container.as_ref().filter(|c| !c.id.is_empty()) {
            return Some(WorkloadKind::Container(c.id.clone()));
        }
        self.by_cgroup
            .get(&event.process.process().cgroup.id)
            .cloned()
    }

    /// Records the event in its workload's dump and returns what its stable profile lacks.
    pub fn on_event(&mut self, event: &Event) -> Vec<Anomaly> {
        let Some(kind) = self.workload_of(event) else {
            return Vec::new();
        };
        let scanned_a_while_ago = self
            .last_scan
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(1));
        if !self.known.contains_key(&kind) && scanned_a_while_ago {
            // A container started since the last scan: look for its cgroups at the next tick (at most
            // once a second, whatever the event rate).
            self.last_scan = None;
        }
        if let Some(image) = event
            .container
            .as_ref()
            .and_then(|c| c.image.as_ref())
            .filter(|i| !i.name.is_empty())
        {
            let image = (image.name.clone(), image.tag.clone());
            if let Some(k) = self.known.get_mut(&kind) {
                k.image.get_or_insert_with(|| image.clone());
            }
            if let Some(a) = self.active.get_mut(&kind) {
                if a.dump.workload.image_name.is_empty() {
                    a.dump.workload.image_name = image.0.clone();
                    a.dump.workload.image_tag = image.1.clone();
                }
            }
        }
        if let Some(a) = self.active.get_mut(&kind) {
            a.dump.record(event);
        }
        self.anomalies(&kind, event)
    }

    fn anomalies(&mut self, kind: &WorkloadKind, event: &Event) -> Vec<Anomaly> {
        let Some(image) = self.known.get(kind).and_then(|k| k.image.clone()) else {
            return Vec::new();
        };
        let Some((id, keys)) = self.profiles.get(&image) else {
            return Vec::new();
        };
        let id = *id;
        let mut out = Vec::new();
        for b in behaviors(event) {
            let key = b.key();
            if keys.contains(&key) {
                continue;
            }
            let now = Instant::now();
            let due = self
                .reported
                .get(&(id, key.clone()))
                .is_none_or(|t| now.duration_since(*t) >= self.config.anomaly_every);
            if due {
                self.reported.insert((id, key), now);
                out.push(Anomaly {
                    profile_id: id,
                    image_name: image.0.clone(),
                    image_tag: image.1.clone(),
                    behavior: b,
                });
            }
        }
        // Bounded: forget the oldest reports rather than grow without end.
        if self.reported.len() > 100_000 {
            let cutoff = Instant::now() - self.config.anomaly_every;
            self.reported.retain(|_, t| *t > cutoff);
        }
        out
    }

    /// Rescans the cgroup tree when due, ends finished dumps (writing their snapshots) and starts new
    /// ones. Returns the cgroups the kernel must treat as dumped, when that set changed.
    pub fn tick(&mut self, now: Instant) -> Option<Vec<u64>> {
        if self
            .last_scan
            .is_none_or(|t| now.duration_since(t) >= self.config.rescan)
        {
            self.rescan();
            self.last_scan = Some(now);
        }
        let ended: Vec<WorkloadKind> = self
            .active
            .iter()
            .filter(|(k, a)| now >= a.dump.ends || !self.known.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        self.recently_finished
            .retain(|(_, at)| now.duration_since(*at) < RECENTLY_FINISHED);
        for kind in ended {
            if let Some(a) = self.active.remove(&kind) {
                self.finish(a);
            }
            if let Some(k) = self.known.get_mut(&kind) {
                k.last_end = Some(now);
            }
        }
        self.start_dumps(now);
        let mut set: Vec<u64> = self
            .active
            .keys()
            .filter_map(|k| self.known.get(k))
            .flat_map(|k| k.cgroups.iter().copied())
            .collect();
        set.sort_unstable();
        (set != self.kernel_set).then(|| {
            self.kernel_set = set.clone();
            set
        })
    }

    fn rescan(&mut self) {
        let Some(root) = self
            .config
            .cgroup_root
            .clone()
            .or_else(rampart_probe::kernel::attach::cgroup2_root)
        else {
            return;
        };
        let found: Vec<WorkloadCgroup> = scan(&root, self.config.services);
        let mut cgroups: HashMap<WorkloadKind, Vec<u64>> = HashMap::new();
        for w in &found {
            cgroups.entry(w.kind.clone()).or_default().push(w.cgroup_id);
        }
        self.known.retain(|k, _| cgroups.contains_key(k));
        self.by_cgroup.clear();
        for (kind, ids) in cgroups {
            for id in &ids {
                self.by_cgroup.insert(*id, kind.clone());
            }
            let image = match &kind {
                WorkloadKind::Service(unit) => service_image(&root, &found, unit),
                WorkloadKind::Container(_) => None,
            };
            let k = self.known.entry(kind).or_insert(Known {
                cgroups: Vec::new(),
                image: None,
                last_end: None,
            });
            k.cgroups = ids;
            if k.image.is_none() {
                k.image = image;
            }
        }
    }

    fn start_dumps(&mut self, now: Instant) {
        if self.active.len() >= self.config.max_concurrent {
            return;
        }
        // Requested containers first, then those never dumped, then the longest since their last dump.
        let mut candidates: Vec<(u8, Option<Instant>, WorkloadKind)> = self
            .known
            .iter()
            .filter(|(k, _)| !self.active.contains_key(*k))
            .filter_map(|(kind, k)| {
                let requested =
                    matches!(kind, WorkloadKind::Container(id) if self.requested.contains_key(id));
                let rested = k
                    .last_end
                    .is_none_or(|t| now.duration_since(t) >= self.config.cooldown);
                (requested || rested).then(|| (u8::from(!requested), k.last_end, kind.clone()))
            })
            .collect();
        candidates.sort_by_key(|c| (c.0, c.1));
        for (_, _, kind) in candidates {
            if self.active.len() >= self.config.max_concurrent {
                break;
            }
            let (request, duration) = match &kind {
                WorkloadKind::Container(id) => match self.requested.remove(id) {
                    Some((r, d)) => (Some(r), d),
                    None => (None, self.config.duration),
                },
                WorkloadKind::Service(_) => (None, self.config.duration),
            };
            let known = &self.known[&kind];
            let (image_name, image_tag) = known.image.clone().unwrap_or_default();
            let workload = match &kind {
                WorkloadKind::Container(id) => Workload {
                    kind: "container".into(),
                    id: id.clone(),
                    image_name,
                    image_tag,
                },
                WorkloadKind::Service(unit) => Workload {
                    kind: "service".into(),
                    id: unit.clone(),
                    image_name,
                    image_tag,
                },
            };
            let dump = ActivityDump::new(
                workload,
                known.cgroups.first().copied().unwrap_or(0),
                now_ns(),
                now + duration,
                self.config.limits,
            );
            self.active.insert(kind, Active { dump, request });
        }
    }

    fn finish(&mut self, a: Active) {
        if let Some(r) = a.request {
            self.finished_requests.push(r);
        }
        if a.dump.workload.image_name.is_empty() {
            // Without an image there is no profile to merge into.
            self.skipped_no_image += 1;
            return;
        }
        self.seq += 1;
        let id = format!("{}-{}-{}", self.hostname, a.dump.started_at, self.seq);
        let snapshot = a.dump.finish(id, now_ns());
        let dir = self.config.spool_dir.join("snapshots");
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            let path = dir.join(format!("{}-{}.json", snapshot.started_at, self.seq));
            let tmp = path.with_extension("tmp");
            std::fs::write(
                &tmp,
                serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?,
            )?;
            std::fs::rename(&tmp, &path)
        });
        match written {
            Ok(()) => {
                self.written += 1;
                self.recently_finished
                    .push((snapshot.workload.clone(), Instant::now()));
            }
            Err(e) => tracing::error!(
                "writing the activity snapshot of {}: {e}",
                snapshot.workload.id
            ),
        }
    }
}

/// A service's profile key: `systemd:<unit>` and its main executable's version (path and modification
/// time: it changes when the package is upgraded).
fn service_image(
    root: &std::path::Path,
    found: &[WorkloadCgroup],
    unit: &str,
) -> Option<(String, String)> {
    let cg = found
        .iter()
        .find(|w| matches!(&w.kind, WorkloadKind::Service(u) if u == unit))?;
    let procs = std::fs::read_to_string(
        root.join(cg.path.trim_start_matches('/'))
            .join("cgroup.procs"),
    )
    .ok()?;
    let pid: u32 = procs.lines().next()?.trim().parse().ok()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let mtime = std::fs::metadata(&exe)
        .and_then(|m| m.modified())
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some((
        format!("systemd:{unit}"),
        format!("{}@{mtime}", exe.display()),
    ))
}

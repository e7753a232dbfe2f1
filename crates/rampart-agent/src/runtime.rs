//! The running agent: probes attached, pipeline, rule evaluation and Active Protection in one loop, with an
//! [`Output`] deciding what happens to events and matches (printed by `monitor`, spooled and reported by
//! `agent` and `up`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rampart_api::report::{ActionReport, MatchReport, RuleHeader};
use rampart_model::{Event, EventType};
use rampart_policy::bundle::Bundle;
use rampart_policy::{expand_paths, load_sources, LoadOptions, Loaded, PolicySource};
use rampart_probe::kernel::config::{ActivityConfig, ACTIVITY_EVENT_TYPES};
use rampart_probe::{Probe, ProbeConfig};
use rampart_secl::ruleset::{ActionOutcome, Match};
use rampart_secl::RuleSet;
use serde_json::{Map, Value};

use crate::container::{parse_cgroup_path, ContainerResolver, ResolverConfig};
use crate::detect::Detector;
use crate::hash::{HashOutcome, Hasher};
use crate::pipeline::Pipeline;
use crate::process_cache::{CacheConfig, ProcessCache};
use crate::profiles::{Anomaly, Profiler, ProfilerConfig};
use crate::protect::disarmer::DisarmerConfig;
use crate::protect::{Enforcer, KillOutcome, KillReport, NoticeKind, ProtectConfig, ProtectNotice};
use crate::source::EventSource;

/// How to start an agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Policy files or directories, loaded after the default policy.
    pub policies: Vec<PathBuf>,
    /// Load Rampart's embedded default policy first.
    pub default_policy: bool,
    /// Which kernel activity to hook.
    pub activity: Activity,
    /// Kernel ring buffer size in MiB.
    pub ring_mib: u32,
    /// Report what kill actions would do without sending any signal.
    pub no_kill: bool,
    /// Executables never killed in their system instance (besides the built-in list).
    pub protected: Vec<PathBuf>,
    /// cgroup v2 paths where protected executables' system instances run (besides pid 1's and sshd's).
    pub protected_cgroups: Vec<String>,
    /// Disarm a kill rule once the host's root reaches this many distinct killed executables per minute.
    pub disarm_after: usize,
    /// How long a disarmed rule stays disarmed.
    pub disarm_cooldown: Duration,
    /// Activity dumps and anomaly detection (security profiles); off when `None`.
    pub profiling: Option<ProfilerConfig>,
    /// Hook ia32 compat syscalls (32-bit programs, `int $0x80`); see `ProbeConfig::ia32_syscalls`.
    pub ia32_syscalls: bool,
    /// Where the container runtimes' APIs are and how long a first event waits for them.
    pub containers: ResolverConfig,
    /// Test-only: kernel activity left unhooked even where rules or the privilege check need it, so a
    /// test can make a real credential change invisible to the agent, as a kernel exploit's is.
    pub unhooked: Vec<EventType>,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            policies: Vec::new(),
            default_policy: true,
            activity: Activity::RulesOnly,
            ring_mib: 8,
            no_kill: false,
            protected: Vec::new(),
            protected_cgroups: Vec::new(),
            disarm_after: 5,
            disarm_cooldown: crate::protect::disarmer::DisarmerConfig::default().cooldown,
            profiling: None,
            ia32_syscalls: true,
            containers: ResolverConfig::default(),
            unhooked: Vec::new(),
        }
    }
}

/// Which kernel activity the agent hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// Only the event types some loaded rule needs (a type no rule uses costs nothing).
    RulesOnly,
    /// What the rules need plus these types (`monitor --events --event-type T`).
    RulesAnd(Vec<EventType>),
    /// Every kind of activity (`monitor --events`).
    All,
}

/// Where the agent's results go.
pub trait Output {
    /// Whether [`Output::event`] wants every event (costly: only `monitor --events` does).
    fn wants_events(&self) -> bool {
        false
    }

    fn event(&mut self, _event: &Event) -> std::io::Result<()> {
        Ok(())
    }

    /// A rule matched; `kills` has one report per kill action of the rule, in order.
    fn matched(&mut self, m: &Match, kills: &[KillReport], event: &Event) -> std::io::Result<()>;

    /// A kill rule was disarmed or re-armed, or an attempt to disarm it was refused.
    fn protection_notice(&mut self, notice: &ProtectNotice) -> std::io::Result<()>;

    /// A profiled workload did something its stable security profile does not contain.
    fn anomaly(&mut self, _anomaly: &Anomaly, _event: &Event) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Agent {
    probe: Probe,
    pipeline: Pipeline,
    detector: Detector,
    enforcer: Enforcer,
    hasher: Hasher,
    /// What to hook beyond the rules' needs (kept for rule-set replacements).
    activity: Activity,
    /// Activity never hooked ([`AgentOptions::unhooked`]).
    unhooked: Vec<EventType>,
    profiler: Option<Profiler>,
    /// Some workload is being dumped (its network and DNS activity must be hooked).
    dumping: bool,
    /// The protected cgroups' ids the kernel holds, and when they were last looked up.
    protected_cgroups: (Vec<u64>, std::time::Instant),
    /// Background I/O (container runtime lookups); kept alive with the agent.
    _background: tokio::runtime::Runtime,
}

impl Agent {
    /// Loads the policies, attaches the probes, loads the kernel kill plan and seeds the process cache.
    pub fn start(options: &AgentOptions) -> anyhow::Result<Agent> {
        let detector =
            Detector::new(load_policies(&options.policies, options.default_policy)?.ruleset);
        let background = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rampart-bg")
            .enable_all()
            .build()
            .context("starting the background runtime")?;
        let config = ProbeConfig {
            ring_buffer_bytes: options
                .ring_mib
                .checked_mul(1 << 20)
                .context("ring buffer size overflows")?,
            agent_pid: Some(std::process::id()),
            activity: activity_config(
                detector.rules(),
                &options.activity,
                false,
                &options.unhooked,
            ),
            ia32_syscalls: options.ia32_syscalls,
            ..ProbeConfig::default()
        };
        let mut probe = Probe::load(config)?;
        let starts = probe
            .task_starts()
            .map_err(|e| tracing::warn!("kills will check pids against /proc's start times: {e}"))
            .ok();
        let mut enforcer = Enforcer::new(
            ProtectConfig {
                dry_run: options.no_kill,
                protected: options.protected.clone(),
                protected_cgroups: options.protected_cgroups.clone(),
                disarmer: DisarmerConfig {
                    max_executables: options.disarm_after,
                    cooldown: options.disarm_cooldown,
                    ..Default::default()
                },
            },
            starts,
        );
        let mut protected_cgroups = Vec::new();
        if let Some(plan) = enforcer.kernel_plan(detector.rules()) {
            probe
                .set_kill_plan(&plan)
                .context("loading the kernel kill plan")?;
            protected_cgroups = plan.protected_cgroups;
        }
        crate::file_filters::apply(&mut probe, detector.rules(), unfiltered(&options.activity))
            .context("loading the kernel file filters")?;
        let mut cache = ProcessCache::new(CacheConfig::default(), |path| {
            parse_cgroup_path(path).map(|c| c.id)
        });
        cache.seed_from_procfs();
        let resolver =
            ContainerResolver::with_handle(options.containers.clone(), background.handle());
        let mut pipeline = Pipeline::new(cache, Box::new(resolver));
        pipeline.set_privilege_check(privilege_check_wanted(detector.rules(), &options.activity));
        Ok(Agent {
            probe,
            pipeline,
            detector,
            enforcer,
            hasher: Hasher::new(crate::hash::DEFAULT_MAX_SIZE),
            activity: options.activity.clone(),
            unhooked: options.unhooked.clone(),
            profiler: options.profiling.clone().map(Profiler::new),
            dumping: false,
            protected_cgroups: (protected_cgroups, std::time::Instant::now()),
            _background: background,
        })
    }

    /// Replaces the rule set while running (remote configuration), atomically as far as detection goes: the
    /// kernel kill plan, the file filters and the activity hooks are switched to what `rules` needs, then
    /// the detector swaps rule sets (variables and the rate state of rules that stay are kept). If the
    /// kernel refuses a step, the previous rules' kernel state is restored and the error returned: the agent
    /// keeps running the previous rule set.
    pub fn replace_rules(&mut self, rules: RuleSet) -> anyhow::Result<()> {
        if let Err(e) = self.apply_kernel_state(&rules) {
            let old = self.detector.rules();
            let restored = Self::kernel_state(
                &mut self.probe,
                &mut self.enforcer,
                (&self.activity, &self.unhooked),
                self.dumping,
                old,
            );
            if let Err(again) = restored {
                tracing::error!("restoring the previous rules' kernel state: {again:#}");
            }
            return Err(e);
        }
        self.pipeline
            .set_privilege_check(privilege_check_wanted(&rules, &self.activity));
        self.detector.replace_rules(rules);
        Ok(())
    }

    fn apply_kernel_state(&mut self, rules: &RuleSet) -> anyhow::Result<()> {
        Self::kernel_state(
            &mut self.probe,
            &mut self.enforcer,
            (&self.activity, &self.unhooked),
            self.dumping,
            rules,
        )
    }

    /// Points the kernel at `rules`: kill plan, file filters, activity hooks.
    fn kernel_state(
        probe: &mut Probe,
        enforcer: &mut Enforcer,
        (activity, unhooked): (&Activity, &[EventType]),
        dumping: bool,
        rules: &RuleSet,
    ) -> anyhow::Result<()> {
        match enforcer.kernel_plan(rules) {
            Some(plan) => probe
                .set_kill_plan(&plan)
                .context("loading the kernel kill plan")?,
            None => probe
                .set_kill_plan(&Default::default())
                .context("clearing the kernel kill plan")?,
        }
        crate::file_filters::apply(probe, rules, unfiltered(activity))
            .context("loading the kernel file filters")?;
        probe
            .set_activity(&activity_config(rules, activity, dumping, unhooked))
            .context("attaching the activity programs")?;
        Ok(())
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn profiler_mut(&mut self) -> Option<&mut Profiler> {
        self.profiler.as_mut()
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// Polls the kernel once (up to `timeout`) and handles everything that arrived. An output error stops
    /// the outputs for this batch but never the kills, and is returned.
    pub fn step(&mut self, timeout: Duration, out: &mut dyn Output) -> anyhow::Result<()> {
        let Agent {
            probe,
            pipeline,
            detector,
            enforcer,
            hasher,
            profiler,
            activity,
            unhooked,
            dumping: dumping_now,
            protected_cgroups,
            ..
        } = self;
        let mut output_error: Option<std::io::Error> = None;
        let wants_events = out.wants_events();
        pipeline.pump(probe, timeout, &mut |mut event| {
            let matches = detector.evaluate(&event);
            for m in &matches {
                for a in &m.actions {
                    if let ActionOutcome::Hash { field } = a {
                        let report = hasher.hash(field, &event);
                        if report.outcome != HashOutcome::Done {
                            tracing::debug!(
                                "hash of {field} for rule {}: {:?} {}",
                                m.rule.id,
                                report.outcome,
                                report.detail
                            );
                        }
                        crate::hash::attach(&mut event, field, &report);
                    }
                }
            }
            let reports: Vec<Vec<KillReport>> = matches
                .iter()
                .map(|m| enforcer.enforce(&event, m))
                .collect();
            if output_error.is_some() {
                return;
            }
            let mut result = if wants_events {
                out.event(&event)
            } else {
                Ok(())
            };
            for (m, kills) in matches.iter().zip(&reports) {
                // Kills are always reported; other matches within the rule's rate.
                let killed = kills.iter().any(|k| {
                    matches!(k.outcome, KillOutcome::Killed | KillOutcome::KilledInKernel)
                });
                if detector.should_report(m, &event) || (killed && !m.rule.meta.silent) {
                    result = result.and_then(|()| out.matched(m, kills, &event));
                }
            }
            if let Some(p) = profiler.as_mut() {
                for a in p.on_event(&event) {
                    result = result.and_then(|()| out.anomaly(&a, &event));
                }
            }
            output_error = result.err();
        })?;
        if let Some(set) = profiler
            .as_mut()
            .and_then(|p| p.tick(std::time::Instant::now()))
        {
            probe
                .set_dump_cgroups(&set)
                .context("telling the kernel which workloads are dumped")?;
            let dumping = !set.is_empty();
            if dumping != *dumping_now {
                *dumping_now = dumping;
                probe
                    .set_activity(&activity_config(
                        detector.rules(),
                        activity,
                        dumping,
                        unhooked,
                    ))
                    .context("hooking the dumped workloads' activity")?;
            }
        }
        enforcer.tick(wall_clock_ns());
        for (slot, armed) in enforcer.take_kernel_slot_changes() {
            probe
                .set_kill_slot_armed(slot, armed)
                .context("arming or disarming a kernel kill slot")?;
        }
        for notice in enforcer.take_notices() {
            if let Err(e) = out.protection_notice(&notice) {
                output_error.get_or_insert(e);
            }
        }
        // A restarted service gets a new cgroup (a new id): keep the kernel's list of protected ones current.
        if protected_cgroups.1.elapsed() >= PROTECTED_CGROUPS_REFRESH {
            let ids = enforcer.protected_cgroup_ids();
            if ids != protected_cgroups.0 {
                probe
                    .set_protected_cgroups(&ids)
                    .context("updating the protected cgroups")?;
                protected_cgroups.0 = ids;
            }
            protected_cgroups.1 = std::time::Instant::now();
        }
        match output_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// What Active Protection did since the start.
    pub fn protect_stats(&self) -> crate::protect::ProtectStats {
        self.enforcer.stats()
    }

    /// One line of counters: kernel drops first, they matter most.
    pub fn counters(&self) -> String {
        let s = EventSource::stats(&self.probe);
        let c = self.pipeline.cache_stats();
        let d = self.detector.stats();
        let p = self.enforcer.stats();
        let privileges = self.pipeline.privilege_stats().map_or(String::new(), |p| {
            format!(
                "; privilege check processes={} gains={} unverified_file_caps={} unknown={}",
                p.processes, p.gains, p.unverified_file_caps, p.unknown
            )
        });
        format!(
            "rampart: kernel events dropped={} (per cpu {:?}) delivered={} malformed={}; process cache entries={} \
             inserted={} removed={} evicted={} swept={} misses={}; rules evaluated={} matched={} silent={} \
             rate_limited={}; active protection killed_in_kernel={} killed={} spared={} pid_recycled={} \
             disarmed={} rearmed={} disarm_refused={}{}",
            s.dropped_total(),
            s.dropped_per_cpu,
            s.delivered,
            s.malformed,
            c.entries,
            c.inserted,
            c.removed,
            c.evicted,
            c.swept,
            c.misses,
            d.evaluated,
            d.matched,
            d.silent,
            d.rate_limited,
            p.killed_in_kernel,
            p.killed,
            p.spared,
            p.pid_recycled,
            p.disarms,
            p.rearms,
            p.disarm_refused,
            privileges
        )
    }
}

/// The file event types `activity` asks to see whole.
fn unfiltered(activity: &Activity) -> &[EventType] {
    match activity {
        Activity::RulesAnd(types) => types.as_slice(),
        Activity::RulesOnly | Activity::All => &[],
    }
}

/// Kernel activity hooks for the event types some rule needs (a type no rule uses is not hooked at all), plus
/// those `activity` asks for, plus the network and DNS activity that activity dumps record while `dumping`,
/// plus the set*id and capset calls while the privilege check runs (without them every legitimate setuid
/// would look like an exploit); never the `unhooked` ones (tests).
fn activity_config(
    rules: &RuleSet,
    activity: &Activity,
    dumping: bool,
    unhooked: &[EventType],
) -> ActivityConfig {
    let mut types: Vec<EventType> = rules
        .rules()
        .iter()
        .filter_map(|r| r.event_type())
        .collect();
    if dumping {
        types.extend([
            EventType::Dns,
            EventType::Connect,
            EventType::Bind,
            EventType::Accept,
        ]);
    }
    if privilege_check_wanted(rules, activity) {
        types.extend(PRIVILEGE_CHECK_NEEDS);
    }
    let types: Vec<EventType> = match activity {
        Activity::All => ACTIVITY_EVENT_TYPES.to_vec(),
        Activity::RulesOnly => types,
        Activity::RulesAnd(extra) => types.into_iter().chain(extra.iter().copied()).collect(),
    };
    if unhooked.is_empty() && *activity == Activity::All {
        return ActivityConfig::default();
    }
    ActivityConfig::for_event_types(types.into_iter().filter(|t| !unhooked.contains(t)))
}

/// The activity the privilege check must see: every legitimate way a thread's credentials change besides exec.
const PRIVILEGE_CHECK_NEEDS: [EventType; 3] =
    [EventType::Setuid, EventType::Setgid, EventType::Capset];

/// Whether some rule, or the output, wants `privilege_gain` events.
fn privilege_check_wanted(rules: &RuleSet, activity: &Activity) -> bool {
    let wanted = |t: &EventType| *t == EventType::PrivilegeGain;
    match activity {
        Activity::All => true,
        Activity::RulesAnd(extra) if extra.iter().any(wanted) => true,
        _ => rules
            .rules()
            .iter()
            .filter_map(|r| r.event_type())
            .any(|t| wanted(&t)),
    }
}

/// Loads the embedded default policy (unless `with_default` is false or one of `policies` is itself named
/// `default.policy`, which then replaces it, as in Datadog's agent) followed by `policies`. A broken rule is
/// reported by id and skipped; an unreadable policy file is an error.
pub fn load_policies(policies: &[PathBuf], with_default: bool) -> anyhow::Result<Loaded> {
    let loaded = compose(None, policies, with_default)?;
    report_load(&loaded);
    Ok(loaded)
}

/// The rules a remote-configuration bundle stands for: the default policy (when the bundle and the agent's
/// own `with_default` both say so), the bundle's policies, the agent's local `policies`, then the bundle's
/// overrides. Unlike a local load, a bundle with any broken rule is refused whole (`Err` with one entry
/// per problem), so the agent keeps the rule set it runs.
pub fn load_bundle(
    bundle: &Bundle,
    policies: &[PathBuf],
    with_default: bool,
) -> Result<Loaded, Vec<Value>> {
    let loaded = compose(Some(bundle), policies, with_default)
        .map_err(|e| vec![serde_json::json!({"error": format!("{e:#}")})])?;
    let mut problems: Vec<Value> = loaded
        .report
        .policy_errors()
        .map(|p| serde_json::json!({"policy": p.name, "error": p.error}))
        .collect();
    problems.extend(
        loaded.report.errors().map(
            |e| serde_json::json!({"policy": e.policy, "rule_id": e.id, "error": e.to_string()}),
        ),
    );
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

fn compose(
    bundle: Option<&Bundle>,
    policies: &[PathBuf],
    with_default: bool,
) -> anyhow::Result<Loaded> {
    let paths = expand_paths(policies).context("reading policies")?;
    let replaced = paths
        .iter()
        .any(|p| p.file_stem().is_some_and(|s| s == "default"));
    let remote_default = bundle.is_none_or(|b| b.include_default);
    let mut sources = Vec::new();
    if with_default && remote_default && !replaced {
        sources.push(rampart_policy::default::default_policy());
    }
    if let Some(b) = bundle {
        sources.extend(b.sources());
    }
    for path in &paths {
        sources
            .push(PolicySource::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    if let Some(o) = bundle.and_then(Bundle::overrides_source) {
        sources.push(o);
    }
    let options = LoadOptions {
        suppressions: bundle.map(Bundle::suppressions).unwrap_or_default(),
        ..LoadOptions::default()
    };
    Ok(load_sources(&sources, &options))
}

/// Prints what a load skipped and the counts, on stderr.
pub fn report_load(loaded: &Loaded) {
    for p in loaded.report.policy_errors() {
        eprintln!(
            "rampart: policy {} ({}): {}",
            p.name,
            p.file,
            p.error.as_deref().unwrap_or("invalid")
        );
    }
    for e in loaded.report.errors() {
        eprintln!("rampart: skipped {e}");
    }
    let counts = loaded.report.counts();
    eprintln!(
        "rampart: {} rules loaded, {} failed, {} disabled, {} filtered",
        counts.loaded, counts.failed, counts.disabled, counts.filtered
    );
}

/// A match's report (DESIGN.md's shape), with each kill action's outcome in its `actions` entry.
pub fn match_report(m: &Match, kills: &[KillReport], event: &Event) -> MatchReport {
    let mut report = rampart_policy::match_report(m, event);
    let kill_entries = report.actions.iter_mut().flatten().filter_map(|a| match a {
        ActionReport::Kill {
            outcome,
            pids,
            detail,
            ..
        } => Some((outcome, pids, detail)),
        _ => None,
    });
    for ((outcome, pids, detail), kill) in kill_entries.zip(kills) {
        *outcome = Some(kill.outcome);
        *pids = Some(kill.pids.clone());
        *detail = Some(kill.detail.clone()).filter(|d| !d.is_empty());
    }
    report
}

/// An Active Protection notice as a signal-shaped report: `active_protection_disarmed` (high),
/// `active_protection_rearmed` (low), `active_protection_disarm_refused` (high: an unprivileged actor reached
/// the disarmer's limit, as an attempt to disarm a rule would). `event` is the notice's event header.
pub fn notice_report(notice: &ProtectNotice, event: Map<String, Value>) -> MatchReport {
    let (id, severity) = match notice.kind {
        NoticeKind::Disarmed => ("active_protection_disarmed", "high"),
        NoticeKind::Rearmed => ("active_protection_rearmed", "low"),
        NoticeKind::DisarmRefused => ("active_protection_disarm_refused", "high"),
    };
    let rule = RuleHeader {
        id: id.into(),
        tags: [("severity".to_string(), severity.to_string())].into(),
        ..RuleHeader::default()
    };
    let mut body = Map::new();
    body.insert("event".into(), Value::Object(event));
    MatchReport {
        disarmed_rule: Some(notice.rule.clone()),
        reason: Some(notice.reason.clone()),
        ..MatchReport::for_event(rule, body)
    }
}

/// The event header of a notice `monitor` prints (the daemon's adds an id, time and host for the server).
pub fn notice_event() -> Map<String, Value> {
    let mut event = Map::new();
    event.insert("type".into(), "active_protection".into());
    event
}

/// How often the protected cgroups' ids are looked up again.
const PROTECTED_CGROUPS_REFRESH: Duration = Duration::from_secs(5);

/// Nanoseconds since the epoch, the clock of event timestamps.
fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(expressions: &[&str]) -> RuleSet {
        let mut text = String::from("rules:\n");
        for (i, e) in expressions.iter().enumerate() {
            text.push_str(&format!("  - id: r{i}\n    expression: '{e}'\n"));
        }
        let source = PolicySource {
            name: "t".into(),
            file: "t.policy".into(),
            text,
        };
        let loaded = load_sources(&[source], &LoadOptions::default());
        assert!(!loaded.report.has_errors(), "{:?}", loaded.report);
        loaded.ruleset
    }

    fn hooked(config: &ActivityConfig, t: EventType) -> bool {
        config.wants(t)
    }

    #[test]
    fn the_privilege_check_hooks_the_credential_calls() {
        let open_only = rules(&["open.file.path == \"/etc/shadow\""]);
        let config = activity_config(&open_only, &Activity::RulesOnly, false, &[]);
        assert!(!hooked(&config, EventType::Setuid));
        assert!(!privilege_check_wanted(&open_only, &Activity::RulesOnly));

        let gains = rules(&["privilege_gain.seen_at != \"\""]);
        assert!(privilege_check_wanted(&gains, &Activity::RulesOnly));
        let config = activity_config(&gains, &Activity::RulesOnly, false, &[]);
        for t in PRIVILEGE_CHECK_NEEDS {
            assert!(hooked(&config, t), "{t}");
        }
        assert!(!hooked(&config, EventType::Bpf), "nothing else");

        // `monitor --events --event-type privilege_gain`, and `--events`
        let asked = Activity::RulesAnd(vec![EventType::PrivilegeGain]);
        assert!(privilege_check_wanted(&open_only, &asked));
        assert!(hooked(
            &activity_config(&open_only, &asked, false, &[]),
            EventType::Capset
        ));
        assert!(privilege_check_wanted(&open_only, &Activity::All));

        // the test knob removes a type whoever asks for it
        let config = activity_config(&gains, &Activity::All, false, &[EventType::Setuid]);
        assert!(!hooked(&config, EventType::Setuid));
        assert!(hooked(&config, EventType::Setgid) && hooked(&config, EventType::Bpf));
    }
}

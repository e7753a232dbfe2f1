//! Active Protection: carrying out the `kill` actions of matched rules, safely.
//!
//! Exec rules the kernel can decide are killed in the kernel at the exec hook ([`plan`]); the enforcer then
//! only reports those kills. Every other kill is sent from here after the match, through a pidfd, and only
//! when the pid still belongs to the event's process ([`identity`]). Nothing on the never-kill list
//! ([`safety`]) is touched, and a rule that kills too many distinct executables for the host's root is
//! disarmed for a cool-down ([`disarmer`]). Every kill is reported with its outcome; every disarm, re-arm and
//! ignored disarm attempt is a notice of its own, and all of them are counted ([`ProtectStats`]).

pub mod disarmer;
pub mod identity;
pub mod plan;
pub mod safety;

use std::path::PathBuf;

use rampart_model::{Event, Process};
use rampart_probe::kill::{KernelKillPlan, TaskStarts};
use rampart_secl::ruleset::{ActionOutcome, KillScope, Match};
use rampart_secl::RuleSet;
use serde::Serialize;

use crate::container::parse_proc_cgroup;
use disarmer::{Actor, Disarmer, DisarmerConfig, ExeKey, Verdict};
use identity::{PidIdentity, Signalled, StartTime};
use safety::{Safety, Target};

#[derive(Debug, Clone, Default)]
pub struct ProtectConfig {
    /// Report what would be killed, kill nothing.
    pub dry_run: bool,
    /// Executables never killed in their system instance, besides the built-in list.
    pub protected: Vec<PathBuf>,
    /// cgroup v2 paths where protected executables' system instances run, besides pid 1's and sshd's.
    pub protected_cgroups: Vec<String>,
    pub disarmer: DisarmerConfig,
}

/// What happened to one kill action (part of the wire contract: a match report carries it).
pub use rampart_api::report::KillOutcome;

/// The report of one kill action, merged into the match's `actions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillReport {
    pub outcome: KillOutcome,
    /// Processes the signal was sent to.
    pub pids: Vec<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What a [`ProtectNotice`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The rule stopped killing for the cool-down.
    Disarmed,
    /// The cool-down is over: the rule kills again.
    Rearmed,
    /// An actor that cannot disarm a rule passed the disarmer's limit; the rule kept killing.
    DisarmRefused,
}

/// A change in a kill rule's state, raised as a signal of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectNotice {
    pub kind: NoticeKind,
    pub rule: String,
    pub reason: String,
}

/// Counters of what Active Protection did since the start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProtectStats {
    pub killed_in_kernel: u64,
    pub killed: u64,
    pub spared: u64,
    /// Kills refused because the pid belonged to another process by then.
    pub pid_recycled: u64,
    pub disarms: u64,
    pub rearms: u64,
    pub disarm_refused: u64,
}

pub struct Enforcer {
    config: ProtectConfig,
    safety: Safety,
    disarmer: Disarmer,
    identity: PidIdentity,
    /// Rule id of each kernel kill slot.
    slot_rules: Vec<String>,
    /// Kernel kill slots to switch off (false) or on again (true).
    kernel_slots: Vec<(u32, bool)>,
    notices: Vec<ProtectNotice>,
    stats: ProtectStats,
}

impl Enforcer {
    /// `starts` answers which process holds a pid (the probe's); without it /proc's coarser start times are used.
    pub fn new(config: ProtectConfig, starts: Option<TaskStarts>) -> Self {
        let safety = Safety::new(
            std::process::id(),
            &config.protected,
            &config.protected_cgroups,
        );
        let disarmer = Disarmer::new(config.disarmer);
        Enforcer {
            config,
            safety,
            disarmer,
            identity: PidIdentity::new(starts),
            slot_rules: Vec::new(),
            kernel_slots: Vec::new(),
            notices: Vec::new(),
            stats: ProtectStats::default(),
        }
    }

    /// The kernel's share of the kill rules (`None` in dry-run mode: the kernel must not kill). A rule still
    /// in its disarm cool-down is loaded disarmed.
    pub fn kernel_plan(&mut self, rules: &RuleSet) -> Option<KernelKillPlan> {
        if self.config.dry_run {
            return None;
        }
        let mut planned = plan::plan_kills(rules);
        for (rule, reason) in &planned.user_space {
            tracing::info!("kill rule {rule} is enforced from user space: {reason}");
        }
        for (slot, rule) in planned.plan.slots.iter_mut().zip(&planned.slot_rules) {
            slot.disarmed = self.disarmer.is_disarmed(rule);
        }
        planned.plan.protected = self.safety.protected_ids();
        planned.plan.protected_cgroups = self.protected_cgroup_ids();
        self.slot_rules = planned.slot_rules;
        Some(planned.plan)
    }

    /// The protected cgroups' ids as they are now (a service restart makes a new cgroup with a new id).
    pub fn protected_cgroup_ids(&self) -> Vec<u64> {
        let Some(root) = rampart_probe::kernel::attach::cgroup2_root() else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = self
            .safety
            .protected_cgroups()
            .iter()
            .filter_map(|c| {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata(root.join(c.trim_start_matches('/')))
                    .ok()
                    .map(|m| m.ino())
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Kernel kill slots to switch off or on since the last call (the caller updates the kernel).
    pub fn take_kernel_slot_changes(&mut self) -> Vec<(u32, bool)> {
        std::mem::take(&mut self.kernel_slots)
    }

    /// Disarms, re-arms and refused disarms since the last call.
    pub fn take_notices(&mut self) -> Vec<ProtectNotice> {
        std::mem::take(&mut self.notices)
    }

    pub fn stats(&self) -> ProtectStats {
        let d = self.disarmer.stats();
        ProtectStats {
            disarms: d.disarms,
            rearms: d.rearms,
            disarm_refused: d.ignored,
            ..self.stats
        }
    }

    /// Re-arms the rules whose cool-down is over at `now_ns` (epoch nanoseconds).
    pub fn tick(&mut self, now_ns: u64) {
        for rule in self.disarmer.rearm_due(now_ns) {
            tracing::warn!("Active Protection re-armed rule {rule}: its cool-down is over");
            if let Some(slot) = self.slot_rules.iter().position(|r| *r == rule) {
                self.kernel_slots.push((slot as u32, true));
            }
            self.notices.push(ProtectNotice {
                kind: NoticeKind::Rearmed,
                reason: format!("the {:?} cool-down is over", self.config.disarmer.cooldown),
                rule,
            });
        }
    }

    /// Carries out the kill actions of `m` on `event`; one report per kill action, in order.
    pub fn enforce(&mut self, event: &Event, m: &Match) -> Vec<KillReport> {
        m.actions
            .iter()
            .filter_map(|a| match a {
                ActionOutcome::Kill {
                    signal_number,
                    scope,
                    ..
                } => Some(self.kill(event, &m.rule.id, *signal_number, *scope)),
                _ => None,
            })
            .collect()
    }

    fn kill(&mut self, event: &Event, rule: &str, signal: i32, scope: KillScope) -> KillReport {
        let process = event.process.process();
        if let Some(k) = event.event.kernel_kill {
            let by = self
                .slot_rules
                .get(k.slot as usize)
                .cloned()
                .unwrap_or_else(|| "?".to_string());
            if by == rule {
                self.count_kernel_kill(rule, event);
            }
            let (outcome, detail) = match (k.result, by == rule) {
                (0, true) => (KillOutcome::KilledInKernel, String::new()),
                (0, false) => (
                    KillOutcome::KilledInKernel,
                    format!("killed in the kernel by rule {by}"),
                ),
                (err, _) => (
                    KillOutcome::Failed,
                    format!("bpf_send_signal failed: {err}"),
                ),
            };
            return KillReport {
                outcome,
                pids: vec![process.pid],
                detail,
            };
        }
        let container = event.process.container.as_ref().map(|c| c.id.as_str());
        let targets: Vec<(u32, Option<StartTime>)> = match scope {
            KillScope::Process => {
                if let Some(spared) = self.safety.check(&Target::of_process(process)) {
                    self.stats.spared += 1;
                    return report(KillOutcome::Spared, vec![], spared.as_str());
                }
                vec![(process.pid, start_time(process))]
            }
            KillScope::Container | KillScope::Cgroup => match container {
                // each found process's identity now, checked again when it is signalled
                Some(id) => container_pids(id)
                    .into_iter()
                    .map(|pid| (pid, self.identity.start_of(pid).ok().flatten()))
                    .collect(),
                None => {
                    return report(
                        KillOutcome::NoContainer,
                        vec![],
                        "the process is not in a container",
                    )
                }
            },
        };
        match self.disarmer.check(
            rule,
            &actor(process),
            exe_key(process),
            event.event.timestamp,
        ) {
            Verdict::Allow => {}
            Verdict::LimitIgnored { reason, report } => {
                if report {
                    self.notice(NoticeKind::DisarmRefused, rule, &reason);
                }
            }
            Verdict::Disarmed => {
                return report(KillOutcome::Disarmed, vec![], "the rule is disarmed")
            }
            Verdict::Disarm { reason } => {
                self.disarm(rule, &reason);
                return report(KillOutcome::Disarmed, vec![], &reason);
            }
        }
        if self.config.dry_run {
            let pids = targets.into_iter().map(|(pid, _)| pid).collect();
            return report(KillOutcome::DryRun, pids, "dry run: nothing sent");
        }
        let mut killed = Vec::new();
        let (mut spared, mut recycled) = (0, 0);
        let mut last_error = String::new();
        for (pid, start) in targets {
            if scope != KillScope::Process
                && Target::of_pid(pid).is_some_and(|t| self.safety.check(&t).is_some())
            {
                spared += 1;
                continue;
            }
            let Some(start) = start else {
                last_error = format!("pid {pid}: start time unknown, not signalled");
                continue;
            };
            match self.identity.signal(pid, start, signal) {
                Ok(Signalled::Sent) => killed.push(pid),
                Ok(Signalled::Gone) => {}
                Ok(Signalled::Recycled) => recycled += 1,
                Err(e) => last_error = e.to_string(),
            }
        }
        self.stats.killed += killed.len() as u64;
        self.stats.spared += spared;
        self.stats.pid_recycled += recycled;
        let detail = if recycled > 0 {
            format!("{recycled} pids held by another process by then: not signalled")
        } else if spared > 0 {
            format!("{spared} protected processes spared")
        } else {
            last_error.clone()
        };
        let outcome = match (killed.is_empty(), recycled > 0, last_error.is_empty()) {
            (false, _, _) => KillOutcome::Killed,
            (true, true, _) => KillOutcome::PidRecycled,
            (true, false, true) => KillOutcome::AlreadyExited,
            (true, false, false) => KillOutcome::Failed,
        };
        report(outcome, killed, &detail)
    }

    /// A kernel kill already happened; it still counts toward the disarmer.
    fn count_kernel_kill(&mut self, rule: &str, event: &Event) {
        self.stats.killed_in_kernel += 1;
        let process = event.process.process();
        match self.disarmer.check(
            rule,
            &actor(process),
            exe_key(process),
            event.event.timestamp,
        ) {
            Verdict::Disarm { reason } => self.disarm(rule, &reason),
            Verdict::LimitIgnored {
                reason,
                report: true,
            } => self.notice(NoticeKind::DisarmRefused, rule, &reason),
            _ => {}
        }
    }

    fn disarm(&mut self, rule: &str, reason: &str) {
        if let Some(slot) = self.slot_rules.iter().position(|r| r == rule) {
            self.kernel_slots.push((slot as u32, false));
        }
        let reason = format!(
            "{reason}; re-armed after {:?}",
            self.config.disarmer.cooldown
        );
        self.notice(NoticeKind::Disarmed, rule, &reason);
    }

    fn notice(&mut self, kind: NoticeKind, rule: &str, reason: &str) {
        tracing::warn!("Active Protection {kind:?} rule {rule}: {reason}");
        self.notices.push(ProtectNotice {
            kind,
            rule: rule.to_string(),
            reason: reason.to_string(),
        });
    }
}

/// Who the disarmer charges a kill of `p` to.
fn actor(p: &Process) -> Actor {
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    if let Some(c) = &p.container {
        return Actor::Container(c.id.clone());
    }
    let c = &p.credentials;
    if c.uid == 0 && c.euid == 0 && c.cap_effective & CAP_SYS_ADMIN != 0 {
        Actor::HostRoot
    } else {
        Actor::User(c.uid)
    }
}

fn exe_key(p: &Process) -> ExeKey {
    if p.file.inode != 0 {
        ExeKey::File {
            dev: p.file.dev,
            inode: p.file.inode,
            owner: p.file.uid,
        }
    } else {
        ExeKey::Path(p.file.path.clone())
    }
}

/// The event's process's start time, if the cache knows it.
fn start_time(p: &Process) -> Option<StartTime> {
    (p.start_boot_ns != 0).then_some(StartTime {
        boot_ns: p.start_boot_ns,
        in_ticks: p.start_in_ticks,
    })
}

fn report(outcome: KillOutcome, pids: Vec<u32>, detail: &str) -> KillReport {
    KillReport {
        outcome,
        pids,
        detail: detail.to_string(),
    }
}

/// Every process whose cgroup belongs to container `id`.
fn container_pids(id: &str) -> Vec<u32> {
    crate::process_cache::procfs::list_pids(std::path::Path::new("/proc"))
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .ok()
                .and_then(|text| parse_proc_cgroup(&text))
                .is_some_and(|c| c.id == id)
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! Active Protection: carrying out the `kill` actions of matched rules, safely.
//!
//! Exec rules the kernel can decide are killed in the kernel at the exec hook ([`plan`]); the enforcer then
//! only reports those kills. Every other kill is sent from here after the match, through a pidfd so a
//! recycled pid is never hit. Nothing on the never-kill list ([`safety`]) is touched, and a rule that would
//! kill too many distinct executables or containers is disarmed ([`disarmer`]). Every kill is reported with
//! its outcome.

pub mod disarmer;
pub mod plan;
pub mod safety;

use std::path::PathBuf;

use rampart_model::Event;
use rampart_probe::kill::KernelKillPlan;
use rampart_secl::ruleset::{ActionOutcome, KillScope, Match};
use rampart_secl::RuleSet;
use serde::Serialize;

use crate::container::parse_proc_cgroup;
use disarmer::{Disarmer, DisarmerConfig, Verdict};
use safety::Safety;

#[derive(Debug, Clone, Default)]
pub struct ProtectConfig {
    /// Report what would be killed, kill nothing.
    pub dry_run: bool,
    /// Executables never killed, besides the built-in list.
    pub protected: Vec<PathBuf>,
    pub disarmer: DisarmerConfig,
}

/// What happened to one kill action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KillOutcome {
    /// The kernel sent the signal at exec, before the new image ran.
    KilledInKernel,
    /// Sent from user space.
    Killed,
    /// The process was gone before the signal could be sent.
    AlreadyExited,
    /// On the never-kill list.
    Spared,
    /// The rule's kills are disarmed.
    Disarmed,
    /// `dry_run`: nothing was sent.
    DryRun,
    /// Container scope for a process outside any container.
    NoContainer,
    Failed,
}

/// The report of one kill action, merged into the match's `actions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillReport {
    pub outcome: KillOutcome,
    /// Processes the signal was sent to.
    pub pids: Vec<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A rule that stopped killing, to be raised as a signal of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisarmNotice {
    pub rule: String,
    pub reason: String,
}

pub struct Enforcer {
    config: ProtectConfig,
    safety: Safety,
    disarmer: Disarmer,
    /// Rule id of each kernel kill slot.
    slot_rules: Vec<String>,
    kernel_disarms: Vec<u32>,
    notices: Vec<DisarmNotice>,
}

impl Enforcer {
    pub fn new(config: ProtectConfig) -> Self {
        let safety = Safety::new(std::process::id(), &config.protected);
        let disarmer = Disarmer::new(config.disarmer);
        Enforcer {
            config,
            safety,
            disarmer,
            slot_rules: Vec::new(),
            kernel_disarms: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// The kernel's share of the kill rules (`None` in dry-run mode: the kernel must not kill).
    pub fn kernel_plan(&mut self, rules: &RuleSet) -> Option<KernelKillPlan> {
        if self.config.dry_run {
            return None;
        }
        let mut planned = plan::plan_kills(rules);
        for (rule, reason) in &planned.user_space {
            tracing::info!("kill rule {rule} is enforced from user space: {reason}");
        }
        planned.plan.protected = self.safety.protected_ids();
        self.slot_rules = planned.slot_rules;
        Some(planned.plan)
    }

    /// Kernel kill slots the disarmer switched off since the last call (the caller updates the kernel).
    pub fn take_kernel_disarms(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.kernel_disarms)
    }

    /// Rules disarmed since the last call.
    pub fn take_disarm_notices(&mut self) -> Vec<DisarmNotice> {
        std::mem::take(&mut self.notices)
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
                self.count_kernel_kill(rule, k.slot, event);
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
        let targets = match scope {
            KillScope::Process => vec![process.pid],
            KillScope::Container | KillScope::Cgroup => match container {
                Some(id) => container_pids(id),
                None => {
                    return report(
                        KillOutcome::NoContainer,
                        vec![],
                        "the process is not in a container",
                    )
                }
            },
        };
        if scope == KillScope::Process {
            if let Some(spared) =
                self.safety
                    .check(process.pid, &process.file.path, process.is_kworker)
            {
                return report(KillOutcome::Spared, vec![], spared.as_str());
            }
        }
        match self
            .disarmer
            .check(rule, &process.file.path, container, event.event.timestamp)
        {
            Verdict::Allow => {}
            Verdict::Disarmed => {
                return report(KillOutcome::Disarmed, vec![], "the rule is disarmed")
            }
            Verdict::Disarm { reason } => {
                self.disarm(rule, &reason);
                return report(KillOutcome::Disarmed, vec![], &reason);
            }
        }
        if self.config.dry_run {
            return report(KillOutcome::DryRun, targets, "dry run: nothing sent");
        }
        let mut killed = Vec::new();
        let mut spared = 0;
        let mut last_error = String::new();
        for pid in targets {
            if scope != KillScope::Process {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                if self
                    .safety
                    .check(pid, &exe.to_string_lossy(), false)
                    .is_some()
                {
                    spared += 1;
                    continue;
                }
            }
            match send_signal(pid, signal) {
                Ok(()) => killed.push(pid),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => last_error = e.to_string(),
            }
        }
        let detail = if spared > 0 {
            format!("{spared} protected processes spared")
        } else {
            last_error.clone()
        };
        let outcome = match (killed.is_empty(), last_error.is_empty()) {
            (false, _) => KillOutcome::Killed,
            (true, true) => KillOutcome::AlreadyExited,
            (true, false) => KillOutcome::Failed,
        };
        report(outcome, killed, &detail)
    }

    /// A kernel kill already happened; it still counts toward the disarmer.
    fn count_kernel_kill(&mut self, rule: &str, slot: u32, event: &Event) {
        let process = event.process.process();
        let container = event.process.container.as_ref().map(|c| c.id.as_str());
        if let Verdict::Disarm { reason } =
            self.disarmer
                .check(rule, &process.file.path, container, event.event.timestamp)
        {
            self.disarm(rule, &reason);
            self.kernel_disarms.push(slot);
        }
    }

    fn disarm(&mut self, rule: &str, reason: &str) {
        tracing::warn!("Active Protection disarmed rule {rule}: {reason}");
        if let Some(slot) = self.slot_rules.iter().position(|r| r == rule) {
            self.kernel_disarms.push(slot as u32);
        }
        self.notices.push(DisarmNotice {
            rule: rule.to_string(),
            reason: reason.to_string(),
        });
    }
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

/// Sends `signal` through a pidfd: once the descriptor is open it names this process and no other, even if
/// the pid is recycled meanwhile.
fn send_signal(pid: u32, signal: i32) -> std::io::Result<()> {
    // SAFETY: plain syscalls with valid arguments; the descriptor is closed below.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as i32;
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let rc = libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! The disarmer: a kill rule that kills many distinct executables within a window is probably matching something
//! legitimate, so it stops killing for a cool-down and says so, then re-arms.
//!
//! An attacker who knows this would trip it on purpose: start six differently named copies of a harmless
//! binary with a miner's arguments, let them be killed, and run the real miner once the rule is disarmed. So:
//!
//! - executables are told apart by what they are (device, inode and owner), never by name or path: a copy is
//!   a new executable, a rename or a hard link is not;
//! - kills are counted per actor: the host's root (uid 0 outside any container, with CAP_SYS_ADMIN), each
//!   other uid, each container;
//! - only the host's root can disarm a rule (for the whole host: the rule is matching system software). An
//!   unprivileged uid or a container that passes the limit disarms nothing: its kills go on, and the first
//!   time in each window it is reported (an attempt to disarm, or a rule that needs a look). A privileged
//!   attacker gains nothing here that root does not already have;
//! - a disarmed rule re-arms after the cool-down.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisarmerConfig {
    /// Most distinct executables one actor's kills of one rule may reach within `window`.
    pub max_executables: usize,
    pub window: Duration,
    /// How long a disarmed rule stays disarmed.
    pub cooldown: Duration,
}

impl Default for DisarmerConfig {
    fn default() -> Self {
        DisarmerConfig {
            max_executables: 5,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
        }
    }
}

/// Who a kill acts against; the disarmer counts per actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// uid 0 on the host, outside any container, with CAP_SYS_ADMIN: the only actor that can disarm.
    HostRoot,
    /// Any other uid outside containers.
    User(u32),
    /// Anything in a container (its root included).
    Container(String),
}

impl Actor {
    fn can_disarm(&self) -> bool {
        matches!(self, Actor::HostRoot)
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::HostRoot => write!(f, "host root"),
            Actor::User(uid) => write!(f, "uid {uid}"),
            Actor::Container(id) => write!(f, "container {}", &id[..id.len().min(12)]),
        }
    }
}

/// An executable's identity: device, inode and owner; the path only when the inode is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExeKey {
    File { dev: u64, inode: u64, owner: u32 },
    Path(String),
}

/// What the disarmer decided for one kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// This kill trips the disarmer: it is not performed and the rule is disarmed for the cool-down.
    Disarm {
        reason: String,
    },
    /// The rule was disarmed earlier and its cool-down is not over.
    Disarmed,
    /// An actor that cannot disarm passed the limit: the kill goes ahead; `report` is true the first time in
    /// the window (raise it once, not per kill).
    LimitIgnored {
        reason: String,
        report: bool,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DisarmerStats {
    pub disarms: u64,
    pub rearms: u64,
    /// Limits passed by actors that cannot disarm.
    pub ignored: u64,
}

#[derive(Debug, Default)]
struct ActorHistory {
    /// Executables killed within the window, with the time of the last kill; at most limit + 1 are kept.
    executables: HashMap<ExeKey, u64>,
    /// When the limit was last reported for this actor.
    reported_at: Option<u64>,
}

#[derive(Debug, Default)]
struct RuleState {
    actors: HashMap<Actor, ActorHistory>,
    disarmed_at: Option<u64>,
}

#[derive(Debug)]
pub struct Disarmer {
    config: DisarmerConfig,
    rules: HashMap<String, RuleState>,
    stats: DisarmerStats,
}

impl Disarmer {
    pub fn new(config: DisarmerConfig) -> Self {
        Disarmer {
            config,
            rules: HashMap::new(),
            stats: DisarmerStats::default(),
        }
    }

    pub fn is_disarmed(&self, rule: &str) -> bool {
        self.rules
            .get(rule)
            .is_some_and(|r| r.disarmed_at.is_some())
    }

    pub fn stats(&self) -> DisarmerStats {
        self.stats
    }

    /// Records that `rule` wants to kill `exe` run by `actor` at `now_ns` (epoch nanoseconds).
    pub fn check(&mut self, rule: &str, actor: &Actor, exe: ExeKey, now_ns: u64) -> Verdict {
        let window = self.config.window.as_nanos() as u64;
        let limit = self.config.max_executables;
        let state = self.rules.entry(rule.to_string()).or_default();
        if state.disarmed_at.is_some() {
            return Verdict::Disarmed;
        }
        // forget actors with nothing left in the window, so the map holds the recent ones only
        state.actors.retain(|_, h| {
            h.executables
                .retain(|_, t| now_ns.saturating_sub(*t) <= window);
            !h.executables.is_empty()
                || h.reported_at
                    .is_some_and(|t| now_ns.saturating_sub(t) <= window)
        });
        let history = state.actors.entry(actor.clone()).or_default();
        history.executables.insert(exe, now_ns);
        if history.executables.len() > limit + 1 {
            // past the limit only the count matters: keep limit + 1 (the newest) so an actor cannot grow the
            // map by creating copies
            if let Some(oldest) = history
                .executables
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            {
                history.executables.remove(&oldest);
            }
        }
        let distinct = history.executables.len();
        if distinct <= limit {
            return Verdict::Allow;
        }
        let reason = format!(
            "{distinct} distinct executables within {:?} (limit {limit}) by {actor}",
            self.config.window
        );
        if actor.can_disarm() {
            state.disarmed_at = Some(now_ns);
            state.actors.clear();
            self.stats.disarms += 1;
            return Verdict::Disarm { reason };
        }
        let report = history
            .reported_at
            .is_none_or(|t| now_ns.saturating_sub(t) > window);
        if report {
            history.reported_at = Some(now_ns);
            self.stats.ignored += 1;
        }
        Verdict::LimitIgnored {
            reason: format!("{reason}: only the host's root can disarm a rule, kills go on"),
            report,
        }
    }

    /// Re-arms the rules whose cool-down is over at `now_ns`; returns their ids.
    pub fn rearm_due(&mut self, now_ns: u64) -> Vec<String> {
        let cooldown = self.config.cooldown.as_nanos() as u64;
        let mut rearmed = Vec::new();
        for (rule, state) in &mut self.rules {
            if state
                .disarmed_at
                .is_some_and(|t| now_ns.saturating_sub(t) >= cooldown)
            {
                state.disarmed_at = None;
                rearmed.push(rule.clone());
            }
        }
        self.stats.rearms += rearmed.len() as u64;
        rearmed.sort();
        rearmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn config(max: usize) -> DisarmerConfig {
        DisarmerConfig {
            max_executables: max,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(100),
        }
    }

    fn exe(inode: u64) -> ExeKey {
        ExeKey::File {
            dev: 2049,
            inode,
            owner: 0,
        }
    }

    #[test]
    fn host_root_trips_it_and_it_re_arms_after_the_cool_down() {
        let mut d = Disarmer::new(config(2));
        let root = Actor::HostRoot;
        assert_eq!(d.check("r", &root, exe(1), 0), Verdict::Allow);
        assert_eq!(
            d.check("r", &root, exe(1), S),
            Verdict::Allow,
            "the same executable again is not new"
        );
        assert_eq!(d.check("r", &root, exe(2), 2 * S), Verdict::Allow);
        assert!(matches!(
            d.check("r", &root, exe(3), 3 * S),
            Verdict::Disarm { .. }
        ));
        assert_eq!(d.check("r", &root, exe(1), 4 * S), Verdict::Disarmed);
        assert!(d.is_disarmed("r"));
        assert_eq!(
            d.check("other", &root, exe(3), 4 * S),
            Verdict::Allow,
            "per rule"
        );
        assert!(d.rearm_due(50 * S).is_empty(), "cool-down not over");
        assert_eq!(d.rearm_due(103 * S), ["r"]);
        assert!(!d.is_disarmed("r"));
        assert_eq!(
            d.check("r", &root, exe(4), 104 * S),
            Verdict::Allow,
            "counts start over"
        );
        assert_eq!(
            d.stats(),
            DisarmerStats {
                disarms: 1,
                rearms: 1,
                ignored: 0
            }
        );
    }

    #[test]
    fn an_unprivileged_actor_never_disarms_and_is_reported_once_per_window() {
        let mut d = Disarmer::new(config(2));
        let user = Actor::User(1000);
        for i in 0..2 {
            assert_eq!(d.check("r", &user, exe(i), i * S), Verdict::Allow);
        }
        let Verdict::LimitIgnored { reason, report } = d.check("r", &user, exe(2), 2 * S) else {
            panic!("an unprivileged uid cannot disarm")
        };
        assert!(report && reason.contains("by uid 1000"), "{reason}");
        assert!(matches!(
            d.check("r", &user, exe(3), 3 * S),
            Verdict::LimitIgnored { report: false, .. }
        ));
        assert!(!d.is_disarmed("r"));
        // its kills do not count against other actors
        assert_eq!(
            d.check("r", &Actor::HostRoot, exe(9), 4 * S),
            Verdict::Allow
        );
        let ctr = Actor::Container("abc".into());
        for i in 0..5 {
            d.check("r", &ctr, exe(100 + i), 5 * S);
        }
        assert!(!d.is_disarmed("r"), "nor can a container");
        // past the window the report comes again
        for i in 0..3 {
            d.check("r", &user, exe(200 + i), 30 * S);
        }
        assert_eq!(d.stats().ignored, 3, "{:?}", d.stats());
    }

    #[test]
    fn old_kills_leave_the_window_and_memory_stays_bounded() {
        let mut d = Disarmer::new(config(1));
        let user = Actor::User(1000);
        assert_eq!(d.check("r", &user, exe(1), 0), Verdict::Allow);
        assert_eq!(d.check("r", &user, exe(2), 11 * S), Verdict::Allow);
        for i in 0..10_000 {
            d.check("r", &user, exe(1000 + i), 12 * S);
        }
        let kept = d.rules["r"].actors[&user].executables.len();
        assert_eq!(kept, 2, "only limit + 1 executables are kept per actor");
    }
}

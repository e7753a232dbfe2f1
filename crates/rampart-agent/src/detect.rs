//! Rule evaluation on live events: the loaded rule set, its variables (with their process and container
//! lifetimes), and per-rule rate limiting of what is reported.

use std::collections::HashMap;

use rampart_model::{Event, EventData};
use rampart_secl::variables::{ScopeKey, VarScope};
use rampart_secl::{Match, MemoryStore, RuleSet};

/// Counters about evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectStats {
    pub evaluated: u64,
    pub matched: u64,
    /// Matches of `silent` rules: their actions ran, nothing was reported.
    pub silent: u64,
    /// Matches not reported because their rule exceeded its rate (their actions still ran).
    pub rate_limited: u64,
}

/// Reporting budget of every rule without `every`: a burst, then a sustained rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: f64,
    pub per_second: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 50.0,
            per_second: 10.0,
        }
    }
}

/// A token bucket in event time (nanoseconds), so replays limit like live runs.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last_ns: u64,
    limit: RateLimit,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        Bucket {
            tokens: limit.burst,
            last_ns: 0,
            limit,
        }
    }

    fn take(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Evaluates every event against the loaded rules.
pub struct Detector {
    rules: RuleSet,
    variables: MemoryStore,
    /// Process variables copied to forked children.
    inherited: Vec<String>,
    default_limit: RateLimit,
    buckets: HashMap<String, Bucket>,
    /// Rule matches dropped by the rate limiter, per rule.
    dropped: HashMap<String, u64>,
    stats: DetectStats,
}

impl Detector {
    pub fn new(rules: RuleSet) -> Self {
        Self::with_rate_limit(rules, RateLimit::default())
    }

    pub fn with_rate_limit(rules: RuleSet, default_limit: RateLimit) -> Self {
        let mut d = Detector {
            rules: RuleSet::build(&[], &[]).0,
            variables: MemoryStore::new(),
            inherited: Vec::new(),
            default_limit,
            buckets: HashMap::new(),
            dropped: HashMap::new(),
            stats: DetectStats::default(),
        };
        d.replace_rules(rules);
        d
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Swaps in a new rule set (remote configuration), keeping the variables and the rate-limit state of
    /// rules that stay; a removed rule's limiter goes with it.
    pub fn replace_rules(&mut self, rules: RuleSet) -> RuleSet {
        self.inherited = rules
            .variables()
            .filter(|d| d.scope == VarScope::Process && d.inherited)
            .map(|d| d.name.clone())
            .collect();
        let ids: std::collections::HashSet<&str> =
            rules.rules().iter().map(|r| r.id.as_str()).collect();
        self.buckets.retain(|id, _| ids.contains(id.as_str()));
        std::mem::replace(&mut self.rules, rules)
    }

    pub fn variables(&self) -> &MemoryStore {
        &self.variables
    }

    pub fn stats(&self) -> DetectStats {
        self.stats.clone()
    }

    /// Matches dropped by the rate limiter, per rule id.
    pub fn rate_limited(&self) -> &HashMap<String, u64> {
        &self.dropped
    }

    /// Every match of `event` (silent ones included: their actions matter), after keeping the variables'
    /// lifetimes in step with the processes (a fork inherits, an exit forgets).
    pub fn evaluate(&mut self, event: &Event) -> Vec<Match> {
        self.stats.evaluated += 1;
        if let EventData::Fork(f) = &event.data {
            if !self.inherited.is_empty() {
                let names: Vec<&str> = self.inherited.iter().map(String::as_str).collect();
                let (from, to) = (
                    ScopeKey::Process(f.parent_pid),
                    ScopeKey::Process(f.child_pid),
                );
                self.variables.copy_scope(&names, &from, &to);
            }
        }
        let matches = self.rules.evaluate(event, &self.variables);
        if let EventData::Exit(_) = &event.data {
            self.variables
                .forget_scope(&ScopeKey::Process(event.process.pid));
        }
        matches
    }

    /// Whether a match is reported: not for silent rules, and within the rule's rate (`every` gives one
    /// match per period; other rules get the default burst and rate).
    pub fn should_report(&mut self, m: &Match, event: &Event) -> bool {
        if m.rule.meta.silent {
            self.stats.silent += 1;
            return false;
        }
        let limit = match m.rule.meta.every {
            Some(every_ns) if every_ns > 0 => RateLimit {
                burst: 1.0,
                per_second: 1e9 / every_ns as f64,
            },
            _ => self.default_limit,
        };
        let bucket = self
            .buckets
            .entry(m.rule.id.clone())
            .or_insert_with(|| Bucket::new(limit));
        if bucket.take(event.event.timestamp) {
            self.stats.matched += 1;
            true
        } else {
            self.stats.rate_limited += 1;
            *self.dropped.entry(m.rule.id.clone()).or_default() += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{EventData, FileInfo, ForkEvent, Process, ProcessContext, ProcessNode};
    use rampart_secl::ruleset::{ActionKind, ActionSpec, RuleMeta, RuleSpec, SetSpec};

    fn rule(id: &str, expression: &str, meta: RuleMeta, actions: Vec<ActionSpec>) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            expression: expression.into(),
            meta,
            actions,
        }
    }

    fn exec(pid: u32, name: &str, ts: u64) -> Event {
        let p = Process {
            pid,
            file: FileInfo::from_path(format!("/bin/{name}")),
            ..Default::default()
        };
        let node = ProcessNode::new(p, None);
        let mut ev = Event::new(
            ts,
            ProcessContext::new(node.clone()),
            EventData::Exec(node.process.clone()),
        );
        ev.event.timestamp = ts;
        ev
    }

    fn fork(parent: u32, child: u32) -> Event {
        let node = ProcessNode::new(
            Process {
                pid: child,
                ..Default::default()
            },
            None,
        );
        Event::new(
            1,
            ProcessContext::new(node),
            EventData::Fork(ForkEvent {
                parent_pid: parent,
                child_pid: child,
            }),
        )
    }

    fn reported(d: &mut Detector, ev: &Event) -> Vec<String> {
        let matches = d.evaluate(ev);
        matches
            .iter()
            .filter(|m| d.should_report(m, ev))
            .map(|m| m.rule.id.clone())
            .collect()
    }

    #[test]
    fn rate_limit_and_every() {
        let every = RuleMeta {
            every: Some(10_000_000_000),
            ..Default::default()
        };
        let rules = [
            rule("every_10s", r#"exec.file.name == "a""#, every, vec![]),
            rule(
                "limited",
                r#"exec.file.name == "a""#,
                RuleMeta::default(),
                vec![],
            ),
        ];
        let (set, report) = RuleSet::build(&[], &rules);
        assert!(report.errors.is_empty());
        let mut d = Detector::with_rate_limit(
            set,
            RateLimit {
                burst: 2.0,
                per_second: 1.0,
            },
        );
        let s = 1_000_000_000;
        assert_eq!(reported(&mut d, &exec(1, "a", s)), ["every_10s", "limited"]);
        assert_eq!(
            reported(&mut d, &exec(1, "a", s)),
            ["limited"],
            "burst of 2"
        );
        assert!(reported(&mut d, &exec(1, "a", s)).is_empty());
        assert_eq!(
            reported(&mut d, &exec(1, "a", 2 * s)),
            ["limited"],
            "one token per second"
        );
        assert_eq!(
            reported(&mut d, &exec(1, "a", 12 * s)),
            ["every_10s", "limited"]
        );
        assert_eq!(d.stats().rate_limited, 4);
        assert_eq!(d.rate_limited()["limited"], 1);
        assert_eq!(d.rate_limited()["every_10s"], 3);
    }

    #[test]
    fn silent_rules_run_actions_but_report_nothing() {
        let set_marker = ActionSpec {
            filter: None,
            kind: ActionKind::Set(SetSpec {
                name: "marked".into(),
                scope: "process".into(),
                value: Some(serde_json::json!(true)),
                inherited: true,
                ..Default::default()
            }),
        };
        let rules = [
            rule(
                "mark",
                r#"exec.file.name == "a""#,
                RuleMeta {
                    silent: true,
                    ..Default::default()
                },
                vec![set_marker],
            ),
            rule(
                "child_of_marked",
                r#"exec.file.name == "b" && ${process.marked} == true"#,
                RuleMeta::default(),
                vec![],
            ),
        ];
        let (set, report) = RuleSet::build(&[], &rules);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let mut d = Detector::new(set);
        assert!(reported(&mut d, &exec(10, "a", 1)).is_empty(), "silent");
        assert_eq!(d.stats().silent, 1);
        // The child inherits the process variable through the fork.
        d.evaluate(&fork(10, 11));
        assert_eq!(reported(&mut d, &exec(11, "b", 2)), ["child_of_marked"]);
        // A process that was never marked does not match.
        assert!(reported(&mut d, &exec(12, "b", 3)).is_empty());
    }
}

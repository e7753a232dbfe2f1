//! The disarmer: a kill rule that would kill more than N distinct executables (or containers) within a window
//! is probably matching something legitimate, so it stops killing and says so.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisarmerConfig {
    /// Most distinct executables one rule may kill within `window`.
    pub max_executables: usize,
    /// Most distinct containers one rule may kill within `window`.
    pub max_containers: usize,
    pub window: Duration,
}

impl Default for DisarmerConfig {
    fn default() -> Self {
        DisarmerConfig {
            max_executables: 5,
            max_containers: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// What the disarmer decided for one kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// This kill trips the disarmer: it is not performed and the rule is disarmed from now on.
    Disarm {
        reason: String,
    },
    /// The rule was disarmed earlier.
    Disarmed,
}

#[derive(Debug, Default)]
struct RuleHistory {
    /// (time in ns, executable) of recent kills.
    executables: VecDeque<(u64, String)>,
    containers: VecDeque<(u64, String)>,
    disarmed: bool,
}

#[derive(Debug)]
pub struct Disarmer {
    config: DisarmerConfig,
    rules: HashMap<String, RuleHistory>,
}

impl Disarmer {
    pub fn new(config: DisarmerConfig) -> Self {
        Disarmer {
            config,
            rules: HashMap::new(),
        }
    }

    pub fn is_disarmed(&self, rule: &str) -> bool {
        self.rules.get(rule).is_some_and(|h| h.disarmed)
    }

    /// Records that `rule` wants to kill `executable` (in `container`, if any) at `now_ns`.
    pub fn check(
        &mut self,
        rule: &str,
        executable: &str,
        container: Option<&str>,
        now_ns: u64,
    ) -> Verdict {
        let window = self.config.window.as_nanos() as u64;
        let history = self.rules.entry(rule.to_string()).or_default();
        if history.disarmed {
            return Verdict::Disarmed;
        }
        let fresh = |t: u64| now_ns.saturating_sub(t) <= window;
        history.executables.retain(|(t, _)| fresh(*t));
        history.containers.retain(|(t, _)| fresh(*t));
        let distinct = |list: &VecDeque<(u64, String)>, extra: &str| {
            let mut seen: Vec<&str> = list.iter().map(|(_, v)| v.as_str()).collect();
            seen.push(extra);
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let executables = distinct(&history.executables, executable);
        if executables > self.config.max_executables {
            history.disarmed = true;
            return Verdict::Disarm {
                reason: format!(
                    "{executables} distinct executables within {:?} (limit {})",
                    self.config.window, self.config.max_executables
                ),
            };
        }
        if let Some(c) = container {
            let containers = distinct(&history.containers, c);
            if containers > self.config.max_containers {
                history.disarmed = true;
                return Verdict::Disarm {
                    reason: format!(
                        "{containers} distinct containers within {:?} (limit {})",
                        self.config.window, self.config.max_containers
                    ),
                };
            }
            history.containers.push_back((now_ns, c.to_string()));
        }
        history
            .executables
            .push_back((now_ns, executable.to_string()));
        Verdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn trips_on_too_many_distinct_executables_within_the_window() {
        let mut d = Disarmer::new(DisarmerConfig {
            max_executables: 2,
            max_containers: 10,
            window: Duration::from_secs(10),
        });
        assert_eq!(d.check("r", "/a", None, 0), Verdict::Allow);
        assert_eq!(
            d.check("r", "/a", None, S),
            Verdict::Allow,
            "the same executable again is not new"
        );
        assert_eq!(d.check("r", "/b", None, 2 * S), Verdict::Allow);
        assert!(matches!(
            d.check("r", "/c", None, 3 * S),
            Verdict::Disarm { .. }
        ));
        assert_eq!(d.check("r", "/a", None, 4 * S), Verdict::Disarmed);
        assert!(d.is_disarmed("r"));
        assert_eq!(
            d.check("other", "/c", None, 4 * S),
            Verdict::Allow,
            "per rule"
        );
    }

    #[test]
    fn old_kills_leave_the_window() {
        let mut d = Disarmer::new(DisarmerConfig {
            max_executables: 1,
            max_containers: 10,
            window: Duration::from_secs(10),
        });
        assert_eq!(d.check("r", "/a", None, 0), Verdict::Allow);
        assert_eq!(d.check("r", "/b", None, 11 * S), Verdict::Allow);
    }

    #[test]
    fn trips_on_too_many_containers() {
        let mut d = Disarmer::new(DisarmerConfig {
            max_executables: 10,
            max_containers: 1,
            window: Duration::from_secs(10),
        });
        assert_eq!(d.check("r", "/a", Some("c1"), 0), Verdict::Allow);
        assert!(matches!(
            d.check("r", "/a", Some("c2"), S),
            Verdict::Disarm { .. }
        ));
    }
}

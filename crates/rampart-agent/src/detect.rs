//! Rule evaluation on live events: the loaded rule set, its variable store, and the matches it reports.

use rampart_model::Event;
use rampart_secl::{Match, MemoryStore, RuleSet};

/// Counters about evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectStats {
    pub evaluated: u64,
    pub matched: u64,
    /// Matches of `silent` rules: their actions ran, nothing was reported.
    pub silent: u64,
}

/// Evaluates every event against the loaded rules.
pub struct Detector {
    rules: RuleSet,
    variables: MemoryStore,
    stats: DetectStats,
}

impl Detector {
    pub fn new(rules: RuleSet) -> Self {
        Detector {
            rules,
            variables: MemoryStore::new(),
            stats: DetectStats::default(),
        }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn stats(&self) -> DetectStats {
        self.stats.clone()
    }

    /// The matches to report for `event` (silent rules run their actions but are not returned).
    pub fn evaluate(&mut self, event: &Event) -> Vec<Match> {
        self.stats.evaluated += 1;
        let mut matches = self.rules.evaluate(event, &self.variables);
        let before = matches.len();
        matches.retain(|m| !m.rule.meta.silent);
        self.stats.silent += (before - matches.len()) as u64;
        self.stats.matched += matches.len() as u64;
        matches
    }
}

//! Dry runs: rules that are not stored (an editor's rule file) evaluated over recent stored matches by the
//! live evaluator ([`eval::run`]) with its state in memory instead of the database, so a dry run writes
//! nothing and queues no notification. Matches are replayed in arrival order, batch by batch as they were
//! ingested (one agent's request, one `received_at`), from empty state: what the rules would have raised
//! had they been in force over the window (new-value rules learn from the first match replayed).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use sqlx::Row;

use super::eval::{self, Hit, LatestSignal, State, StoredHit, Trigger, WINDOW_HITS_MAX};
use super::BackendRule;
use crate::ingest::validate::{severity_rank, stored_match};
use crate::ingest::IncomingMatch;
use crate::signals::group::{key_for, SignalKey};
use crate::storage::Db;

/// How far back a dry run reads, and how many matches at most (the most recent by event time).
pub const HOURS: i64 = 24;
pub const MAX_MATCHES: i64 = 5000;
/// Groups listed per rule, and examples (agent signals) per group.
const GROUPS_SHOWN: usize = 20;
const EXAMPLES: usize = 3;

#[derive(Default)]
pub struct DryRun {
    /// Matches replayed, and those whose stored body no longer parses (skipped).
    pub matches: usize,
    pub unreadable: usize,
    /// Event time of the oldest and newest match replayed (0 if none).
    pub from: i64,
    pub to: i64,
    pub rules: Vec<RuleOutcome>,
}

pub struct RuleOutcome {
    pub id: String,
    pub name: String,
    pub method: &'static str,
    /// Matches its queries selected, and the groups they fell in.
    pub hits: usize,
    pub groups_hit: usize,
    /// Groups that would have raised a signal, most triggers first (at most `GROUPS_SHOWN`).
    pub fired: Vec<GroupOutcome>,
    pub fired_total: usize,
}

pub struct GroupOutcome {
    pub group: String,
    /// Signals opened, and triggers counted on them (a signal's count).
    pub signals: usize,
    pub triggers: i64,
    /// The highest severity they reached.
    pub severity: String,
    pub first: i64,
    pub last: i64,
    pub examples: Vec<Example>,
}

/// A sample match of a signal that would have been raised, with the stored agent signal it belongs to (one
/// example per agent signal).
pub struct Example {
    pub match_id: i64,
    pub rule_id: String,
    pub ts: i64,
    pub signal_id: Option<i64>,
}

/// Replays up to [`MAX_MATCHES`] matches of the last [`HOURS`] hours before `now` through `rules`.
/// `signal_window_ns` and `max_samples` are the server's signal settings (for example links and samples).
pub async fn run(
    db: &Db,
    rules: &[Arc<BackendRule>],
    now: i64,
    signal_window_ns: i64,
    max_samples: i64,
) -> anyhow::Result<DryRun> {
    let lo = now - HOURS * 3600 * 1_000_000_000;
    let mut rows = sqlx::query(
        "SELECT id, agent_id, received_at, hostname, body FROM matches WHERE ts >= $1 ORDER BY ts DESC LIMIT $2",
    )
    .bind(lo)
    .bind(MAX_MATCHES)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| -> Result<_, sqlx::Error> {
        Ok((
            r.try_get::<i64, _>("id")?,
            (r.try_get::<i64, _>("agent_id")?, r.try_get::<i64, _>("received_at")?),
            r.try_get::<String, _>("hostname")?,
            r.try_get::<String, _>("body")?,
        ))
    })
    .collect::<Result<Vec<_>, _>>()?;
    // Stored ids follow arrival order, and event time within a batch: the order ingest evaluated them in.
    rows.sort_unstable_by_key(|(id, ..)| *id);
    let mut mem = Memory::default();
    let mut out = DryRun::default();
    let mut batch: Vec<(i64, IncomingMatch)> = Vec::new();
    let mut batch_of = (0i64, 0i64); // (agent, received_at)
                                     // Each replayed match's agent signal (by the ingest's own key) and event time, for the examples.
    let mut agent_signal: HashMap<i64, (SignalKey, i64)> = HashMap::new();
    for (id, of, hostname, body) in rows {
        let Ok(m) = stored_match(&body, &hostname) else {
            out.unreadable += 1;
            continue;
        };
        if of != batch_of {
            replay(&mut mem, rules, &batch, batch_of.1, max_samples).await?;
            batch.clear();
            batch_of = of;
        }
        out.matches += 1;
        out.from = if out.from == 0 {
            m.ts
        } else {
            out.from.min(m.ts)
        };
        out.to = out.to.max(m.ts);
        agent_signal.insert(id, (key_for(of.0, &m, signal_window_ns), m.ts));
        batch.push((id, m));
    }
    replay(&mut mem, rules, &batch, batch_of.1, max_samples).await?;
    for rule in rules {
        out.rules
            .push(outcome(db, &mem, rule, &agent_signal).await?);
    }
    Ok(out)
}

async fn replay(
    mem: &mut Memory,
    rules: &[Arc<BackendRule>],
    batch: &[(i64, IncomingMatch)],
    received_at: i64,
    max_samples: i64,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let fresh: Vec<(i64, &IncomingMatch)> = batch.iter().map(|(id, m)| (*id, m)).collect();
    eval::run(mem, rules, &fresh, received_at, max_samples).await?;
    Ok(())
}

/// What one rule raised in memory, with example matches linked to their stored agent signals.
async fn outcome(
    db: &Db,
    mem: &Memory,
    rule: &BackendRule,
    agent_signal: &HashMap<i64, (SignalKey, i64)>,
) -> anyhow::Result<RuleOutcome> {
    let mut by_group: BTreeMap<&str, (GroupOutcome, Vec<i64>)> = BTreeMap::new();
    for s in mem.signals.iter().filter(|s| s.rule == rule.id) {
        let (g, samples) = by_group.entry(&s.group).or_insert_with(|| {
            let g = GroupOutcome {
                group: s.group.clone(),
                signals: 0,
                triggers: 0,
                severity: s.severity.clone(),
                first: s.first,
                last: s.last,
                examples: Vec::new(),
            };
            (g, Vec::new())
        });
        g.signals += 1;
        g.triggers += s.count;
        if severity_rank(&s.severity) > severity_rank(&g.severity) {
            g.severity = s.severity.clone();
        }
        g.first = g.first.min(s.first);
        g.last = g.last.max(s.last);
        samples.extend(&s.samples);
    }
    let mut fired: Vec<(GroupOutcome, Vec<i64>)> = by_group.into_values().collect();
    fired.sort_by(|(a, _), (b, _)| b.triggers.cmp(&a.triggers).then(a.group.cmp(&b.group)));
    let fired_total = fired.len();
    fired.truncate(GROUPS_SHOWN);
    for (g, samples) in &mut fired {
        // One example per agent signal.
        let mut shown: BTreeSet<&SignalKey> = BTreeSet::new();
        for id in samples.iter() {
            let Some((key, ts)) = agent_signal.get(id) else {
                continue;
            };
            if g.examples.len() == EXAMPLES {
                break;
            }
            if !shown.insert(key) {
                continue;
            }
            let signal_id = sqlx::query(
                "SELECT id FROM signals WHERE source = 'agent' AND rule_id = $1 AND group_key = $2 \
                 AND window_start = $3",
            )
            .bind(&key.rule_id)
            .bind(&key.group_key)
            .bind(key.window_start)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
            g.examples.push(Example {
                match_id: *id,
                rule_id: key.rule_id.clone(),
                ts: *ts,
                signal_id,
            });
        }
    }
    Ok(RuleOutcome {
        id: rule.id.clone(),
        name: rule.name.clone(),
        method: rule.method.as_str(),
        hits: mem.hit_matches.get(&rule.id).map_or(0, HashSet::len),
        groups_hit: mem.groups.keys().filter(|(r, _)| *r == rule.id).count(),
        fired: fired.into_iter().map(|(g, _)| g).collect(),
        fired_total,
    })
}

/// The evaluator's state in memory: the same rows the live state keeps in its tables.
#[derive(Default)]
struct Memory {
    /// backend_hits, by (rule, group), in (ts, insertion) order; and the (rule, query, match) keys.
    hits: HashMap<(String, String), Vec<StoredHit>>,
    hit_keys: HashSet<(String, String, i64)>,
    /// Matches each rule's queries selected.
    hit_matches: HashMap<String, HashSet<i64>>,
    /// backend_groups: first seen.
    groups: HashMap<(String, String), i64>,
    /// backend_new_values.
    values: HashSet<(String, String, String)>,
    /// Backend signals; a signal's id is its index.
    signals: Vec<Signal>,
}

struct Signal {
    rule: String,
    group: String,
    window_start: i64,
    severity: String,
    first: i64,
    last: i64,
    count: i64,
    samples: Vec<i64>,
}

fn key(rule: &str, group: &str) -> (String, String) {
    (rule.to_string(), group.to_string())
}

impl State for Memory {
    async fn insert_hits(&mut self, hits: &[Hit<'_>]) -> anyhow::Result<()> {
        for h in hits {
            if !self
                .hit_keys
                .insert((h.rule.id.clone(), h.query.to_string(), h.match_id))
            {
                continue;
            }
            self.hit_matches
                .entry(h.rule.id.clone())
                .or_default()
                .insert(h.match_id);
            let stored = self.hits.entry(key(&h.rule.id, &h.group)).or_default();
            let at = stored.partition_point(|s| s.ts <= h.ts);
            stored.insert(
                at,
                StoredHit {
                    query: h.query.to_string(),
                    ts: h.ts,
                    match_id: h.match_id,
                },
            );
        }
        Ok(())
    }

    async fn touch_group(&mut self, rule: &str, group: &str, ts: i64) -> anyhow::Result<i64> {
        let first = self.groups.entry(key(rule, group)).or_insert(ts);
        *first = (*first).min(ts);
        Ok(*first)
    }

    async fn hits_between(
        &mut self,
        rule: &str,
        group: &str,
        lo: i64,
        hi: i64,
    ) -> anyhow::Result<Vec<StoredHit>> {
        let Some(stored) = self.hits.get(&key(rule, group)) else {
            return Ok(Vec::new());
        };
        let start = stored.partition_point(|s| s.ts < lo);
        let end = stored.partition_point(|s| s.ts <= hi);
        Ok(stored[start..end]
            .iter()
            .take(WINDOW_HITS_MAX)
            .cloned()
            .collect())
    }

    async fn learn_value(
        &mut self,
        rule: &str,
        group: &str,
        value: &str,
        _ts: i64,
    ) -> anyhow::Result<bool> {
        Ok(self
            .values
            .insert((rule.to_string(), group.to_string(), value.to_string())))
    }

    async fn latest_signal(
        &mut self,
        rule: &str,
        group: &str,
    ) -> anyhow::Result<Option<LatestSignal>> {
        Ok(self
            .signals
            .iter()
            .enumerate()
            .filter(|(_, s)| s.rule == rule && s.group == group)
            .max_by_key(|(_, s)| s.window_start)
            .map(|(id, s)| LatestSignal {
                id: id as i64,
                first: s.first,
                last: s.last,
                severity: s.severity.clone(),
            }))
    }

    async fn extend_signal(
        &mut self,
        id: i64,
        severity: &str,
        first: i64,
        last: i64,
        _now: i64,
    ) -> anyhow::Result<()> {
        let s = &mut self.signals[id as usize];
        s.count += 1;
        s.severity = severity.to_string();
        s.first = s.first.min(first);
        s.last = s.last.max(last);
        Ok(())
    }

    async fn open_signal(
        &mut self,
        rule: &BackendRule,
        group: &str,
        t: &Trigger<'_>,
        _now: i64,
    ) -> anyhow::Result<(i64, bool)> {
        let same = self
            .signals
            .iter()
            .position(|s| s.rule == rule.id && s.group == group && s.window_start == t.first);
        if let Some(id) = same {
            self.signals[id].count += 1;
            return Ok((id as i64, false));
        }
        self.signals.push(Signal {
            rule: rule.id.clone(),
            group: group.to_string(),
            window_start: t.first,
            severity: t.severity.clone(),
            first: t.first,
            last: t.last,
            count: 1,
            samples: Vec::new(),
        });
        Ok((self.signals.len() as i64 - 1, true))
    }

    async fn sample_count(&mut self, signal: i64) -> anyhow::Result<i64> {
        Ok(self.signals[signal as usize].samples.len() as i64)
    }

    async fn add_samples(&mut self, signal: i64, match_ids: &[i64]) -> anyhow::Result<()> {
        let samples = &mut self.signals[signal as usize].samples;
        for id in match_ids {
            if !samples.contains(id) {
                samples.push(*id);
            }
        }
        Ok(())
    }
}

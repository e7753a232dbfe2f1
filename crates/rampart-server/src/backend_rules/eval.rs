//! Backend rule evaluation inside the ingest transaction. All state lives in the database (hits, group rows,
//! learned values, signals), so several replicas evaluate consistently: each (rule, group) is serialised by
//! upserting its `backend_groups` row (a row lock in PostgreSQL; SQLite has one writer), then the group's
//! stored hits around the new ones are re-read and evaluated. Late (out-of-order) matches are handled
//! because windows are evaluated over stored hits by event time, not arrival time.
//!
//! The evaluator reaches its state only through [`State`], one method per statement: the ingest transaction
//! implements it here, and a dry run (`super::dry`) implements it in memory, so both run this one evaluator.
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use sqlx::Row;

use super::spec::{field_values, BackendRule, Method};
use super::RuleSet;
use crate::config::ServerConfig;
use crate::ingest::validate::severity_rank;
use crate::ingest::IncomingMatch;
use crate::notify::rules::{SignalEvent, SignalFacts};
use crate::signals::group::add_samples;
use crate::sql::values_placeholders;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A new match that one of a rule's queries selects, in the rule's group for it.
pub(super) struct Hit<'a> {
    pub rule: &'a BackendRule,
    pub query: &'a str,
    pub group: String,
    pub ts: i64,
    pub match_id: i64,
    pub m: &'a IncomingMatch,
}

/// A hit as stored, read back for a window.
#[derive(Clone)]
pub(super) struct StoredHit {
    pub query: String,
    pub ts: i64,
    pub match_id: i64,
}

/// What a group's evaluation found: the case's severity, the window's time span and matches, and the
/// match that stands for the group (host, container, notification facts).
pub(super) struct Trigger<'a> {
    pub severity: String,
    pub first: i64,
    pub last: i64,
    pub match_ids: Vec<i64>,
    pub m: &'a IncomingMatch,
}

/// The latest backend signal of a (rule, group).
pub(super) struct LatestSignal {
    pub id: i64,
    pub first: i64,
    pub last: i64,
    pub severity: String,
}

/// Most stored hits read back for one group's windows.
pub(super) const WINDOW_HITS_MAX: usize = 20_000;

/// Where the evaluator keeps its state; each method is one statement of the live evaluation.
pub(super) trait State {
    /// Stores hits, ignoring those already stored (same rule, query and match).
    async fn insert_hits(&mut self, hits: &[Hit<'_>]) -> anyhow::Result<()>;
    /// Records (and, live, locks) the group; returns when it was first seen (`ts` if earlier).
    async fn touch_group(&mut self, rule: &str, group: &str, ts: i64) -> anyhow::Result<i64>;
    /// The group's hits with `lo <= ts <= hi` in time order (then storage order), at most
    /// [`WINDOW_HITS_MAX`].
    async fn hits_between(
        &mut self,
        rule: &str,
        group: &str,
        lo: i64,
        hi: i64,
    ) -> anyhow::Result<Vec<StoredHit>>;
    /// Records a value of a new-value rule's field; true if the group had not seen it.
    async fn learn_value(
        &mut self,
        rule: &str,
        group: &str,
        value: &str,
        ts: i64,
    ) -> anyhow::Result<bool>;
    /// The group's signal with the latest window start.
    async fn latest_signal(
        &mut self,
        rule: &str,
        group: &str,
    ) -> anyhow::Result<Option<LatestSignal>>;
    /// Counts a trigger on a live signal and widens its span.
    async fn extend_signal(
        &mut self,
        id: i64,
        severity: &str,
        first: i64,
        last: i64,
        now: i64,
    ) -> anyhow::Result<()>;
    /// Opens a signal at `t.first` (a signal of the same window start counts the trigger instead);
    /// returns its id and whether it is new.
    async fn open_signal(
        &mut self,
        rule: &BackendRule,
        group: &str,
        t: &Trigger<'_>,
        now: i64,
    ) -> anyhow::Result<(i64, bool)>;
    async fn sample_count(&mut self, signal: i64) -> anyhow::Result<i64>;
    /// Adds samples, ignoring those the signal has.
    async fn add_samples(&mut self, signal: i64, match_ids: &[i64]) -> anyhow::Result<()>;
}

/// Evaluates the rules over newly stored matches; returns how many signals were raised or extended, and the
/// signals created or escalated (for notifications).
pub async fn evaluate(
    tx: &mut Tx,
    rules: &RuleSet,
    fresh: &[(i64, &IncomingMatch)],
    now: i64,
    config: &ServerConfig,
) -> anyhow::Result<(usize, Vec<(SignalFacts, SignalEvent)>)> {
    run(
        &mut InTx(tx),
        &rules.rules,
        fresh,
        now,
        config.signals.max_samples,
    )
    .await
}

/// The evaluator over any [`State`]: the live one above, and dry runs.
pub(super) async fn run(
    state: &mut impl State,
    rules: &[Arc<BackendRule>],
    fresh: &[(i64, &IncomingMatch)],
    now: i64,
    max_samples: i64,
) -> anyhow::Result<(usize, Vec<(SignalFacts, SignalEvent)>)> {
    let mut hits = Vec::new();
    for (id, m) in fresh {
        for rule in rules {
            let Some(group) = rule.group_key(&m.value, &m.hostname) else {
                continue;
            };
            for q in &rule.queries {
                if q.matches(&m.rule_id, &m.value) {
                    hits.push(Hit {
                        rule,
                        query: &q.name,
                        group: group.clone(),
                        ts: m.ts,
                        match_id: *id,
                        m,
                    });
                }
            }
        }
    }
    if hits.is_empty() {
        return Ok((0, Vec::new()));
    }
    state.insert_hits(&hits).await?;
    // Groups in key order: concurrent transactions take the group locks in the same order.
    let mut groups: BTreeMap<(&str, &str), Vec<&Hit<'_>>> = BTreeMap::new();
    for h in &hits {
        groups
            .entry((h.rule.id.as_str(), h.group.as_str()))
            .or_default()
            .push(h);
    }
    let mut triggers = 0;
    let mut events = Vec::new();
    for ((_, group), new_hits) in groups {
        let rule = new_hits[0].rule;
        let min_ts = new_hits.iter().map(|h| h.ts).min().unwrap_or(now);
        let first_seen = state.touch_group(&rule.id, group, min_ts).await?;
        let found = match rule.method {
            Method::Threshold | Method::Sequence => {
                let stored = stored_hits(state, rule, group, &new_hits).await?;
                window_trigger(rule, &stored, &new_hits)
            }
            Method::NewValue => {
                new_value_trigger(state, rule, group, first_seen, &new_hits, now).await?
            }
        };
        if let Some(t) = found {
            events.extend(raise(state, rule, group, t, now, max_samples).await?);
            triggers += 1;
        }
    }
    Ok((triggers, events))
}

async fn stored_hits(
    state: &mut impl State,
    rule: &BackendRule,
    group: &str,
    new_hits: &[&Hit<'_>],
) -> anyhow::Result<Vec<StoredHit>> {
    let lo = new_hits
        .iter()
        .map(|h| h.ts)
        .min()
        .unwrap_or(0)
        .saturating_sub(rule.window_ns);
    let hi = new_hits
        .iter()
        .map(|h| h.ts)
        .max()
        .unwrap_or(0)
        .saturating_add(rule.window_ns);
    state.hits_between(&rule.id, group, lo, hi).await
}

fn first_case(rule: &BackendRule, counts: &BTreeMap<String, i64>) -> Option<usize> {
    rule.cases
        .iter()
        .position(|c| c.condition.as_ref().is_none_or(|cond| cond.eval(counts)))
}

/// Threshold and sequence: the best window of length `window` (anchored at a stored hit) that contains a new
/// hit and satisfies a case (and, for sequences, holds the steps in order).
fn window_trigger<'a>(
    rule: &BackendRule,
    stored: &[StoredHit],
    new_hits: &[&Hit<'a>],
) -> Option<Trigger<'a>> {
    let new_ids: HashSet<i64> = new_hits.iter().map(|h| h.match_id).collect();
    let mut best: Option<(usize, usize, usize)> = None; // (case, start, end exclusive)
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut j = 0;
    for i in 0..stored.len() {
        if i > 0 {
            *counts.entry(stored[i - 1].query.clone()).or_default() -= 1;
        }
        if j < i {
            j = i;
            counts.clear();
        }
        while j < stored.len() && stored[j].ts - stored[i].ts <= rule.window_ns {
            *counts.entry(stored[j].query.clone()).or_default() += 1;
            j += 1;
        }
        let window = &stored[i..j];
        if !window.iter().any(|s| new_ids.contains(&s.match_id)) {
            continue;
        }
        if rule.method == Method::Sequence && !has_sequence(&rule.sequence, window) {
            continue;
        }
        if let Some(case) = first_case(rule, &counts) {
            if best.is_none_or(|(c, _, _)| case < c) {
                best = Some((case, i, j));
            }
        }
    }
    let (case, i, j) = best?;
    let window = &stored[i..j];
    let m = new_hits
        .iter()
        .rev()
        .find(|h| window.iter().any(|s| s.match_id == h.match_id))?
        .m;
    let mut match_ids: Vec<i64> = window.iter().map(|s| s.match_id).collect();
    match_ids.dedup();
    Some(Trigger {
        severity: rule.cases[case].severity.clone(),
        first: window[0].ts,
        last: window[window.len() - 1].ts,
        match_ids,
        m,
    })
}

/// Whether the steps occur in order within `window` (already bounded in time).
fn has_sequence(steps: &[String], window: &[StoredHit]) -> bool {
    let mut step = 0;
    for s in window {
        if s.query == steps[step] {
            step += 1;
            if step == steps.len() {
                return true;
            }
        }
    }
    false
}

async fn new_value_trigger<'a>(
    state: &mut impl State,
    rule: &BackendRule,
    group: &str,
    group_first_seen: i64,
    new_hits: &[&Hit<'a>],
    now: i64,
) -> anyhow::Result<Option<Trigger<'a>>> {
    let Some((query, field, learning)) = &rule.new_value else {
        return Ok(None);
    };
    let mut found: Option<Trigger<'a>> = None;
    for h in new_hits.iter().filter(|h| h.query == query) {
        for value in field_values(&h.m.value, field).into_iter().take(16) {
            let value = crate::ingest::validate::column_text(&value, 1024);
            let inserted = state
                .learn_value(&rule.id, group, &value, h.ts.min(now))
                .await?;
            // Values first seen while the group was still learning are its baseline.
            if inserted && h.ts - group_first_seen >= *learning && found.is_none() {
                let counts: BTreeMap<String, i64> = [(query.clone(), 1)].into_iter().collect();
                if let Some(case) = first_case(rule, &counts) {
                    found = Some(Trigger {
                        severity: rule.cases[case].severity.clone(),
                        first: h.ts,
                        last: h.ts,
                        match_ids: vec![h.match_id],
                        m: h.m,
                    });
                }
            }
        }
    }
    Ok(found)
}

/// Extends the group's latest backend signal if it is still alive (keep-alive, max duration), else opens one.
/// Returns the signal if it is new or its severity rose.
async fn raise(
    state: &mut impl State,
    rule: &BackendRule,
    group: &str,
    t: Trigger<'_>,
    now: i64,
    max_samples: i64,
) -> anyhow::Result<Option<(SignalFacts, SignalEvent)>> {
    let mut signal_id = None;
    let mut event = None;
    if let Some(l) = state.latest_signal(&rule.id, group).await? {
        let alive = t.last - l.last <= rule.keep_alive_ns
            && t.first + rule.keep_alive_ns >= l.first
            && t.last.max(l.last) - t.first.min(l.first) <= rule.max_duration_ns;
        if alive {
            let rises = severity_rank(&t.severity) > severity_rank(&l.severity);
            let sev = if rises { &t.severity } else { &l.severity };
            if rises {
                event = Some((SignalEvent::Escalated, t.severity.clone()));
            }
            state.extend_signal(l.id, sev, t.first, t.last, now).await?;
            signal_id = Some(l.id);
        }
    }
    let id = match signal_id {
        Some(id) => id,
        None => {
            let (id, created) = state.open_signal(rule, group, &t, now).await?;
            if created {
                event = Some((SignalEvent::Created, t.severity.clone()));
            }
            id
        }
    };
    let have = state.sample_count(id).await?;
    let room = (max_samples - have).max(0) as usize;
    let samples: Vec<i64> = t.match_ids.iter().copied().take(room).collect();
    state.add_samples(id, &samples).await?;
    let m = t.m;
    Ok(event.map(|(event, severity)| {
        let mut f = SignalFacts {
            signal_id: id,
            source: "backend".into(),
            rule_id: rule.id.clone(),
            severity,
            hostname: m.hostname.clone(),
            container_id: m.container_id.clone(),
            ..Default::default()
        };
        f.from_match(&m.value);
        (f, event)
    }))
}

/// The live state: the ingest transaction.
struct InTx<'t>(&'t mut Tx);

impl State for InTx<'_> {
    async fn insert_hits(&mut self, hits: &[Hit<'_>]) -> anyhow::Result<()> {
        for chunk in hits.chunks(200) {
            let sql = format!(
                "INSERT INTO backend_hits (rule_id, query, group_key, ts, match_id) VALUES {} \
                 ON CONFLICT (rule_id, query, match_id) DO NOTHING",
                values_placeholders(chunk.len(), 5, 0)
            );
            let mut q = sqlx::query(&sql);
            for h in chunk {
                q = q
                    .bind(&h.rule.id)
                    .bind(h.query)
                    .bind(&h.group)
                    .bind(h.ts)
                    .bind(h.match_id);
            }
            q.execute(&mut **self.0).await?;
        }
        Ok(())
    }

    async fn touch_group(&mut self, rule: &str, group: &str, ts: i64) -> anyhow::Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO backend_groups (rule_id, group_key, first_seen) VALUES ($1, $2, $3) \
             ON CONFLICT (rule_id, group_key) DO UPDATE SET first_seen = CASE WHEN excluded.first_seen < \
             backend_groups.first_seen THEN excluded.first_seen ELSE backend_groups.first_seen END RETURNING first_seen",
        )
        .bind(rule)
        .bind(group)
        .bind(ts)
        .fetch_one(&mut **self.0)
        .await?
        .try_get("first_seen")?)
    }

    async fn hits_between(
        &mut self,
        rule: &str,
        group: &str,
        lo: i64,
        hi: i64,
    ) -> anyhow::Result<Vec<StoredHit>> {
        let rows = sqlx::query(
            "SELECT query, ts, match_id FROM backend_hits WHERE rule_id = $1 AND group_key = $2 AND ts >= $3 \
             AND ts <= $4 ORDER BY ts, id LIMIT $5",
        )
        .bind(rule)
        .bind(group)
        .bind(lo)
        .bind(hi)
        .bind(WINDOW_HITS_MAX as i64)
        .fetch_all(&mut **self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredHit {
                    query: r.try_get("query")?,
                    ts: r.try_get("ts")?,
                    match_id: r.try_get("match_id")?,
                })
            })
            .collect()
    }

    async fn learn_value(
        &mut self,
        rule: &str,
        group: &str,
        value: &str,
        ts: i64,
    ) -> anyhow::Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO backend_new_values (rule_id, group_key, value, first_seen) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (rule_id, group_key, value) DO NOTHING RETURNING value",
        )
        .bind(rule)
        .bind(group)
        .bind(value)
        .bind(ts)
        .fetch_optional(&mut **self.0)
        .await?
        .is_some())
    }

    async fn latest_signal(
        &mut self,
        rule: &str,
        group: &str,
    ) -> anyhow::Result<Option<LatestSignal>> {
        let row = sqlx::query(
            "SELECT id, first_seen, last_seen, severity FROM signals WHERE source = 'backend' AND rule_id = $1 \
             AND group_key = $2 ORDER BY window_start DESC LIMIT 1",
        )
        .bind(rule)
        .bind(group)
        .fetch_optional(&mut **self.0)
        .await?;
        row.map(|r| {
            Ok(LatestSignal {
                id: r.try_get("id")?,
                first: r.try_get("first_seen")?,
                last: r.try_get("last_seen")?,
                severity: r.try_get("severity")?,
            })
        })
        .transpose()
    }

    async fn extend_signal(
        &mut self,
        id: i64,
        severity: &str,
        first: i64,
        last: i64,
        now: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE signals SET count = count + 1, severity = $1, updated_at = $2, \
             first_seen = CASE WHEN $3 < first_seen THEN $3 ELSE first_seen END, \
             last_seen = CASE WHEN $4 > last_seen THEN $4 ELSE last_seen END WHERE id = $5",
        )
        .bind(severity)
        .bind(now)
        .bind(first)
        .bind(last)
        .bind(id)
        .execute(&mut **self.0)
        .await?;
        Ok(())
    }

    async fn open_signal(
        &mut self,
        rule: &BackendRule,
        group: &str,
        t: &Trigger<'_>,
        now: i64,
    ) -> anyhow::Result<(i64, bool)> {
        let row = sqlx::query(
            "INSERT INTO signals (source, rule_id, group_key, window_start, severity, title, hostname, container_id, \
             process_path, first_seen, last_seen, count, state, created_at, updated_at, image) \
             VALUES ('backend', $1, $2, $3, $4, $5, $6, $7, $8, $3, $9, 1, 'open', $10, $10, $11) \
             ON CONFLICT (source, rule_id, group_key, window_start) DO UPDATE SET count = signals.count + 1, \
             updated_at = excluded.updated_at RETURNING id, count",
        )
        .bind(&rule.id)
        .bind(group)
        .bind(t.first)
        .bind(&t.severity)
        .bind(&rule.name)
        .bind(&t.m.hostname)
        .bind(&t.m.container_id)
        .bind(&t.m.process_path)
        .bind(t.last)
        .bind(now)
        .bind(&t.m.image)
        .fetch_one(&mut **self.0)
        .await?;
        Ok((row.try_get("id")?, row.try_get::<i64, _>("count")? == 1))
    }

    async fn sample_count(&mut self, signal: i64) -> anyhow::Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM signal_matches WHERE signal_id = $1")
                .bind(signal)
                .fetch_one(&mut **self.0)
                .await?
                .try_get("n")?,
        )
    }

    async fn add_samples(&mut self, signal: i64, match_ids: &[i64]) -> anyhow::Result<()> {
        add_samples(self.0, signal, match_ids.iter().copied()).await
    }
}

//! Ingest: an agent's batch of rule matches stored once each (deduplicated on (agent, event id, rule id) by a
//! unique constraint), grouped into signals and fed to the backend rules, all in one transaction, so a
//! batch is either wholly stored (and acknowledged) or not at all, and a re-sent batch changes nothing.

mod bounded_json;
pub mod validate;

use std::collections::{BTreeMap, HashMap};

use rampart_api::ingest::IngestAck;
use sqlx::Row;

use crate::auth::AgentCaller;
use crate::error::ApiResult;
use crate::notify::{self, rules::SignalEvent, rules::SignalFacts};
use crate::signals::group;
use crate::sql::values_placeholders;
use crate::state::AppState;
use crate::storage::{is_retryable, now_ns};
pub use validate::IncomingMatch;

/// Stores a validated batch; retries the whole transaction on a database conflict (deadlock, busy).
pub async fn ingest(
    state: &AppState,
    agent: &AgentCaller,
    mut matches: Vec<IncomingMatch>,
) -> ApiResult<IngestAck> {
    // Occurrence order: stored ids follow event time within a batch.
    matches.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.event_id.cmp(&b.event_id)));
    let mut attempt = 0;
    loop {
        match ingest_once(state, agent, &matches).await {
            Ok(outcome) => {
                let m = &state.metrics;
                m.ingest_matches_received.inc_by(matches.len() as u64);
                m.ingest_matches_stored.inc_by(outcome.accepted as u64);
                m.ingest_matches_duplicate.inc_by(outcome.duplicates as u64);
                m.signals_created.inc_by(outcome.signals_created as u64);
                m.signals_updated.inc_by(outcome.signals_updated as u64);
                m.backend_signals.inc_by(outcome.backend_triggers as u64);
                m.notifications_queued
                    .inc_by(outcome.notifications_queued as u64);
                if outcome.notifications_queued > 0 {
                    state.notify.wake.notify_one();
                }
                return Ok(outcome);
            }
            Err(e) if attempt < 8 && is_retryable(&e) => {
                attempt += 1;
                state.metrics.ingest_retries.inc();
                let jitter = rand::random::<u64>() % 20;
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt + jitter)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Rows per multi-row INSERT (14 parameters each: well under both backends' parameter limits).
const CHUNK: usize = 200;

async fn ingest_once(
    state: &AppState,
    agent: &AgentCaller,
    matches: &[IncomingMatch],
) -> anyhow::Result<IngestAck> {
    let now = now_ns();
    // Both rule caches may read the database: before the transaction, never inside it. A refresh inside
    // it waited for a second pool connection while every connection was held by a transaction waiting on
    // the same refresh, until the pool's acquire timeout (`replicas_share_one_database`, 40 concurrent
    // batches on a fresh server).
    let notify_rules = state.notify.rules.current(&state.db).await;
    let rules = state.rules.current(&state.db).await;
    let mut w = state.db.begin_write().await?;
    // 1. Store the matches; the unique key makes re-sent ones no-ops, RETURNING tells which are new.
    let mut new_ids: HashMap<(&str, &str), i64> = HashMap::new();
    for chunk in matches.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO matches (agent_id, event_id, rule_id, event_type, ts, received_at, hostname, container_id, \
             process_pid, process_path, lineage, severity, body) VALUES {} \
             ON CONFLICT (agent_id, event_id, rule_id) DO NOTHING RETURNING id, event_id, rule_id",
            values_placeholders(chunk.len(), 13, 0)
        );
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q
                .bind(agent.agent_id)
                .bind(&m.event_id)
                .bind(&m.rule_id)
                .bind(&m.event_type)
                .bind(m.ts)
                .bind(now)
                .bind(&m.hostname)
                .bind(&m.container_id)
                .bind(m.pid)
                .bind(&m.process_path)
                .bind(&m.lineage)
                .bind(&m.severity)
                .bind(&m.body);
        }
        for row in q.fetch_all(&mut *w.tx).await? {
            let event_id: String = row.try_get("event_id")?;
            let rule_id: String = row.try_get("rule_id")?;
            let id: i64 = row.try_get("id")?;
            if let Some(m) = chunk
                .iter()
                .find(|m| m.event_id == event_id && m.rule_id == rule_id)
            {
                new_ids.insert((m.event_id.as_str(), m.rule_id.as_str()), id);
            }
        }
    }
    let fresh: Vec<(i64, &IncomingMatch)> = matches
        .iter()
        .filter_map(|m| {
            new_ids
                .get(&(m.event_id.as_str(), m.rule_id.as_str()))
                .map(|id| (*id, m))
        })
        .collect();
    let mut outcome = IngestAck {
        accepted: fresh.len(),
        duplicates: matches.len() - fresh.len(),
        ..Default::default()
    };

    // 2. Group into signals, in key order so concurrent transactions lock signal rows in the same order.
    let window = state.config.signals.window.as_nanos() as i64;
    let mut groups: BTreeMap<group::SignalKey, Vec<(i64, &IncomingMatch)>> = BTreeMap::new();
    for (id, m) in &fresh {
        groups
            .entry(group::key_for(agent.agent_id, m, window))
            .or_default()
            .push((*id, m));
    }
    let mut events = Vec::new();
    for (key, members) in &groups {
        let (signal_id, created) = group::upsert_agent_signal(
            &mut w.tx,
            key,
            members,
            now,
            state.config.signals.max_samples,
        )
        .await?;
        if created {
            outcome.signals_created += 1;
            events.push((agent_facts(signal_id, members[0].1), SignalEvent::Created));
        } else {
            outcome.signals_updated += 1;
        }
    }

    // 3. Backend rules over the new matches.
    let (triggers, backend_events) =
        crate::backend_rules::eval::evaluate(&mut w.tx, &rules, &fresh, now, &state.config).await?;
    outcome.backend_triggers = triggers;
    events.extend(backend_events);

    // 4. Notifications, queued with the signals they are about (committed together or not at all).
    for (facts, event) in &events {
        outcome.notifications_queued +=
            notify::outbox::enqueue(&mut w.tx, &notify_rules, facts, *event, now).await?;
    }

    sqlx::query("UPDATE agents SET last_seen_at = $1, matches_received = matches_received + $2 WHERE id = $3")
        .bind(now)
        .bind(fresh.len() as i64)
        .bind(agent.agent_id)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(outcome)
}

/// What notification rules match a new agent signal on (its first match stands for the group).
fn agent_facts(signal_id: i64, m: &IncomingMatch) -> SignalFacts {
    let mut f = SignalFacts {
        signal_id,
        source: "agent".into(),
        rule_id: m.rule_id.clone(),
        severity: m.severity.clone(),
        hostname: m.hostname.clone(),
        container_id: m.container_id.clone(),
        ..Default::default()
    };
    f.from_match(&m.value);
    f
}

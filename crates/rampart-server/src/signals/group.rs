//! Grouping agent matches into signals: one signal per (rule, group, time window), where the group is the
//! reporting agent (its enrolled identity: one agent's matches never join another's signal, whatever host
//! they claim) plus the container, or plus the process executable outside containers. The signal row is
//! upserted (unique key), so replicas and retries extend the same signal instead of duplicating it.

use sqlx::Row;

use crate::ingest::IncomingMatch;
use crate::sql::values_placeholders;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignalKey {
    pub agent_id: i64,
    pub rule_id: String,
    pub group_key: String,
    pub window_start: i64,
}

pub fn group_key(agent_id: i64, m: &IncomingMatch) -> String {
    if m.container_id.is_empty() {
        format!(
            "agent={agent_id} host={} exe={}",
            m.hostname, m.process_path
        )
    } else {
        format!(
            "agent={agent_id} host={} container={}",
            m.hostname, m.container_id
        )
    }
}

pub fn key_for(agent_id: i64, m: &IncomingMatch, window_ns: i64) -> SignalKey {
    let window_ns = window_ns.max(1);
    SignalKey {
        agent_id,
        rule_id: m.rule_id.clone(),
        group_key: group_key(agent_id, m),
        window_start: m.ts - m.ts.rem_euclid(window_ns),
    }
}

/// Upserts the signal for `members` (all of one key, in time order) and keeps the first `max_samples`
/// matches as samples. Returns the signal's id and whether it is new.
pub async fn upsert_agent_signal(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key: &SignalKey,
    members: &[(i64, &IncomingMatch)],
    now: i64,
    max_samples: i64,
) -> anyhow::Result<(i64, bool)> {
    let first = members.iter().map(|(_, m)| m.ts).min().unwrap_or(now);
    let last = members.iter().map(|(_, m)| m.ts).max().unwrap_or(now);
    let head = members[0].1;
    let n = members.len() as i64;
    let row = sqlx::query(
        "INSERT INTO signals (source, rule_id, group_key, window_start, severity, title, hostname, container_id, \
         process_path, first_seen, last_seen, count, state, created_at, updated_at, image, agent_id) \
         VALUES ('agent', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $12, $13, $14) \
         ON CONFLICT (source, rule_id, group_key, window_start) DO UPDATE SET \
         count = signals.count + excluded.count, \
         first_seen = CASE WHEN excluded.first_seen < signals.first_seen THEN excluded.first_seen ELSE signals.first_seen END, \
         last_seen = CASE WHEN excluded.last_seen > signals.last_seen THEN excluded.last_seen ELSE signals.last_seen END, \
         updated_at = excluded.updated_at \
         RETURNING id, count",
    )
    .bind(&key.rule_id)
    .bind(&key.group_key)
    .bind(key.window_start)
    .bind(&head.severity)
    .bind(&head.title)
    .bind(&head.hostname)
    .bind(&head.container_id)
    .bind(&head.process_path)
    .bind(first)
    .bind(last)
    .bind(n)
    .bind(now)
    .bind(&head.image)
    .bind(key.agent_id)
    .fetch_one(&mut **tx)
    .await?;
    let signal_id: i64 = row.try_get("id")?;
    let count: i64 = row.try_get("count")?;
    let before = count - n;
    let room = (max_samples - before).clamp(0, n) as usize;
    add_samples(tx, signal_id, members.iter().take(room).map(|(id, _)| *id)).await?;
    Ok((signal_id, before == 0))
}

/// Links matches to a signal as samples (idempotent).
pub async fn add_samples(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    signal_id: i64,
    match_ids: impl Iterator<Item = i64>,
) -> anyhow::Result<()> {
    let ids: Vec<i64> = match_ids.collect();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "INSERT INTO signal_matches (signal_id, match_id) VALUES {} ON CONFLICT (signal_id, match_id) DO NOTHING",
            values_placeholders(chunk.len(), 2, 0)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(signal_id).bind(*id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

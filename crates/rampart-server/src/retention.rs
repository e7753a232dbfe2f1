//! Data retention: a background task deletes what is older than its configured age (`RetentionConfig`),
//! by server time, in small transactions (`batch` rows each) so ingest, which needs the same writer on
//! SQLite, waits for one batch at most.
//!
//! Passes, in an order that leaves nothing dangling:
//! 1. signals (their samples links, comments, history and deliveries cascade);
//! 2. raw matches, except those a remaining signal keeps as samples (backend-rule hits cascade);
//! 3. activity snapshots, 4. finished deliveries, 5. audit entries.
//!
//! Each pass walks an index on its time column from the oldest row. SQLite reuses the freed pages for new
//! rows, so a database under a steady load stops growing once the oldest data is being purged.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Action, Actor};
use crate::config::RetentionConfig;
use crate::state::AppState;
use crate::storage::{now_ns, Db};

/// Rows deleted by one run, per table.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Purged {
    pub signals: u64,
    pub matches: u64,
    pub snapshots: u64,
    pub deliveries: u64,
    pub audit: u64,
    /// Transactions used.
    pub batches: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.signals + self.matches + self.snapshots + self.deliveries + self.audit
    }
}

/// A pass: the table, and the subquery picking up to `$2` ids older than `$1` (oldest first).
struct Pass {
    table: &'static str,
    pick: &'static str,
}

const SIGNALS: Pass = Pass {
    table: "signals",
    // updated_at too: a signal a match joined a moment ago (an agent's late report) is not taken away.
    pick: "SELECT id FROM signals WHERE last_seen < $1 AND updated_at < $1 ORDER BY last_seen LIMIT $2",
};
const SNAPSHOTS: Pass = Pass {
    table: "activity_snapshots",
    pick: "SELECT id FROM activity_snapshots WHERE received_at < $1 ORDER BY received_at LIMIT $2",
};
const DELIVERIES: Pass = Pass {
    table: "notification_outbox",
    pick: "SELECT id FROM notification_outbox WHERE updated_at < $1 AND status IN ('delivered', 'failed') \
           ORDER BY updated_at LIMIT $2",
};
const AUDIT: Pass = Pass {
    table: "audit_log",
    pick: "SELECT id FROM audit_log WHERE created_at < $1 ORDER BY created_at LIMIT $2",
};

/// Deletes one batch; returns how many rows went.
async fn batch(db: &Db, p: &Pass, cutoff: i64, limit: i64) -> anyhow::Result<u64> {
    let mut w = db.begin_write().await?;
    let n = sqlx::query(&format!("DELETE FROM {} WHERE id IN ({})", p.table, p.pick))
        .bind(cutoff)
        .bind(limit)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
    w.commit().await?;
    Ok(n)
}

/// Runs `p` until a batch comes back short.
async fn drain(
    db: &Db,
    p: &Pass,
    cutoff: i64,
    limit: i64,
    out: &mut Purged,
) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let n = batch(db, p, cutoff, limit).await?;
        out.batches += 1;
        total += n;
        if n < limit as u64 {
            return Ok(total);
        }
        // Let a waiting ingest take the writer before the next batch.
        tokio::task::yield_now().await;
    }
}

/// Matches are kept while a signal holds them as samples. The walk resumes after the last row it saw, so
/// the samples it skips are read once per run, not once per batch.
async fn drain_matches(db: &Db, cutoff: i64, limit: i64, out: &mut Purged) -> anyhow::Result<u64> {
    use sqlx::Row;
    let mut after = (i64::MIN, i64::MIN);
    let mut total = 0;
    loop {
        let mut w = db.begin_write().await?;
        let rows = sqlx::query(
            "DELETE FROM matches WHERE id IN (SELECT m.id FROM matches m WHERE m.received_at < $1 \
               AND (m.received_at > $3 OR (m.received_at = $3 AND m.id > $4)) \
               AND NOT EXISTS (SELECT 1 FROM signal_matches sm WHERE sm.match_id = m.id) \
               ORDER BY m.received_at, m.id LIMIT $2) \
             RETURNING id, received_at",
        )
        .bind(cutoff)
        .bind(limit)
        .bind(after.0)
        .bind(after.1)
        .fetch_all(&mut *w.tx)
        .await?;
        w.commit().await?;
        out.batches += 1;
        total += rows.len() as u64;
        for r in &rows {
            let key = (
                r.try_get::<i64, _>("received_at")?,
                r.try_get::<i64, _>("id")?,
            );
            after = after.max(key);
        }
        if (rows.len() as i64) < limit {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// One retention run over every table with an age set.
pub async fn purge(db: &Db, cfg: &RetentionConfig, now: i64) -> anyhow::Result<Purged> {
    let mut out = Purged::default();
    let limit = cfg.batch.max(1) as i64;
    let cutoff = |age: Option<Duration>| age.map(|a| now.saturating_sub(a.as_nanos() as i64));
    if let Some(c) = cutoff(cfg.signals) {
        out.signals = drain(db, &SIGNALS, c, limit, &mut out).await?;
    }
    if let Some(c) = cutoff(cfg.matches) {
        out.matches = drain_matches(db, c, limit, &mut out).await?;
    }
    if let Some(c) = cutoff(cfg.snapshots) {
        out.snapshots = drain(db, &SNAPSHOTS, c, limit, &mut out).await?;
    }
    if let Some(c) = cutoff(cfg.deliveries) {
        out.deliveries = drain(db, &DELIVERIES, c, limit, &mut out).await?;
    }
    if let Some(c) = cutoff(cfg.audit) {
        out.audit = drain(db, &AUDIT, c, limit, &mut out).await?;
    }
    Ok(out)
}

/// The background task: a run at start-up and then every `interval`, each audited when it deleted
/// anything (what was deleted, never silently).
pub async fn run(state: AppState) {
    let cfg = state.config.retention.clone();
    let mut tick = tokio::time::interval(cfg.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match purge(&state.db, &cfg, now_ns()).await {
            Ok(p) => {
                state.metrics.retention_purged.inc_by(p.total());
                if p.total() > 0 {
                    tracing::info!("retention: purged {p:?}");
                    let actor = Actor::system("retention");
                    let details = json!(p);
                    let recorded = audit::record(
                        &state.db.pool,
                        actor,
                        Action::DataPurged,
                        "stored data",
                        details,
                    );
                    if let Err(e) = recorded.await {
                        tracing::warn!("retention: auditing the purge: {e:#}");
                    }
                }
            }
            Err(e) => {
                state.metrics.retention_errors.inc();
                // A busy database or an outage: the next run continues where this one stopped.
                tracing::warn!("retention: {e:#}");
            }
        }
    }
}

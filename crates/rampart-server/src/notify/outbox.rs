//! The outbox: notifications queued in the same transaction as the signal change that caused them, claimed
//! by workers under a lease, and closed in one UPDATE that records the outcome and ends the lease.
//!
//! - Idempotent: one row per (signal, event, channel) by a unique key; replays and replicas add nothing.
//! - Safe claims: a row is claimed by one UPDATE whose condition (pending, due, not leased) is re-checked
//!   under the row lock (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite has one writer), so two workers never
//!   hold the same row. A worker that dies loses its rows when the lease expires.
//! - Ordered per (signal, channel): a row waits while an earlier one for the same pair is pending, so a
//!   PagerDuty resolve never overtakes its trigger.

use rampart_api::notifications::{Delivery, DeliveryChannel};
use serde::Deserialize;
use sqlx::Row;

use super::registry::Active;
use super::rules::{RuleCheck, SignalEvent, SignalFacts};
use crate::error::{ApiError, ApiResult};
use crate::storage::{Db, DbKind};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The dedup part of the row key: one delivery per event, and per severity reached for escalations.
fn event_key(event: SignalEvent, severity: &str) -> String {
    match event {
        SignalEvent::Escalated => format!("escalated:{severity}"),
        other => other.as_str().to_string(),
    }
}

/// Queues `event` of a signal for the channels of the rules that match it; returns the rows added.
pub async fn enqueue(
    tx: &mut Tx,
    active: &Active,
    facts: &SignalFacts,
    event: SignalEvent,
    now: i64,
) -> anyhow::Result<usize> {
    // The first matching rule per channel (its template is used).
    let mut targets: Vec<(i64, i64)> = Vec::new();
    for (rule_id, spec) in &active.rules {
        if !spec.matches(facts, event) {
            continue;
        }
        for c in &spec.channels {
            if active.enabled_channels.contains(c) && !targets.iter().any(|(x, _)| x == c) {
                targets.push((*c, *rule_id));
            }
        }
    }
    let key = event_key(event, &facts.severity);
    let mut added = 0;
    for (channel_id, rule_id) in targets {
        let inserted = sqlx::query(
            "INSERT INTO notification_outbox (signal_id, event_key, event, severity, channel_id, rule_id, status, \
             attempts, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
             ON CONFLICT (signal_id, event_key, channel_id) DO NOTHING RETURNING id",
        )
        .bind(facts.signal_id)
        .bind(&key)
        .bind(event.as_str())
        .bind(&facts.severity)
        .bind(channel_id)
        .bind(rule_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        added += inserted.is_some() as usize;
    }
    Ok(added)
}

/// Queues the resolution of an archived signal for every channel that can resolve and was sent (or will
/// be sent) a trigger for it.
pub async fn enqueue_resolution(tx: &mut Tx, signal_id: i64, now: i64) -> anyhow::Result<usize> {
    let r = sqlx::query(
        "INSERT INTO notification_outbox (signal_id, event_key, event, severity, channel_id, rule_id, status, \
         attempts, next_attempt_at, created_at, updated_at) \
         SELECT DISTINCT o.signal_id, 'resolved', 'resolved', s.severity, o.channel_id, CAST(NULL AS BIGINT), 'pending', \
         0, $2, $2, $2 FROM notification_outbox o JOIN notification_channels c ON c.id = o.channel_id \
         JOIN signals s ON s.id = o.signal_id \
         WHERE o.signal_id = $1 AND o.event IN ('created', 'escalated') AND o.status <> 'failed' \
         AND c.kind IN ('pagerduty', 'opsgenie') \
         ON CONFLICT (signal_id, event_key, channel_id) DO NOTHING",
    )
    .bind(signal_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() as usize)
}

/// A row a worker holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub signal_id: i64,
    pub channel_id: i64,
    pub rule_id: Option<i64>,
    pub event: SignalEvent,
    pub severity: String,
    /// Including this one.
    pub attempts: i64,
    pub created_at: i64,
    /// Proves ownership when the row is closed.
    pub lease: String,
}

/// Claims up to `limit` due rows for `lease_ns`.
pub async fn claim(
    db: &Db,
    owner: &str,
    limit: usize,
    now: i64,
    lease_ns: i64,
) -> anyhow::Result<Vec<Claimed>> {
    let lock = match db.kind {
        DbKind::Postgres => "FOR UPDATE OF o SKIP LOCKED",
        DbKind::Sqlite => "",
    };
    // Unique per claim: a stale worker's late UPDATE cannot close a row someone else claimed since.
    let lease = format!("{owner}:{:016x}", rand::random::<u64>());
    let sql = format!(
        "UPDATE notification_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT o.id FROM notification_outbox o JOIN notification_channels c ON c.id = o.channel_id \
           WHERE o.status = 'pending' AND o.next_attempt_at <= $3 AND (o.lease_until IS NULL OR o.lease_until < $3) \
           AND c.enabled = 1 AND NOT EXISTS (SELECT 1 FROM notification_outbox p WHERE p.signal_id = o.signal_id \
             AND p.channel_id = o.channel_id AND p.status = 'pending' AND p.id < o.id) \
           ORDER BY o.next_attempt_at, o.id LIMIT $4 {lock}) \
         AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING id, signal_id, channel_id, rule_id, event, severity, attempts, created_at"
    );
    let rows = sqlx::query(&sql)
        .bind(&lease)
        .bind(now + lease_ns)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let event: String = r.try_get("event")?;
        out.push(Claimed {
            id: r.try_get("id")?,
            signal_id: r.try_get("signal_id")?,
            channel_id: r.try_get("channel_id")?,
            rule_id: r.try_get("rule_id")?,
            event: SignalEvent::parse(&event).unwrap_or(SignalEvent::Created),
            severity: r.try_get("severity")?,
            attempts: r.try_get("attempts")?,
            created_at: r.try_get("created_at")?,
            lease: lease.clone(),
        });
    }
    out.sort_by_key(|c| c.id);
    Ok(out)
}

/// How a held row is closed.
pub enum Outcome<'a> {
    Delivered {
        status: u16,
    },
    /// Try again at `at` (epoch ns).
    Retry {
        at: i64,
        status: Option<u16>,
        error: &'a str,
        response: Option<&'a str>,
    },
    Failed {
        status: Option<u16>,
        error: &'a str,
        response: Option<&'a str>,
    },
    /// Not attempted (rate limit): due again at `at`, the attempt not counted.
    Postponed {
        at: i64,
    },
}

/// Records the outcome and ends the lease in one UPDATE; false if the lease was lost (expired and
/// re-claimed), in which case nothing is changed.
pub async fn close(db: &Db, c: &Claimed, outcome: Outcome<'_>, now: i64) -> anyhow::Result<bool> {
    let end = "lease_owner = NULL, lease_until = NULL, updated_at = $1 WHERE id = $2 AND lease_owner = $3";
    let sql = match outcome {
        Outcome::Delivered { .. } => format!(
            "UPDATE notification_outbox SET status = 'delivered', delivered_at = $1, last_error = NULL, last_response = NULL, \
             last_status = $4, {end}"
        ),
        Outcome::Retry { .. } => format!(
            "UPDATE notification_outbox SET last_status = $4, next_attempt_at = $5, last_error = $6, last_response = $7, {end}"
        ),
        Outcome::Failed { .. } => format!(
            "UPDATE notification_outbox SET status = 'failed', last_status = $4, last_error = $5, last_response = $6, {end}"
        ),
        Outcome::Postponed { .. } => format!(
            "UPDATE notification_outbox SET next_attempt_at = $4, attempts = attempts - 1, {end}"
        ),
    };
    let q = sqlx::query(&sql).bind(now).bind(c.id).bind(&c.lease);
    let q = match outcome {
        Outcome::Delivered { status } => q.bind(i64::from(status)),
        Outcome::Retry {
            at,
            status,
            error,
            response,
        } => q
            .bind(status.map(i64::from))
            .bind(at)
            .bind(clip_error(error))
            .bind(response.map(clip_error)),
        Outcome::Failed {
            status,
            error,
            response,
        } => q
            .bind(status.map(i64::from))
            .bind(clip_error(error))
            .bind(response.map(clip_error)),
        Outcome::Postponed { at } => q.bind(at),
    };
    Ok(q.execute(&db.pool).await?.rows_affected() == 1)
}

fn clip_error(e: &str) -> String {
    crate::ingest::validate::column_text(e, 2000)
}

/// Filters of the delivery log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFilters {
    pub status: Option<String>,
    pub channel_id: Option<i64>,
    pub signal_id: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

const DELIVERY_COLS: &str = "o.id, o.signal_id, o.event, o.event_key, o.severity, o.channel_id, c.name AS channel_name, \
    c.kind AS channel_kind, o.rule_id, o.status, o.attempts, o.next_attempt_at, o.last_error, o.last_response, \
    o.last_status, o.created_at, o.updated_at, o.delivered_at";

/// Who reads the delivery log: the receiver's answer (`last_response`) is shown to admins only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Admin,
    Other,
}

impl Reader {
    pub fn of(role: crate::auth::Role) -> Reader {
        if role >= crate::auth::Role::Admin {
            Reader::Admin
        } else {
            Reader::Other
        }
    }
}

fn delivery_json(r: &sqlx::any::AnyRow, reader: Reader) -> ApiResult<Delivery> {
    let last_response = match reader {
        Reader::Admin => Some(r.try_get("last_response")?),
        Reader::Other => None,
    };
    Ok(Delivery {
        id: r.try_get("id")?,
        signal_id: r.try_get("signal_id")?,
        event: r.try_get("event")?,
        event_key: r.try_get("event_key")?,
        severity: r.try_get("severity")?,
        channel: DeliveryChannel {
            id: r.try_get("channel_id")?,
            name: r.try_get("channel_name")?,
            kind: r.try_get("channel_kind")?,
        },
        rule_id: r.try_get("rule_id")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        last_status: r.try_get("last_status")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        delivered_at: r.try_get("delivered_at")?,
        last_response,
    })
}

/// The delivery log, newest first.
pub async fn list(db: &Db, f: &DeliveryFilters, reader: Reader) -> ApiResult<(Vec<Delivery>, i64)> {
    let limit = f.limit.unwrap_or(50);
    let offset = f.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset < 0 {
        return Err(ApiError::bad_request("limit: 1-1000; offset: 0 or more"));
    }
    if let Some(s) = &f.status {
        if !matches!(s.as_str(), "pending" | "delivered" | "failed") {
            return Err(ApiError::bad_request(
                "status: pending, delivered or failed",
            ));
        }
    }
    // Absent filters bind NULL and match everything.
    let cond = "($1 IS NULL OR o.status = $1) AND ($2 IS NULL OR o.channel_id = $2) AND ($3 IS NULL OR o.signal_id = $3)";
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM notification_outbox o JOIN notification_channels c ON c.id = o.channel_id \
         WHERE {cond} ORDER BY o.id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = bind_filters(&sql, f).fetch_all(&db.pool).await?;
    let items = rows
        .iter()
        .map(|r| delivery_json(r, reader))
        .collect::<ApiResult<Vec<_>>>()?;
    let count = format!("SELECT COUNT(*) AS n FROM notification_outbox o WHERE {cond}");
    let total: i64 = bind_filters(&count, f)
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    Ok((items, total))
}

fn bind_filters<'q>(
    sql: &'q str,
    f: &DeliveryFilters,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(f.status.clone())
        .bind(f.channel_id)
        .bind(f.signal_id)
}

pub async fn get(db: &Db, id: i64, reader: Reader) -> ApiResult<Delivery> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM notification_outbox o JOIN notification_channels c ON c.id = o.channel_id WHERE o.id = $1"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))?;
    delivery_json(&row, reader)
}

/// Puts a failed delivery back in the queue, due now, with a fresh attempt budget.
pub async fn retry(db: &Db, id: i64, now: i64, reader: Reader) -> ApiResult<Delivery> {
    let n = sqlx::query(
        "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'failed'",
    )
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        get(db, id, reader).await?;
        return Err(ApiError::conflict(format!("delivery {id} has not failed")));
    }
    get(db, id, reader).await
}

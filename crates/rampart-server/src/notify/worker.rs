//! The delivery worker: claims due outbox rows, sends each through its channel (a few at a time), and closes
//! the row with the outcome: delivered, retry later (exponential backoff with jitter, or the receiver's
//! `Retry-After`), or failed after too many attempts or an error that cannot heal. On shutdown it stops
//! claiming and lets the deliveries in flight finish (up to the drain timeout); if the process dies
//! instead, their leases expire and another worker (or the next start) sends them.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::compose::compose;
use super::outbox::{self, Claimed, Outcome};
use super::{backoff, context, store};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::now_ns;

pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let cfg = state.config.notifications.clone();
    if !cfg.worker {
        return;
    }
    let lease_ns = cfg.lease.as_nanos() as i64;
    let mut inflight: JoinSet<()> = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let free = cfg.concurrency.saturating_sub(inflight.len());
        let mut full_batch = false;
        if free > 0 {
            match outbox::claim(&state.db, &state.notify.worker_id, free, now_ns(), lease_ns).await
            {
                Ok(rows) => {
                    full_batch = rows.len() == free;
                    for c in rows {
                        inflight.spawn(deliver(state.clone(), c));
                    }
                }
                Err(e) => tracing::warn!("claiming notifications: {e:#}"),
            }
        }
        if full_batch && inflight.len() < cfg.concurrency {
            continue;
        }
        tokio::select! {
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            _ = state.notify.wake.notified() => {}
            _ = tokio::time::sleep(cfg.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
    let drained = tokio::time::timeout(cfg.drain_timeout, async {
        while inflight.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} notification deliveries still in flight at shutdown: they are retried after their lease",
            inflight.len()
        );
    }
}

/// One attempt at one row, and its outcome recorded.
async fn deliver(state: AppState, c: Claimed) {
    let started = Instant::now();
    let outcome = attempt(&state, &c).await;
    let m = &state.metrics;
    let now = now_ns();
    let (closed, kind) = match &outcome {
        Err(Attempt::Postponed(wait)) => {
            m.notifications_rate_limited.inc();
            let at = now + wait.as_nanos() as i64;
            (
                outbox::close(&state.db, &c, Outcome::Postponed { at }, now).await,
                "postponed",
            )
        }
        Ok(status) => {
            m.notifications_delivered.inc();
            m.notification_latency
                .observe(Duration::from_nanos((now - c.created_at).max(0) as u64));
            let o = Outcome::Delivered { status: *status };
            (outbox::close(&state.db, &c, o, now).await, "delivered")
        }
        Err(Attempt::Failed {
            retryable,
            status,
            error,
            retry_after,
            response,
        }) => {
            let cfg = &state.config.notifications;
            if *retryable && c.attempts < cfg.max_attempts as i64 {
                m.notifications_retries.inc();
                let wait = retry_after.unwrap_or_else(|| {
                    backoff::delay(c.attempts as u32, cfg.backoff_initial, cfg.backoff_max)
                });
                let o = Outcome::Retry {
                    at: now + wait.as_nanos() as i64,
                    status: *status,
                    error,
                    response: response.as_deref(),
                };
                (outbox::close(&state.db, &c, o, now).await, "retry")
            } else {
                m.notifications_failed.inc();
                let o = Outcome::Failed {
                    status: *status,
                    error,
                    response: response.as_deref(),
                };
                (outbox::close(&state.db, &c, o, now).await, "failed")
            }
        }
    };
    match closed {
        Ok(true) => {}
        Ok(false) => {
            m.notifications_lease_lost.inc();
            tracing::warn!(
                "notification {}: lease lost before it was closed ({kind} after {:?})",
                c.id,
                started.elapsed()
            );
        }
        Err(e) => tracing::error!("notification {}: recording {kind}: {e:#}", c.id),
    }
    if let Err(Attempt::Failed { error, .. }) = &outcome {
        tracing::info!(
            "notification {} (signal {}, channel {}) attempt {}: {error}",
            c.id,
            c.signal_id,
            c.channel_id,
            c.attempts
        );
    }
}

enum Attempt {
    /// Over the channel's rate: not attempted.
    Postponed(Duration),
    Failed {
        retryable: bool,
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
        response: Option<String>,
    },
}

impl From<ApiError> for Attempt {
    fn from(e: ApiError) -> Attempt {
        // A missing signal or channel will not come back; a database error may pass.
        Attempt::Failed {
            retryable: e.status.is_server_error(),
            status: None,
            error: e.message,
            retry_after: None,
            response: None,
        }
    }
}

fn failed(error: String) -> Attempt {
    Attempt::Failed {
        retryable: false,
        status: None,
        error,
        retry_after: None,
        response: None,
    }
}

async fn attempt(state: &AppState, c: &Claimed) -> Result<u16, Attempt> {
    let channel = store::get_channel(&state.db, c.channel_id).await?;
    let config = channel
        .parsed()
        .map_err(|e| failed(format!("channel {}: {e}", channel.name)))?;
    state
        .notify
        .limits
        .take(channel.id, channel.rate_per_minute)
        .map_err(Attempt::Postponed)?;
    let signal = crate::signals::get(&state.db, c.signal_id).await?;
    let rule_template = match c.rule_id {
        Some(id) => store::get_rule(&state.db, id)
            .await
            .ok()
            .and_then(|r| r.spec.template),
        None => None,
    };
    let matched = context::triggering_match(&state.db, c.signal_id, c.event)
        .await
        .map_err(|e| Attempt::from(ApiError::from(e)))?;
    let n = compose(
        &state.notify.public_url(&state.config),
        &signal,
        matched,
        c.event,
        &c.severity,
        c.id,
        &[rule_template.as_ref(), channel.template.as_ref()],
    )
    .map_err(failed)?;
    config
        .deliver(&n, &state.notify.senders)
        .await
        .map_err(|e| Attempt::Failed {
            retryable: e.retryable,
            status: e.status,
            error: e.message,
            retry_after: e.retry_after,
            response: e.response,
        })
}

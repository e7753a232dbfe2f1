//! Agent health reports: the kernel release, the probe's event counters and the workloads the agent profiles,
//! sent periodically by each agent with its credential. Every field is the agent's word (attacker-controlled):
//! bounded, checked, stored as is, and rendered only through escaping templates. The workloads an agent
//! reported are the only ones whose activity snapshots the server takes from it (`agent_workloads`).

pub use rampart_api::agents::{ReportedWorkload, StatusReport};

use crate::error::{ApiError, ApiResult};
use crate::storage::{now_ns, Db};

/// Most workloads in one report (an agent profiles a handful at a time).
const MAX_WORKLOADS: usize = 256;

/// How long a reported workload stays known after its last report: its snapshot may reach the server
/// later (an agent spools it through outages).
const WORKLOAD_MEMORY_NS: i64 = 7 * 86_400 * 1_000_000_000;

/// Longest kernel release accepted (Linux's own limit, `__NEW_UTS_LEN`, is 64).
const MAX_RELEASE: usize = 64;

/// Checks a decoded report's bounds (the agent's word: attacker-controlled).
pub fn validate(report: &StatusReport) -> ApiResult<()> {
    let r = &report.kernel_release;
    if r.len() > MAX_RELEASE || r.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::unprocessable(format!(
            "kernel_release: at most {MAX_RELEASE} bytes, no control characters or spaces"
        )));
    }
    if report.events_delivered < 0 || report.events_dropped < 0 {
        return Err(ApiError::unprocessable(
            "events_delivered, events_dropped: counters, not negative",
        ));
    }
    if report.workloads.len() > MAX_WORKLOADS {
        return Err(ApiError::unprocessable(format!(
            "workloads: at most {MAX_WORKLOADS}"
        )));
    }
    for (i, w) in report.workloads.iter().enumerate() {
        let bad = |v: &str, min: usize, max: usize| {
            v.len() < min || v.len() > max || v.chars().any(char::is_control)
        };
        if bad(&w.id, 1, 256) || bad(&w.image_name, 1, 512) || bad(&w.image_tag, 0, 256) {
            return Err(ApiError::unprocessable(format!(
                "workloads[{i}]: id 1-256 bytes, image_name 1-512, image_tag at most 256, no control \
                 characters"
            )));
        }
    }
    Ok(())
}

/// Stores a validated report; the previous drop count and time are kept for the recent change. A report
/// also counts as the agent being seen.
pub async fn store(db: &Db, agent_id: i64, r: &StatusReport) -> ApiResult<()> {
    let now = now_ns();
    let mut w = db.begin_write().await?;
    sqlx::query(
        "UPDATE agents SET previous_dropped = events_dropped, previous_status_at = status_at, \
         kernel_release = $1, events_delivered = $2, events_dropped = $3, status_at = $4, last_seen_at = $4 \
         WHERE id = $5",
    )
    .bind(&r.kernel_release)
    .bind(r.events_delivered)
    .bind(r.events_dropped)
    .bind(now)
    .bind(agent_id)
    .execute(&mut *w.tx)
    .await?;
    for wl in &r.workloads {
        sqlx::query(
            "INSERT INTO agent_workloads (agent_id, workload_id, image_name, image_tag, first_reported_at, \
             last_reported_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (agent_id, workload_id, image_name, \
             image_tag) DO UPDATE SET last_reported_at = excluded.last_reported_at",
        )
        .bind(agent_id)
        .bind(&wl.id)
        .bind(&wl.image_name)
        .bind(&wl.image_tag)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
    }
    sqlx::query("DELETE FROM agent_workloads WHERE agent_id = $1 AND last_reported_at < $2")
        .bind(agent_id)
        .bind(now - WORKLOAD_MEMORY_NS)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(())
}

/// Whether agent `agent_id` reported running workload `id` of that image.
pub async fn reported_workload(
    db: &Db,
    agent_id: i64,
    id: &str,
    image_name: &str,
    image_tag: &str,
) -> ApiResult<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM agent_workloads WHERE agent_id = $1 AND workload_id = $2 AND image_name = $3 \
         AND image_tag = $4",
    )
    .bind(agent_id)
    .bind(id)
    .bind(image_name)
    .bind(image_tag)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(release: &str, delivered: i64, dropped: i64) -> StatusReport {
        StatusReport {
            kernel_release: release.into(),
            events_delivered: delivered,
            events_dropped: dropped,
            workloads: Vec::new(),
        }
    }

    #[test]
    fn accepts_real_releases_and_zero_counters() {
        for r in [
            "6.18.0-1-amd64",
            "5.15.0-1051-azure+",
            "",
            "4.19.0_rc1~custom",
        ] {
            assert!(validate(&report(r, 0, 0)).is_ok(), "{r}");
        }
        assert!(validate(&report("6.1.0", i64::MAX, i64::MAX)).is_ok());
    }

    #[test]
    fn refuses_negative_counters() {
        assert!(validate(&report("6.1.0", -1, 0)).is_err());
        assert!(validate(&report("6.1.0", 0, -5)).is_err());
    }

    #[test]
    fn refuses_long_or_control_releases() {
        assert!(validate(&report(&"6".repeat(65), 0, 0)).is_err());
        assert!(validate(&report(&"6".repeat(64), 0, 0)).is_ok());
        for r in ["6.1\n<b>", "6.1\u{1b}[31m", "6.1 x", "6.1\0"] {
            assert!(validate(&report(r, 0, 0)).is_err(), "{r:?}");
        }
    }

    #[test]
    fn unknown_or_negative_json_is_refused() {
        let bad = r#"{"events_delivered": 1, "events_dropped": 0, "extra": 1}"#;
        assert!(serde_json::from_str::<StatusReport>(bad).is_err());
        let too_big = r#"{"events_delivered": 18446744073709551615, "events_dropped": 0}"#;
        assert!(serde_json::from_str::<StatusReport>(too_big).is_err());
    }
}

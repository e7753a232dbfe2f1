//! Which activity snapshots the server takes from an agent: only of workloads that agent reported running
//! (its health reports, `agent_workloads`), and at most so many per hour. Beyond, a clear refusal (409,
//! 429) and nothing stored.

use rampart_model::behavior::ActivitySnapshot;
use sqlx::Row;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const HOUR_NS: i64 = 3600 * 1_000_000_000;

/// Refuses a snapshot `agent_id` may not send now (`now`: epoch ns).
pub async fn check(
    s: &AppState,
    agent_id: i64,
    snap: &ActivitySnapshot,
    now: i64,
) -> ApiResult<()> {
    let limit = s.config.profiles.snapshots_per_agent_hour;
    let recent: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM activity_snapshots WHERE agent_id = $1 AND received_at > $2",
    )
    .bind(agent_id)
    .bind(now - HOUR_NS)
    .fetch_one(&s.db.pool)
    .await?
    .try_get("n")?;
    if recent >= limit {
        return Err(ApiError::too_many_requests(format!(
            "this agent sent {recent} snapshots in the last hour (at most {limit}); send again later"
        )));
    }
    let w = &snap.workload;
    let reported = crate::auth::agent_status::reported_workload(
        &s.db,
        agent_id,
        &w.id,
        &w.image_name,
        &w.image_tag,
    )
    .await?;
    if !reported {
        return Err(ApiError::conflict(format!(
            "workload {:?} ({}:{}) was never reported by this agent: an agent sends snapshots only of the \
             workloads its health reports list (agents older than this server report none: upgrade them)",
            w.id, w.image_name, w.image_tag
        )));
    }
    Ok(())
}

//! Configuration revisions in the database, and what each agent reports about applying them.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

use super::snapshot::Snapshot;
use crate::audit::{self, details::diff, Action, Actor};
use crate::error::{ApiError, ApiResult};
use crate::storage::{now_ns, Db};

/// One stored revision.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    pub revision: i64,
    pub snapshot: Snapshot,
    pub author: String,
    pub summary: String,
    pub created_at: i64,
}

pub use rampart_api::config::{FleetAgent, RevisionInfo};

fn revision_from(r: &sqlx::any::AnyRow) -> ApiResult<Revision> {
    let text: String = r.try_get("snapshot")?;
    Ok(Revision {
        revision: r.try_get("revision")?,
        snapshot: serde_json::from_str(&text)
            .map_err(|e| ApiError::internal(format!("stored configuration snapshot: {e}")))?,
        author: r.try_get("author")?,
        summary: r.try_get("summary")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Revision 0: the configuration before any change (the default policy, nothing else).
fn initial() -> Revision {
    Revision {
        revision: 0,
        snapshot: Snapshot::default(),
        author: "rampart".into(),
        summary: "initial configuration".into(),
        created_at: 0,
    }
}

/// The newest revision; before any change, revision 0.
pub async fn latest(db: &Db) -> ApiResult<Revision> {
    let row = sqlx::query(
        "SELECT revision, snapshot, author, summary, created_at FROM config_revisions \
         ORDER BY revision DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?;
    row.map_or_else(|| Ok(initial()), |r| revision_from(&r))
}

/// The newest revision number (cheap: for long polls).
pub async fn latest_number(db: &Db) -> ApiResult<i64> {
    let row = sqlx::query("SELECT MAX(revision) AS r FROM config_revisions")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get::<Option<i64>, _>("r")?.unwrap_or(0))
}

pub async fn get(db: &Db, revision: i64) -> ApiResult<Revision> {
    if revision == 0 {
        return Ok(initial());
    }
    let row = sqlx::query(
        "SELECT revision, snapshot, author, summary, created_at FROM config_revisions WHERE revision = $1",
    )
    .bind(revision)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no configuration revision {revision}")))?;
    revision_from(&row)
}

pub async fn list(db: &Db, limit: i64) -> ApiResult<Vec<RevisionInfo>> {
    let rows = sqlx::query(
        "SELECT revision, author, summary, created_at FROM config_revisions ORDER BY revision DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RevisionInfo {
                revision: r.try_get("revision")?,
                author: r.try_get("author")?,
                summary: r.try_get("summary")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Stores `snapshot` as the revision after `base`. Returns `None` when another writer (a replica) stored
/// that revision first: the caller re-reads and tries again.
async fn insert_after(
    db: &Db,
    base: &Revision,
    snapshot: &Snapshot,
    actor: &Actor,
    summary: &str,
) -> ApiResult<Option<Revision>> {
    let (base_snapshot, base, author) = (&base.snapshot, base.revision, actor.name.as_str());
    let text = serde_json::to_string(snapshot).map_err(ApiError::internal)?;
    let changes = diff(&json!(base_snapshot), &json!(snapshot));
    let now = now_ns();
    let mut w = db.begin_write().await?;
    let row = sqlx::query(
        "INSERT INTO config_revisions (revision, snapshot, author, summary, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (revision) DO NOTHING RETURNING revision",
    )
    .bind(base + 1)
    .bind(&text)
    .bind(author)
    .bind(summary)
    .bind(now)
    .fetch_optional(&mut *w.tx)
    .await?;
    if row.is_some() {
        let details = json!({"revision": base + 1, "changes": changes["changes"]});
        audit::record(&mut *w.tx, actor, Action::ConfigChanged, summary, details).await?;
    }
    w.commit().await?;
    Ok(row.map(|_| Revision {
        revision: base + 1,
        snapshot: snapshot.clone(),
        author: author.into(),
        summary: summary.into(),
        created_at: now,
    }))
}

/// Applies `change` to the newest configuration and stores the result as a new revision; `check` sees the
/// result first and may refuse it (validation). Concurrent writers are serialised by the revision key. The
/// audit entry (what changed, by whom) is written in the same transaction as the revision.
pub async fn commit<C, K, F>(
    db: &Db,
    actor: &Actor,
    summary: &str,
    mut change: C,
    mut check: K,
) -> ApiResult<Revision>
where
    C: FnMut(&mut Snapshot) -> ApiResult<()>,
    K: FnMut(Snapshot) -> F,
    F: std::future::Future<Output = ApiResult<()>>,
{
    for _ in 0..8 {
        let base = latest(db).await?;
        let mut next = base.snapshot.clone();
        change(&mut next)?;
        check(next.clone()).await?;
        if let Some(r) = insert_after(db, &base, &next, actor, summary).await? {
            return Ok(r);
        }
    }
    Err(ApiError::conflict(
        "the configuration kept changing under this request; try again",
    ))
}

/// Tags an agent reported at enrollment.
pub async fn agent_tags(db: &Db, agent_id: i64) -> ApiResult<Vec<String>> {
    let row = sqlx::query("SELECT tags FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_one(&db.pool)
        .await?;
    let text: String = row.try_get("tags")?;
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

pub async fn set_agent_tags(db: &Db, agent_id: i64, tags: &[String]) -> ApiResult<()> {
    sqlx::query("UPDATE agents SET tags = $1 WHERE id = $2")
        .bind(serde_json::to_string(tags).map_err(ApiError::internal)?)
        .bind(agent_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// What an agent says about the revision it last received.
pub async fn set_agent_status(
    db: &Db,
    agent_id: i64,
    revision: i64,
    status: &str,
    errors: &Value,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE agents SET config_revision = $1, config_status = $2, config_errors = $3, \
         config_updated_at = $4 WHERE id = $5",
    )
    .bind(revision)
    .bind(status)
    .bind(errors.to_string())
    .bind(now_ns())
    .bind(agent_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Every agent's configuration state, for the fleet view.
pub async fn fleet(db: &Db) -> ApiResult<Vec<FleetAgent>> {
    let rows = sqlx::query(
        "SELECT id, hostname, version, tags, config_revision, config_status, config_errors, config_updated_at, \
         last_seen_at, revoked FROM agents ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let tags: String = r.try_get("tags")?;
            let errors: String = r.try_get("config_errors")?;
            // Both columns are written by the server as JSON arrays; anything else reads as none.
            Ok(FleetAgent {
                id: r.try_get("id")?,
                hostname: r.try_get("hostname")?,
                version: r.try_get("version")?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                config_revision: r.try_get("config_revision")?,
                config_status: r.try_get("config_status")?,
                config_errors: serde_json::from_str(&errors).unwrap_or_default(),
                config_updated_at: r.try_get("config_updated_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            })
        })
        .collect()
}

//! Snapshots and profiles in the database.

use std::collections::BTreeMap;

use rampart_api::profiles::SnapshotInfo;
use rampart_model::behavior::ActivitySnapshot;
use rampart_policy::bundle::BundleProfile;
use serde::Serialize;
use sqlx::Row;

use super::quorum::{self, NodeAgents};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{now_ns, Db, DbKind};

/// One profile, with its behaviours' counts.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub id: i64,
    pub image_name: String,
    pub image_tag: String,
    pub status: String,
    pub snapshots: i64,
    pub first_seen: i64,
    pub last_updated: i64,
    pub stable_at: Option<i64>,
    /// Behaviour key → snapshots that contain it.
    pub nodes: BTreeMap<String, i64>,
    /// Behaviour key → an example (arguments) from the first snapshot that had it.
    pub examples: BTreeMap<String, String>,
    /// Behaviour key → the agents that saw it (None: learnt before this was tracked).
    pub node_agents: Option<NodeAgents>,
}

impl Profile {
    /// Share of the profile's snapshots that contain `key`.
    pub fn commonality(&self, key: &str) -> f64 {
        match self.nodes.get(key) {
            Some(n) if self.snapshots > 0 => *n as f64 / self.snapshots as f64,
            _ => 0.0,
        }
    }

    /// How settled the profile is: the mean commonality of its behaviours (1.0 when every snapshot did
    /// exactly the same things).
    pub fn score(&self) -> f64 {
        if self.nodes.is_empty() || self.snapshots == 0 {
            return 0.0;
        }
        self.nodes.values().map(|n| *n as f64).sum::<f64>()
            / (self.nodes.len() as f64 * self.snapshots as f64)
    }
}

const COLS: &str =
    "id, image_name, image_tag, status, snapshots, first_seen, last_updated, stable_at, nodes, \
     examples, node_agents";

fn profile_from(r: &sqlx::any::AnyRow) -> ApiResult<Profile> {
    let nodes: String = r.try_get("nodes")?;
    let examples: String = r.try_get("examples")?;
    Ok(Profile {
        id: r.try_get("id")?,
        image_name: r.try_get("image_name")?,
        image_tag: r.try_get("image_tag")?,
        status: r.try_get("status")?,
        snapshots: r.try_get("snapshots")?,
        first_seen: r.try_get("first_seen")?,
        last_updated: r.try_get("last_updated")?,
        stable_at: r.try_get("stable_at")?,
        nodes: serde_json::from_str(&nodes).unwrap_or_default(),
        examples: serde_json::from_str(&examples).unwrap_or_default(),
        node_agents: r
            .try_get::<Option<String>, _>("node_agents")?
            .and_then(|t| serde_json::from_str(&t).ok()),
    })
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Profile> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM security_profiles WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no security profile {id}")))?;
    profile_from(&row)
}

pub async fn find(db: &Db, image_name: &str, image_tag: &str) -> ApiResult<Option<Profile>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM security_profiles WHERE image_name = $1 AND image_tag = $2"
    ))
    .bind(image_name)
    .bind(image_tag)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| profile_from(&r)).transpose()
}

pub async fn list(db: &Db, image_name: Option<&str>) -> ApiResult<Vec<Profile>> {
    let rows = match image_name {
        Some(n) => {
            sqlx::query(&format!(
                "SELECT {COLS} FROM security_profiles WHERE image_name = $1 ORDER BY image_name, image_tag"
            ))
            .bind(n)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLS} FROM security_profiles ORDER BY image_name, image_tag"
            ))
            .fetch_all(&db.pool)
            .await?
        }
    };
    rows.iter().map(profile_from).collect()
}

/// The snapshots merged into (or refused by) a profile, newest first.
pub async fn snapshots(db: &Db, profile_id: i64, limit: i64) -> ApiResult<Vec<SnapshotInfo>> {
    let rows = sqlx::query(
        "SELECT id, agent_id, snapshot_id, workload, started_at, ended_at, events, dropped, behaviors \
         FROM activity_snapshots WHERE profile_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(profile_id)
    .bind(limit.clamp(1, 1000))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SnapshotInfo {
                id: r.try_get("id")?,
                agent_id: r.try_get("agent_id")?,
                snapshot_id: r.try_get("snapshot_id")?,
                workload: r.try_get("workload")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                events: r.try_get("events")?,
                dropped: r.try_get("dropped")?,
                behaviors: r.try_get("behaviors")?,
            })
        })
        .collect()
}

/// What became of an ingested snapshot (the API's type).
pub use rampart_api::profiles::SnapshotIngested as Ingested;

/// What a duplicate snapshot (re-sent) gets.
const DUPLICATE: Ingested = Ingested {
    duplicate: true,
    profile_id: None,
    profile_stable: false,
    became_stable: false,
};

/// Stores a snapshot once and merges it into its profile (created learning on first sight), if the agent
/// may send it ([`super::acceptance`]).
pub async fn ingest(s: &AppState, agent_id: i64, snap: &ActivitySnapshot) -> ApiResult<Ingested> {
    let cfg = &s.config.profiles;
    let now = now_ns();
    let known =
        sqlx::query("SELECT id FROM activity_snapshots WHERE agent_id = $1 AND snapshot_id = $2")
            .bind(agent_id)
            .bind(&snap.id)
            .fetch_optional(&s.db.pool)
            .await?;
    if known.is_some() {
        return Ok(DUPLICATE);
    }
    super::acceptance::check(s, agent_id, snap, now).await?;
    let body = serde_json::to_string(snap).map_err(ApiError::internal)?;
    let mut w = s.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO activity_snapshots (agent_id, snapshot_id, workload, image_name, image_tag, started_at, \
         ended_at, events, dropped, behaviors, body, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (agent_id, snapshot_id) DO NOTHING RETURNING id",
    )
    .bind(agent_id)
    .bind(&snap.id)
    .bind(&snap.workload.id)
    .bind(&snap.workload.image_name)
    .bind(&snap.workload.image_tag)
    .bind(snap.started_at as i64)
    .bind(snap.ended_at as i64)
    .bind(snap.events as i64)
    .bind(snap.dropped as i64)
    .bind(snap.behaviors.len() as i64)
    .bind(&body)
    .bind(now)
    .fetch_optional(&mut *w.tx)
    .await?;
    let Some(row) = inserted else {
        w.commit().await?;
        return Ok(DUPLICATE);
    };
    let snapshot_row: i64 = row.try_get("id")?;
    sqlx::query(
        "INSERT INTO security_profiles (image_name, image_tag, status, snapshots, first_seen, last_updated, nodes, \
         examples, node_agents) VALUES ($1, $2, 'learning', 0, $3, $3, '{}', '{}', '{}') \
         ON CONFLICT (image_name, image_tag) DO NOTHING",
    )
    .bind(&snap.workload.image_name)
    .bind(&snap.workload.image_tag)
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM security_profiles WHERE image_name = $1 AND image_tag = $2{}",
        row_lock(&s.db)
    ))
    .bind(&snap.workload.image_name)
    .bind(&snap.workload.image_tag)
    .fetch_one(&mut *w.tx)
    .await?;
    let mut p = profile_from(&row)?;
    sqlx::query("UPDATE activity_snapshots SET profile_id = $1 WHERE id = $2")
        .bind(p.id)
        .bind(snapshot_row)
        .execute(&mut *w.tx)
        .await?;
    let mut out = Ingested {
        duplicate: false,
        profile_id: Some(p.id),
        profile_stable: p.status == "stable",
        became_stable: false,
    };
    if p.status == "learning" {
        let mut agents = vouching_agents(&mut w.tx, &mut p).await?;
        let mut seen = std::collections::BTreeSet::new();
        for e in &snap.behaviors {
            let key = e.behavior.key();
            if seen.insert(key.clone()) {
                *p.nodes.entry(key.clone()).or_default() += 1;
                quorum::record(&mut agents, &key, agent_id);
                if !e.example.is_empty() {
                    p.examples.entry(key).or_insert_with(|| e.example.clone());
                }
            }
        }
        p.snapshots += 1;
        let quorum_met = quorum::contributors(&mut w.tx, p.id).await? >= cfg.min_agents;
        let due = quorum_met
            && (p.snapshots >= cfg.stable_after_snapshots
                || now - p.first_seen >= cfg.stable_after.as_nanos() as i64);
        out.became_stable = due;
        if due {
            quorum::keep_confirmed(&mut p, &agents, cfg.min_agents);
        }
        save(&mut w.tx, &p, &agents, due, now).await?;
    }
    w.commit().await?;
    if out.became_stable {
        publish_stable(s, &[p.id]).await?;
    }
    Ok(out)
}

/// ` FOR UPDATE` where the backend has row locks (SQLite's writer lock serialises already).
fn row_lock(db: &Db) -> &'static str {
    if db.kind == DbKind::Postgres {
        " FOR UPDATE"
    } else {
        ""
    }
}

/// The profile's vouching agents, rebuilt from its snapshots if it was learnt before they were tracked.
async fn vouching_agents(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    p: &mut Profile,
) -> anyhow::Result<NodeAgents> {
    match p.node_agents.take() {
        Some(a) => Ok(a),
        None => quorum::rebuild(tx, p.id).await,
    }
}

/// Writes a learning profile back, stable from `now` when `stable`.
async fn save(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    p: &Profile,
    agents: &NodeAgents,
    stable: bool,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE security_profiles SET snapshots = $1, last_updated = $2, nodes = $3, examples = $4, \
         status = $5, stable_at = $6, node_agents = $7 WHERE id = $8",
    )
    .bind(p.snapshots)
    .bind(now)
    .bind(serde_json::to_string(&p.nodes).map_err(ApiError::internal)?)
    .bind(serde_json::to_string(&p.examples).map_err(ApiError::internal)?)
    .bind(if stable { "stable" } else { "learning" })
    .bind(stable.then_some(now))
    .bind(serde_json::to_string(agents).map_err(ApiError::internal)?)
    .bind(p.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Promotes the learning profiles that are old enough and have enough distinct agents.
pub async fn promote_due(s: &AppState) -> ApiResult<()> {
    let cfg = &s.config.profiles;
    let cutoff = now_ns() - cfg.stable_after.as_nanos() as i64;
    let rows = sqlx::query(
        "SELECT p.id FROM security_profiles p WHERE p.status = 'learning' AND p.first_seen <= $1 \
         AND p.snapshots > 0 AND (SELECT COUNT(DISTINCT a.agent_id) FROM activity_snapshots a \
         WHERE a.profile_id = p.id) >= $2",
    )
    .bind(cutoff)
    .bind(cfg.min_agents as i64)
    .fetch_all(&s.db.pool)
    .await?;
    let mut ids = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        if stabilise(s, id).await? {
            ids.push(id);
        }
    }
    if !ids.is_empty() {
        publish_stable(s, &ids).await?;
    }
    Ok(())
}

/// Makes a learning profile stable (keeping the behaviours enough agents saw); false if it was not
/// learning any more (another replica promoted it).
async fn stabilise(s: &AppState, id: i64) -> ApiResult<bool> {
    let now = now_ns();
    let mut w = s.db.begin_write().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM security_profiles WHERE id = $1 AND status = 'learning'{}",
        row_lock(&s.db)
    ))
    .bind(id)
    .fetch_optional(&mut *w.tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let mut p = profile_from(&row)?;
    let agents = vouching_agents(&mut w.tx, &mut p).await?;
    quorum::keep_confirmed(&mut p, &agents, s.config.profiles.min_agents);
    save(&mut w.tx, &p, &agents, true, now).await?;
    w.commit().await?;
    Ok(true)
}

/// Adds stable profiles to the configuration, so agents receive them.
async fn publish_stable(s: &AppState, ids: &[i64]) -> ApiResult<()> {
    let summary = format!("security profiles {ids:?} stable");
    let r = crate::remote_config::store::commit(
        &s.db,
        &crate::audit::Actor::system("rampart"),
        &summary,
        |next| {
            next.stable_profiles.extend(ids.iter().copied());
            Ok(())
        },
        |_| async { Ok(()) },
    )
    .await?;
    s.remote.watch.notify(r.revision);
    Ok(())
}

/// The stable profiles a configuration lists, as agents use them.
pub async fn bundle_profiles(
    db: &Db,
    ids: &std::collections::BTreeSet<i64>,
) -> ApiResult<Vec<BundleProfile>> {
    let mut out = Vec::new();
    for id in ids {
        let Ok(p) = get(db, *id).await else { continue };
        if p.status != "stable" {
            continue;
        }
        out.push(BundleProfile {
            id: p.id,
            image_name: p.image_name,
            image_tag: p.image_tag,
            behaviors: p.nodes.into_keys().collect(),
        });
    }
    Ok(out)
}

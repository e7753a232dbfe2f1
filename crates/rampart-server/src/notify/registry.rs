//! The enabled rules and channels, cached for the ingest path (re-read at most every two seconds, and at
//! once after a change through this server; other replicas see it within the refresh).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Row;

use super::rules::RuleSpec;
use crate::storage::Db;

#[derive(Debug, Default)]
pub struct Active {
    /// (rule id, spec), by id.
    pub rules: Vec<(i64, RuleSpec)>,
    pub enabled_channels: HashSet<i64>,
}

#[derive(Default)]
pub struct RuleCache {
    cache: tokio::sync::RwLock<Option<(Instant, Arc<Active>)>>,
}

const REFRESH: Duration = Duration::from_secs(2);

impl RuleCache {
    pub async fn current(&self, db: &Db) -> Arc<Active> {
        if let Some((at, a)) = self.cache.read().await.as_ref() {
            if at.elapsed() < REFRESH {
                return a.clone();
            }
        }
        let mut guard = self.cache.write().await;
        let active = match load(db).await {
            Ok(a) => Arc::new(a),
            Err(e) => {
                tracing::error!("reading notification rules: {e:#}");
                guard.as_ref().map(|(_, a)| a.clone()).unwrap_or_default()
            }
        };
        *guard = Some((Instant::now(), active.clone()));
        active
    }

    pub async fn invalidate(&self) {
        *self.cache.write().await = None;
    }
}

async fn load(db: &Db) -> anyhow::Result<Active> {
    let mut active = Active::default();
    for r in sqlx::query("SELECT id FROM notification_channels WHERE enabled = 1")
        .fetch_all(&db.pool)
        .await?
    {
        active.enabled_channels.insert(r.try_get("id")?);
    }
    for r in sqlx::query("SELECT id, spec FROM notification_rules WHERE enabled = 1 ORDER BY id")
        .fetch_all(&db.pool)
        .await?
    {
        let id: i64 = r.try_get("id")?;
        let spec: String = r.try_get("spec")?;
        match serde_json::from_str::<RuleSpec>(&spec) {
            Ok(s) => active.rules.push((id, s)),
            Err(e) => tracing::error!("notification rule {id} does not load: {e}"),
        }
    }
    Ok(active)
}

//! Backend detection rules: queries over the matches agents report, grouped and evaluated over time windows
//! (threshold, new value, sequence). The default set is embedded from `rules/default.yaml`; admins add more
//! through the API (stored in the database, so every replica sees them).

pub mod cond;
pub mod dry;
pub mod eval;
pub mod spec;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Row;

pub use spec::{BackendRule, LoadError, Method};

use crate::storage::Db;

pub const DEFAULT_RULES: &str = include_str!("../../rules/default.yaml");

/// The rules in force.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Arc<BackendRule>>,
    /// Where each rule comes from: `default`, `file` or `custom`.
    pub origins: Vec<&'static str>,
    /// Custom rules stored in the database that no longer compile.
    pub errors: Vec<LoadError>,
    /// Rules an admin disabled (not evaluated), with their origin.
    pub disabled: Vec<(Arc<BackendRule>, &'static str)>,
}

impl RuleSet {
    pub fn get(&self, id: &str) -> Option<&Arc<BackendRule>> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// Static rules (defaults and files) plus the custom ones, re-read from the database every few seconds.
pub struct Registry {
    fixed: Vec<(Arc<BackendRule>, &'static str)>,
    cache: tokio::sync::RwLock<Option<(Instant, Arc<RuleSet>)>>,
}

const REFRESH: Duration = Duration::from_secs(2);

impl Registry {
    /// Loads the embedded defaults (if asked) and the given files; returns the rules that failed.
    pub fn load(
        defaults: bool,
        files: &[std::path::PathBuf],
    ) -> anyhow::Result<(Registry, Vec<LoadError>)> {
        let mut fixed = Vec::new();
        let mut errors = Vec::new();
        if defaults {
            let (ok, errs) = spec::load_str(DEFAULT_RULES).map_err(anyhow::Error::msg)?;
            fixed.extend(ok.into_iter().map(|r| (Arc::new(r), "default")));
            errors.extend(errs);
        }
        for f in files {
            let text = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", f.display()))?;
            let (ok, errs) =
                spec::load_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            for r in ok {
                fixed.retain(|(x, _)| x.id != r.id);
                fixed.push((Arc::new(r), "file"));
            }
            errors.extend(errs);
        }
        Ok((
            Registry {
                fixed,
                cache: Default::default(),
            },
            errors,
        ))
    }

    pub fn fixed_ids(&self) -> Vec<String> {
        self.fixed.iter().map(|(r, _)| r.id.clone()).collect()
    }

    /// The current rule set (custom rules refreshed from the database at most every two seconds).
    pub async fn current(&self, db: &Db) -> Arc<RuleSet> {
        if let Some((at, set)) = self.cache.read().await.as_ref() {
            if at.elapsed() < REFRESH {
                return set.clone();
            }
        }
        let mut guard = self.cache.write().await;
        let set = match self.build(db).await {
            Ok(set) => Arc::new(set),
            Err(e) => {
                tracing::error!("reading custom backend rules: {e:#}");
                match guard.as_ref() {
                    Some((_, old)) => old.clone(),
                    None => Arc::new(self.fixed_set()),
                }
            }
        };
        *guard = Some((Instant::now(), set.clone()));
        set
    }

    /// Forgets the cached set (after a local change).
    pub async fn invalidate(&self) {
        *self.cache.write().await = None;
    }

    fn fixed_set(&self) -> RuleSet {
        RuleSet {
            rules: self.fixed.iter().map(|(r, _)| r.clone()).collect(),
            origins: self.fixed.iter().map(|(_, o)| *o).collect(),
            errors: Vec::new(),
            disabled: Vec::new(),
        }
    }

    fn fixed_rule(&self, id: &str) -> Option<&(Arc<BackendRule>, &'static str)> {
        self.fixed.iter().find(|(r, _)| r.id == id)
    }

    /// Enables or disables a rule. A custom rule's row is flipped; a built-in one is disabled by a row
    /// holding its own definition, removed again when it is enabled. Returns false for an unknown id.
    pub async fn set_enabled(&self, db: &Db, id: &str, enabled: bool) -> anyhow::Result<bool> {
        let fixed_yaml = match self.fixed_rule(id) {
            Some((r, _)) => Some(serde_yaml_ng::to_string(&r.spec)?),
            None => None,
        };
        let mut w = db.begin_write().await?;
        let row = sqlx::query("SELECT yaml FROM backend_rules WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await?;
        let stored: Option<String> = row.map(|r| r.try_get("yaml")).transpose()?;
        let now = crate::storage::now_ns();
        match (stored, fixed_yaml) {
            (None, None) => return Ok(false),
            (None, Some(_)) if enabled => {}
            (None, Some(yaml)) => {
                sqlx::query(
                    "INSERT INTO backend_rules (id, yaml, enabled, updated_at) VALUES ($1, $2, 0, $3)",
                )
                .bind(id)
                .bind(yaml)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
            }
            (Some(stored), Some(fixed)) if enabled && stored == fixed => {
                sqlx::query("DELETE FROM backend_rules WHERE id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
            (Some(_), _) => {
                sqlx::query("UPDATE backend_rules SET enabled = $1, updated_at = $2 WHERE id = $3")
                    .bind(enabled as i64)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        w.commit().await?;
        self.invalidate().await;
        Ok(true)
    }

    async fn build(&self, db: &Db) -> anyhow::Result<RuleSet> {
        let mut set = self.fixed_set();
        let rows = sqlx::query("SELECT id, yaml, enabled FROM backend_rules ORDER BY id")
            .fetch_all(&db.pool)
            .await?;
        for r in rows {
            let id: String = r.try_get("id")?;
            let yaml: String = r.try_get("yaml")?;
            let enabled = r.try_get::<i64, _>("enabled")? != 0;
            let compiled = serde_yaml_ng::from_str::<spec::RuleSpec>(&yaml)
                .map_err(|e| e.to_string())
                .and_then(|s| s.compile());
            match compiled {
                Ok(rule) => {
                    // A stored rule replaces a built-in one of the same id, enabled or not.
                    if let Some(i) = set.rules.iter().position(|x| x.id == rule.id) {
                        set.rules.remove(i);
                        set.origins.remove(i);
                    }
                    let origin = match self.fixed_rule(&id) {
                        Some((_, o)) if !enabled => *o,
                        _ => "custom",
                    };
                    if enabled {
                        set.rules.push(Arc::new(rule));
                        set.origins.push(origin);
                    } else {
                        set.disabled.push((Arc::new(rule), origin));
                    }
                }
                Err(error) => set.errors.push(LoadError { id, error }),
            }
        }
        Ok(set)
    }
}

/// Validates a rule file for the API and stores its rules (all or nothing).
pub async fn store_custom(db: &Db, yaml: &str) -> Result<Vec<String>, Vec<LoadError>> {
    let checked = spec::check(yaml);
    if !checked.problems.is_empty() {
        return Err(checked
            .problems
            .into_iter()
            .map(|p| LoadError {
                id: p.rule,
                error: p.error,
            })
            .collect());
    }
    let ok = checked.rules;
    let internal = |e: &dyn std::fmt::Display| {
        vec![LoadError {
            id: String::new(),
            error: format!("storing: {e}"),
        }]
    };
    let mut w = db.begin_write().await.map_err(|e| internal(&e))?;
    let now = crate::storage::now_ns();
    for r in &ok {
        let text = serde_yaml_ng::to_string(&r.spec).map_err(|e| internal(&e))?;
        sqlx::query(
            "INSERT INTO backend_rules (id, yaml, enabled, updated_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (id) DO UPDATE SET yaml = excluded.yaml, enabled = 1, updated_at = excluded.updated_at",
        )
        .bind(&r.id)
        .bind(text)
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| internal(&e))?;
    }
    w.commit().await.map_err(|e| internal(&e))?;
    Ok(ok.into_iter().map(|r| r.id).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_rules_all_load() {
        let (ok, errors) = super::spec::load_str(super::DEFAULT_RULES).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(ok.len() >= 10, "{} default backend rules", ok.len());
        for method in [
            super::Method::Threshold,
            super::Method::NewValue,
            super::Method::Sequence,
        ] {
            assert!(
                ok.iter().any(|r| r.method == method),
                "no default {method:?} rule"
            );
        }
        assert!(ok
            .iter()
            .all(|r| !r.remediation.is_empty() && !r.description.is_empty()));
    }
}

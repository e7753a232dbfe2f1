//! Related signals: others on the same host within a time window, classified by the closest link: the
//! same process tree (one's process is in the other's lineage, or they share a parent), the same
//! container, or only the same host.

use std::collections::{HashMap, HashSet};

use rampart_api::signals::RelatedSignal;
use sqlx::Row;

use super::Signal;
use crate::error::ApiResult;
use crate::storage::Db;

/// Pids in samples of a signal: the processes themselves and their whole lineage (pid 1 excluded: everyone
/// descends from init).
#[derive(Default)]
struct Lineage {
    own: HashSet<i64>,
    parents: HashSet<i64>,
    all: HashSet<i64>,
}

async fn lineages(db: &Db, ids: &[i64]) -> ApiResult<HashMap<i64, Lineage>> {
    let mut out: HashMap<i64, Lineage> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT sm.signal_id, m.process_pid, m.lineage FROM signal_matches sm JOIN matches m ON m.id = sm.match_id \
         WHERE sm.signal_id IN ({list})"
    );
    for r in sqlx::query(&sql).fetch_all(&db.pool).await? {
        let sid: i64 = r.try_get("signal_id")?;
        let pid: i64 = r.try_get("process_pid")?;
        let lineage: String = r.try_get("lineage")?;
        let pids: Vec<i64> = lineage
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|p| *p > 1)
            .collect();
        let l = out.entry(sid).or_default();
        if pid > 1 {
            l.own.insert(pid);
        }
        if let Some(parent) = pids.get(1) {
            l.parents.insert(*parent);
        }
        l.all.extend(pids);
    }
    Ok(out)
}

fn same_tree(a: &Lineage, b: &Lineage) -> bool {
    !a.own.is_disjoint(&b.all) || !b.own.is_disjoint(&a.all) || !a.parents.is_disjoint(&b.parents)
}

pub async fn related(db: &Db, s: &Signal, window_ns: i64) -> ApiResult<Vec<RelatedSignal>> {
    let rows = sqlx::query(
        "SELECT id, rule_id, source, severity, title, container_id, process_path, first_seen, last_seen, count, state \
         FROM signals WHERE id <> $1 AND hostname = $2 AND last_seen >= $3 AND first_seen <= $4 \
         ORDER BY last_seen DESC LIMIT 200",
    )
    .bind(s.id)
    .bind(&s.hostname)
    .bind(s.first_seen.saturating_sub(window_ns))
    .bind(s.last_seen.saturating_add(window_ns))
    .fetch_all(&db.pool)
    .await?;
    let mut ids = vec![s.id];
    for r in &rows {
        ids.push(r.try_get("id")?);
    }
    let lin = lineages(db, &ids).await?;
    let empty = Lineage::default();
    let mine = lin.get(&s.id).unwrap_or(&empty);
    let mut out = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let container: String = r.try_get("container_id")?;
        let relation = if same_tree(mine, lin.get(&id).unwrap_or(&empty)) {
            "process_tree"
        } else if !container.is_empty() && container == s.container_id {
            "container"
        } else {
            "host"
        };
        out.push(RelatedSignal {
            id,
            relation: relation.into(),
            rule_id: r.try_get("rule_id")?,
            source: r.try_get("source")?,
            severity: r.try_get("severity")?,
            title: r.try_get("title")?,
            container_id: container,
            process_path: r.try_get("process_path")?,
            first_seen: r.try_get("first_seen")?,
            last_seen: r.try_get("last_seen")?,
            count: r.try_get("count")?,
            state: r.try_get("state")?,
        });
    }
    // Closest links first.
    let rank = |v: &RelatedSignal| match v.relation.as_str() {
        "process_tree" => 0,
        "container" => 1,
        _ => 2,
    };
    out.sort_by_key(rank);
    Ok(out)
}

//! Which agents vouch for each behaviour of a learning profile. A profile becomes stable only once enough
//! distinct agents sent snapshots of it, and then keeps only the behaviours that many agents saw: one agent
//! credential, however many snapshots it sends, cannot make its own behaviours (a miner) "normal" for every
//! agent of the fleet.

use std::collections::BTreeMap;

use rampart_model::behavior::ActivitySnapshot;
use sqlx::Row;

use super::store::Profile;

/// Behaviour key → the first agents (ids, sorted) whose snapshots had it.
pub type NodeAgents = BTreeMap<String, Vec<i64>>;

/// Agents remembered per behaviour: enough for any quorum (the configured one is capped to this).
pub const MAX_QUORUM: usize = 16;

/// Notes that `agent_id` saw behaviour `key`.
pub fn record(agents: &mut NodeAgents, key: &str, agent_id: i64) {
    let ids = agents.entry(key.to_string()).or_default();
    if let Err(at) = ids.binary_search(&agent_id) {
        if ids.len() < MAX_QUORUM {
            ids.insert(at, agent_id);
        }
    }
}

/// Drops from a profile becoming stable every behaviour fewer than `quorum` agents saw.
pub fn keep_confirmed(p: &mut Profile, agents: &NodeAgents, quorum: usize) {
    let confirmed = |k: &String| agents.get(k).is_some_and(|a| a.len() >= quorum);
    p.nodes.retain(|k, _| confirmed(k));
    p.examples.retain(|k, _| confirmed(k));
}

/// Distinct agents whose snapshots were merged into profile `id`.
pub async fn contributors(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    profile_id: i64,
) -> anyhow::Result<usize> {
    let row = sqlx::query(
        "SELECT COUNT(DISTINCT agent_id) AS n FROM activity_snapshots WHERE profile_id = $1",
    )
    .bind(profile_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get::<i64, _>("n")?.max(0) as usize)
}

/// The vouching agents of a profile learnt before they were tracked, from its stored snapshots.
pub async fn rebuild(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    profile_id: i64,
) -> anyhow::Result<NodeAgents> {
    let rows = sqlx::query("SELECT agent_id, body FROM activity_snapshots WHERE profile_id = $1")
        .bind(profile_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut agents = NodeAgents::new();
    for r in rows {
        let agent_id: i64 = r.try_get("agent_id")?;
        let body: String = r.try_get("body")?;
        let Ok(snap) = serde_json::from_str::<ActivitySnapshot>(&body) else {
            continue;
        };
        for e in &snap.behaviors {
            record(&mut agents, &e.behavior.key(), agent_id);
        }
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_behaviours_enough_agents_saw_stay() {
        let mut agents = NodeAgents::new();
        for a in [3, 1, 2, 1] {
            record(&mut agents, "process|/usr/sbin/nginx|", a);
        }
        record(&mut agents, "process|/tmp/xmrig|", 7);
        record(&mut agents, "process|/tmp/xmrig|", 7);
        assert_eq!(agents["process|/usr/sbin/nginx|"], [1, 2, 3]);
        assert_eq!(
            agents["process|/tmp/xmrig|"],
            [7],
            "one agent, however often"
        );
        for a in 100..200 {
            record(&mut agents, "many", a);
        }
        assert_eq!(agents["many"].len(), MAX_QUORUM);

        let mut p = Profile {
            id: 1,
            image_name: "nginx".into(),
            image_tag: "1".into(),
            status: "learning".into(),
            snapshots: 5,
            first_seen: 0,
            last_updated: 0,
            stable_at: None,
            nodes: [("process|/usr/sbin/nginx|", 4), ("process|/tmp/xmrig|", 2)]
                .map(|(k, n)| (k.to_string(), n))
                .into(),
            examples: [("process|/tmp/xmrig|".to_string(), "-o pool".to_string())].into(),
            node_agents: None,
        };
        keep_confirmed(&mut p, &agents, 3);
        assert_eq!(
            p.nodes.keys().collect::<Vec<_>>(),
            ["process|/usr/sbin/nginx|"]
        );
        assert!(p.examples.is_empty());
    }
}

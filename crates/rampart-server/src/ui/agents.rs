//! Agents: host, version, configuration revision and how it applied, tags, matches received, last seen.

use askama::Template;
use axum::extract::State;

use super::view;
use super::{html, Chrome, UiResult, UiViewer};
use crate::state::AppState;
use crate::storage::now_ns;

pub struct AgentRow {
    pub id: i64,
    pub hostname: String,
    pub version: String,
    pub tags: String,
    pub revision: i64,
    pub status: String,
    pub errors: Vec<String>,
    pub matches: i64,
    pub enrolled: String,
    pub last_seen: String,
    pub ago: String,
    pub revoked: bool,
    pub signals_href: String,
}

#[derive(Template)]
#[template(path = "agents.html")]
struct Page {
    chrome: Chrome,
    agents: Vec<AgentRow>,
    latest_revision: i64,
}

pub async fn list(State(s): State<AppState>, UiViewer(session): UiViewer) -> UiResult {
    let now = now_ns();
    let fleet = crate::remote_config::store::fleet(&s.db).await?;
    let mut agents = Vec::new();
    for a in crate::auth::store::list_agents(&s.db).await? {
        let f = fleet.iter().find(|f| f["id"] == a.id);
        let text = |k: &str| f.and_then(|f| f[k].as_str()).unwrap_or("").to_string();
        agents.push(AgentRow {
            id: a.id,
            tags: f
                .and_then(|f| f["tags"].as_array())
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            revision: f.and_then(|f| f["config_revision"].as_i64()).unwrap_or(0),
            status: text("config_status"),
            errors: f
                .and_then(|f| f["config_errors"].as_array())
                .into_iter()
                .flatten()
                .take(5)
                .map(|e| {
                    e.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string())
                })
                .collect(),
            matches: a.matches_received,
            enrolled: view::time(a.enrolled_at),
            last_seen: view::time(a.last_seen_at),
            ago: view::ago(a.last_seen_at, now),
            revoked: a.revoked,
            signals_href: view::explorer_href(&format!("host:{}", a.hostname), "all"),
            hostname: a.hostname,
            version: a.version,
        });
    }
    html(&Page {
        chrome: Chrome::new(&session, "agents"),
        agents,
        latest_revision: crate::remote_config::store::latest_number(&s.db).await?,
    })
}

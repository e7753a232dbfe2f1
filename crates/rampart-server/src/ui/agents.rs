//! Agents: host, version, kernel, configuration revision and how it applied, tags, kernel events delivered
//! and dropped (with the change between the last two health reports), matches received, last seen.

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
    pub kernel: String,
    pub delivered: i64,
    pub dropped: i64,
    /// `+3 in 15s`: drops between the last two health reports; empty before the second one.
    pub recent_drops: String,
    pub recent_drops_nonzero: bool,
    pub reported: String,
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
        let f = fleet.iter().find(|f| f.id == a.id);
        agents.push(AgentRow {
            id: a.id,
            tags: f.map(|f| f.tags.join(", ")).unwrap_or_default(),
            revision: f.map_or(0, |f| f.config_revision),
            status: f.map(|f| f.config_status.clone()).unwrap_or_default(),
            errors: f
                .map(|f| f.config_errors.as_slice())
                .unwrap_or_default()
                .iter()
                .take(5)
                .map(|e| {
                    e.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string())
                })
                .collect(),
            matches: a.matches_received,
            recent_drops: a
                .recent_drops()
                .map(|(n, window)| format!("+{n} in {}", view::span(window)))
                .unwrap_or_default(),
            recent_drops_nonzero: a.recent_drops().is_some_and(|(n, _)| n > 0),
            reported: view::ago(a.status_at, now),
            delivered: a.events_delivered,
            dropped: a.events_dropped,
            enrolled: view::time(a.enrolled_at),
            last_seen: view::time(a.last_seen_at),
            ago: view::ago(a.last_seen_at, now),
            revoked: a.revoked,
            signals_href: view::explorer_href(&format!("host:{}", a.hostname), "all"),
            hostname: a.hostname,
            version: a.version,
            kernel: a.kernel_release,
        });
    }
    html(&Page {
        chrome: Chrome::new(&session, "agents"),
        agents,
        latest_revision: crate::remote_config::store::latest_number(&s.db).await?,
    })
}

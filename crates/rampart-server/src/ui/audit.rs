//! The audit log page (admins): who did what, when, from where, newest first, with filters and an
//! "older" link (keyset pages over the same query as `GET /api/v1/audit`).

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::view;
use super::{html, Chrome, UiAdmin, UiResult};
use crate::audit::api::{page, Filters};
use crate::audit::Action;
use crate::state::AppState;

/// The filter form's fields (empty means unset).
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    before: Option<i64>,
}

pub struct Row {
    pub id: i64,
    pub time: String,
    pub actor: String,
    pub actor_kind: String,
    pub ip: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Page {
    chrome: Chrome,
    rows: Vec<Row>,
    actor: String,
    action: String,
    target: String,
    ip: String,
    actions: Vec<&'static str>,
    older: String,
    error: String,
}

fn some(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

pub async fn list(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Query(q): Query<AuditQuery>,
) -> UiResult {
    let f = Filters {
        actor: some(&q.actor),
        action: some(&q.action),
        target: some(&q.target),
        ip: some(&q.ip),
        before: q.before,
        limit: Some(100),
        ..Default::default()
    };
    let (entries, next, error) = match page(&s.db, &f).await {
        Ok((e, n)) => (e, n, String::new()),
        Err(e) if e.status.is_client_error() => (Vec::new(), None, e.message),
        Err(e) => return Err(e.into()),
    };
    let rows = entries
        .into_iter()
        .map(|e| Row {
            id: e.id,
            time: view::time(e.created_at),
            actor: e.actor,
            actor_kind: e.actor_kind,
            ip: e.ip.unwrap_or_default(),
            action: e.action,
            target: e.target,
            details: e.details.to_string(),
        })
        .collect();
    let older = next
        .map(|before| {
            let mut qs = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("actor", &q.actor),
                ("action", &q.action),
                ("target", &q.target),
                ("ip", &q.ip),
            ] {
                if !v.is_empty() {
                    qs.append_pair(k, v);
                }
            }
            qs.append_pair("before", &before.to_string());
            format!("/ui/audit?{}", qs.finish())
        })
        .unwrap_or_default();
    html(&Page {
        chrome: Chrome::new(&session, "audit"),
        rows,
        actor: q.actor,
        action: q.action,
        target: q.target,
        ip: q.ip,
        actions: Action::ALL.iter().map(|a| a.as_str()).collect(),
        older,
        error,
    })
}

//! `GET /api/v1/audit` (admins): the audit log, newest first, filtered, in keyset pages.

use axum::extract::State;
use axum::Json;
use rampart_api::audit::AuditPage;
use serde::Deserialize;
use serde_json::Value;
use sqlx::Row;

use crate::api::extract::ApiQuery;
use crate::auth::extract::Admin;
use crate::error::{ApiError, ApiResult};
use crate::sql::{like_escape, Bind, Where};
use crate::state::AppState;
use crate::storage::Db;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Actor names, comma-separated (exact).
    pub actor: Option<String>,
    /// An action (`user.create`), or a family (`user.*`).
    pub action: Option<String>,
    /// Text the target contains (case-insensitive).
    pub target: Option<String>,
    /// The client address.
    pub ip: Option<String>,
    /// Entries at or after / before these times (epoch ns).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Keyset pagination: entries older than this id (the previous page's `next`).
    pub before: Option<i64>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// One audited action (the API's type).
pub use rampart_api::audit::AuditEntry as Entry;

fn build_where(f: &Filters) -> ApiResult<Where> {
    let mut w = Where::default();
    if let Some(a) = &f.actor {
        w.any_of("actor", a);
    }
    if let Some(a) = f.action.as_deref().filter(|a| !a.is_empty()) {
        if a.len() > 64 {
            return Err(ApiError::bad_request("action: at most 64 bytes"));
        }
        match a.strip_suffix('*') {
            Some(family) => {
                let p = w.param(Bind::S(format!("{}%", like_escape(family))));
                w.clauses.push(format!("action LIKE {p} ESCAPE '\\'"));
            }
            None => w.any_of("action", a),
        }
    }
    if let Some(t) = f.target.as_deref().filter(|t| !t.is_empty()) {
        if t.len() > 256 {
            return Err(ApiError::bad_request("target: at most 256 bytes"));
        }
        let p = w.param(Bind::S(format!("%{}%", like_escape(&t.to_lowercase()))));
        w.clauses
            .push(format!("LOWER(target) LIKE {p} ESCAPE '\\'"));
    }
    if let Some(ip) = f.ip.as_deref().filter(|i| !i.is_empty()) {
        let p = w.param(Bind::S(ip.to_string()));
        w.clauses.push(format!("ip = {p}"));
    }
    for (col, op, v) in [
        ("created_at", ">=", f.since),
        ("created_at", "<", f.until),
        ("id", "<", f.before),
    ] {
        if let Some(v) = v {
            let p = w.param(Bind::I(v));
            w.clauses.push(format!("{col} {op} {p}"));
        }
    }
    Ok(w)
}

/// One page, newest first, and the cursor of the next one (None at the end).
pub async fn page(db: &Db, f: &Filters) -> ApiResult<(Vec<Entry>, Option<i64>)> {
    let limit = f.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit: 1 to 500"));
    }
    let w = build_where(f)?;
    // One row more than asked says whether there is a next page.
    let sql = format!(
        "SELECT id, created_at, actor_kind, actor_id, actor, ip, action, target, details FROM audit_log {} \
         ORDER BY id DESC LIMIT {}",
        w.sql(),
        limit + 1
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    let mut entries = rows
        .iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                actor_kind: r.try_get("actor_kind")?,
                actor_id: r.try_get("actor_id")?,
                actor: r.try_get("actor")?,
                ip: r.try_get("ip")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                details: serde_json::from_str(&r.try_get::<String, _>("details")?)
                    .unwrap_or(Value::Null),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let next = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok((entries, next))
}

pub async fn list(
    State(s): State<AppState>,
    _: Admin,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<AuditPage>> {
    let (entries, next) = page(&s.db, &f).await?;
    Ok(Json(AuditPage { entries, next }))
}

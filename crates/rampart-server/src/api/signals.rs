//! `/api/v1/signals…`: explore and triage signals.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{ApiJson, ApiQuery, Id};
use crate::auth::extract::{Responder, Viewer};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::signals::{self, Filters, Update};
use crate::state::AppState;

pub async fn list(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Value>> {
    let (items, total) = signals::list(&s.db, &f).await?;
    Ok(Json(json!({"signals": items, "total": total})))
}

pub async fn facets(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Value>> {
    Ok(Json(signals::facets(&s.db, &f).await?))
}

pub async fn histogram(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Value>> {
    Ok(Json(signals::histogram(&s.db, &f).await?))
}

pub async fn detail(State(s): State<AppState>, _: Viewer, Id(id): Id) -> ApiResult<Json<Value>> {
    let signal = signals::get(&s.db, id).await?;
    let samples = signals::samples(&s.db, id, s.config.signals.max_samples).await?;
    let comments = signals::comments(&s.db, id).await?;
    let window = s.config.signals.related_window.as_nanos() as i64;
    let related = signals::related::related(&s.db, &signal, window).await?;
    let rule = signals::rule_info(&s, &signal).await?;
    let suggestion = crate::profiles::api::suggestion_for(&s, id).await?;
    let history = signals::history(&s.db, id).await?;
    Ok(Json(json!({
        "history": history,
        "suggestion": suggestion,
        "signal": signal,
        "rule": rule,
        "remediation": rule.get("remediation").cloned().unwrap_or(Value::Null),
        "samples": samples,
        "comments": comments,
        "related": related,
    })))
}

pub async fn related(State(s): State<AppState>, _: Viewer, Id(id): Id) -> ApiResult<Json<Value>> {
    let signal = signals::get(&s.db, id).await?;
    let window = s.config.signals.related_window.as_nanos() as i64;
    Ok(Json(
        json!({"related": signals::related::related(&s.db, &signal, window).await?}),
    ))
}

pub async fn update(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
    ApiJson(u): ApiJson<Update>,
) -> ApiResult<Json<Value>> {
    let signal = triage(&s, id, &u, &caller).await?;
    Ok(Json(json!({"signal": signal})))
}

/// Triage for the API and the UI: the change, then the notification worker woken for any incident
/// resolutions it queued.
pub async fn triage(
    s: &AppState,
    id: i64,
    u: &Update,
    caller: &Caller,
) -> ApiResult<signals::Signal> {
    let (signal, resolutions) = signals::update(&s.db, id, u, caller).await?;
    if resolutions > 0 {
        s.metrics.notifications_queued.inc_by(resolutions as u64);
        s.notify.wake.notify_one();
    }
    Ok(signal)
}

pub async fn comments(State(s): State<AppState>, _: Viewer, Id(id): Id) -> ApiResult<Json<Value>> {
    signals::get(&s.db, id).await?;
    Ok(Json(
        json!({"comments": signals::comments(&s.db, id).await?}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    body: String,
}

pub async fn add_comment(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
    ApiJson(c): ApiJson<NewComment>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let comment = signals::add_comment(&s.db, id, &caller, &c.body).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({"comment": comment})),
    ))
}

//! `/api/v1/signals…`: explore and triage signals.

use axum::extract::State;
use axum::Json;
use rampart_api::signals::{
    CommentCreated, CommentList, Histogram, NewComment, RelatedList, SignalDetail, SignalFacets,
    SignalList, SignalOne,
};

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
) -> ApiResult<Json<SignalList>> {
    let (signals, total) = signals::list(&s.db, &f).await?;
    Ok(Json(SignalList { signals, total }))
}

pub async fn facets(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<SignalFacets>> {
    Ok(Json(signals::facets(&s.db, &f).await?))
}

pub async fn histogram(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Histogram>> {
    Ok(Json(signals::histogram(&s.db, &f).await?))
}

pub async fn detail(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<SignalDetail>> {
    let signal = signals::get(&s.db, id).await?;
    let samples = signals::samples(&s.db, id, s.config.signals.max_samples).await?;
    let comments = signals::comments(&s.db, id).await?;
    let window = s.config.signals.related_window.as_nanos() as i64;
    let related = signals::related::related(&s.db, &signal, window).await?;
    let rule = signals::rule_info(&s, &signal).await?;
    let suggestion = crate::profiles::api::suggestion_for(&s, id).await?;
    let history = signals::history(&s.db, id).await?;
    Ok(Json(SignalDetail {
        history,
        suggestion,
        signal,
        remediation: rule.remediation.clone(),
        rule,
        samples,
        comments,
        related,
    }))
}

pub async fn related(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<RelatedList>> {
    let signal = signals::get(&s.db, id).await?;
    let window = s.config.signals.related_window.as_nanos() as i64;
    let related = signals::related::related(&s.db, &signal, window).await?;
    Ok(Json(RelatedList { related }))
}

pub async fn update(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
    ApiJson(u): ApiJson<Update>,
) -> ApiResult<Json<SignalOne>> {
    let signal = triage(&s, id, &u, &caller).await?;
    Ok(Json(SignalOne { signal }))
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

pub async fn comments(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<CommentList>> {
    signals::get(&s.db, id).await?;
    let comments = signals::comments(&s.db, id).await?;
    Ok(Json(CommentList { comments }))
}

pub async fn add_comment(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
    ApiJson(c): ApiJson<NewComment>,
) -> ApiResult<(axum::http::StatusCode, Json<CommentCreated>)> {
    let comment = signals::add_comment(&s.db, id, &caller, &c.body).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(CommentCreated { comment }),
    ))
}

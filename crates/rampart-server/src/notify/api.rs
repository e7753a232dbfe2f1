//! `/api/v1/notifications/…`: channels, rules, the delivery log, test sends and template previews.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::compose::compose;
use super::escape::Format;
use super::message::Notification;
use super::outbox::{self, DeliveryFilters, Reader};
use super::rules::SignalEvent;
use super::store::{self, ChannelPatch, NewChannel};
use super::template::TemplateSpec;
use super::{context, template};
use crate::api::extract::{ApiJson, ApiQuery, Id};
use crate::audit::{self, Action};
use crate::auth::extract::{Admin, Responder, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::now_ns;

type Created = (StatusCode, Json<Value>);

pub async fn list_channels(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<Value>> {
    let channels: Vec<Value> = store::list_channels(&s.db)
        .await?
        .iter()
        .map(|c| c.public())
        .collect();
    Ok(Json(json!({"channels": channels})))
}

pub async fn create_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(c): ApiJson<NewChannel>,
) -> ApiResult<Created> {
    let c = store::create_channel(&s.db, &s.notify.senders.egress, &caller, c).await?;
    s.notify.rules.invalidate().await;
    Ok((StatusCode::CREATED, Json(json!({"channel": c.public()}))))
}

pub async fn get_channel(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"channel": store::get_channel(&s.db, id).await?.public()}),
    ))
}

pub async fn update_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(p): ApiJson<ChannelPatch>,
) -> ApiResult<Json<Value>> {
    let c = store::update_channel(&s.db, &s.notify.senders.egress, &caller, id, p).await?;
    s.notify.rules.invalidate().await;
    s.notify.wake.notify_one();
    Ok(Json(json!({"channel": c.public()})))
}

pub async fn delete_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::delete_channel(&s.db, &caller, id).await?;
    s.notify.rules.invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    /// A stored signal to render; default: a made-up one.
    pub signal_id: Option<i64>,
}

/// Sends one message through the channel now (not queued) and says what the receiver answered.
pub async fn test_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(t): ApiJson<TestSend>,
) -> ApiResult<Json<Value>> {
    let channel = store::get_channel(&s.db, id).await?;
    let config = channel.parsed().map_err(ApiError::unprocessable)?;
    let (signal, matched) = match t.signal_id {
        Some(sid) => (
            crate::signals::get(&s.db, sid).await?,
            context::triggering_match(&s.db, sid, SignalEvent::Created).await?,
        ),
        None => context::example_signal(),
    };
    let severity = signal.severity.clone();
    let n = compose(
        &s.notify.public_url(&s.config),
        &signal,
        matched,
        SignalEvent::Created,
        &severity,
        0,
        &[channel.template.as_ref()],
    )
    .map_err(ApiError::unprocessable)?;
    let outcome = match config.deliver(&n, &s.notify.senders).await {
        Ok(status) => json!({"delivered": true, "status": status}),
        Err(e) => json!({"delivered": false, "status": e.status, "error": e.message,
                         "retryable": e.retryable, "response": e.response}),
    };
    let target = format!("channel {id} ({})", channel.name);
    let details = json!({"delivered": outcome["delivered"], "status": outcome["status"], "error": outcome["error"]});
    audit::record(&s.db.pool, &caller, Action::ChannelTested, &target, details).await?;
    Ok(Json(outcome))
}

pub async fn list_rules(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<Value>> {
    let rules: Vec<Value> = store::list_rules(&s.db)
        .await?
        .iter()
        .map(|r| r.public())
        .collect();
    Ok(Json(json!({"rules": rules})))
}

pub async fn create_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Created> {
    let r = store::create_rule(&s.db, &caller, body).await?;
    s.notify.rules.invalidate().await;
    Ok((StatusCode::CREATED, Json(json!({"rule": r.public()}))))
}

pub async fn get_rule(State(s): State<AppState>, _: Viewer, Id(id): Id) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"rule": store::get_rule(&s.db, id).await?.public()}),
    ))
}

pub async fn update_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let r = store::update_rule(&s.db, &caller, id, body).await?;
    s.notify.rules.invalidate().await;
    Ok(Json(json!({"rule": r.public()})))
}

pub async fn delete_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::delete_rule(&s.db, &caller, id).await?;
    s.notify.rules.invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log; what receivers answered only for admins (an endpoint's reply is its own text).
pub async fn list_deliveries(
    State(s): State<AppState>,
    Viewer(caller): Viewer,
    ApiQuery(f): ApiQuery<DeliveryFilters>,
) -> ApiResult<Json<Value>> {
    let (items, total) = outbox::list(&s.db, &f, Reader::of(caller.role)).await?;
    Ok(Json(json!({"deliveries": items, "total": total})))
}

pub async fn get_delivery(
    State(s): State<AppState>,
    Viewer(caller): Viewer,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let d = outbox::get(&s.db, id, Reader::of(caller.role)).await?;
    Ok(Json(json!({ "delivery": d })))
}

pub async fn retry_delivery(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let d = outbox::retry(&s.db, id, now_ns(), Reader::of(caller.role)).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::DeliveryRetried,
        &format!("delivery {id}"),
        json!({}),
    )
    .await?;
    s.notify.wake.notify_one();
    Ok(Json(json!({"delivery": d})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preview {
    pub signal_id: i64,
    /// Takes precedence over the channel's template.
    #[serde(default)]
    pub template: Option<TemplateSpec>,
    /// Use this channel's template where `template` leaves a part unset.
    #[serde(default)]
    pub channel_id: Option<i64>,
    #[serde(default)]
    pub event: Option<SignalEvent>,
}

/// Renders a template against a stored signal in every format, and names the variables it did not find.
pub async fn preview(
    State(s): State<AppState>,
    _: Viewer,
    ApiJson(p): ApiJson<Preview>,
) -> ApiResult<Json<Value>> {
    if let Some(t) = &p.template {
        template::validate(t).map_err(ApiError::unprocessable)?;
    }
    let channel_template = match p.channel_id {
        Some(id) => store::get_channel(&s.db, id).await?.template,
        None => None,
    };
    let signal = crate::signals::get(&s.db, p.signal_id).await?;
    let event = p.event.unwrap_or(SignalEvent::Created);
    let matched = context::triggering_match(&s.db, signal.id, event).await?;
    let severity = signal.severity.clone();
    let n = compose(
        &s.notify.public_url(&s.config),
        &signal,
        matched,
        event,
        &severity,
        0,
        &[p.template.as_ref(), channel_template.as_ref()],
    )
    .map_err(ApiError::unprocessable)?;
    Ok(Json(render_all(&n)))
}

fn render_all(n: &Notification) -> Value {
    let formats = [
        ("plain", Format::Plain),
        ("slack", Format::Slack),
        ("markdown", Format::Markdown),
        ("html", Format::Html),
    ];
    let mut title = serde_json::Map::new();
    let mut body = serde_json::Map::new();
    for (name, f) in formats {
        title.insert(name.into(), json!(n.title(f)));
        body.insert(name.into(), json!(n.body(f)));
    }
    let mut missing: Vec<&str> = n
        .title
        .var_paths()
        .chain(n.body.var_paths())
        .filter(|p| n.vars.lookup(p).is_none())
        .collect();
    missing.dedup();
    json!({"title": title, "body": body, "missing": missing})
}

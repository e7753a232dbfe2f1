//! `/api/v1/notifications/…`: channels, rules, the delivery log, test sends and template previews.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rampart_api::notifications::{
    ChannelDetail, ChannelList, DeliveryDetail, DeliveryList, NotificationRuleBody,
    NotificationRuleDetail, NotificationRuleList, Preview, PreviewRequest, Rendered, TestOutcome,
    TestSend,
};
use serde_json::json;

use super::compose::compose;
use super::escape::Format;
use super::message::Notification;
use super::outbox::{self, DeliveryFilters, Reader};
use super::rules::SignalEvent;
use super::store::{self, ChannelPatch, NewChannel};
use super::{context, template};
use crate::api::extract::{ApiJson, ApiQuery, Id};
use crate::audit::{self, Action};
use crate::auth::extract::{Admin, Responder, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::now_ns;

type Created<T> = (StatusCode, Json<T>);

pub async fn list_channels(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<ChannelList>> {
    let channels = store::list_channels(&s.db)
        .await?
        .iter()
        .map(|c| c.public())
        .collect();
    Ok(Json(ChannelList { channels }))
}

pub async fn create_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(c): ApiJson<NewChannel>,
) -> ApiResult<Created<ChannelDetail>> {
    let c = store::create_channel(&s.db, &s.notify.senders.egress, &caller, c).await?;
    s.notify.rules.invalidate().await;
    let channel = c.public();
    Ok((StatusCode::CREATED, Json(ChannelDetail { channel })))
}

pub async fn get_channel(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<ChannelDetail>> {
    let channel = store::get_channel(&s.db, id).await?.public();
    Ok(Json(ChannelDetail { channel }))
}

pub async fn update_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(p): ApiJson<ChannelPatch>,
) -> ApiResult<Json<ChannelDetail>> {
    let c = store::update_channel(&s.db, &s.notify.senders.egress, &caller, id, p).await?;
    s.notify.rules.invalidate().await;
    s.notify.wake.notify_one();
    let channel = c.public();
    Ok(Json(ChannelDetail { channel }))
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

/// Sends one message through the channel now (not queued) and says what the receiver answered.
pub async fn test_channel(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(t): ApiJson<TestSend>,
) -> ApiResult<Json<TestOutcome>> {
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
        Ok(status) => TestOutcome {
            delivered: true,
            status: Some(status),
            error: None,
            retryable: None,
            response: None,
        },
        Err(e) => TestOutcome {
            delivered: false,
            status: e.status,
            error: Some(e.message),
            retryable: Some(e.retryable),
            response: e.response,
        },
    };
    let target = format!("channel {id} ({})", channel.name);
    let details =
        json!({"delivered": outcome.delivered, "status": outcome.status, "error": outcome.error});
    audit::record(&s.db.pool, &caller, Action::ChannelTested, &target, details).await?;
    Ok(Json(outcome))
}

pub async fn list_rules(
    State(s): State<AppState>,
    _: Viewer,
) -> ApiResult<Json<NotificationRuleList>> {
    let rules = store::list_rules(&s.db)
        .await?
        .iter()
        .map(|r| r.public())
        .collect();
    Ok(Json(NotificationRuleList { rules }))
}

pub async fn create_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(body): ApiJson<NotificationRuleBody>,
) -> ApiResult<Created<NotificationRuleDetail>> {
    let r = store::create_rule(&s.db, &caller, body).await?;
    s.notify.rules.invalidate().await;
    let rule = r.public();
    Ok((StatusCode::CREATED, Json(NotificationRuleDetail { rule })))
}

pub async fn get_rule(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<NotificationRuleDetail>> {
    let rule = store::get_rule(&s.db, id).await?.public();
    Ok(Json(NotificationRuleDetail { rule }))
}

pub async fn update_rule(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(body): ApiJson<NotificationRuleBody>,
) -> ApiResult<Json<NotificationRuleDetail>> {
    let r = store::update_rule(&s.db, &caller, id, body).await?;
    s.notify.rules.invalidate().await;
    let rule = r.public();
    Ok(Json(NotificationRuleDetail { rule }))
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
) -> ApiResult<Json<DeliveryList>> {
    let (deliveries, total) = outbox::list(&s.db, &f, Reader::of(caller.role)).await?;
    Ok(Json(DeliveryList { deliveries, total }))
}

pub async fn get_delivery(
    State(s): State<AppState>,
    Viewer(caller): Viewer,
    Id(id): Id,
) -> ApiResult<Json<DeliveryDetail>> {
    let delivery = outbox::get(&s.db, id, Reader::of(caller.role)).await?;
    Ok(Json(DeliveryDetail { delivery }))
}

pub async fn retry_delivery(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
) -> ApiResult<Json<DeliveryDetail>> {
    let delivery = outbox::retry(&s.db, id, now_ns(), Reader::of(caller.role)).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::DeliveryRetried,
        &format!("delivery {id}"),
        json!({}),
    )
    .await?;
    s.notify.wake.notify_one();
    Ok(Json(DeliveryDetail { delivery }))
}

/// Renders a template against a stored signal in every format, and names the variables it did not find.
pub async fn preview(
    State(s): State<AppState>,
    _: Viewer,
    ApiJson(p): ApiJson<PreviewRequest>,
) -> ApiResult<Json<Preview>> {
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

fn render_all(n: &Notification) -> Preview {
    let every = |render: fn(&Notification, Format) -> String| Rendered {
        plain: render(n, Format::Plain),
        slack: render(n, Format::Slack),
        markdown: render(n, Format::Markdown),
        html: render(n, Format::Html),
    };
    let mut missing: Vec<String> = n
        .title
        .var_paths()
        .chain(n.body.var_paths())
        .filter(|p| n.vars.lookup(p).is_none())
        .map(str::to_string)
        .collect();
    missing.dedup();
    Preview {
        title: every(Notification::title),
        body: every(Notification::body),
        missing,
    }
}

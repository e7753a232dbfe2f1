//! Notifications: channels (list, create, edit, delete, send a test), rules (listed here; their forms are
//! in `notification_rules`) and the delivery log. Changes go through the API handlers, so caches are invalidated the same way.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::auth::Form;
use super::notification_rules::RuleForm;
use super::view;
use super::{html, html_status, see_other, Chrome, Session, UiAdmin, UiResult, UiViewer};
use crate::api::extract::{ApiJson, Id};
use crate::auth::extract::Admin;
use crate::error::ApiError;
use crate::notify::api as napi;
use crate::notify::channels::KINDS;
use crate::notify::{outbox, store};
use crate::state::AppState;

pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub rate: i64,
    pub config: String,
}

pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub spec: String,
}

pub struct DeliveryRow {
    pub id: i64,
    pub signal_href: String,
    pub signal_id: i64,
    pub channel: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub error: String,
    /// What the receiver answered (admins only: empty for others).
    pub response: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct Page {
    chrome: Chrome,
    channels: Vec<ChannelRow>,
    rules: Vec<RuleRow>,
    deliveries: Vec<DeliveryRow>,
    /// The new-rule form (blank, or as posted when refused).
    rule: RuleForm,
    notice: String,
    notice_ok: bool,
    error: String,
}

pub(super) async fn render(
    s: &AppState,
    session: &Session,
    notice: (String, bool),
    error: String,
    new_rule: Option<RuleForm>,
    status: StatusCode,
) -> UiResult {
    let stored_channels = store::list_channels(&s.db).await?;
    let rule = new_rule.unwrap_or_else(|| RuleForm::new(&stored_channels, None));
    let channels = stored_channels
        .iter()
        .map(|c| {
            let p = c.public();
            ChannelRow {
                id: c.id,
                name: c.name.clone(),
                kind: c.kind.clone(),
                enabled: c.enabled,
                rate: c.rate_per_minute,
                config: p.config.to_string(),
            }
        })
        .collect();
    let rules = store::list_rules(&s.db)
        .await?
        .iter()
        .map(|r| RuleRow {
            id: r.id,
            name: r.name.clone(),
            enabled: r.enabled,
            spec: serde_json::json!(r.spec).to_string(),
        })
        .collect();
    let f = outbox::DeliveryFilters {
        limit: Some(50),
        ..Default::default()
    };
    let reader = outbox::Reader::of(session.caller.role);
    let (items, _) = outbox::list(&s.db, &f, reader).await?;
    let deliveries = items
        .iter()
        .map(|d| DeliveryRow {
            id: d.id,
            signal_id: d.signal_id,
            signal_href: format!("/ui/signals/{}", d.signal_id),
            channel: d.channel.name.clone(),
            event: d.event.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            error: d.last_error.clone().unwrap_or_default(),
            response: d.last_response.clone().flatten().unwrap_or_default(),
            updated: view::time(d.updated_at),
        })
        .collect();
    html_status(
        status,
        &Page {
            chrome: Chrome::new(session, "notifications"),
            channels,
            rules,
            deliveries,
            rule,
            notice: notice.0,
            notice_ok: notice.1,
            error,
        },
    )
}

pub async fn page(State(s): State<AppState>, UiViewer(session): UiViewer) -> UiResult {
    render(
        &s,
        &session,
        (String::new(), true),
        String::new(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "channel_edit.html")]
struct ChannelForm {
    chrome: Chrome,
    id: i64,
    name: String,
    kind: String,
    kinds: &'static [&'static str],
    config: String,
    enabled: bool,
    rate: i64,
    title: String,
    body: String,
    error: String,
}

fn channel_form(session: &Session) -> ChannelForm {
    ChannelForm {
        chrome: Chrome::new(session, "notifications"),
        id: 0,
        name: String::new(),
        kind: "webhook".into(),
        kinds: &KINDS,
        config: "{\n  \"url\": \"https://example.org/hook\"\n}".into(),
        enabled: true,
        rate: 60,
        title: String::new(),
        body: String::new(),
        error: String::new(),
    }
}

pub async fn new_channel(UiAdmin(session): UiAdmin) -> UiResult {
    html(&channel_form(&session))
}

pub async fn edit_channel(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
) -> UiResult {
    let c = store::get_channel(&s.db, id).await?;
    let p = c.public();
    let mut f = channel_form(&session);
    f.id = id;
    f.name = c.name;
    f.kind = c.kind;
    f.config = serde_json::to_string_pretty(&p.config).unwrap_or_default();
    f.enabled = c.enabled;
    f.rate = c.rate_per_minute;
    let template = p.template.unwrap_or_default();
    f.title = template.title.unwrap_or_default();
    f.body = template.body.unwrap_or_default();
    html(&f)
}

/// The channel fields of a form as the API takes them.
fn channel_body(form: &Form, with_kind: bool) -> Result<Value, String> {
    let config: Value = serde_json::from_str(&form.text("config"))
        .map_err(|e| format!("config is not JSON: {e}"))?;
    let rate: i64 = form
        .text("rate_per_minute")
        .parse()
        .map_err(|_| "rate per minute: a number".to_string())?;
    let (title, body) = (form.text("title"), form.text("body"));
    let template = if title.is_empty() && body.is_empty() {
        Value::Null
    } else {
        let mut t = serde_json::Map::new();
        if !title.is_empty() {
            t.insert("title".into(), json!(title));
        }
        if !body.is_empty() {
            t.insert("body".into(), json!(body));
        }
        Value::Object(t)
    };
    let mut v = json!({"name": form.text("name"), "config": config, "enabled": form.get("enabled").is_some(),
                       "rate_per_minute": rate, "template": template});
    if with_kind {
        v["kind"] = json!(form.text("kind"));
    }
    Ok(v)
}

fn refill(session: &Session, form: &Form, id: i64, error: String) -> ChannelForm {
    let mut f = channel_form(session);
    f.id = id;
    f.name = form.text("name");
    f.kind = form.text("kind");
    f.config = form.text("config");
    f.enabled = form.get("enabled").is_some();
    f.rate = form.text("rate_per_minute").parse().unwrap_or(60);
    f.title = form.text("title");
    f.body = form.text("body");
    f.error = error;
    f
}

/// Creates (`id` 0) or updates a channel from its form; shows the form again with the reason if refused.
async fn save_channel(s: AppState, session: Session, id: i64, form: Form) -> UiResult {
    let caller = Admin(session.caller.clone());
    let outcome = match channel_body(&form, id == 0) {
        Ok(v) if id == 0 => match serde_json::from_value(v) {
            Ok(b) => napi::create_channel(State(s), caller, ApiJson(b))
                .await
                .map(|_| ()),
            Err(e) => Err(ApiError::unprocessable(e.to_string())),
        },
        Ok(v) => match serde_json::from_value(v) {
            Ok(b) => napi::update_channel(State(s), caller, Id(id), ApiJson(b))
                .await
                .map(|_| ()),
            Err(e) => Err(ApiError::unprocessable(e.to_string())),
        },
        Err(e) => Err(ApiError::unprocessable(e)),
    };
    match outcome {
        Ok(()) => see_other("/ui/notifications"),
        Err(e) => html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &refill(&session, &form, id, e.message),
        ),
    }
}

pub async fn create_channel(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    form: Form,
) -> UiResult {
    save_channel(s, session, 0, form).await
}

pub async fn update_channel(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    form: Form,
) -> UiResult {
    save_channel(s, session, id, form).await
}

pub async fn delete_channel(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    _: Form,
) -> UiResult {
    napi::delete_channel(State(s), Admin(session.caller), Id(id)).await?;
    see_other("/ui/notifications")
}

pub async fn test_channel(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    _: Form,
) -> UiResult {
    let name = store::get_channel(&s.db, id).await?.name;
    let v = napi::test_channel(
        State(s.clone()),
        Admin(session.caller.clone()),
        Id(id),
        ApiJson(Default::default()),
    )
    .await?
    .0;
    // The status as JSON shows it: a number, or `null` when the receiver never answered.
    let status = serde_json::json!(v.status);
    let notice = if v.delivered {
        (
            format!("Test message delivered to {name} (receiver answered {status})."),
            true,
        )
    } else {
        (
            format!(
                "Test message to {name} failed: {} (status {status}).",
                v.error.as_deref().unwrap_or("unknown error"),
            ),
            false,
        )
    };
    render(&s, &session, notice, String::new(), None, StatusCode::OK).await
}

//! Notification rules in the UI: one form (create on the notifications page, edit on its own page),
//! enable/disable and delete. Changes go through the API's handlers (validation, cache invalidation); a
//! refused form comes back filled in, with the reason.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use rampart_api::notifications::NotificationRuleBody;
use serde_json::{json, Value};

use super::auth::Form;
use super::notifications::render;
use super::{html, html_status, see_other, Chrome, Session, UiAdmin, UiResult};
use crate::api::extract::{ApiJson, Id};
use crate::auth::extract::Admin;
use crate::error::ApiError;
use crate::ingest::validate::SEVERITIES;
use crate::notify::api as napi;
use crate::notify::store::{self, Channel, Rule};
use crate::state::AppState;

pub struct ChannelChoice {
    pub id: i64,
    pub name: String,
    pub checked: bool,
}

/// What the rule form shows (`id` 0: a new rule).
pub struct RuleForm {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub channels: Vec<ChannelChoice>,
    pub min_severity: String,
    pub hosts: String,
    pub rule_ids: String,
    pub tags: String,
    pub images: String,
    pub namespaces: String,
    pub severities: &'static [&'static str],
}

/// The list fields the form edits, comma-separated.
const LISTS: [&str; 5] = ["hosts", "rule_ids", "tags", "images", "namespaces"];

impl RuleForm {
    /// A blank form, or one filled from a stored rule.
    pub fn new(channels: &[Channel], rule: Option<&Rule>) -> RuleForm {
        let spec = rule.map(|r| json!(r.spec)).unwrap_or(Value::Null);
        let joined = |k: &str| {
            spec[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = rule.map(|r| r.spec.channels.as_slice()).unwrap_or(&[]);
        RuleForm {
            id: rule.map_or(0, |r| r.id),
            name: rule.map(|r| r.name.clone()).unwrap_or_default(),
            enabled: rule.is_none_or(|r| r.enabled),
            channels: channels
                .iter()
                .map(|c| ChannelChoice {
                    id: c.id,
                    name: c.name.clone(),
                    checked: chosen.contains(&c.id),
                })
                .collect(),
            min_severity: rule
                .map(|r| r.spec.min_severity.clone())
                .unwrap_or_default(),
            hosts: joined("hosts"),
            rule_ids: joined("rule_ids"),
            tags: joined("tags"),
            images: joined("images"),
            namespaces: joined("namespaces"),
            severities: &SEVERITIES,
        }
    }

    /// The form as it was posted (shown again when refused).
    fn refill(channels: &[Channel], id: i64, form: &Form) -> RuleForm {
        let chosen = posted_channels(form);
        let mut f = RuleForm::new(channels, None);
        f.id = id;
        f.name = form.text("name");
        f.enabled = form.get("enabled").is_some();
        for c in &mut f.channels {
            c.checked = chosen.contains(&c.id);
        }
        f.min_severity = form.text("min_severity");
        f.hosts = form.text("hosts");
        f.rule_ids = form.text("rule_ids");
        f.tags = form.text("tags");
        f.images = form.text("images");
        f.namespaces = form.text("namespaces");
        f
    }
}

fn posted_channels(form: &Form) -> Vec<i64> {
    form.all("channel")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// The API body of a posted form: every field the form edits is given, so an edit can also clear one.
fn body(form: &Form) -> NotificationRuleBody {
    let mut spec = serde_json::Map::new();
    spec.insert("channels".into(), json!(posted_channels(form)));
    let min_severity = match form.text("min_severity") {
        s if s.is_empty() => SEVERITIES[0].to_string(),
        s => s,
    };
    spec.insert("min_severity".into(), json!(min_severity));
    for k in LISTS {
        let v: Vec<String> = form
            .text(k)
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        spec.insert(k.into(), json!(v));
    }
    NotificationRuleBody {
        name: Some(form.text("name")),
        enabled: Some(form.get("enabled").is_some()),
        spec,
    }
}

pub async fn create_rule(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    form: Form,
) -> UiResult {
    let caller = Admin(session.caller.clone());
    match napi::create_rule(State(s.clone()), caller, ApiJson(body(&form))).await {
        Ok(_) => see_other("/ui/notifications"),
        Err(e) => {
            let channels = store::list_channels(&s.db).await?;
            let refilled = RuleForm::refill(&channels, 0, &form);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(
                &s,
                &session,
                (String::new(), true),
                e.message,
                Some(refilled),
                status,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "notification_rule_edit.html")]
struct EditPage {
    chrome: Chrome,
    rule: RuleForm,
    error: String,
}

fn edit_page(session: &Session, rule: RuleForm, error: String) -> EditPage {
    EditPage {
        chrome: Chrome::new(session, "notifications"),
        rule,
        error,
    }
}

pub async fn edit_rule(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
) -> UiResult {
    let rule = store::get_rule(&s.db, id).await?;
    let channels = store::list_channels(&s.db).await?;
    html(&edit_page(
        &session,
        RuleForm::new(&channels, Some(&rule)),
        String::new(),
    ))
}

pub async fn update_rule(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    form: Form,
) -> UiResult {
    let caller = Admin(session.caller.clone());
    match napi::update_rule(State(s.clone()), caller, Id(id), ApiJson(body(&form))).await {
        Ok(_) => see_other("/ui/notifications"),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(e.into()),
        Err(e) => {
            let channels = store::list_channels(&s.db).await?;
            let page = edit_page(&session, RuleForm::refill(&channels, id, &form), e.message);
            html_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn toggle_rule(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    form: Form,
) -> UiResult {
    let enabled = NotificationRuleBody {
        enabled: Some(form.get("enabled") == Some("true")),
        ..Default::default()
    };
    let _ = napi::update_rule(State(s), Admin(session.caller), Id(id), ApiJson(enabled)).await?;
    see_other("/ui/notifications")
}

pub async fn delete_rule(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    _: Form,
) -> UiResult {
    napi::delete_rule(State(s), Admin(session.caller), Id(id))
        .await
        .map_err(|e: ApiError| super::UiError(e))?;
    see_other("/ui/notifications")
}

//! Channels and rules in the database: create, read, update, delete, with the validation the API promises
//! (nothing invalid is stored) and secrets never read back out.

use rampart_api::notifications::{
    Channel as PublicChannel, NotificationRule, NotificationRuleBody,
};
use serde_json::{json, Map, Value};
use sqlx::Row;

use super::channels::{self, ChannelConfig};
use super::egress::Egress;
use super::rules::{RuleCheck, RuleSpec};
use super::template::{self, TemplateSpec};
use crate::audit::{self, details::diff, Action};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::storage::secrets::channel_label;
use crate::storage::{now_ns, Db};

/// A channel as stored (secrets included: internal use only).
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub config: Value,
    pub template: Option<TemplateSpec>,
    pub enabled: bool,
    pub rate_per_minute: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Channel {
    /// As the API shows it: secrets redacted.
    pub fn public(&self) -> PublicChannel {
        let mut config = self.config.clone();
        channels::redact(&self.kind, &mut config);
        PublicChannel {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind.clone(),
            enabled: self.enabled,
            rate_per_minute: self.rate_per_minute,
            config,
            template: self.template.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn parsed(&self) -> Result<ChannelConfig, String> {
        ChannelConfig::parse(&self.kind, &self.config)
    }

    /// As the audit log compares it (its secrets are redacted there, by key).
    fn audited(&self) -> Value {
        json!({"name": self.name, "kind": self.kind, "enabled": self.enabled,
               "rate_per_minute": self.rate_per_minute, "config": self.config, "template": self.template})
    }

    fn target(&self) -> String {
        format!("channel {} ({})", self.id, self.name)
    }
}

/// A channel's settings, checked: valid for its kind, and an endpoint the egress policy lets it reach.
async fn check_config(egress: &Egress, kind: &str, config: &Value) -> ApiResult<()> {
    let parsed = ChannelConfig::parse(kind, config).map_err(unprocessable)?;
    let (field, host) = parsed.endpoint();
    egress
        .check_on_save(field, &host)
        .await
        .map_err(|e| ApiError::unprocessable(format!("config: {e}")))
}

fn unprocessable(e: String) -> ApiError {
    ApiError::unprocessable(e)
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "name: 1 to 64 bytes, no control characters",
        ));
    }
    Ok(())
}

fn check_rate(rate: i64) -> ApiResult<()> {
    if !(1..=6000).contains(&rate) {
        return Err(ApiError::unprocessable("rate_per_minute: 1 to 6000"));
    }
    Ok(())
}

fn check_template(t: &Option<TemplateSpec>) -> ApiResult<()> {
    t.as_ref()
        .map_or(Ok(()), |t| template::validate(t).map_err(unprocessable))
}

/// A unique-name violation as a 409 with the reason; other errors as they are.
fn conflict_on_name(e: sqlx::Error, what: &str, name: &str) -> ApiError {
    let unique = e
        .as_database_error()
        .is_some_and(|d| d.is_unique_violation());
    if unique {
        ApiError::conflict(format!("a {what} named {name:?} exists"))
    } else {
        e.into()
    }
}

/// A new channel, and a partial update (the API's types).
pub use rampart_api::notifications::{ChannelPatch, NewChannel};

const CHANNEL_COLS: &str =
    "id, name, kind, config, template, enabled, rate_per_minute, created_at, updated_at";

/// A channel row, its settings opened (they are stored sealed: `storage::sealed`).
fn channel_from(db: &Db, r: &sqlx::any::AnyRow) -> ApiResult<Channel> {
    let id: i64 = r.try_get("id")?;
    let config = db.open(&channel_label(id), &r.try_get::<String, _>("config")?)?;
    let template: Option<String> = r.try_get("template")?;
    Ok(Channel {
        id,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        template: template.and_then(|t| serde_json::from_str(&t).ok()),
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        rate_per_minute: r.try_get("rate_per_minute")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn template_text(t: &Option<TemplateSpec>) -> Option<String> {
    t.as_ref().map(|t| json!(t).to_string())
}

pub async fn create_channel(
    db: &Db,
    egress: &Egress,
    caller: &Caller,
    c: NewChannel,
) -> ApiResult<Channel> {
    check_name(&c.name)?;
    check_rate(c.rate_per_minute)?;
    check_template(&c.template)?;
    check_config(egress, &c.kind, &c.config).await?;
    let now = now_ns();
    // The settings are sealed for the row's own id: inserted empty, then filled in, in one transaction.
    let mut w = db.begin_write().await?;
    let row = sqlx::query(
        "INSERT INTO notification_channels (name, kind, config, template, enabled, rate_per_minute, created_at, updated_at) \
         VALUES ($1, $2, '', $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(&c.name)
    .bind(&c.kind)
    .bind(template_text(&c.template))
    .bind(c.enabled as i64)
    .bind(c.rate_per_minute)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await
    .map_err(|e| conflict_on_name(e, "channel", &c.name))?;
    let id: i64 = row.try_get("id")?;
    let row = sqlx::query(&format!(
        "UPDATE notification_channels SET config = $1 WHERE id = $2 RETURNING {CHANNEL_COLS}"
    ))
    .bind(db.seal(&channel_label(id), &c.config.to_string())?)
    .bind(id)
    .fetch_one(&mut *w.tx)
    .await?;
    let created = channel_from(db, &row)?;
    let details = diff(&json!({}), &created.audited());
    audit::record(
        &mut *w.tx,
        caller,
        Action::ChannelCreated,
        &created.target(),
        details,
    )
    .await?;
    w.commit().await?;
    Ok(created)
}

pub async fn list_channels(db: &Db) -> ApiResult<Vec<Channel>> {
    let rows = sqlx::query(&format!(
        "SELECT {CHANNEL_COLS} FROM notification_channels ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| channel_from(db, r)).collect()
}

pub async fn get_channel(db: &Db, id: i64) -> ApiResult<Channel> {
    let row = sqlx::query(&format!(
        "SELECT {CHANNEL_COLS} FROM notification_channels WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no notification channel {id}")))?;
    channel_from(db, &row)
}

pub async fn update_channel(
    db: &Db,
    egress: &Egress,
    caller: &Caller,
    id: i64,
    p: ChannelPatch,
) -> ApiResult<Channel> {
    let old = get_channel(db, id).await?;
    let mut c = old.clone();
    if let Some(name) = p.name {
        check_name(&name)?;
        c.name = name;
    }
    if let Some(rate) = p.rate_per_minute {
        check_rate(rate)?;
        c.rate_per_minute = rate;
    }
    if let Some(enabled) = p.enabled {
        c.enabled = enabled;
    }
    if let Some(mut config) = p.config {
        channels::keep_secrets(&c.kind, &mut config, &c.config).map_err(unprocessable)?;
        check_config(egress, &c.kind, &config).await?;
        c.config = config;
    }
    if let Some(t) = p.template {
        check_template(&t)?;
        c.template = t;
    }
    let mut w = db.begin_write().await?;
    let row = sqlx::query(&format!(
        "UPDATE notification_channels SET name = $1, config = $2, template = $3, enabled = $4, rate_per_minute = $5, \
         updated_at = $6 WHERE id = $7 RETURNING {CHANNEL_COLS}"
    ))
    .bind(&c.name)
    .bind(db.seal(&channel_label(id), &c.config.to_string())?)
    .bind(template_text(&c.template))
    .bind(c.enabled as i64)
    .bind(c.rate_per_minute)
    .bind(now_ns())
    .bind(id)
    .fetch_one(&mut *w.tx)
    .await
    .map_err(|e| conflict_on_name(e, "channel", &c.name))?;
    let updated = channel_from(db, &row)?;
    let details = diff(&old.audited(), &updated.audited());
    audit::record(
        &mut *w.tx,
        caller,
        Action::ChannelUpdated,
        &updated.target(),
        details,
    )
    .await?;
    w.commit().await?;
    Ok(updated)
}

/// Deletes row `id` of `table` and records `action` on `target` with what the row held, in one transaction.
async fn delete_row(
    db: &Db,
    caller: &Caller,
    table: &str,
    (action, target, held): (Action, String, Value),
    id: i64,
) -> ApiResult<()> {
    let mut w = db.begin_write().await?;
    let n = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!("no {target}")));
    }
    audit::record(&mut *w.tx, caller, action, &target, diff(&held, &json!({}))).await?;
    w.commit().await?;
    Ok(())
}

/// Deletes a channel and its queued deliveries (rules that named it keep their other channels).
pub async fn delete_channel(db: &Db, caller: &Caller, id: i64) -> ApiResult<()> {
    let c = get_channel(db, id).await?;
    let what = (Action::ChannelDeleted, c.target(), c.audited());
    delete_row(db, caller, "notification_channels", what, id).await
}

/// A rule as stored.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub spec: RuleSpec,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Rule {
    pub fn public(&self) -> NotificationRule {
        NotificationRule {
            id: self.id,
            name: self.name.clone(),
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            spec: self.spec.clone(),
        }
    }

    fn target(&self) -> String {
        format!("notification rule {} ({})", self.id, self.name)
    }

    fn audited(&self) -> Value {
        let mut v = json!(self.public());
        for k in ["created_at", "updated_at"] {
            v.as_object_mut().map(|m| m.remove(k));
        }
        v
    }
}

const RULE_COLS: &str = "id, name, enabled, spec, created_at, updated_at";

fn rule_from(r: &sqlx::any::AnyRow) -> ApiResult<Rule> {
    let spec: String = r.try_get("spec")?;
    Ok(Rule {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        spec: serde_json::from_str(&spec).map_err(ApiError::internal)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The [`RuleSpec`] fields of a rule body, without those a rule read back carries and a body may repeat.
fn spec_fields(mut b: NotificationRuleBody) -> Map<String, Value> {
    for k in ["id", "created_at", "updated_at"] {
        b.spec.remove(k);
    }
    b.spec
}

async fn check_rule(db: &Db, spec: Map<String, Value>) -> ApiResult<RuleSpec> {
    let spec: RuleSpec = serde_json::from_value(Value::Object(spec))
        .map_err(|e| ApiError::unprocessable(format!("rule: {e}")))?;
    spec.validate().map_err(unprocessable)?;
    let known: Vec<i64> = sqlx::query("SELECT id FROM notification_channels")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("id"))
        .collect::<Result<_, _>>()?;
    if let Some(bad) = spec.channels.iter().find(|c| !known.contains(c)) {
        return Err(ApiError::unprocessable(format!(
            "channels: no channel {bad}"
        )));
    }
    Ok(spec)
}

pub async fn create_rule(db: &Db, caller: &Caller, body: NotificationRuleBody) -> ApiResult<Rule> {
    let (name, enabled) = (body.name.clone(), body.enabled);
    let spec = spec_fields(body);
    let name = name.ok_or_else(|| ApiError::unprocessable("name is missing"))?;
    check_name(&name)?;
    let spec = check_rule(db, spec).await?;
    let now = now_ns();
    let mut w = db.begin_write().await?;
    let row = sqlx::query(&format!(
        "INSERT INTO notification_rules (name, enabled, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING {RULE_COLS}"
    ))
    .bind(&name)
    .bind(enabled.unwrap_or(true) as i64)
    .bind(json!(spec).to_string())
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await
    .map_err(|e| conflict_on_name(e, "rule", &name))?;
    let created = rule_from(&row)?;
    let details = diff(&json!({}), &created.audited());
    audit::record(
        &mut *w.tx,
        caller,
        Action::NotificationRuleCreated,
        &created.target(),
        details,
    )
    .await?;
    w.commit().await?;
    Ok(created)
}

pub async fn list_rules(db: &Db) -> ApiResult<Vec<Rule>> {
    let rows = sqlx::query(&format!(
        "SELECT {RULE_COLS} FROM notification_rules ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(rule_from).collect()
}

pub async fn get_rule(db: &Db, id: i64) -> ApiResult<Rule> {
    let row = sqlx::query(&format!(
        "SELECT {RULE_COLS} FROM notification_rules WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no notification rule {id}")))?;
    rule_from(&row)
}

/// A partial update: the fields given replace the stored ones.
pub async fn update_rule(
    db: &Db,
    caller: &Caller,
    id: i64,
    body: NotificationRuleBody,
) -> ApiResult<Rule> {
    let old = get_rule(db, id).await?;
    let before = old.audited();
    let (name, enabled) = (body.name.clone(), body.enabled);
    let patch = spec_fields(body);
    let name = name.unwrap_or(old.name);
    check_name(&name)?;
    let Value::Object(mut spec) = json!(old.spec) else {
        return Err(ApiError::internal("stored rule is not an object"));
    };
    spec.extend(patch);
    let spec = check_rule(db, spec).await?;
    let mut w = db.begin_write().await?;
    let row = sqlx::query(&format!(
        "UPDATE notification_rules SET name = $1, enabled = $2, spec = $3, updated_at = $4 WHERE id = $5 \
         RETURNING {RULE_COLS}"
    ))
    .bind(&name)
    .bind(enabled.unwrap_or(old.enabled) as i64)
    .bind(json!(spec).to_string())
    .bind(now_ns())
    .bind(id)
    .fetch_one(&mut *w.tx)
    .await
    .map_err(|e| conflict_on_name(e, "rule", &name))?;
    let updated = rule_from(&row)?;
    let details = diff(&before, &updated.audited());
    audit::record(
        &mut *w.tx,
        caller,
        Action::NotificationRuleUpdated,
        &updated.target(),
        details,
    )
    .await?;
    w.commit().await?;
    Ok(updated)
}

pub async fn delete_rule(db: &Db, caller: &Caller, id: i64) -> ApiResult<()> {
    let r = get_rule(db, id).await?;
    let what = (Action::NotificationRuleDeleted, r.target(), r.audited());
    delete_row(db, caller, "notification_rules", what, id).await
}

//! Notifications: channels (where messages go), rules (which signals notify which channels), the delivery
//! log, test sends and template previews (`/api/v1/notifications/…`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::patch::present;

/// What an admin writes: a one-line title and a Markdown body (a webhook's body is a JSON template instead).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A channel as the API shows it: its settings with every secret replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Channel {
    pub id: i64,
    pub name: String,
    /// `slack`, `pagerduty`, `webhook`, `email`, `teams` or `opsgenie`.
    pub kind: String,
    pub enabled: bool,
    pub rate_per_minute: i64,
    /// The kind's own settings (each kind has its fields; the server checks them per kind).
    pub config: Value,
    /// Null: the default template.
    pub template: Option<TemplateSpec>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelList {
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelDetail {
    pub channel: Channel,
}

/// `POST /api/v1/notifications/channels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub name: String,
    pub kind: String,
    pub config: Value,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 1 to 6000 (default [`DEFAULT_RATE_PER_MINUTE`]).
    #[serde(default = "default_rate")]
    pub rate_per_minute: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSpec>,
}

fn yes() -> bool {
    true
}

/// A channel's rate limit unless its creator says otherwise (messages per minute).
pub const DEFAULT_RATE_PER_MINUTE: i64 = 60;

fn default_rate() -> i64 {
    DEFAULT_RATE_PER_MINUTE
}

/// `PATCH /api/v1/notifications/channels/{id}`: absent fields are unchanged; `template: null` restores the
/// default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<i64>,
    /// The whole configuration; secrets sent back as `<redacted>` keep their stored value (unless the
    /// destination changes: then they must be given again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<TemplateSpec>))]
    pub template: Option<Option<TemplateSpec>>,
}

/// What happened to a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignalEvent {
    Created,
    /// Its severity rose.
    Escalated,
    /// It was archived (PagerDuty and Opsgenie resolve their incident).
    Resolved,
}

impl SignalEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalEvent::Created => "created",
            SignalEvent::Escalated => "escalated",
            SignalEvent::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<SignalEvent> {
        match s {
            "created" => Some(SignalEvent::Created),
            "escalated" => Some(SignalEvent::Escalated),
            "resolved" => Some(SignalEvent::Resolved),
            _ => None,
        }
    }
}

fn default_events() -> Vec<SignalEvent> {
    vec![SignalEvent::Created, SignalEvent::Escalated]
}

fn default_severity() -> String {
    "info".into()
}

/// What a notification rule matches and whom it notifies (also its storage format). Every matcher given
/// must hold; lists match if any element does (empty lists match everything); rule ids, hosts, containers,
/// images and Kubernetes namespaces take `*` globs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Channel ids to notify.
    pub channels: Vec<i64>,
    /// Lowest severity that notifies (default `info`).
    #[serde(default = "default_severity")]
    pub min_severity: String,
    /// `agent` and/or `backend`.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub rule_ids: Vec<String>,
    /// `key:value` (the value a glob) or `key` (the tag is present), any of.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    /// `name:tag` of the container image.
    #[serde(default)]
    pub images: Vec<String>,
    /// Kubernetes namespaces of the container (its `kube_namespace:` tag); never matches outside a pod.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Which signal events notify (default `created` and `escalated`).
    #[serde(default = "default_events")]
    pub events: Vec<SignalEvent>,
    /// Overrides the channels' templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSpec>,
}

/// A notification rule as the API shows it: its id, name and flag, and its [`RuleSpec`] fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRule {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(flatten)]
    pub spec: RuleSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRuleList {
    pub rules: Vec<NotificationRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRuleDetail {
    pub rule: NotificationRule,
}

/// `POST` (name required) and `PATCH /api/v1/notifications/rules…` (the fields given replace the stored
/// ones). The other fields are [`RuleSpec`]'s, checked as one after the merge: a field it does not have is
/// refused by name. `id`, `created_at` and `updated_at` (a rule sent back as read) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRuleBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = RuleSpec))]
    pub spec: Map<String, Value>,
}

/// The channel a delivery goes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryChannel {
    pub id: i64,
    pub name: String,
    pub kind: String,
}

/// One message to one channel about one signal event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    pub signal_id: i64,
    pub event: String,
    pub event_key: String,
    pub severity: String,
    pub channel: DeliveryChannel,
    /// The notification rule that queued it (null for a resolution or a deleted rule).
    pub rule_id: Option<i64>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// Rampart's own words.
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
    /// What the receiver last answered: admins only (absent for other readers; an endpoint's reply is its
    /// own text, possibly internal data).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_response: Option<Option<String>>,
}

/// `GET /api/v1/notifications/deliveries`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryDetail {
    pub delivery: Delivery,
}

/// `POST /api/v1/notifications/channels/{id}/test`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    /// A stored signal to render; default: a made-up one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<i64>,
}

/// What the receiver of a test message answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestOutcome {
    pub delivered: bool,
    /// The receiver's HTTP status (or SMTP code), when it answered.
    pub status: Option<u16>,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// What the receiver answered, when it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// `POST /api/v1/notifications/preview`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub signal_id: i64,
    /// Takes precedence over the channel's template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSpec>,
    /// Use this channel's template where `template` leaves a part unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<i64>,
    /// Default `created`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<SignalEvent>,
}

/// One text in every output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rendered {
    pub plain: String,
    pub slack: String,
    pub markdown: String,
    pub html: String,
}

/// A template rendered against a stored signal, and the variables it named that the signal lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    pub title: Rendered,
    pub body: Rendered,
    pub missing: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_shows_its_spec_fields_beside_its_own() {
        let spec: RuleSpec = serde_json::from_value(json!({"channels": [3]})).unwrap();
        let rule = NotificationRule {
            id: 1,
            name: "n".into(),
            enabled: true,
            created_at: 5,
            updated_at: 6,
            spec,
        };
        let v = serde_json::to_value(&rule).unwrap();
        assert_eq!(v["channels"], json!([3]));
        assert_eq!(v["min_severity"], "info");
        assert_eq!(v["events"], json!(["created", "escalated"]));
        assert!(
            v.get("spec").is_none() && v.get("template").is_none(),
            "{v}"
        );
        assert_eq!(serde_json::from_value::<NotificationRule>(v).unwrap(), rule);
    }

    #[test]
    fn a_rule_body_keeps_the_spec_fields_apart_for_the_server_to_check() {
        let b: NotificationRuleBody =
            serde_json::from_value(json!({"name": "n", "channels": [1], "min_severty": "high"}))
                .unwrap();
        assert_eq!(b.name.as_deref(), Some("n"));
        assert_eq!(b.enabled, None);
        assert!(b.spec.contains_key("min_severty") && !b.spec.contains_key("name"));
    }

    #[test]
    fn the_receivers_answer_is_absent_for_non_admins_and_may_be_null_for_admins() {
        let d = json!({"id": 1, "signal_id": 2, "event": "created", "event_key": "k", "severity": "high",
                       "channel": {"id": 1, "name": "c", "kind": "webhook"}, "rule_id": null,
                       "status": "failed", "attempts": 1, "next_attempt_at": 0, "last_error": null,
                       "last_status": null, "created_at": 0, "updated_at": 0, "delivered_at": null});
        let other: Delivery = serde_json::from_value(d.clone()).unwrap();
        assert_eq!(other.last_response, None);
        assert!(serde_json::to_value(&other)
            .unwrap()
            .get("last_response")
            .is_none());
        let mut admin = d;
        admin["last_response"] = json!(null);
        let admin: Delivery = serde_json::from_value(admin).unwrap();
        assert_eq!(admin.last_response, Some(None));
        assert_eq!(
            serde_json::to_value(&admin).unwrap()["last_response"],
            json!(null)
        );
    }
}

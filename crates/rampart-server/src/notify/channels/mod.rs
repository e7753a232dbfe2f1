//! Notification channels: one module per vendor, each with its settings (validated when the channel is
//! saved) and a `deliver` that sends one notification in the vendor's documented request shape.

pub mod email;
mod http;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::egress::{self, Egress};
use super::message::Notification;

pub const KINDS: [&str; 6] = [
    "slack",
    "pagerduty",
    "webhook",
    "email",
    "teams",
    "opsgenie",
];

/// Shown instead of a secret; sent back unchanged, it keeps the stored secret.
pub const REDACTED: &str = "<redacted>";

#[derive(Debug, Clone)]
pub enum ChannelConfig {
    Slack(slack::Config),
    PagerDuty(pagerduty::Config),
    Webhook(webhook::Config),
    Email(email::Config),
    Teams(teams::Config),
    Opsgenie(opsgenie::Config),
}

/// Why an attempt failed, and whether another one may succeed.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    pub retryable: bool,
    pub status: Option<u16>,
    /// Rampart's own words: shown to everyone who reads the delivery log.
    pub message: String,
    /// The receiver asked to wait this long (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
    /// What the receiver answered (the start of an HTTP body, an SMTP reply): whatever the endpoint chose
    /// to say, possibly internal data, so it is shown to admins only.
    pub response: Option<String>,
}

impl DeliveryError {
    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            retryable: false,
            status: None,
            message: message.into(),
            retry_after: None,
            response: None,
        }
    }

    /// The egress policy refused the endpoint: no retry changes that, only an admin can.
    pub fn refused(r: &egress::Refused) -> DeliveryError {
        DeliveryError::permanent(format!("refused: {r}"))
    }
}

/// The receiver's text as stored: the first 300 characters, control characters blanked.
pub fn response_snippet(text: &str) -> Option<String> {
    let s: String = text
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    (!s.trim().is_empty()).then_some(s)
}

/// What a channel needs to send: an HTTP client (shared, rustls) that resolves through the egress policy,
/// the policy itself (IP literals, SMTP hosts) and the attempt timeout.
pub struct Senders {
    pub http: reqwest::Client,
    pub egress: Arc<Egress>,
    pub timeout: Duration,
}

impl Senders {
    pub fn new(timeout: Duration, egress: Arc<Egress>) -> anyhow::Result<Senders> {
        // reqwest is built without a default crypto provider: use ring, as the server's TLS does.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect is never followed: its target would skip the check of the configured endpoint.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(egress::Resolver(egress.clone())))
            // A proxy would resolve and connect on our behalf, out of the egress policy's sight.
            .no_proxy()
            .build()?;
        Ok(Senders {
            http,
            egress,
            timeout,
        })
    }
}

fn from_json<T: DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("config: {e}"))
}

/// An `http(s)://` URL with a host.
pub fn check_url(field: &str, s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("{field}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{field}: an http:// or https:// URL"));
    }
    Ok(())
}

impl ChannelConfig {
    pub fn parse(kind: &str, v: &Value) -> Result<ChannelConfig, String> {
        let c = match kind {
            "slack" => ChannelConfig::Slack(from_json(v)?),
            "pagerduty" => ChannelConfig::PagerDuty(from_json(v)?),
            "webhook" => ChannelConfig::Webhook(from_json(v)?),
            "email" => ChannelConfig::Email(from_json(v)?),
            "teams" => ChannelConfig::Teams(from_json(v)?),
            "opsgenie" => ChannelConfig::Opsgenie(from_json(v)?),
            other => return Err(format!("kind {other:?}: one of {}", KINDS.join(", "))),
        };
        match &c {
            ChannelConfig::Slack(c) => c.validate(),
            ChannelConfig::PagerDuty(c) => c.validate(),
            ChannelConfig::Webhook(c) => c.validate(),
            ChannelConfig::Email(c) => c.validate(),
            ChannelConfig::Teams(c) => c.validate(),
            ChannelConfig::Opsgenie(c) => c.validate(),
        }
        .map_err(|e| format!("config: {e}"))?;
        Ok(c)
    }

    /// The endpoint the channel sends to: the settings field and its host (checked when it is saved).
    pub fn endpoint(&self) -> (&'static str, String) {
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        };
        match self {
            ChannelConfig::Slack(c) => ("webhook_url", host(&c.webhook_url)),
            ChannelConfig::PagerDuty(c) => ("events_url", host(&c.events_url)),
            ChannelConfig::Webhook(c) => ("url", host(&c.url)),
            ChannelConfig::Email(c) => ("smtp_host", c.smtp_host.clone()),
            ChannelConfig::Teams(c) => ("webhook_url", host(&c.webhook_url)),
            ChannelConfig::Opsgenie(c) => ("api_url", host(&c.api_url)),
        }
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        match self {
            ChannelConfig::Slack(c) => c.deliver(n, s).await,
            ChannelConfig::PagerDuty(c) => c.deliver(n, s).await,
            ChannelConfig::Webhook(c) => c.deliver(n, s).await,
            ChannelConfig::Email(c) => c.deliver(n, s).await,
            ChannelConfig::Teams(c) => c.deliver(n, s).await,
            ChannelConfig::Opsgenie(c) => c.deliver(n, s).await,
        }
    }
}

/// Kinds whose incidents are closed when the signal is archived.
pub fn resolves(kind: &str) -> bool {
    matches!(kind, "pagerduty" | "opsgenie")
}

/// The settings that are secrets (a Slack or Teams webhook URL is one: whoever has it can post).
fn secret_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "slack" | "teams" => &["webhook_url"],
        "pagerduty" => &["routing_key"],
        "opsgenie" => &["api_key"],
        "webhook" => &["secret"],
        "email" => &["password"],
        _ => &[],
    }
}

/// Hides secrets (and every custom webhook header value, which often carries a token).
pub fn redact(kind: &str, config: &mut Value) {
    for f in secret_fields(kind) {
        if let Some(v) = config.get_mut(*f).filter(|v| !v.is_null()) {
            *v = Value::String(REDACTED.into());
        }
    }
    if let Some(Value::Object(headers)) = config.get_mut("headers") {
        for v in headers.values_mut() {
            *v = Value::String(REDACTED.into());
        }
    }
}

/// The settings that say where a channel's secrets are sent (Slack's and Teams' URL is the secret itself).
fn destination_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "webhook" => &["url"],
        "email" => &["smtp_host", "smtp_port", "security", "ca_pem"],
        "pagerduty" => &["events_url"],
        "opsgenie" => &["api_url"],
        _ => &[],
    }
}

/// Puts the stored secrets back where an update sent the redacted placeholder, unless the update also
/// changes where the channel sends them: the stored secrets never go to a new destination (an admin could
/// otherwise point the channel at a receiver of his and read them). Then the secrets must be given again.
pub fn keep_secrets(kind: &str, new: &mut Value, old: &Value) -> Result<(), String> {
    let redacted = |v: &Value| v.as_str() == Some(REDACTED);
    let moved: Vec<&str> = destination_fields(kind)
        .iter()
        .copied()
        .filter(|f| new.get(*f) != old.get(*f))
        .collect();
    let keep = |name: &str| {
        if moved.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} changed: the stored {name} is not sent to a new destination; give it again",
                moved.join(", ")
            ))
        }
    };
    for f in secret_fields(kind) {
        if new.get(*f).is_some_and(redacted) {
            keep(f)?;
            new[*f] = old.get(*f).cloned().unwrap_or(Value::Null);
        }
    }
    if let Some(Value::Object(headers)) = new.get_mut("headers") {
        for (k, v) in headers.iter_mut() {
            if redacted(v) {
                keep(&format!("header {k}"))?;
                *v = old["headers"].get(k).cloned().unwrap_or(Value::Null);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_and_kept() {
        let stored = json!({"url": "https://h/x", "secret": "s3cret", "headers": {"Authorization": "Bearer t"}});
        let mut shown = stored.clone();
        redact("webhook", &mut shown);
        assert_eq!(shown["secret"], REDACTED);
        assert_eq!(shown["headers"]["Authorization"], REDACTED);
        assert_eq!(shown["url"], "https://h/x");
        let mut update = shown.clone();
        update["method"] = json!("PUT");
        keep_secrets("webhook", &mut update, &stored).unwrap();
        assert_eq!(update["secret"], "s3cret");
        assert_eq!(update["headers"]["Authorization"], "Bearer t");
        assert_eq!(update["method"], "PUT");
        // Another destination: the stored secrets are not sent there.
        let mut moved = shown.clone();
        moved["url"] = json!("https://attacker.example/x");
        let err = keep_secrets("webhook", &mut moved, &stored).unwrap_err();
        assert!(err.contains("url changed"), "{err}");
        let mut moved = shown.clone();
        moved["url"] = json!("https://attacker.example/x");
        moved["secret"] = json!("new");
        let err = keep_secrets("webhook", &mut moved, &stored).unwrap_err();
        assert!(err.contains("header Authorization"), "{err}");
        moved["headers"]["Authorization"] = json!("Bearer new");
        keep_secrets("webhook", &mut moved, &stored).unwrap();
        assert_eq!(moved["secret"], "new");
    }

    #[test]
    fn configs_are_checked_with_reasons() {
        for (kind, config, want) in [
            ("slack", json!({"webhook_url": "ftp://x"}), "webhook_url"),
            (
                "slack",
                json!({"webhook_url": "https://h", "extra": 1}),
                "unknown field",
            ),
            ("pagerduty", json!({"routing_key": ""}), "routing_key"),
            (
                "webhook",
                json!({"url": "https://h", "headers": {"Host": "x"}}),
                "Host",
            ),
            (
                "webhook",
                json!({"url": "https://h", "body": {"a": "{{ x"}}),
                "body",
            ),
            (
                "email",
                json!({"smtp_host": "h", "from": "nope", "to": ["a@b.c"]}),
                "from",
            ),
            (
                "email",
                json!({"smtp_host": "h", "from": "a@b.c", "to": []}),
                "to",
            ),
            (
                "email",
                json!({"smtp_host": "h", "from": "a@b.c", "to": ["a@b.c"], "security": "none",
                       "username": "u", "password": "p"}),
                "credentials",
            ),
            (
                "opsgenie",
                json!({"api_key": "k", "api_url": "nope"}),
                "api_url",
            ),
            ("sms", json!({}), "kind"),
        ] {
            let err = ChannelConfig::parse(kind, &config).unwrap_err();
            assert!(err.contains(want), "{kind} {config}: {err}");
        }
    }
}

//! Slack incoming webhooks: a Block Kit message (header, mrkdwn section, context, a button to the signal)
//! with a `text` fallback for notifications. Values in mrkdwn are escaped (see `escape::slack`); the
//! section is `verbatim` so that Slack does not turn bare URLs or channel names into links.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{check_url, http, DeliveryError, Senders};
use crate::notify::escape::Format;
use crate::notify::message::{clip, Notification};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub webhook_url: String,
    /// Overrides the webhook's default name and icon, where the workspace allows it.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        check_url("webhook_url", &self.webhook_url)
    }

    pub fn payload(&self, n: &Notification) -> Value {
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": clip(&n.title(Format::Plain), 150), "emoji": false}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&n.body(Format::Slack), 3000), "verbatim": true}}),
        ];
        let mut host = String::new();
        crate::notify::escape::escape_value(Format::Slack, &n.text("host"), &mut host);
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "verbatim": true,
            "text": format!("*{}* · {} · Rampart signal {}", n.severity, host, n.signal_id)}]}),
        );
        if let Some(url) = n.url() {
            blocks.push(json!({"type": "actions", "elements": [{"type": "button",
                "text": {"type": "plain_text", "text": "Open in Rampart"}, "url": url}]}));
        }
        let mut p = json!({"text": clip(&n.title(Format::Slack), 3000), "blocks": blocks});
        if let Some(u) = &self.username {
            p["username"] = json!(u);
        }
        if let Some(i) = &self.icon_emoji {
            p["icon_emoji"] = json!(i);
        }
        p
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        http::post(s, &self.webhook_url, &[], &self.payload(n)).await
    }
}

//! Microsoft Teams (Workflows incoming webhook): a message with one Adaptive Card. TextBlocks render a
//! Markdown subset, so values are backslash-escaped (Format::Markdown).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{check_url, http, DeliveryError, Senders};
use crate::notify::escape::{escape_value, Format};
use crate::notify::message::{clip, Notification};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub webhook_url: String,
}

fn md(v: &str) -> String {
    let mut s = String::new();
    escape_value(Format::Markdown, v, &mut s);
    s
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        check_url("webhook_url", &self.webhook_url)
    }

    pub fn payload(&self, n: &Notification) -> Value {
        let facts = [
            ("Severity", n.severity.clone()),
            ("Rule", n.text("rule.id")),
            ("Host", n.text("host")),
            ("Container", n.text("container.id")),
        ];
        let facts: Vec<Value> = facts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| json!({"title": k, "value": md(v)}))
            .collect();
        let mut card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
                 "text": clip(&n.title(Format::Markdown), 500)},
                {"type": "TextBlock", "wrap": true, "text": clip(&n.body(Format::Markdown), 10000)},
                {"type": "FactSet", "facts": facts},
            ],
        });
        if let Some(url) = n.url() {
            card["actions"] =
                json!([{"type": "Action.OpenUrl", "title": "Open in Rampart", "url": url}]);
        }
        json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]})
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        http::post(s, &self.webhook_url, &[], &self.payload(n)).await
    }
}

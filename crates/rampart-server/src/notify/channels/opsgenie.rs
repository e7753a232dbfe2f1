//! Opsgenie Alert API: create an alert (alias = the signal's dedup key, so Opsgenie folds repeats into one
//! alert) and close it by alias when the signal is archived.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{check_url, http, DeliveryError, Senders};
use crate::notify::escape::Format;
use crate::notify::message::{clip, Notification};
use crate::notify::rules::SignalEvent;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub api_key: String,
    /// `https://api.opsgenie.com`, or `https://api.eu.opsgenie.com` for EU accounts.
    #[serde(default = "default_url")]
    pub api_url: String,
    /// Extra alert tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_url() -> String {
    "https://api.opsgenie.com".into()
}

fn priority(s: &str) -> &'static str {
    match s {
        "critical" => "P1",
        "high" => "P2",
        "medium" => "P3",
        "low" => "P4",
        _ => "P5",
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.trim().is_empty() || self.api_key.len() > 128 {
            return Err("api_key: the API integration key (1 to 128 bytes)".into());
        }
        if self.tags.len() > 20 {
            return Err("tags: at most 20".into());
        }
        check_url("api_url", &self.api_url)
    }

    /// The URL and body of the request for `n`.
    pub fn request(&self, n: &Notification) -> (String, Value) {
        let base = self.api_url.trim_end_matches('/');
        if n.event == SignalEvent::Resolved {
            return (
                format!(
                    "{base}/v2/alerts/{}/close?identifierType=alias",
                    n.dedup_key()
                ),
                json!({"source": "Rampart", "note": "The signal was archived in Rampart."}),
            );
        }
        let mut tags = self.tags.clone();
        tags.push("rampart".into());
        tags.push(clip(&n.text("rule.id"), 50));
        let body = json!({
            "message": clip(&n.title(Format::Plain), 130),
            "alias": n.dedup_key(),
            "description": clip(&n.body(Format::Plain), 15000),
            "priority": priority(&n.severity),
            "source": "Rampart",
            "entity": clip(&n.text("host"), 512),
            "tags": tags,
            "details": {
                "rule_id": n.text("rule.id"),
                "severity": n.severity,
                "container_id": n.text("container.id"),
                "image": n.text("container.image"),
                "process_tree": n.text("process.tree"),
                "signal_url": n.url().unwrap_or_default(),
            },
        });
        (format!("{base}/v2/alerts"), body)
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        let (url, body) = self.request(n);
        let auth = [(
            "authorization".to_string(),
            format!("GenieKey {}", self.api_key),
        )];
        http::post(s, &url, &auth, &body).await
    }
}

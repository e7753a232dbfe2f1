//! PagerDuty Events API v2: `trigger` when a signal is created or escalates, `resolve` when it is archived,
//! all with the signal's dedup key, so PagerDuty keeps one incident per signal (and a re-sent trigger is
//! merged into it).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{check_url, http, DeliveryError, Senders};
use crate::notify::escape::Format;
use crate::notify::message::{clip, Notification};
use crate::notify::rules::SignalEvent;

pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The integration key of an Events API v2 integration.
    pub routing_key: String,
    #[serde(default = "default_url")]
    pub events_url: String,
}

fn default_url() -> String {
    EVENTS_URL.into()
}

/// Rampart severities on PagerDuty's four.
fn severity(s: &str) -> &'static str {
    match s {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.routing_key.trim().is_empty() || self.routing_key.len() > 128 {
            return Err("routing_key: the integration key (1 to 128 bytes)".into());
        }
        check_url("events_url", &self.events_url)
    }

    pub fn payload(&self, n: &Notification) -> Value {
        if n.event == SignalEvent::Resolved {
            return json!({"routing_key": self.routing_key, "event_action": "resolve", "dedup_key": n.dedup_key()});
        }
        let host = n.text("host");
        let mut p = json!({
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": n.dedup_key(),
            "payload": {
                "summary": clip(&n.title(Format::Plain), 1024),
                "source": if host.is_empty() { "rampart".to_string() } else { host },
                "severity": severity(&n.severity),
                "timestamp": n.timestamp(),
                "component": n.text("container.image"),
                "group": n.text("rule.id"),
                "class": n.text("rule.source"),
                "custom_details": {
                    "rule_id": n.text("rule.id"),
                    "rampart_severity": n.severity,
                    "container_id": n.text("container.id"),
                    "process_tree": n.text("process.tree"),
                    "matches": n.text("signal.count"),
                    "details": clip(&n.body(Format::Plain), 8000),
                },
            },
            "client": "Rampart",
        });
        if let Some(url) = n.url() {
            p["client_url"] = json!(url);
            p["links"] = json!([{"href": url, "text": "Open the signal in Rampart"}]);
        }
        p
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        http::post(s, &self.events_url, &[], &self.payload(n)).await
    }
}

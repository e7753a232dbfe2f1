//! The values about a signal that templates can use, read from the database when a notification is sent
//! (so a message shows the signal as it is then, at the severity of its event).

use serde_json::{json, Value};
use sqlx::Row;

use super::rules::{image_ref, SignalEvent};
use super::vars::{value_text, Vars};
use crate::signals::Signal;
use crate::storage::Db;

/// The match behind the event: the first sample for a new signal, the latest one otherwise.
pub async fn triggering_match(
    db: &Db,
    signal_id: i64,
    event: SignalEvent,
) -> anyhow::Result<Value> {
    let order = if event == SignalEvent::Created {
        "ASC"
    } else {
        "DESC"
    };
    let row = sqlx::query(&format!(
        "SELECT m.body FROM signal_matches sm JOIN matches m ON m.id = sm.match_id WHERE sm.signal_id = $1 \
         ORDER BY m.ts {order}, m.id {order} LIMIT 1"
    ))
    .bind(signal_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => serde_json::from_str(&r.try_get::<String, _>("body")?).unwrap_or(Value::Null),
        None => Value::Null,
    })
}

pub fn headline(event: SignalEvent, severity: &str) -> String {
    match event {
        SignalEvent::Created => format!("New {severity} signal"),
        SignalEvent::Escalated => format!("Signal escalated to {severity}"),
        SignalEvent::Resolved => "Signal resolved".into(),
    }
}

/// `systemd(1) > sshd(812) > bash(4242)`: the process and its ancestors, oldest first.
pub fn process_tree(m: &Value) -> String {
    let Some(p) = m.get("process") else {
        return String::new();
    };
    let name = |n: &Value| {
        let file = n.get("file");
        let name = file
            .and_then(|f| f.get("name"))
            .map(value_text)
            .or_else(|| {
                file.and_then(|f| f.get("path"))
                    .map(|p| value_text(p).rsplit('/').next().unwrap_or("").to_string())
            })
            .or_else(|| n.get("comm").map(value_text))
            .unwrap_or_default();
        let pid = n.get("pid").map(value_text).unwrap_or_default();
        match (name.is_empty(), pid.is_empty()) {
            (false, false) => format!("{name}({pid})"),
            (false, true) => name,
            (true, _) => format!("({pid})"),
        }
    };
    let mut chain: Vec<String> = p
        .get("ancestors")
        .and_then(Value::as_array)
        .map(|a| a.iter().take(16).map(name).collect())
        .unwrap_or_default();
    chain.reverse();
    chain.push(name(p));
    chain.join(" > ")
}

/// Everything a template can name about `signal` (see [`Vars`]).
pub fn vars(
    public_url: &str,
    signal: &Signal,
    matched: Value,
    delivery_id: i64,
    event: SignalEvent,
    severity: &str,
) -> Vars {
    let url = format!("{}/signals/{}", public_url.trim_end_matches('/'), signal.id);
    let mut sig = json!(signal);
    sig["url"] = json!(url);
    let image = matched
        .get("container")
        .and_then(|c| c.get("image"))
        .map(image_ref)
        .unwrap_or_default();
    let computed = json!({
        "notification": {"id": delivery_id, "event": event.as_str(), "severity": severity,
                         "headline": headline(event, severity)},
        "signal": sig,
        "rule": {"id": signal.rule_id, "name": signal.title, "source": signal.source, "severity": severity},
        "severity": severity,
        "host": signal.hostname,
        "container": {"id": signal.container_id, "image": image},
        "process": {"tree": process_tree(&matched)},
    });
    Vars { computed, matched }
}

/// A made-up signal for testing a channel before any signal exists.
pub fn example_signal() -> (Signal, Value) {
    let now = crate::storage::now_ns();
    let signal = Signal {
        id: 0,
        source: "agent".into(),
        rule_id: "rampart_test_notification".into(),
        group_key: "test".into(),
        severity: "info".into(),
        title: "Test notification from Rampart".into(),
        hostname: "rampart-test".into(),
        container_id: String::new(),
        image: String::new(),
        process_path: "/usr/bin/true".into(),
        first_seen: now,
        last_seen: now,
        count: 1,
        state: "open".into(),
        assignee: None,
        created_at: now,
        updated_at: now,
        agent_id: None,
    };
    let matched = json!({"rule": {"id": signal.rule_id, "severity": "info"},
        "event": {"type": "exec", "timestamp": now, "hostname": signal.hostname},
        "process": {"pid": 4242, "file": {"path": "/usr/bin/true", "name": "true"},
                    "ancestors": [{"pid": 1, "file": {"name": "systemd"}}]}});
    (signal, matched)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn process_tree_is_oldest_first() {
        let m = json!({"process": {"pid": 4242, "file": {"path": "/usr/bin/bash"},
            "ancestors": [{"pid": 100, "file": {"path": "/usr/sbin/sshd"}}, {"pid": 1, "comm": "systemd"}]}});
        assert_eq!(
            super::process_tree(&m),
            "systemd(1) > sshd(100) > bash(4242)"
        );
        assert_eq!(super::process_tree(&json!({})), "");
    }
}

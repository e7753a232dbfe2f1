//! A match rendered as the JSON object `monitor` and `rules test` print: the event's own JSON (fields nested
//! by SECL name, `process` with `ancestors`, `container`) plus `rule` and `actions`.

use rampart_model::Event;
use serde_json::{json, Map, Value};

use crate::ruleset::{ActionOutcome, Rule};

/// `{"rule": {id, version, severity, tags, …}, "event": {…}, "<payload>": {…}, "process": {…}, "actions": […]}`.
pub fn match_json(rule: &Rule, actions: &[ActionOutcome], event: &Event) -> Value {
    let mut obj = match serde_json::to_value(event) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut r = Map::new();
    r.insert("id".into(), json!(rule.id));
    if !rule.meta.version.is_empty() {
        r.insert("version".into(), json!(rule.meta.version));
    }
    if let Some(sev) = rule.meta.severity() {
        r.insert("severity".into(), json!(sev));
    }
    r.insert("tags".into(), json!(rule.meta.tags));
    if !rule.meta.product_tags.is_empty() {
        r.insert("product_tags".into(), json!(rule.meta.product_tags));
    }
    if !rule.meta.description.is_empty() {
        r.insert("description".into(), json!(rule.meta.description));
    }
    if !rule.meta.policy.is_empty() {
        r.insert("policy".into(), json!(rule.meta.policy));
    }
    obj.insert("rule".into(), Value::Object(r));
    obj.insert("actions".into(), json!(actions));
    Value::Object(obj)
}

/// [`match_json`] for a [`crate::Match`].
pub fn to_json(m: &crate::Match, event: &Event) -> Value {
    match_json(&m.rule, &m.actions, event)
}

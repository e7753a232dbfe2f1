//! The values a template can name: what Rampart computes about the signal (`signal.*`, `rule.*`, `host`,
//! `container.image`, `process.tree`, …) and, behind them, every field of the triggering match by its SECL
//! path (`exec.file.path`, `process.argv`, `event.type`). All of it may be attacker-controlled.

use std::borrow::Cow;

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// Computed values; a path found here wins.
    pub computed: Value,
    /// The triggering match as the agent reported it.
    pub matched: Value,
}

/// Longest text a value is rendered as (Slack sections hold 3000 characters; a message has several values).
const MAX_VALUE_CHARS: usize = 1000;

fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

impl Vars {
    /// The value at `path`; where both sides hold an object there, the match's fields with the computed
    /// ones over them (`{{ process }}` has the match's process and its `tree`).
    pub fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        if path == "match" {
            return Some(Cow::Borrowed(&self.matched));
        }
        match (at(&self.computed, path), at(&self.matched, path)) {
            (Some(Value::Object(c)), Some(Value::Object(m))) => {
                let mut merged = m.clone();
                merged.extend(c.iter().map(|(k, v)| (k.clone(), v.clone())));
                Some(Cow::Owned(Value::Object(merged)))
            }
            (Some(c), _) => Some(Cow::Borrowed(c)),
            (None, m) => m.map(Cow::Borrowed),
        }
    }

    /// A value as text: strings as they are, scalars printed, lists joined by spaces, objects as JSON;
    /// missing values are empty. Bounded in length.
    pub fn text(&self, path: &str) -> String {
        let s = match self.lookup(path).as_deref() {
            None | Some(Value::Null) => String::new(),
            Some(v) => value_text(v),
        };
        truncate(s, MAX_VALUE_CHARS)
    }
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(value_text).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    }
}

fn truncate(mut s: String, max_chars: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn computed_values_win_and_match_fields_fill_in() {
        let v = Vars {
            computed: json!({"host": "h1", "container": {"image": "nginx:1.25"}, "process": {"tree": "a > b"}}),
            matched: json!({"container": {"id": "c1", "image": {"name": "nginx"}},
                            "process": {"file": {"path": "/bin/sh"}, "argv": ["sh", "-c", "id"]},
                            "exec": {"args": [{"x": 1}]}}),
        };
        assert_eq!(v.text("host"), "h1");
        assert_eq!(v.text("container.image"), "nginx:1.25");
        assert_eq!(v.text("container.id"), "c1");
        assert_eq!(v.text("process.tree"), "a > b");
        assert_eq!(v.text("process.file.path"), "/bin/sh");
        assert_eq!(v.text("process.argv"), "sh -c id");
        assert_eq!(v.text("process.argv.2"), "id");
        assert_eq!(v.text("exec.args"), "[{\"x\":1}]");
        assert_eq!(v.text("nothing.here"), "");
        let container = v.lookup("container").unwrap();
        assert_eq!(
            (container["id"].as_str(), container["image"].as_str()),
            (Some("c1"), Some("nginx:1.25"))
        );
        assert_eq!(
            Vars {
                computed: json!({"x": "é".repeat(2000)}),
                ..Default::default()
            }
            .text("x")
            .chars()
            .count(),
            MAX_VALUE_CHARS + 1
        );
    }
}

//! The values a template can name: what Rampart computes about the signal (`signal.*`, `rule.*`, `host`,
//! `container.image`, `process.tree`, …) and, behind them, every field of the triggering match by its SECL
//! path (`exec.file.path`, `process.argv`, `event.type`). All of it may be attacker-controlled.

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
    pub fn lookup(&self, path: &str) -> Option<&Value> {
        if path == "match" {
            return Some(&self.matched);
        }
        at(&self.computed, path)
            .filter(|v| !v.is_object() || at(&self.matched, path).is_none())
            .or_else(|| at(&self.matched, path))
    }

    /// A value as text: strings as they are, scalars printed, lists joined by spaces, objects as JSON;
    /// missing values are empty. Bounded in length.
    pub fn text(&self, path: &str) -> String {
        let s = match self.lookup(path) {
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
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => items
            .iter()
            .map(value_text)
            .collect::<Vec<_>>()
            .join(" "),
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

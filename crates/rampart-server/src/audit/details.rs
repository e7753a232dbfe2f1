//! What an audit entry says about a change: bounded and secret-free whatever a caller passes.
//!
//! - [`diff`]: the leaves that differ between two JSON values, as `{"path.to.field": [old, new]}`.
//! - [`sanitize`]: every value under a secret-looking key (passwords, tokens, keys, webhook URLs, header
//!   values) becomes `<redacted>`, long strings are clipped with their length and a digest (enough to tell
//!   two versions apart, not to read them), and the whole is capped.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub const REDACTED: &str = "<redacted>";
/// Longest string kept whole.
const MAX_STRING: usize = 256;
/// Most changed leaves listed.
const MAX_CHANGES: usize = 64;
/// Largest details object, serialised.
const MAX_BYTES: usize = 8 * 1024;

/// Keys whose values are secrets wherever they appear (lower case; `*_secret`, `*_password`, `*_token`
/// and `*_key` too). Slack and Teams webhook URLs are credentials: whoever has one can post.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "password"
            | "secret"
            | "token"
            | "api_key"
            | "apikey"
            | "routing_key"
            | "webhook_url"
            | "authorization"
            | "cookie"
            | "headers"
            | "private_key"
    ) || ["_secret", "_password", "_token", "_key"]
        .iter()
        .any(|s| k.ends_with(s))
}

/// `s` cut to `max` characters (control characters blanked: a name or a target is one line), with a note
/// of what was cut.
pub fn clip(s: &str, max: usize) -> String {
    clip_keeping(s, max, &[])
}

/// [`clip`] for a value: its line breaks and tabs are data (a policy file's text) and stay; other control
/// characters (terminal escapes) are blanked.
fn clip_text(s: &str, max: usize) -> String {
    clip_keeping(s, max, &['\n', '\t'])
}

fn clip_keeping(s: &str, max: usize, keep: &[char]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() && !keep.contains(&c) {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    };
    if s.chars().count() <= max {
        return clean(s);
    }
    let head: String = s.chars().take(max.saturating_sub(40)).collect();
    let digest = hex::encode(&Sha256::digest(s.as_bytes())[..6]);
    format!("{}… ({} bytes, sha256 {digest}…)", clean(&head), s.len())
}

/// Every value replaced by the mark, the shape kept (a diff's `[old, new]` stays a pair, absent stays null).
fn redact_all(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), redact_all(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(redact_all).collect()),
        _ => json!(REDACTED),
    }
}

fn sanitize_value(v: Value, depth: usize) -> Value {
    match v {
        Value::String(s) => Value::String(clip_text(&s, MAX_STRING)),
        Value::Array(items) if depth < 8 => Value::Array(
            items
                .into_iter()
                .map(|i| sanitize_value(i, depth + 1))
                .collect(),
        ),
        Value::Object(m) if depth < 8 => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    // Keys of a diff are paths (`config.secret`): any secret part hides the value.
                    let v = if secret_path(&k) {
                        redact_all(&v)
                    } else {
                        sanitize_value(v, depth + 1)
                    };
                    (clip(&k, 128), v)
                })
                .collect(),
        ),
        Value::Array(_) | Value::Object(_) => json!("…"),
        other => other,
    }
}

/// The details as stored: secrets redacted, strings clipped, at most 8 KiB.
pub fn sanitize(details: Value) -> Value {
    let v = sanitize_value(details, 0);
    let text = v.to_string();
    if text.len() <= MAX_BYTES {
        return v;
    }
    json!({"truncated": clip(&text, MAX_BYTES / 2)})
}

/// Whether a diff path runs through a secret key (`config.secret`, `config.headers.X-Token`).
fn secret_path(path: &str) -> bool {
    path.split('.').any(secret_key)
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Map<String, Value>, more: &mut usize) {
    if old == new {
        return;
    }
    // Something created or deleted whole is listed field by field, like a change.
    let empty = Value::Object(Map::new());
    let (old, new) = match (old, new) {
        (Value::Null, Value::Object(_)) => (&empty, new),
        (Value::Object(_), Value::Null) => (old, &empty),
        _ => (old, new),
    };
    if let (Value::Object(a), Value::Object(b)) = (old, new) {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let (o, n) = (
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null),
            );
            walk(&p, o, n, out, more);
        }
        return;
    }
    if out.len() >= MAX_CHANGES {
        *more += 1;
        return;
    }
    let (o, n) = if secret_path(path) {
        // That it changed is worth knowing; what it was or became is not.
        let mark = |v: &Value| {
            if v.is_null() {
                Value::Null
            } else {
                json!(REDACTED)
            }
        };
        (mark(old), mark(new))
    } else {
        (leaf(old), leaf(new))
    };
    out.insert(path.to_string(), json!([o, n]));
}

/// A changed leaf as shown: scalars as they are, arrays and objects as clipped JSON text.
fn leaf(v: &Value) -> Value {
    match v {
        Value::Array(_) | Value::Object(_) => Value::String(clip(&v.to_string(), MAX_STRING)),
        other => other.clone(),
    }
}

/// `{"changes": {"path": [old, new], …}}` for the leaves that differ (absent: null). A creation is a
/// diff from `{}`, a deletion a diff to `{}`.
pub fn diff(old: &Value, new: &Value) -> Value {
    let mut out = Map::new();
    let mut more = 0;
    walk("", old, new, &mut out, &mut more);
    let mut d = json!({"changes": out});
    if more > 0 {
        d["more_changes"] = json!(more);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_log() {
        let old = json!({"name": "hook", "config": {"url": "https://a/x", "secret": "s3cret-one-1234",
                          "headers": {"X-Token": "t1"}}});
        let new = json!({"name": "hook", "config": {"url": "https://b/x", "secret": "s3cret-two-1234",
                          "headers": {"X-Token": "t2"}}});
        let d = sanitize(diff(&old, &new));
        let text = d.to_string();
        for s in ["s3cret", "t1", "t2"] {
            assert!(!text.contains(s), "{text}");
        }
        assert_eq!(
            d["changes"]["config.url"],
            json!(["https://a/x", "https://b/x"])
        );
        assert_eq!(d["changes"]["config.secret"], json!([REDACTED, REDACTED]));
        assert_eq!(
            d["changes"]["config.headers.X-Token"],
            json!([REDACTED, REDACTED])
        );
        assert!(d["changes"].get("name").is_none());
        // A secret passed whole (not as a diff) is redacted as well.
        let d = sanitize(
            json!({"password": "hunter2hunter2", "user": {"api_token": "x"},
                                "changes": {"password": ["a", "b"], "config.routing_key": [null, "k"]}}),
        );
        assert_eq!(
            d,
            json!({"password": REDACTED, "user": {"api_token": REDACTED},
                   "changes": {"password": [REDACTED, REDACTED], "config.routing_key": [null, REDACTED]}})
        );
    }

    #[test]
    fn bounded_whatever_the_input() {
        let big = "a".repeat(1 << 20);
        let d = sanitize(diff(&json!({"content": ""}), &json!({"content": big})));
        let shown = d["changes"]["content"][1].as_str().unwrap();
        assert!(
            shown.len() < 400 && shown.contains("1048576 bytes"),
            "{shown}"
        );
        let many: Map<String, Value> = (0..500).map(|i| (format!("k{i}"), json!(i))).collect();
        let d = sanitize(diff(&json!({}), &Value::Object(many)));
        assert_eq!(d["changes"].as_object().unwrap().len(), MAX_CHANGES);
        assert_eq!(d["more_changes"], 500 - MAX_CHANGES);
        assert!(d.to_string().len() <= MAX_BYTES);
        assert_eq!(clip("a\u{1b}[31mb\nc", 20), "a [31mb c");
        let d = sanitize(json!({"content": "rules:\n\t- id: x\u{1b}[2J"}));
        assert_eq!(d["content"], "rules:\n\t- id: x [2J");
    }
}

//! Generic webhooks: a JSON body built from a JSON template (each string in it is a template; a string that
//! is only `{{ path }}` becomes that value as JSON, e.g. `"{{ match }}"` the whole match), custom headers,
//! and, with a secret, an HMAC-SHA256 signature over `timestamp.body`:
//!
//! `X-Rampart-Timestamp: 1700000000` and `X-Rampart-Signature: sha256=<hex>` (names configurable). The
//! receiver recomputes the HMAC over the timestamp, a dot and the raw body, and refuses stale timestamps.
//! `X-Rampart-Delivery` carries the delivery id, the same on every retry, so that receivers can drop repeats.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::{check_url, http, DeliveryError, Senders};
use crate::notify::escape::Format;
use crate::notify::message::Notification;
use crate::notify::template::{self, Part};
use crate::notify::vars::Vars;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub url: String,
    /// `POST` (default) or `PUT`.
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Signs each request when set.
    #[serde(default)]
    pub secret: Option<String>,
    /// The JSON body template; default: event, title, text, severity, signal, rule and match.
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    #[serde(default = "default_timestamp_header")]
    pub timestamp_header: String,
}

fn default_method() -> String {
    "POST".into()
}
fn default_signature_header() -> String {
    "X-Rampart-Signature".into()
}
fn default_timestamp_header() -> String {
    "X-Rampart-Timestamp".into()
}

/// Headers a configuration may not set: they belong to the transport or to the signature.
const RESERVED: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "x-rampart-delivery",
];

fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("header {name:?}: not a valid header name"));
    }
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("header {name}: set by Rampart"));
    }
    Ok(())
}

pub fn default_body() -> Value {
    json!({
        "event": "{{ notification.event }}",
        "delivery_id": "{{ notification.id }}",
        "title": "{{ notification.title }}",
        "text": "{{ notification.text }}",
        "severity": "{{ severity }}",
        "url": "{{ signal.url }}",
        "signal": "{{ signal }}",
        "rule": "{{ rule }}",
        "match": "{{ match }}",
    })
}

/// Checks every string of a body template.
fn check_body(v: &Value) -> Result<(), String> {
    match v {
        Value::String(s) => template::parse(s).map(|_| ()),
        Value::Array(items) => items.iter().try_for_each(check_body),
        Value::Object(m) => m.values().try_for_each(check_body),
        _ => Ok(()),
    }
}

/// Fills a body template: strings are rendered as plain text and serialised by serde (JSON-escaped by
/// construction); a lone placeholder keeps the value's JSON type.
pub fn render_body(v: &Value, vars: &Vars) -> Value {
    match v {
        Value::String(s) => {
            let Ok(t) = template::parse(s) else {
                return Value::String(s.clone());
            };
            if let [Part::Var(path)] = t.parts.as_slice() {
                return vars
                    .lookup(path)
                    .map(|v| v.into_owned())
                    .unwrap_or(Value::Null);
            }
            Value::String(crate::notify::render::text(&t, vars))
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| render_body(i, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), render_body(v, vars)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `timestamp.body` under `secret`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        check_url("url", &self.url)?;
        if !matches!(self.method.as_str(), "POST" | "PUT") {
            return Err("method: POST or PUT".into());
        }
        if self.headers.len() > 32 {
            return Err("headers: at most 32".into());
        }
        for (k, v) in &self.headers {
            check_header_name(k)?;
            if v.len() > 4096 || v.chars().any(char::is_control) {
                return Err(format!(
                    "header {k}: at most 4096 bytes, no control characters"
                ));
            }
        }
        check_header_name(&self.signature_header)?;
        check_header_name(&self.timestamp_header)?;
        if self.secret.as_deref().is_some_and(|s| s.len() < 16) {
            return Err("secret: at least 16 bytes".into());
        }
        if let Some(b) = &self.body {
            check_body(b).map_err(|e| format!("body: {e}"))?;
        }
        Ok(())
    }

    /// The body bytes and the headers of the request for `n` at `unix_seconds`.
    pub fn request(&self, n: &Notification, unix_seconds: u64) -> (Vec<u8>, Vec<(String, String)>) {
        let mut vars = n.vars.clone();
        if let Some(note) = vars.computed.get_mut("notification") {
            note["title"] = json!(n.title(Format::Plain));
            note["text"] = json!(n.body(Format::Plain));
        }
        let body = render_body(self.body.as_ref().unwrap_or(&default_body()), &vars);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        headers.push(("x-rampart-delivery".into(), n.delivery_id.to_string()));
        headers.push(("x-rampart-event".into(), n.event.as_str().into()));
        if let Some(secret) = &self.secret {
            let ts = unix_seconds.to_string();
            headers.push((
                self.signature_header.clone(),
                signature(secret, &ts, &bytes),
            ));
            headers.push((self.timestamp_header.clone(), ts));
        }
        (bytes, headers)
    }

    pub async fn deliver(&self, n: &Notification, s: &Senders) -> Result<u16, DeliveryError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (body, headers) = self.request(n, now);
        let method = if self.method == "PUT" {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        http::send_json(s, method, &self.url, &headers, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef
        assert_eq!(
            signature("0123456789abcdef", "1700000000", br#"{"a":1}"#),
            "sha256=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23"
        );
    }

    #[test]
    fn body_values_keep_their_type_and_strings_are_escaped_by_serde() {
        let vars = Vars {
            computed: json!({"signal": {"id": 7, "count": 3}}),
            matched: json!({"exec": {"file": {"path": "\"}, \"x\": \"{{ signal.id }}"}}}),
        };
        let body = json!({"id": "{{ signal.id }}", "s": "signal {{ signal.id }}: {{ exec.file.path }}", "n": 1});
        let out = render_body(&body, &vars);
        assert_eq!(out["id"], json!({"id": 7, "count": 3})["id"]);
        assert_eq!(out["s"], "signal 7: \"}, \"x\": \"{{ signal.id }}");
        assert_eq!(out["n"], 1);
    }
}

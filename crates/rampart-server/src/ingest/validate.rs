//! Turning an ingest body into validated matches: bounded decompression, strict JSON, and per-match checks.
//! A batch with any invalid match is refused whole (with the index and reason), so nothing is half-stored.
//!
//! The body is `rampart_api::ingest::IngestBatch`: [`bounded_json`] bounds it (size, matches, values,
//! depth, no unknown top-level key) before anything is built, then each match is decoded as a
//! [`MatchReport`] (a missing, mistyped or unknown envelope field is refused by its path) and its event
//! header, part of the open event body, is checked here.

use std::io::Read;

use rampart_api::report::MatchReport;
use serde_json::Value;

use super::bounded_json::{self, Exceeded};
use crate::config::Limits;
use crate::error::{ApiError, ApiResult};

/// One rule match as reported by an agent, with the columns the server indexes pulled out.
#[derive(Debug, Clone)]
pub struct IncomingMatch {
    pub event_id: String,
    pub rule_id: String,
    pub event_type: String,
    pub ts: i64,
    pub hostname: String,
    pub container_id: String,
    /// The container's image as `name:tag` (or `name`), empty outside containers.
    pub image: String,
    pub pid: i64,
    pub process_path: String,
    /// The pids of the process and its ancestors, as ` 1234 567 ` (space-delimited for `LIKE` lookups).
    pub lineage: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub value: Value,
}

pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// Rank of a severity (unknown ones rank as medium).
pub fn severity_rank(s: &str) -> usize {
    SEVERITIES.iter().position(|x| *x == s).unwrap_or(2)
}

/// Undoes `Content-Encoding` (identity or gzip), refusing to inflate past the limit.
pub fn decode_body(encoding: Option<&str>, body: &[u8], limits: &Limits) -> ApiResult<Vec<u8>> {
    let max = limits.max_decompressed_bytes;
    match encoding.map(str::trim) {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(body).take(max as u64 + 1);
            decoder
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad_request(format!("body is not valid gzip: {e}")))?;
            if out.len() > max {
                return Err(ApiError::too_large(format!(
                    "body inflates past {max} bytes"
                )));
            }
            Ok(out)
        }
        Some(other) => Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("unsupported Content-Encoding {other:?} (use gzip or identity)"),
        )),
    }
}

/// What the server knows for sure about a batch, whatever its matches claim: which enrolled host sent it and
/// when it arrived. Each match is bound to it: its host is the enrolled one and its event time is kept
/// within `[received_at - max_age, received_at + max_skew]`; what the agent claimed instead is kept in the
/// match as `event.reported_hostname` / `event.reported_timestamp`.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    pub hostname: &'a str,
    pub received_at: i64,
    pub max_skew_ns: i64,
    pub max_age_ns: i64,
}

impl Receipt<'_> {
    fn bind(&self, value: &mut Value, ts: &mut i64) {
        let lo = self.received_at.saturating_sub(self.max_age_ns);
        let hi = self.received_at.saturating_add(self.max_skew_ns);
        let event = &mut value["event"];
        let clamped = (*ts).clamp(lo, hi.max(lo));
        if clamped != *ts {
            event["reported_timestamp"] = (*ts).into();
            event["timestamp"] = clamped.into();
            *ts = clamped;
        }
        let claimed = event["hostname"].as_str().unwrap_or("");
        if !claimed.is_empty() && claimed != self.hostname {
            event["reported_hostname"] = claimed.into();
        }
        event["hostname"] = self.hostname.into();
    }
}

/// Parses and validates a batch, binding every match to `receipt`. Parsing stops as soon as the batch has
/// too many matches or values (413).
pub fn parse_batch(
    json: &[u8],
    limits: &Limits,
    receipt: &Receipt<'_>,
) -> ApiResult<Vec<IncomingMatch>> {
    let matches = bounded_json::parse(json, limits.max_batch_matches, limits.max_batch_values)
        .map_err(|(e, exceeded)| match exceeded {
            Some(Exceeded::Matches) => ApiError::too_large(format!(
                "{e} (at most {} matches per batch)",
                limits.max_batch_matches
            )),
            Some(Exceeded::Values) => ApiError::too_large(format!(
                "{e} (at most {} values per batch)",
                limits.max_batch_values
            )),
            None => ApiError::bad_request(format!(
                "body is not a valid batch ({{\"matches\": [...]}}): {e}"
            )),
        })?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(matches.len());
    for (i, value) in matches.into_iter().enumerate() {
        let m = parse_match(value, limits, receipt.hostname, Some(receipt))
            .map_err(|e| ApiError::unprocessable(format!("matches[{i}]: {e}")))?;
        // A batch may repeat a match (an agent re-spooling): keep the first.
        if seen.insert((m.event_id.clone(), m.rule_id.clone())) {
            out.push(m);
        }
    }
    Ok(out)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// An identifier-like string: bounded, non-empty, no control characters.
fn ident(v: &Value, path: &[&str], max: usize) -> Result<String, String> {
    let name = path.join(".");
    match path.iter().try_fold(v, |v, k| v.get(k)) {
        None | Some(Value::Null) => Err(format!("{name} is missing")),
        Some(Value::String(s)) => checked_ident(&name, s, max),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn checked_ident(name: &str, s: &str, max: usize) -> Result<String, String> {
    if s.is_empty() || s.len() > max {
        return Err(format!("{name} must have 1 to {max} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{name} contains control characters"));
    }
    Ok(s.to_string())
}

/// Free text stored in a column: NUL bytes (refused by PostgreSQL) are replaced, length is capped.
pub fn column_text(s: &str, max: usize) -> String {
    let mut s: String = s
        .chars()
        .map(|c| if c == '\0' { '\u{fffd}' } else { c })
        .collect();
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// A stored match (its body, as validated and bound when it was ingested, and its stored hostname) read
/// back as the ingest saw it, for replays of recent matches.
pub fn stored_match(body: &str, hostname: &str) -> Result<IncomingMatch, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let limits = Limits {
        max_match_bytes: usize::MAX,
        ..Limits::default()
    };
    parse_match(value, &limits, hostname, None)
}

fn parse_match(
    mut value: Value,
    limits: &Limits,
    agent_hostname: &str,
    receipt: Option<&Receipt<'_>>,
) -> Result<IncomingMatch, String> {
    if !value.is_object() {
        return Err("must be an object".into());
    }
    let report: MatchReport = serde_path_to_error::deserialize(&value)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    let rule = &report.rule;
    let rule_id = checked_ident("rule.id", &rule.id, 256)?;
    let event_id = ident(&value, &["event", "id"], 256)?;
    let event_type = ident(&value, &["event", "type"], 64)?;
    let mut ts = match value.get("event").and_then(|e| e.get("timestamp")) {
        Some(Value::Number(n)) => n.as_u64().filter(|t| *t > 0 && *t < i64::MAX as u64),
        _ => None,
    }
    .ok_or("event.timestamp must be a positive integer (epoch nanoseconds)")?
        as i64;
    if let Some(r) = receipt {
        r.bind(&mut value, &mut ts);
    }
    let severity = rule
        .severity
        .as_deref()
        .or_else(|| rule.tags.get("severity").map(String::as_str))
        .map(str::to_ascii_lowercase)
        .filter(|s| SEVERITIES.contains(&s.as_str()))
        .unwrap_or_else(|| "medium".into());
    let title = Some(rule.description.as_str())
        .filter(|d| !d.is_empty())
        .unwrap_or(&rule_id);
    let hostname = text(&value, &["event", "hostname"])
        .filter(|h| !h.is_empty())
        .unwrap_or(agent_hostname);
    let container_id = text(&value, &["container", "id"]).unwrap_or("");
    let image = image_of(&value);
    let process = value.get("process");
    let pid = process
        .and_then(|p| p.get("pid"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let process_path = text(&value, &["process", "file", "path"]).unwrap_or("");
    let mut lineage = String::from(" ");
    if pid > 0 {
        lineage.push_str(&format!("{pid} "));
    }
    let ancestors = process
        .and_then(|p| p.get("ancestors"))
        .and_then(Value::as_array);
    for a in ancestors.into_iter().flatten().take(64) {
        if let Some(p) = a.get("pid").and_then(Value::as_i64).filter(|p| *p > 0) {
            lineage.push_str(&format!("{p} "));
        }
    }
    let body = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    if body.len() > limits.max_match_bytes {
        return Err(format!(
            "{} bytes (at most {})",
            body.len(),
            limits.max_match_bytes
        ));
    }
    Ok(IncomingMatch {
        event_id,
        title: column_text(title, 1024),
        hostname: column_text(hostname, 255),
        container_id: column_text(container_id, 128),
        image: column_text(&image, 512),
        process_path: column_text(process_path, 4096),
        rule_id,
        event_type,
        ts,
        pid,
        lineage,
        severity,
        body,
        value,
    })
}

/// `container.image.{name,tag}`, or the container's `image_name:`/`image_tag:` tags.
fn image_of(value: &Value) -> String {
    let tag = |prefix: &str| {
        value
            .pointer("/container/tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|t| t.strip_prefix(prefix))
            .unwrap_or("")
            .to_string()
    };
    let mut name = text(value, &["container", "image", "name"])
        .unwrap_or("")
        .to_string();
    let mut version = text(value, &["container", "image", "tag"])
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        name = tag("image_name:");
        version = tag("image_tag:");
    }
    match (name.is_empty(), version.is_empty()) {
        (true, _) => String::new(),
        (false, true) => name,
        (false, false) => format!("{name}:{version}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"rule": {"id": "r1", "tags": {"severity": "high"}, "description": "Rule one"},
               "event": {"type": "exec", "timestamp": 1_700_000_000_000_000_000u64, "id": "run-1", "hostname": "h1"},
               "process": {"pid": 42, "file": {"path": "/bin/sh"}, "ancestors": [{"pid": 7}, {"pid": 1}]},
               "container": {"id": "abc"}})
    }

    /// A receipt that leaves `sample()`'s time alone.
    fn receipt(hostname: &str) -> Receipt<'_> {
        Receipt {
            hostname,
            received_at: 1_700_000_000_000_000_000,
            max_skew_ns: 1,
            max_age_ns: 1,
        }
    }

    #[test]
    fn matches_are_bound_to_the_sender_and_its_clock() {
        let mut far = sample();
        far["event"]["timestamp"] = json!(i64::MAX - 1);
        far["event"]["id"] = json!("far");
        let mut ancient = sample();
        ancient["event"]["timestamp"] = json!(1);
        ancient["event"]["id"] = json!("ancient");
        let body = serde_json::to_vec(&json!({"matches": [sample(), far, ancient]})).unwrap();
        let r = Receipt {
            hostname: "enrolled",
            received_at: 1_700_000_000_000_000_000,
            max_skew_ns: 300,
            max_age_ns: 1000,
        };
        let ms = parse_batch(&body, &Limits::default(), &r).unwrap();
        let ts: Vec<i64> = ms.iter().map(|m| m.ts).collect();
        assert_eq!(
            ts,
            [r.received_at, r.received_at + 300, r.received_at - 1000]
        );
        for m in &ms {
            assert_eq!(m.hostname, "enrolled");
            assert_eq!(m.value["event"]["hostname"], "enrolled");
            assert_eq!(m.value["event"]["reported_hostname"], "h1");
            assert_eq!(
                m.value["event"]["timestamp"], m.ts,
                "the body says the stored time"
            );
        }
        assert_eq!(ms[0].value["event"].get("reported_timestamp"), None);
        assert_eq!(ms[1].value["event"]["reported_timestamp"], i64::MAX - 1);
        assert!(
            ms[2].body.contains("\"reported_timestamp\":1"),
            "{}",
            ms[2].body
        );
    }

    #[test]
    fn extracts_columns() {
        let body = serde_json::to_vec(&json!({"matches": [sample(), sample()]})).unwrap();
        let ms = parse_batch(&body, &Limits::default(), &receipt("h1")).unwrap();
        assert_eq!(ms.len(), 1, "a repeated match is kept once");
        let m = &ms[0];
        assert_eq!(
            (m.rule_id.as_str(), m.event_id.as_str(), m.severity.as_str()),
            ("r1", "run-1", "high")
        );
        assert_eq!(
            (m.hostname.as_str(), m.container_id.as_str(), m.pid),
            ("h1", "abc", 42)
        );
        assert_eq!(m.lineage, " 42 7 1 ");
        assert_eq!(m.title, "Rule one");
    }

    #[test]
    fn refuses_bad_matches_with_reasons() {
        let cases = [
            (json!({"matches": [{"event": {}}]}), "missing field `rule`"),
            (
                json!({"matches": [{"rule": {"id": "r", "sevrity": "high"}, "event": {}}]}),
                "unknown field `sevrity`",
            ),
            (
                json!({"matches": [{"rule": {"id": "r", "tags": [1]}, "event": {}}]}),
                "rule.tags: invalid type",
            ),
            (json!({"matches": [1]}), "must be an object"),
            (
                json!({"matches": [{"rule": {"id": "r"}, "event": {"id": "e", "type": "exec", "timestamp": -1}}]}),
                "timestamp",
            ),
            (
                json!({"matches": [{"rule": {"id": "r\u{0}"}, "event": {"id": "e", "type": "exec", "timestamp": 1}}]}),
                "control",
            ),
            (json!({"matches": [], "extra": 1}), "unknown field"),
        ];
        for (body, want) in cases {
            let err = parse_batch(
                &serde_json::to_vec(&body).unwrap(),
                &Limits::default(),
                &receipt("h"),
            )
            .unwrap_err();
            assert!(
                err.message.contains(want),
                "{} does not mention {want}",
                err.message
            );
        }
    }

    #[test]
    fn gzip_bombs_stop_at_the_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 2 << 20]).unwrap();
        let gz = enc.finish().unwrap();
        let limits = Limits {
            max_decompressed_bytes: 1 << 20,
            ..Limits::default()
        };
        let err = decode_body(Some("gzip"), &gz, &limits).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(decode_body(Some("gzip"), b"not gzip", &limits).is_err());
        assert!(decode_body(Some("br"), b"", &limits).is_err());
    }
}

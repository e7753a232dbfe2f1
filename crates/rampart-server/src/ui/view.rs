//! Turning stored values into what templates show: times, histogram bars, process trees, event fields.
//! Everything here produces plain strings and numbers; the templates escape them.

use serde_json::Value;

/// Epoch nanoseconds as `2026-12-01 20:19:59Z`.
pub fn time(ns: i64) -> String {
    if ns <= 0 {
        return "—".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replacen('T', " ", 1)
}

/// How long ago, coarsely (`5m ago`).
pub fn ago(ns: i64, now: i64) -> String {
    if ns <= 0 {
        return "never".into();
    }
    format!("{} ago", span(now - ns))
}

/// A length of time in nanoseconds, coarsely (`15s`, `5m`).
pub fn span(ns: i64) -> String {
    let s = ns.max(0) / 1_000_000_000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// One bar of the histogram (SVG coordinates in a 1000×120 view box).
pub struct Bar {
    pub x: f64,
    pub width: f64,
    pub y: f64,
    pub height: f64,
    pub count: i64,
    pub label: String,
}

/// Bars for `buckets` (start, count) over [from, to) in steps of `interval`, empty buckets included.
pub fn bars(buckets: &[(i64, i64)], from: i64, to: i64, interval: i64) -> Vec<Bar> {
    if interval <= 0 || to <= from {
        return Vec::new();
    }
    let start = from - from.rem_euclid(interval);
    let n = (((to - start) + interval - 1) / interval).clamp(1, 400) as usize;
    let mut counts = vec![0i64; n];
    for (b, c) in buckets {
        let i = (b - start) / interval;
        if (0..n as i64).contains(&i) {
            counts[i as usize] += c;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let w = 1000.0 / n as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let h = (*c as f64 / max) * 110.0;
            Bar {
                x: i as f64 * w,
                width: (w - 1.0).max(0.5),
                y: 120.0 - h,
                height: h,
                count: *c,
                label: time(start + i as i64 * interval),
            }
        })
        .collect()
}

/// A bucket width giving about 60 bars over `span` nanoseconds, rounded to a readable unit.
pub fn interval_for(span: i64) -> i64 {
    const S: i64 = 1_000_000_000;
    let steps = [
        S,
        5 * S,
        15 * S,
        30 * S,
        60 * S,
        300 * S,
        900 * S,
        1800 * S,
        3600 * S,
        3 * 3600 * S,
        6 * 3600 * S,
        12 * 3600 * S,
        86_400 * S,
        7 * 86_400 * S,
    ];
    let want = span / 60;
    *steps
        .iter()
        .find(|s| **s >= want)
        .unwrap_or(&(30 * 86_400 * S))
}

/// One process of a lineage, root first; `depth` indents it in the graph.
pub struct ProcNode {
    pub pid: String,
    pub path: String,
    pub args: String,
    pub user: String,
    pub y: i64,
    pub x: i64,
    pub current: bool,
}

fn text_of(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The event's process and its ancestors as a chain from the oldest ancestor down to the process.
pub fn process_tree(event: &Value) -> Vec<ProcNode> {
    let Some(p) = event.get("process") else {
        return Vec::new();
    };
    let mut chain: Vec<(&Value, bool)> = p
        .get("ancestors")
        .and_then(Value::as_array)
        .map(|a| a.iter().take(32).map(|n| (n, false)).collect())
        .unwrap_or_default();
    chain.reverse();
    chain.push((p, true));
    chain
        .into_iter()
        .enumerate()
        .map(|(i, (n, current))| {
            let mut path = text_of(n, &["file", "path"]);
            if path.is_empty() {
                path = text_of(n, &["comm"]);
            }
            ProcNode {
                pid: text_of(n, &["pid"]),
                path,
                args: text_of(n, &["args"]),
                user: text_of(n, &["user"]),
                y: 8 + i as i64 * 52,
                x: 8 + (i as i64 * 18).min(200),
                current,
            }
        })
        .collect()
}

/// Height of the SVG holding a process tree.
pub fn tree_height(nodes: &[ProcNode]) -> i64 {
    nodes.last().map(|n| n.y + 52).unwrap_or(0)
}

/// The files and processes an event touched: every `…path` field outside the ancestors, and the
/// command lines.
pub fn impacted(event: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
        if let Value::Object(m) = v {
            for (k, v) in m {
                if k == "ancestors" || k == "parent" || out.len() >= 64 {
                    continue;
                }
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Value::String(s)
                        if (k == "path" || k == "args" || k.ends_with("_path"))
                            && !s.is_empty() =>
                    {
                        out.push((name, s.clone()))
                    }
                    Value::Object(_) => walk(v, &name, out),
                    _ => {}
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(event, "", &mut out);
    out
}

/// Where to link a rule id in the rules page.
pub fn rule_href(rule_id: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", rule_id)
        .finish();
    format!("/ui/rules?{q}")
}

/// `/ui/signals?q=…` for a query.
pub fn explorer_href(q: &str, range: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", q)
        .append_pair("range", range)
        .finish();
    format!("/ui/signals?{q}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_root_first() {
        let e = serde_json::json!({"process": {"pid": 3, "file": {"path": "/bin/sh"},
            "ancestors": [{"pid": 2, "file": {"path": "/usr/sbin/sshd"}}, {"pid": 1, "comm": "init"}]}});
        let t = process_tree(&e);
        let pids: Vec<_> = t.iter().map(|n| n.pid.as_str()).collect();
        assert_eq!(pids, ["1", "2", "3"]);
        assert_eq!(t[0].path, "init");
        assert!(t[2].current && !t[0].current);
    }

    #[test]
    fn bars_fill_empty_buckets() {
        let b = bars(&[(0, 2), (20, 4)], 0, 30, 10);
        assert_eq!(b.iter().map(|b| b.count).collect::<Vec<_>>(), [2, 0, 4]);
        assert!((b[2].height - 110.0).abs() < 1e-9);
    }

    #[test]
    fn impacted_skips_ancestors() {
        let e = serde_json::json!({"open": {"file": {"path": "/etc/shadow"}},
            "process": {"args": "-c x", "ancestors": [{"file": {"path": "/sbin/init"}}]}});
        let got = impacted(&e);
        assert!(got.contains(&("open.file.path".into(), "/etc/shadow".into())));
        assert!(got.iter().all(|(_, v)| v != "/sbin/init"));
    }
}

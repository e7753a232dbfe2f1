//! The explorer's query bar: `key:value` terms and free text, e.g.
//! `severity:high,critical rule:nc_listener host:web-1 status:open container:3f2a image:nginx curl`.
//! Values may be quoted (`host:"web 1"`); a key given twice, or comma-separated values, means any of them;
//! every other word is searched (case-insensitive substring) in the title, rule id, host and executable.

use crate::signals::Filters;

/// The keys the query bar understands, with what they filter (shown on the page).
pub const KEYS: &[(&str, &str)] = &[
    ("severity", "info, low, medium, high, critical"),
    ("rule", "rule id"),
    ("host", "hostname"),
    ("container", "container id"),
    ("image", "image name (any tag) or name:tag"),
    ("status", "open, under_review, archived"),
    ("source", "agent or backend"),
    ("assignee", "a user id, or none"),
];

/// Splits a query into words, keeping quoted stretches together (quotes removed).
fn words(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn add(slot: &mut Option<String>, v: &str) {
    match slot {
        Some(s) => {
            s.push(',');
            s.push_str(v);
        }
        None => *slot = Some(v.to_string()),
    }
}

/// The filters a query means, or the first term it cannot read.
pub fn parse(q: &str) -> Result<Filters, String> {
    let mut f = Filters::default();
    let mut text = Vec::new();
    for w in words(q) {
        let Some((key, value)) = w.split_once(':') else {
            text.push(w);
            continue;
        };
        if value.is_empty() {
            return Err(format!("`{w}`: give a value after the colon"));
        }
        let slot = match key.to_ascii_lowercase().as_str() {
            "severity" | "sev" => &mut f.severity,
            "rule" | "rule_id" => &mut f.rule_id,
            "host" | "hostname" => &mut f.hostname,
            "container" | "container_id" => &mut f.container_id,
            "image" => &mut f.image,
            "status" | "state" => &mut f.state,
            "source" => &mut f.source,
            "assignee" => &mut f.assignee,
            _ => {
                // Not a key: a word with a colon (a path, a time, an image) is searched as text.
                text.push(w);
                continue;
            }
        };
        add(slot, value);
    }
    if !text.is_empty() {
        f.q = Some(text.join(" "));
    }
    Ok(f)
}

/// `q` with `key:value` added (a facet click), quoting the value when it needs it.
pub fn with_term(q: &str, key: &str, value: &str) -> String {
    let v = if value.chars().any(|c| c.is_whitespace() || c == '"') {
        format!("\"{}\"", value.replace('"', ""))
    } else {
        value.to_string()
    };
    let term = format!("{key}:{v}");
    if words(q)
        .iter()
        .any(|w| *w == format!("{key}:{}", value.replace('"', "")))
    {
        return q.to_string();
    }
    if q.trim().is_empty() {
        term
    } else {
        format!("{} {term}", q.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_text_and_quotes() {
        let f = parse(r#"severity:high rule:nc host:"web 1" sev:critical curl /tmp/x:y"#).unwrap();
        assert_eq!(f.severity.as_deref(), Some("high,critical"));
        assert_eq!(f.rule_id.as_deref(), Some("nc"));
        assert_eq!(f.hostname.as_deref(), Some("web 1"));
        assert_eq!(f.q.as_deref(), Some("curl /tmp/x:y"));
        assert!(parse("host:").is_err());
        let f = parse("status:open,archived image:nginx").unwrap();
        assert_eq!(f.state.as_deref(), Some("open,archived"));
        assert_eq!(f.image.as_deref(), Some("nginx"));
    }

    #[test]
    fn facet_terms() {
        assert_eq!(with_term("", "host", "web-1"), "host:web-1");
        assert_eq!(with_term("curl", "host", "a b"), "curl host:\"a b\"");
        assert_eq!(with_term("host:web-1", "host", "web-1"), "host:web-1");
    }
}

//! One notification as the channels see it: the signal event, the values about it, and the templates in
//! force (rule's, else channel's, else the defaults), rendered on demand in each channel's format.

use super::escape::Format;
use super::render;
use super::rules::SignalEvent;
use super::template::{self, Template, TemplateSpec};
use super::vars::Vars;

pub struct Notification {
    /// The outbox row: receivers may use it to drop a re-sent delivery.
    pub delivery_id: i64,
    pub event: SignalEvent,
    pub signal_id: i64,
    /// The signal's severity when the event happened.
    pub severity: String,
    /// When the signal was last seen (epoch ns).
    pub last_seen: i64,
    pub vars: Vars,
    pub title: Template,
    pub body: Template,
}

impl Notification {
    /// Picks the first template that sets a part, falling back to the defaults (which always parse).
    pub fn templates(specs: &[Option<&TemplateSpec>]) -> Result<(Template, Template), String> {
        let pick = |get: fn(&TemplateSpec) -> Option<&String>, default: &str| {
            let src = specs
                .iter()
                .flatten()
                .find_map(|s| get(s))
                .map(String::as_str)
                .unwrap_or(default);
            template::parse(src)
        };
        Ok((
            pick(|s| s.title.as_ref(), template::DEFAULT_TITLE)?,
            pick(|s| s.body.as_ref(), template::DEFAULT_BODY)?,
        ))
    }

    pub fn title(&self, f: Format) -> String {
        render::line(&self.title, &self.vars, f)
    }

    pub fn body(&self, f: Format) -> String {
        render::body(&self.body, &self.vars, f)
    }

    /// A value as text (not escaped: for JSON fields, which serde escapes).
    pub fn text(&self, path: &str) -> String {
        self.vars.text(path)
    }

    /// One incident per signal in PagerDuty and Opsgenie: triggers, escalations and the resolution share it.
    pub fn dedup_key(&self) -> String {
        format!("rampart-signal-{}", self.signal_id)
    }

    /// The signal's link, if the configured base gives a valid http(s) URL.
    pub fn url(&self) -> Option<String> {
        let u = self.text("signal.url");
        url::Url::parse(&u)
            .ok()
            .filter(|p| matches!(p.scheme(), "http" | "https"))
            .map(|p| p.to_string())
    }

    /// RFC 3339 time of the signal's last match.
    pub fn timestamp(&self) -> String {
        let t =
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(self.last_seen.max(0) as u64);
        humantime::format_rfc3339_seconds(t).to_string()
    }
}

/// Cuts text to at most `max` characters (vendors refuse longer fields).
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if s.chars().count() > max => format!("{}…", &s[..cut]),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_to_a_character_count() {
        assert_eq!(super::clip("abcdef", 4), "abc…");
        assert_eq!(super::clip("abc", 4), "abc");
        assert_eq!(super::clip("ééééé", 3).chars().count(), 3);
    }
}

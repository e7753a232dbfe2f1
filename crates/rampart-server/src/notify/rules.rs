//! Notification rules: which signals notify which channels. Every matcher given must hold (lists match if
//! any element does; empty lists match everything); rule ids, hosts, containers, images and Kubernetes
//! namespaces take `*` globs.

use super::template;
use crate::backend_rules::spec::glob;
use crate::ingest::validate::{severity_rank, SEVERITIES};

/// What happened to a signal, and a rule as stored and as the API takes it (the API's types).
pub use rampart_api::notifications::{RuleSpec, SignalEvent};

/// What rules match a signal on.
#[derive(Debug, Clone, Default)]
pub struct SignalFacts {
    pub signal_id: i64,
    pub source: String,
    pub rule_id: String,
    pub severity: String,
    pub hostname: String,
    pub container_id: String,
    /// `name:tag`, empty outside containers.
    pub image: String,
    /// Kubernetes namespace, empty outside pods.
    pub namespace: String,
    /// The rule's tags as `key:value` pairs.
    pub tags: Vec<(String, String)>,
}

impl SignalFacts {
    /// Tags, image and namespace from a match as agents report it (`rule.tags`, `container.image`,
    /// `container.tags`).
    pub fn from_match(&mut self, m: &serde_json::Value) {
        if let Some(tags) = m
            .get("rule")
            .and_then(|r| r.get("tags"))
            .and_then(|t| t.as_object())
        {
            for (k, v) in tags {
                for v in crate::backend_rules::spec::field_values(v, &[]) {
                    self.tags.push((k.clone(), v.into_owned()));
                }
            }
        }
        if let Some(image) = m.get("container").and_then(|c| c.get("image")) {
            self.image = image_ref(image);
        }
        let container_tags = m
            .get("container")
            .and_then(|c| c.get("tags"))
            .and_then(|t| t.as_array());
        if let Some(ns) = container_tags
            .into_iter()
            .flatten()
            .find_map(|t| t.as_str()?.strip_prefix("kube_namespace:"))
        {
            self.namespace = ns.to_string();
        }
    }
}

/// `name:tag` from `{name, tag}` (or a string as it is).
pub fn image_ref(image: &serde_json::Value) -> String {
    if let Some(s) = image.as_str() {
        return s.to_string();
    }
    let part = |k: &str| image.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match (part("name"), part("tag")) {
        ("", _) => String::new(),
        (name, "") => name.to_string(),
        (name, tag) => format!("{name}:{tag}"),
    }
}

fn any_glob(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p, value))
}

/// The server's checks and matching of a [`RuleSpec`] (the type is the API's; what it means is here).
pub trait RuleCheck {
    /// Why the rule cannot be stored, if it cannot.
    fn validate(&self) -> Result<(), String>;
    /// Whether a signal's `event` notifies through this rule.
    fn matches(&self, f: &SignalFacts, event: SignalEvent) -> bool;
}

impl RuleCheck for RuleSpec {
    fn validate(&self) -> Result<(), String> {
        if self.channels.is_empty() {
            return Err("channels: give at least one channel id".into());
        }
        if !SEVERITIES.contains(&self.min_severity.as_str()) {
            return Err(format!(
                "min_severity {:?}: one of {}",
                self.min_severity,
                SEVERITIES.join(", ")
            ));
        }
        if let Some(bad) = self
            .sources
            .iter()
            .find(|s| !matches!(s.as_str(), "agent" | "backend"))
        {
            return Err(format!("sources: {bad:?} is neither agent nor backend"));
        }
        if self.events.is_empty() || self.events.contains(&SignalEvent::Resolved) {
            return Err("events: created and/or escalated (resolutions follow the trigger)".into());
        }
        for (name, list) in [
            ("rule_ids", &self.rule_ids),
            ("tags", &self.tags),
            ("hosts", &self.hosts),
            ("containers", &self.containers),
            ("images", &self.images),
            ("namespaces", &self.namespaces),
        ] {
            if list.len() > 100 || list.iter().any(|p| p.is_empty() || p.len() > 256) {
                return Err(format!("{name}: at most 100 patterns of 1 to 256 bytes"));
            }
        }
        if let Some(t) = &self.template {
            template::validate(t)?;
        }
        Ok(())
    }

    fn matches(&self, f: &SignalFacts, event: SignalEvent) -> bool {
        self.events.contains(&event)
            && severity_rank(&f.severity) >= severity_rank(&self.min_severity)
            && (self.sources.is_empty() || self.sources.contains(&f.source))
            && any_glob(&self.rule_ids, &f.rule_id)
            && any_glob(&self.hosts, &f.hostname)
            && any_glob(&self.containers, &f.container_id)
            && any_glob(&self.images, &f.image)
            && (self.namespaces.is_empty()
                || (!f.namespace.is_empty() && any_glob(&self.namespaces, &f.namespace)))
            && (self.tags.is_empty()
                || self.tags.iter().any(|want| {
                    let (key, pattern) = want.split_once(':').unwrap_or((want, "*"));
                    f.tags.iter().any(|(k, v)| k == key && glob(pattern, v))
                }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(j: serde_json::Value) -> RuleSpec {
        let r: RuleSpec = serde_json::from_value(j).unwrap();
        r.validate().unwrap();
        r
    }

    #[test]
    fn matchers_all_hold() {
        let mut f = SignalFacts {
            source: "agent".into(),
            rule_id: "shell_in_container".into(),
            severity: "high".into(),
            hostname: "web-1".into(),
            container_id: "c1".into(),
            ..Default::default()
        };
        f.from_match(
            &json!({"rule": {"tags": {"mitre": ["T1059", "T1609"], "category": "exec"}},
                              "container": {"image": {"name": "nginx", "tag": "1.25"},
                                            "tags": ["image_name:nginx", "kube_namespace:payments"]}}),
        );
        assert_eq!(f.image, "nginx:1.25");
        assert_eq!(f.namespace, "payments");
        let yes = [
            json!({"channels": [1]}),
            json!({"channels": [1], "min_severity": "high", "sources": ["agent"]}),
            json!({"channels": [1], "rule_ids": ["shell_*"], "hosts": ["web-*"], "images": ["nginx:*"]}),
            json!({"channels": [1], "tags": ["mitre:T1609"]}),
            json!({"channels": [1], "tags": ["category"]}),
            json!({"channels": [1], "namespaces": ["payments", "billing"]}),
            json!({"channels": [1], "namespaces": ["pay*"]}),
        ];
        for r in yes {
            assert!(rule(r.clone()).matches(&f, SignalEvent::Created), "{r}");
        }
        let no = [
            json!({"channels": [1], "min_severity": "critical"}),
            json!({"channels": [1], "sources": ["backend"]}),
            json!({"channels": [1], "rule_ids": ["miner_*"]}),
            json!({"channels": [1], "tags": ["mitre:T1000"]}),
            json!({"channels": [1], "containers": ["other"]}),
            json!({"channels": [1], "events": ["escalated"]}),
            json!({"channels": [1], "namespaces": ["default"]}),
        ];
        for r in no {
            assert!(!rule(r.clone()).matches(&f, SignalEvent::Created), "{r}");
        }
        // Outside a pod, a namespace filter never matches.
        let host = SignalFacts {
            severity: "high".into(),
            ..Default::default()
        };
        let scoped = rule(json!({"channels": [1], "namespaces": ["*"]}));
        assert!(!scoped.matches(&host, SignalEvent::Created));
    }

    #[test]
    fn refuses_bad_rules() {
        for (j, want) in [
            (json!({"channels": []}), "channels"),
            (
                json!({"channels": [1], "min_severity": "huge"}),
                "min_severity",
            ),
            (json!({"channels": [1], "sources": ["kernel"]}), "sources"),
            (json!({"channels": [1], "events": ["resolved"]}), "events"),
            (
                json!({"channels": [1], "template": {"body": "{{ x"}}),
                "template.body",
            ),
        ] {
            let r: RuleSpec = serde_json::from_value(j).unwrap();
            let err = r.validate().unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }
}

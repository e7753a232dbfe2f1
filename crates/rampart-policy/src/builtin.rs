//! Rules the agent raises itself rather than from a policy expression: a workload doing something its
//! stable security profile lacks (anomaly detection). Their metadata is defined once, here: the agent puts
//! it in the matches it reports, and the server shows it on the signals (the server takes a rule's
//! description and remediation only from definitions it holds, never from an agent's report).

use std::collections::BTreeMap;

/// A built-in rule's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRule {
    pub id: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    /// Tags, `severity` among them.
    pub tags: &'static [(&'static str, &'static str)],
    pub remediation: &'static str,
    /// The policy name the rule is listed under.
    pub policy: &'static str,
}

impl BuiltinRule {
    pub fn tag_map(&self) -> BTreeMap<String, String> {
        self.tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn severity(&self) -> &'static str {
        self.tags
            .iter()
            .find(|(k, _)| *k == "severity")
            .map_or("", |(_, v)| v)
    }
}

/// An event of a profiled workload that its stable profile does not contain.
pub const ANOMALY: BuiltinRule = BuiltinRule {
    id: "anomaly_detection",
    version: "1.0.0",
    description: "A workload did something its stable security profile does not contain",
    tags: &[
        ("severity", "medium"),
        ("category", "anomaly"),
        ("source", "security_profile"),
    ],
    remediation: "Look at the new behaviour and the process tree: an intrusion, or a change of the workload? \
                  If legitimate, accept the signal's suppression suggestion or let the profile relearn on the \
                  next image tag.",
    policy: "security-profiles",
};

/// Every built-in rule.
pub const BUILTIN_RULES: &[BuiltinRule] = &[ANOMALY];

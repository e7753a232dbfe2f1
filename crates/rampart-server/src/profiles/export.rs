//! Exports of a profile: its JSON, and a lockdown policy that flags (or kills) what the profile does not
//! contain in that image's containers.

use std::collections::BTreeSet;

use rampart_api::profiles::{ProfileBehavior, ProfileDetail};
use rampart_model::behavior::Behavior;
use serde_json::json;

use super::store::Profile;
use super::suggest::secl_string;

/// A behaviour as the API shows it, with its commonality in a profile.
pub fn scored(b: Behavior, commonality: f64, example: Option<String>) -> ProfileBehavior {
    ProfileBehavior {
        kind: b.kind,
        process: b.process,
        detail: b.detail,
        commonality,
        example,
    }
}

/// The profile with every behaviour parsed and scored.
pub fn detail(p: &Profile) -> ProfileDetail {
    let behaviors = p
        .nodes
        .keys()
        .filter_map(|k| {
            let b = Behavior::from_key(k)?;
            Some(scored(b, p.commonality(k), p.examples.get(k).cloned()))
        })
        .collect();
    ProfileDetail {
        id: p.id,
        image_name: p.image_name.clone(),
        image_tag: p.image_tag.clone(),
        status: p.status.clone(),
        snapshots: p.snapshots,
        first_seen: p.first_seen,
        last_updated: p.last_updated,
        stable_at: p.stable_at,
        score: p.score(),
        behaviors,
    }
}

/// `field not in [values] && `. When the profile holds no value every event of that kind is outside it,
/// and the condition only names the field (a rule needs one to know its event type). `quote` makes SECL
/// strings of the values (ports stay numbers).
fn outside(field: &str, values: &BTreeSet<String>, quote: bool) -> String {
    if values.is_empty() {
        return if quote {
            format!("{field} != \"\" && ")
        } else {
            format!("{field} >= 0 && ")
        };
    }
    let items: Vec<String> = values
        .iter()
        .map(|v| if quote { secl_string(v) } else { v.clone() })
        .collect();
    format!("{field} not in [{}] && ", items.join(", "))
}

/// A policy with one rule per kind of behaviour the profile bounds (executables, files written, DNS
/// names, ports connected to), each matching what the profile does not contain, in containers of the
/// profile's image. `kill` adds a kill action to the executable rule.
pub fn lockdown_policy(p: &Profile, kill: bool) -> String {
    let mut exes = BTreeSet::new();
    let mut written = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for b in p.nodes.keys().filter_map(|k| Behavior::from_key(k)) {
        match b.kind.as_str() {
            "process" => {
                exes.insert(b.executable().to_string());
            }
            "file" => {
                if let Some(path) = b.detail.strip_prefix("write:") {
                    written.insert(path.to_string());
                }
            }
            "dns" => {
                names.insert(b.detail.clone());
            }
            "connect" => {
                if let Some((_, port)) = b.detail.rsplit_once(':') {
                    ports.insert(port.to_string());
                }
            }
            _ => {}
        }
    }
    let scope = format!(
        "container.tags == {} && container.tags == {}",
        secl_string(&format!("image_name:{}", p.image_name)),
        secl_string(&format!("image_tag:{}", p.image_tag))
    );
    let id = |what: &str| {
        let base: String = format!("{}_{}", p.image_name, p.image_tag)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("lockdown_{base}_{what}")
    };
    let mut rules = Vec::new();
    let mut rule = |what: &str, expression: String, description: String, kill: bool| {
        let mut r = json!({
            "id": id(what), "version": "1.0.0", "description": description, "expression": expression,
            "tags": {"severity": "high", "category": "lockdown", "profile_id": p.id.to_string()},
            "remediation": "The workload did something its security profile never saw: check whether it is compromised; if the behaviour is legitimate, relearn the profile.",
        });
        if kill {
            r["actions"] = json!([{"kill": {"signal": "SIGKILL"}}]);
        }
        rules.push(r);
    };
    rule(
        "exec",
        format!("{}{scope}", outside("exec.file.path", &exes, true)),
        format!(
            "An executable outside the profile of {}:{} ran",
            p.image_name, p.image_tag
        ),
        kill,
    );
    rule(
        "write",
        format!(
            "{}(open.flags & (O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND)) > 0 && {scope}",
            outside("open.file.path", &written, true)
        ),
        format!(
            "A file outside the profile of {}:{} was written",
            p.image_name, p.image_tag
        ),
        false,
    );
    rule(
        "dns",
        format!("{}{scope}", outside("dns.question.name", &names, true)),
        format!(
            "A DNS name outside the profile of {}:{} was resolved",
            p.image_name, p.image_tag
        ),
        false,
    );
    // Ports come from behaviour keys: keep only numbers, so the list cannot carry anything else.
    ports.retain(|p| p.parse::<u16>().is_ok());
    rule(
        "connect",
        format!("{}{scope}", outside("connect.addr.port", &ports, false)),
        format!(
            "A connection outside the profile of {}:{} was made",
            p.image_name, p.image_tag
        ),
        false,
    );
    let doc = json!({"version": "1.0.0", "rules": rules});
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rampart_policy::{LoadOptions, PolicySource};

    use super::*;

    fn profile(keys: &[&str]) -> Profile {
        Profile {
            id: 7,
            image_name: "registry.local/shop-api".into(),
            image_tag: "1.2".into(),
            status: "stable".into(),
            snapshots: 3,
            first_seen: 0,
            last_updated: 0,
            stable_at: Some(0),
            nodes: keys.iter().map(|k| (k.to_string(), 3)).collect(),
            examples: BTreeMap::new(),
            node_agents: None,
        }
    }

    fn compile(text: &str) -> rampart_policy::Loaded {
        let source = PolicySource {
            name: "lockdown".into(),
            file: "lockdown.policy".into(),
            text: text.into(),
        };
        rampart_policy::load_sources(&[source], &LoadOptions::default())
    }

    #[test]
    fn lockdown_policy_compiles_with_and_without_kill() {
        let p = profile(&[
            "process|/bin/sh > /usr/bin/api|",
            "file|/usr/bin/api|write:/var/log/api.log",
            "dns|/usr/bin/api|db.internal",
            "connect|/usr/bin/api|10.0.0.5:5432",
        ]);
        for kill in [false, true] {
            let text = lockdown_policy(&p, kill);
            let loaded = compile(&text);
            let errors: Vec<_> = loaded.report.errors().collect();
            assert!(errors.is_empty(), "{text}\n{errors:#?}");
            assert_eq!(loaded.report.counts().loaded, 4, "{text}");
            assert!(text.contains("/usr/bin/api") && text.contains("5432"));
            assert_eq!(text.contains("SIGKILL"), kill);
        }
    }

    #[test]
    fn empty_profile_still_compiles() {
        let text = lockdown_policy(&profile(&[]), true);
        let loaded = compile(&text);
        let errors: Vec<_> = loaded.report.errors().collect();
        assert!(errors.is_empty(), "{text}\n{errors:#?}");
        assert_eq!(loaded.report.counts().loaded, 4, "{text}");
    }
}

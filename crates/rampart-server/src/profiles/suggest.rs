//! Suppression suggestions: a signal whose behaviour its workload's stable profile already holds is
//! probably the workload doing its job. The suggestion is a suppression expression for the signal's rule,
//! scoped to that image and that behaviour, that an admin can accept (remote configuration) and later
//! remove.

use rampart_model::behavior::behaviors;
use rampart_model::{Event, EventData};

use super::store::{self, Profile};
use crate::error::ApiResult;
use crate::storage::Db;

pub use rampart_api::profiles::Suggestion;

/// A SECL string literal: every event value is attacker-controlled, so quotes and backslashes are
/// escaped and the value can never end the literal early.
pub fn secl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The image of the event's container, if it has one with a known image.
pub fn image_of(event: &Event) -> Option<(String, String)> {
    let c = event.container.as_ref()?;
    let tag = |prefix: &str| {
        c.tags
            .iter()
            .find_map(|t| t.strip_prefix(prefix))
            .map(str::to_string)
    };
    match &c.image {
        Some(i) if !i.name.is_empty() => Some((i.name.clone(), i.tag.clone())),
        _ => Some((tag("image_name:")?, tag("image_tag:").unwrap_or_default())),
    }
}

/// The condition matching this event's behaviour in this image: image tags, the acting executable and the
/// behaviour's own field (file path, DNS name, peer port).
pub fn expression(event: &Event, image_name: &str, image_tag: &str) -> String {
    let mut parts = vec![
        format!(
            "container.tags == {}",
            secl_string(&format!("image_name:{image_name}"))
        ),
        format!(
            "container.tags == {}",
            secl_string(&format!("image_tag:{image_tag}"))
        ),
        format!(
            "process.file.path == {}",
            secl_string(&event.process.process().file.path)
        ),
    ];
    let t = event.data.event_type().as_str();
    match &event.data {
        EventData::Dns(d) => parts.push(format!(
            "dns.question.name == {}",
            secl_string(&d.question.name)
        )),
        EventData::Connect(s) | EventData::Bind(s) | EventData::Accept(s) => {
            parts.push(format!("{t}.addr.port == {}", s.addr.port))
        }
        data => {
            if let Some(target) = data.file_target() {
                // The profile keys paths with their run-specific parts as `*`: so does the suppression.
                let path = rampart_model::behavior::normalize_path(&target.file.path);
                let op = if path.contains('*') { "=~" } else { "==" };
                parts.push(format!("{t}.file.path {op} {}", secl_string(&path)));
            }
        }
    }
    parts.join(" && ")
}

/// The suggestion for a signal of `rule_id` whose sample is `event`, if the workload has a stable profile
/// that holds every behaviour of the event.
pub async fn for_event(db: &Db, rule_id: &str, event: &Event) -> ApiResult<Option<Suggestion>> {
    let Some((name, tag)) = image_of(event) else {
        return Ok(None);
    };
    let Some(profile) = store::find(db, &name, &tag).await? else {
        return Ok(None);
    };
    Ok(suggest(&profile, rule_id, event))
}

fn suggest(profile: &Profile, rule_id: &str, event: &Event) -> Option<Suggestion> {
    if profile.status != "stable" {
        return None;
    }
    let found = behaviors(event);
    if found.is_empty() {
        return None;
    }
    let mut scored = Vec::new();
    for b in found {
        let c = profile.commonality(&b.key());
        if c == 0.0 {
            return None;
        }
        scored.push(super::export::scored(b, c, None));
    }
    Some(Suggestion {
        profile_id: profile.id,
        image_name: profile.image_name.clone(),
        image_tag: profile.image_tag.clone(),
        rule_id: rule_id.into(),
        behaviors: scored,
        expression: expression(event, &profile.image_name, &profile.image_tag),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostile_values_stay_inside_their_literal() {
        let s = super::secl_string(r#"x" || true || "\"#);
        assert_eq!(s, r#""x\" || true || \"\\""#);
        let expr = format!("process.file.path == {s}");
        let spec = rampart_secl::RuleSpec {
            id: "r".into(),
            expression: format!("exec.file.name == \"a\" && !({expr})"),
            meta: Default::default(),
            actions: vec![],
        };
        let (set, report) = rampart_secl::RuleSet::build(&[], &[spec]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(set.rules().len(), 1);
    }
}

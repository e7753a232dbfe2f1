//! A rule match as the wire contract's [`MatchReport`] (DESIGN.md's match shape): the one place that turns
//! the engine's [`Match`] and the event into the envelope `monitor`, `rules test`, the agent's reporter and
//! the server's rule tests all print or send. The agent adds its kill outcomes and notices on top.

use rampart_api::report::{ActionReport, MatchReport, RuleHeader};
use rampart_model::Event;
use rampart_secl::ruleset::{ActionOutcome, Rule};
use rampart_secl::Match;
use serde_json::{Map, Value};

use crate::builtin::BuiltinRule;

/// `{"rule": {...}, "actions": [...], "event": {...}, "process": {...}, "<payload>": {...}}` for a match.
pub fn match_report(m: &Match, event: &Event) -> MatchReport {
    MatchReport {
        actions: Some(m.actions.iter().map(action_report).collect()),
        ..MatchReport::for_event(rule_header(&m.rule), event_body(event))
    }
}

/// [`match_report`] as a JSON value.
pub fn to_json(m: &Match, event: &Event) -> Value {
    serde_json::to_value(match_report(m, event)).unwrap_or_default()
}

/// The event's own JSON (`event`, `process`, `container`, the payload), the open body of a report.
pub fn event_body(event: &Event) -> Map<String, Value> {
    match serde_json::to_value(event) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A policy rule's header: only what the rule sets (no empty `version`, `description`, ...).
pub fn rule_header(rule: &Rule) -> RuleHeader {
    let meta = &rule.meta;
    RuleHeader {
        id: rule.id.clone(),
        version: meta.version.clone(),
        severity: meta.severity().map(str::to_string),
        tags: meta.tags.clone(),
        product_tags: meta.product_tags.clone(),
        description: meta.description.clone(),
        policy: meta.policy.clone(),
    }
}

/// A built-in rule's header, as its matches carry it (no `severity` or `policy`: `tags` has the severity).
pub fn builtin_header(rule: &BuiltinRule) -> RuleHeader {
    RuleHeader {
        id: rule.id.into(),
        version: rule.version.into(),
        tags: rule.tag_map(),
        description: rule.description.into(),
        ..RuleHeader::default()
    }
}

/// An action outcome as reported; a kill has no outcome yet (the agent adds it when it acts).
pub fn action_report(a: &ActionOutcome) -> ActionReport {
    match a {
        ActionOutcome::Set {
            name,
            scope,
            values,
            append,
        } => ActionReport::Set {
            name: name.clone(),
            scope: scope.clone(),
            values: values
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect(),
            append: *append,
        },
        ActionOutcome::Kill {
            signal,
            signal_number,
            scope,
        } => ActionReport::Kill {
            signal: signal.clone(),
            signal_number: *signal_number,
            scope: scope.as_str().into(),
            outcome: None,
            pids: None,
            detail: None,
        },
        ActionOutcome::Hash { field } => ActionReport::Hash {
            field: field.clone(),
        },
    }
}

//! Backend rules in the UI: a rule file form (new, or one rule's YAML to edit), enable/disable and delete.
//! Every change goes through the API's handlers, so validation (all rules valid or nothing stored) and the
//! rule cache are the API's own; a refused file is shown again with the reason. While editing, the file is
//! checked as you type (the store's own check, with lines) and dry-run over recent matches by the live
//! evaluator (`backend_rules::dry`), stored nowhere.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use rampart_api::rules::{BackendRule, RuleFileCheck};
use serde_json::{json, Value};

use super::auth::{CsrfJson, Form};
use super::{html, html_status, see_other, view, Chrome, Session, UiAdmin, UiError, UiResult};
use crate::api::extract::{ApiBytes, ApiJson, Name};
use crate::api::rules as api;
use crate::auth::extract::{Admin, Viewer};
use crate::backend_rules::{dry, spec};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "backend_rule_edit.html")]
struct EditPage {
    chrome: Chrome,
    /// Empty for a new rule file.
    id: String,
    origin: String,
    yaml: String,
    error: String,
    hours: i64,
    max_matches: i64,
}

/// A starting point for a new rule file (valid as is).
const EXAMPLE: &str = "rules:\n  - id: many_shells\n    name: Many shells on one host\n    method: threshold\n    queries:\n      a: {rule_ids: [\"*shell*\"]}\n    group_by: [host]\n    window: 5m\n    cases:\n      - {if: \"a > 10\", severity: high}\n";

fn page(session: &Session, id: String, origin: String, yaml: String, error: String) -> EditPage {
    EditPage {
        chrome: Chrome::new(session, "rules"),
        id,
        origin,
        yaml,
        error,
        hours: dry::HOURS,
        max_matches: dry::MAX_MATCHES,
    }
}

pub async fn new(UiAdmin(session): UiAdmin) -> UiResult {
    html(&page(
        &session,
        String::new(),
        String::new(),
        EXAMPLE.into(),
        String::new(),
    ))
}

/// One rule's definition as a rule file to edit (saving a built-in rule stores a custom one in its place).
pub async fn edit(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Name(id): Name,
) -> UiResult {
    let v = api::get_backend(State(s), Viewer(session.caller.clone()), Name(id.clone()))
        .await?
        .0;
    let file = json!({"rules": [v.rule.spec]});
    let yaml = serde_yaml_ng::to_string(&file).map_err(ApiError::internal)?;
    let origin = v.rule.origin;
    html(&page(&session, id, origin, yaml, String::new()))
}

/// Stores a rule file; on refusal the form comes back (422) with the file and every reason.
pub async fn save(State(s): State<AppState>, UiAdmin(session): UiAdmin, form: Form) -> UiResult {
    let yaml = form.text("yaml");
    let outcome = api::create_backend(
        State(s),
        Admin(session.caller.clone()),
        ApiBytes(yaml.clone().into()),
    )
    .await;
    match outcome {
        Ok(_) => see_other("/ui/rules?source=backend"),
        Err(e) => html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&session, form.text("id"), String::new(), yaml, e.message),
        ),
    }
}

/// The rule file a script posted (`{"yaml": …}`), checked like the API's.
fn yaml_of(body: &Value) -> Result<&str, ApiError> {
    let yaml = body["yaml"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("give {\"yaml\": …}"))?;
    api::yaml_text(yaml.as_bytes())
}

/// `{"ok", "valid": [ids], "problems": [{rule, error, line, column}], "warnings"}` for a rule file, as you
/// type: the check storing it would make.
pub async fn validate(
    UiAdmin(_): UiAdmin,
    CsrfJson(body): CsrfJson,
) -> Result<axum::Json<RuleFileCheck>, UiError> {
    let checked = spec::check(yaml_of(&body)?);
    Ok(axum::Json(RuleFileCheck {
        ok: checked.problems.is_empty(),
        valid: checked.rules.into_iter().map(|r| r.id).collect(),
        problems: checked.problems,
        warnings: Vec::new(),
    }))
}

#[derive(Template)]
#[template(path = "backend_rule_test.html")]
struct TestResult {
    problems: Vec<String>,
    hours: i64,
    max_matches: i64,
    matches: usize,
    unreadable: usize,
    from: String,
    to: String,
    rules: Vec<RuleView>,
}

struct RuleView {
    id: String,
    name: String,
    method: &'static str,
    hits: usize,
    groups_hit: usize,
    fired: Vec<GroupView>,
    fired_total: usize,
    more: usize,
}

struct GroupView {
    group: String,
    signals: usize,
    triggers: i64,
    severity: String,
    first: String,
    last: String,
    examples: Vec<ExampleView>,
}

/// An example match: its agent rule and time, linked to its stored agent signal when there is one.
struct ExampleView {
    label: String,
    href: String,
}

fn rule_view(r: dry::RuleOutcome) -> RuleView {
    let fired: Vec<GroupView> = r
        .fired
        .into_iter()
        .map(|g| GroupView {
            examples: g
                .examples
                .iter()
                .map(|e| ExampleView {
                    label: format!("{} at {}", e.rule_id, view::time(e.ts)),
                    href: e
                        .signal_id
                        .map(|id| format!("/ui/signals/{id}"))
                        .unwrap_or_default(),
                })
                .collect(),
            group: g.group,
            signals: g.signals,
            triggers: g.triggers,
            severity: g.severity,
            first: view::time(g.first),
            last: view::time(g.last),
        })
        .collect();
    RuleView {
        more: r.fired_total - fired.len(),
        id: r.id,
        name: r.name,
        method: r.method,
        hits: r.hits,
        groups_hit: r.groups_hit,
        fired_total: r.fired_total,
        fired,
    }
}

/// Dry-runs the posted (unsaved) rule file over recent matches: an HTML fragment with what each valid rule
/// would have raised. Nothing is stored and nothing is sent.
pub async fn test(
    State(s): State<AppState>,
    UiAdmin(_): UiAdmin,
    CsrfJson(body): CsrfJson,
) -> UiResult {
    let checked = spec::check(yaml_of(&body)?);
    let rules: Vec<_> = checked.rules.into_iter().map(std::sync::Arc::new).collect();
    // Nothing to replay for a file without a valid rule: only its problems are shown.
    let run = if rules.is_empty() {
        dry::DryRun::default()
    } else {
        dry::run(
            &s.db,
            &rules,
            crate::storage::now_ns(),
            s.config.signals.window.as_nanos() as i64,
            s.config.signals.max_samples,
        )
        .await
        .map_err(ApiError::from)?
    };
    html(&TestResult {
        problems: checked
            .problems
            .iter()
            .map(|p| match p.rule.as_str() {
                "" => p.error.clone(),
                id => format!("{id}: {}", p.error),
            })
            .collect(),
        hours: dry::HOURS,
        max_matches: dry::MAX_MATCHES,
        matches: run.matches,
        unreadable: run.unreadable,
        from: view::time(run.from),
        to: view::time(run.to),
        rules: run.rules.into_iter().map(rule_view).collect(),
    })
}

pub async fn toggle(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Name(id): Name,
    form: Form,
) -> UiResult {
    let b = serde_json::from_value(json!({"enabled": form.get("disabled") != Some("true")}))
        .map_err(ApiError::internal)?;
    api::patch_backend(
        State(s),
        Admin(session.caller),
        Name(id.clone()),
        ApiJson(b),
    )
    .await?;
    see_other(&rules_href(&id))
}

pub async fn delete(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Name(id): Name,
    _: Form,
) -> UiResult {
    api::delete_backend(State(s), Admin(session.caller), Name(id)).await?;
    see_other("/ui/rules?source=backend")
}

/// The rules list filtered to one rule.
pub fn rules_href(id: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", id)
        .finish();
    format!("/ui/rules?{q}")
}

/// What the rules list shows of a backend rule from the API's listing.
pub fn row(r: &BackendRule) -> super::rules::RuleRow {
    let id = r.id.clone();
    let origin = r.origin.as_str();
    let description = if r.description.is_empty() {
        &r.name
    } else {
        &r.description
    };
    super::rules::RuleRow {
        source: "backend",
        severity: r.spec["cases"][0]["severity"].as_str().unwrap_or("").into(),
        description: description.clone(),
        detail: format!("{} · {origin}", r.method),
        disabled: !r.enabled,
        toggle_action: format!("/ui/backend-rules/{id}/toggle"),
        delete_action: if origin == "custom" {
            format!("/ui/backend-rules/{id}/delete")
        } else {
            String::new()
        },
        edit_href: format!("/ui/backend-rules/{id}"),
        signals_href: super::view::explorer_href(&format!("rule:{id} source:backend"), "all"),
        id,
    }
}

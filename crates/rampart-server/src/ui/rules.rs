//! Rules: agent rules (as agents reported them), custom rules and backend rules in one filtered list;
//! enable/disable through remote-configuration overrides; custom rules created and edited with live
//! validation and a test over recent events (backend rules' forms are in `backend_rules`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use rampart_api::config::{OverrideRequest, Problem, TestRequest, ValidateRequest};
use rampart_api::rules::{ExpressionCheck, ExpressionProblem};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{CsrfJson, Form};
use super::{api_outcome, html, html_status, see_other, Chrome, UiAdmin, UiResult, UiViewer};
use crate::api::extract::{ApiJson, Name};
use crate::auth::extract::{Admin, Responder, Viewer};
use crate::error::ApiError;
use crate::ingest::validate::SEVERITIES;
use crate::remote_config::api as rc;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    status: Option<String>,
}

pub struct RuleRow {
    pub id: String,
    pub source: &'static str,
    pub severity: String,
    pub description: String,
    pub detail: String,
    pub disabled: bool,
    /// Where the enable/disable form posts (empty: no toggle).
    pub toggle_action: String,
    /// Where the delete form posts (empty: not deletable here).
    pub delete_action: String,
    pub edit_href: String,
    pub signals_href: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    chrome: Chrome,
    q: String,
    source: String,
    severity: String,
    status: String,
    severities: &'static [&'static str],
    rows: Vec<RuleRow>,
    backend_errors: Vec<String>,
    revision: i64,
}

pub async fn list(
    State(s): State<AppState>,
    UiViewer(session): UiViewer,
    Query(p): Query<ListQuery>,
) -> UiResult {
    let config = crate::remote_config::store::latest(&s.db).await?;
    let snap = &config.snapshot;
    let disabled = |id: &str| snap.overrides.get(id).is_some_and(|o| o.disabled);
    let mut rows = Vec::new();
    let agent = crate::api::rules::list(State(s.clone()), Viewer(session.caller.clone()))
        .await?
        .0;
    for r in agent.rules {
        let id = r.id;
        if snap.custom_rules.contains_key(&id) {
            continue;
        }
        rows.push(RuleRow {
            source: "agent",
            severity: r.severity,
            description: r.description,
            detail: format!("policy {}", r.policy),
            disabled: disabled(&id),
            toggle_action: format!("/ui/rules/{id}/toggle"),
            delete_action: String::new(),
            edit_href: String::new(),
            signals_href: super::view::explorer_href(&format!("rule:{id}"), "all"),
            id,
        });
    }
    for (id, r) in &snap.custom_rules {
        rows.push(RuleRow {
            id: id.clone(),
            source: "custom",
            severity: r.severity.clone(),
            description: r.description.clone(),
            detail: r.expression.clone(),
            disabled: disabled(id) || !r.enabled,
            toggle_action: format!("/ui/rules/{id}/toggle"),
            delete_action: String::new(),
            edit_href: format!("/ui/rules/custom/{id}"),
            signals_href: super::view::explorer_href(&format!("rule:{id}"), "all"),
        });
    }
    let backend = crate::api::rules::list_backend(State(s.clone()), Viewer(session.caller.clone()))
        .await?
        .0;
    for r in &backend.rules {
        rows.push(super::backend_rules::row(r));
    }
    let backend_errors = backend
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.id, e.error))
        .collect();
    let q = p.q.unwrap_or_default().to_lowercase();
    let source = p.source.unwrap_or_default();
    let severity = p.severity.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    rows.retain(|r| {
        (q.is_empty()
            || r.id.to_lowercase().contains(&q)
            || r.description.to_lowercase().contains(&q)
            || r.detail.to_lowercase().contains(&q))
            && (source.is_empty() || r.source == source)
            && (severity.is_empty() || r.severity == severity)
            && (status.is_empty() || (status == "disabled") == r.disabled)
    });
    html(&RulesPage {
        chrome: Chrome::new(&session, "rules"),
        q,
        source,
        severity,
        status,
        severities: &SEVERITIES,
        rows,
        backend_errors,
        revision: config.revision,
    })
}

#[derive(Template)]
#[template(path = "rule_edit.html")]
struct EditPage {
    chrome: Chrome,
    new: bool,
    id: String,
    expression: String,
    description: String,
    severity: String,
    remediation: String,
    enabled: bool,
    severities: &'static [&'static str],
    errors: Vec<String>,
}

fn edit_page(session: &super::Session, new: bool) -> EditPage {
    EditPage {
        chrome: Chrome::new(session, "rules"),
        new,
        id: String::new(),
        expression: String::new(),
        description: String::new(),
        severity: "medium".into(),
        remediation: String::new(),
        enabled: true,
        severities: &SEVERITIES,
        errors: Vec::new(),
    }
}

pub async fn new_custom(UiAdmin(session): UiAdmin) -> UiResult {
    html(&edit_page(&session, true))
}

pub async fn edit_custom(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Name(id): Name,
) -> UiResult {
    let config = crate::remote_config::store::latest(&s.db).await?;
    let r = config
        .snapshot
        .custom_rules
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no custom rule {id:?}")))?;
    let mut page = edit_page(&session, false);
    page.id = id.clone();
    page.expression = r.expression.clone();
    page.description = r.description.clone();
    page.severity = r.severity.clone();
    page.remediation = r.remediation.clone();
    page.enabled = r.enabled;
    html(&page)
}

/// The problems of a report (or an API error body) as lines to show.
fn problems(v: &Value) -> Vec<String> {
    let listed: Vec<String> = v["report"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["error"].as_str().unwrap_or("").to_string())
        .collect();
    if listed.is_empty() {
        vec![v["message"].as_str().unwrap_or("refused").to_string()]
    } else {
        listed
    }
}

pub async fn save_custom(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    form: Form,
) -> UiResult {
    let id = form.text("id").trim().to_string();
    let body = json!({
        "expression": form.text("expression"),
        "description": form.text("description"),
        "severity": form.text("severity"),
        "remediation": form.text("remediation"),
        "enabled": form.get("enabled").is_some(),
    });
    let b = serde_json::from_value(body).map_err(ApiError::internal)?;
    let outcome = rc::put_custom_rule(
        State(s.clone()),
        Admin(session.caller.clone()),
        Name(id.clone()),
        ApiJson(b),
    )
    .await;
    let errors = match outcome {
        Ok(resp) => {
            let (status, v) = api_outcome(resp).await;
            if status.is_success() {
                return see_other(&super::backend_rules::rules_href(&id));
            }
            problems(&v)
        }
        Err(e) => vec![e.message],
    };
    let mut page = edit_page(&session, form.get("new").is_some());
    page.id = id;
    page.expression = form.text("expression");
    page.description = form.text("description");
    page.severity = form.text("severity");
    page.remediation = form.text("remediation");
    page.enabled = form.get("enabled").is_some();
    page.errors = errors;
    html_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

fn expression_of(body: &Value) -> Result<String, ApiError> {
    body["expression"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("give {\"expression\": …}"))
}

/// `{"ok", "rules_loaded", "problems": [{error, line, column}], "warnings"}` for one expression.
pub async fn validate(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    CsrfJson(body): CsrfJson,
) -> Result<axum::Json<ExpressionCheck>, super::UiError> {
    let b = ValidateRequest {
        content: rc::expression_policy("candidate", &expression_of(&body)?)?,
        name: Some("ui-candidate".into()),
    };
    let report = rc::validate_policy(State(s), Responder(session.caller), ApiJson(b))
        .await?
        .0
        .report;
    let only_candidate = |list: &[Problem]| -> Vec<ExpressionProblem> {
        list.iter()
            .filter(|p| p.policy == "ui-candidate")
            .map(|p| {
                let (line, column) = position(&p.error);
                ExpressionProblem {
                    error: p.error.clone(),
                    line,
                    column,
                }
            })
            .collect()
    };
    let problems = only_candidate(&report.problems);
    Ok(axum::Json(ExpressionCheck {
        ok: problems.is_empty(),
        problems,
        warnings: only_candidate(&report.warnings),
    }))
}

/// The position of a compiler message about the candidate (`ui-candidate:LINE:COL`), as a line and column
/// of the expression itself (1-based).
fn position(msg: &str) -> (Option<usize>, Option<usize>) {
    let Some(rest) = msg.split("ui-candidate:").nth(1) else {
        return (None, None);
    };
    let mut nums = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty());
    match (
        nums.next().and_then(|n| n.parse::<usize>().ok()),
        nums.next().and_then(|n| n.parse::<usize>().ok()),
    ) {
        (Some(l), Some(c)) if l >= rc::EXPRESSION_FIRST_LINE && c > rc::EXPRESSION_INDENT => (
            Some(l + 1 - rc::EXPRESSION_FIRST_LINE),
            Some(c - rc::EXPRESSION_INDENT),
        ),
        _ => (None, None),
    }
}

#[derive(Template)]
#[template(path = "rule_test.html")]
struct TestPage {
    events: u64,
    matched: usize,
    matches: Vec<TestMatch>,
}

struct TestMatch {
    stored_match: String,
    kind: String,
    host: String,
    process: String,
}

/// Evaluates one expression over the most recent stored events (the API's test): an HTML fragment with the
/// count and the first matches.
pub async fn test(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    CsrfJson(body): CsrfJson,
) -> UiResult {
    let b = TestRequest {
        expression: Some(expression_of(&body)?),
        limit: Some(2000),
        content: None,
    };
    let v = rc::test_rules(State(s), Responder(session.caller), ApiJson(b))
        .await?
        .0;
    let text = |v: &Value, or: &str| v.as_str().unwrap_or(or).to_string();
    html(&TestPage {
        events: v.events as u64,
        matched: v.matches.len(),
        matches: v
            .matches
            .iter()
            .take(20)
            .map(|m| TestMatch {
                stored_match: m.stored_match.to_string(),
                kind: text(&m.event["event"]["type"], ""),
                host: text(&m.event["event"]["hostname"], "?"),
                process: text(&m.event["process"]["file"]["path"], ""),
            })
            .collect(),
    })
}

pub async fn toggle(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Name(id): Name,
    form: Form,
) -> UiResult {
    let b = OverrideRequest {
        disabled: form.get("disabled") == Some("true"),
        target_tags: Vec::new(),
    };
    let resp = rc::put_override(
        State(s),
        Admin(session.caller),
        Name(id.clone()),
        ApiJson(b),
    )
    .await?;
    let (status, v) = api_outcome(resp).await;
    if !status.is_success() {
        return Err(ApiError::new(status, "refused", problems(&v).join("; ")).into());
    }
    see_other(&super::backend_rules::rules_href(&id))
}

#[cfg(test)]
mod tests {
    #[test]
    fn positions() {
        let msg = "rule candidate (ui-candidate:6:25): expected a value";
        assert_eq!(super::position(msg), (Some(2), Some(19)));
        assert_eq!(
            super::position("policy ui-candidate:2:1: bad YAML"),
            (None, None)
        );
        assert_eq!(super::position("unknown field"), (None, None));
    }
}

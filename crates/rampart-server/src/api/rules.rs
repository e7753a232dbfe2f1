//! Rules: the agent rules the server's configuration defines (and what agents report about theirs), and
//! backend rules (defaults, files, custom ones in the DB).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rampart_api::rules::{
    BackendRule, BackendRuleDetail, BackendRuleList, BackendRulePatch, BackendStored,
    BackendValidation, RuleDetail, RuleList,
};
use serde_json::json;

use super::extract::{ApiBytes, ApiJson, Name};
use crate::audit::{self, Action};
use crate::auth::extract::{Admin, Viewer};
use crate::backend_rules::{self, spec};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The agent rules the server's newest configuration defines, with their metadata.
pub async fn list(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<RuleList>> {
    let catalogue = s.remote.catalogue(&s.db).await?;
    Ok(Json(RuleList {
        revision: catalogue.revision,
        rules: catalogue.rules().cloned().collect(),
    }))
}

/// One agent rule: the server's definition (`rule`, null if the configuration does not define it) and,
/// apart, what agents reported about it (`agent_reports`: their word, not verified).
pub async fn get(
    State(s): State<AppState>,
    _: Viewer,
    Name(id): Name,
) -> ApiResult<Json<RuleDetail>> {
    let catalogue = s.remote.catalogue(&s.db).await?;
    let rows = sqlx::query(&format!(
        "SELECT {} FROM agent_rule_reports r JOIN agents a ON a.id = r.agent_id WHERE r.rule_id = $1 \
         ORDER BY r.agent_id LIMIT 100",
        crate::signals::AGENT_REPORT_COLS
    ))
    .bind(&id)
    .fetch_all(&s.db.pool)
    .await?;
    let reports = rows
        .iter()
        .map(crate::signals::agent_report_json)
        .collect::<ApiResult<Vec<_>>>()?;
    let rule = catalogue.get(&id).cloned();
    if rule.is_none() && reports.is_empty() {
        return Err(ApiError::not_found(format!(
            "no agent rule {id:?}: the configuration does not define it and no agent reported it"
        )));
    }
    Ok(Json(RuleDetail {
        rule,
        agent_reports: reports,
    }))
}

fn backend_json(r: &spec::BackendRule, origin: &str, enabled: bool) -> BackendRule {
    BackendRule {
        id: r.id.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        method: r.method.as_str().into(),
        origin: origin.into(),
        enabled,
        remediation: r.remediation.clone(),
        spec: json!(r.spec),
    }
}

/// Every backend rule, those in force first, then the disabled ones.
fn all_backend(set: &backend_rules::RuleSet) -> Vec<BackendRule> {
    let active = set
        .rules
        .iter()
        .zip(&set.origins)
        .map(|(r, o)| backend_json(r, o, true));
    let disabled = set.disabled.iter().map(|(r, o)| backend_json(r, o, false));
    active.chain(disabled).collect()
}

pub async fn list_backend(
    State(s): State<AppState>,
    _: Viewer,
) -> ApiResult<Json<BackendRuleList>> {
    let set = s.rules.current(&s.db).await;
    Ok(Json(BackendRuleList {
        rules: all_backend(&set),
        errors: set.errors.clone(),
    }))
}

pub async fn get_backend(
    State(s): State<AppState>,
    _: Viewer,
    Name(id): Name,
) -> ApiResult<Json<BackendRuleDetail>> {
    let set = s.rules.current(&s.db).await;
    let rule = all_backend(&set)
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no backend rule {id:?}")))?;
    Ok(Json(BackendRuleDetail { rule }))
}

/// Enables or disables a backend rule (built-in or custom).
pub async fn patch_backend(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(id): Name,
    ApiJson(p): ApiJson<BackendRulePatch>,
) -> ApiResult<StatusCode> {
    if s.rules.set_enabled(&s.db, &id, p.enabled).await? {
        let details = json!({"enabled": p.enabled});
        audit::record(
            &s.db.pool,
            &caller,
            Action::BackendRuleUpdated,
            &format!("backend rule {id}"),
            details,
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no backend rule {id:?}")))
    }
}

pub(crate) fn yaml_text(body: &[u8]) -> ApiResult<&str> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the rule file must be UTF-8"))?;
    if text.contains('\0') {
        return Err(ApiError::bad_request("the rule file contains NUL"));
    }
    Ok(text)
}

/// Validates a rule file (YAML or JSON) without storing it.
pub async fn validate(_: Admin, ApiBytes(body): ApiBytes) -> ApiResult<Json<BackendValidation>> {
    let text = yaml_text(&body)?;
    let (ok, errors) = spec::load_str(text).map_err(ApiError::unprocessable)?;
    let valid = ok.into_iter().map(|r| r.id).collect();
    Ok(Json(BackendValidation { valid, errors }))
}

/// Adds or replaces custom backend rules from a rule file: all rules must be valid, or nothing is stored.
pub async fn create_backend(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<BackendStored>)> {
    let text = yaml_text(&body)?;
    match backend_rules::store_custom(&s.db, text).await {
        Ok(ids) => {
            s.rules.invalidate().await;
            let details = json!({"rules": ids, "file": text});
            audit::record(
                &s.db.pool,
                &caller,
                Action::BackendRulesStored,
                &format!("backend rules {}", ids.join(", ")),
                details,
            )
            .await?;
            Ok((StatusCode::CREATED, Json(BackendStored { stored: ids })))
        }
        Err(errors) => {
            let detail = errors
                .iter()
                .map(|e| format!("{}: {}", e.id, e.error))
                .collect::<Vec<_>>()
                .join("; ");
            Err(ApiError::unprocessable(format!(
                "invalid rules, nothing stored: {detail}"
            )))
        }
    }
}

pub async fn delete_backend(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(id): Name,
) -> ApiResult<StatusCode> {
    let n = sqlx::query("DELETE FROM backend_rules WHERE id = $1")
        .bind(&id)
        .execute(&s.db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        let fixed = s.rules.fixed_ids().contains(&id);
        return Err(if fixed {
            ApiError::conflict(format!(
                "{id:?} is a built-in rule; override it with a custom rule of the same id"
            ))
        } else {
            ApiError::not_found(format!("no custom backend rule {id:?}"))
        });
    }
    s.rules.invalidate().await;
    audit::record(
        &s.db.pool,
        &caller,
        Action::BackendRuleDeleted,
        &format!("backend rule {id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

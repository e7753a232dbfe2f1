//! Rules: the agent rules the server's configuration defines (and what agents report about theirs), and
//! backend rules (defaults, files, custom ones in the DB).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{ApiBytes, ApiJson, Name};
use crate::audit::{self, Action};
use crate::auth::extract::{Admin, Viewer};
use crate::backend_rules::{self, spec};
use crate::error::{ApiError, ApiResult};
use crate::remote_config::catalogue::RuleMeta;
use crate::state::AppState;

/// The agent rules the server's newest configuration defines, with their metadata.
pub async fn list(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<Value>> {
    let catalogue = s.remote.catalogue(&s.db).await?;
    let rules: Vec<&RuleMeta> = catalogue.rules().collect();
    Ok(Json(
        json!({"revision": catalogue.revision, "rules": rules}),
    ))
}

/// One agent rule: the server's definition (`rule`, null if the configuration does not define it) and,
/// apart, what agents reported about it (`agent_reports`: their word, not verified).
pub async fn get(State(s): State<AppState>, _: Viewer, Name(id): Name) -> ApiResult<Json<Value>> {
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
    let rule = catalogue.get(&id);
    if rule.is_none() && reports.is_empty() {
        return Err(ApiError::not_found(format!(
            "no agent rule {id:?}: the configuration does not define it and no agent reported it"
        )));
    }
    Ok(Json(json!({"rule": rule, "agent_reports": reports})))
}

fn backend_json(r: &spec::BackendRule, origin: &str, enabled: bool) -> Value {
    json!({
        "id": r.id, "name": r.name, "description": r.description, "method": r.method.as_str(),
        "origin": origin, "enabled": enabled, "remediation": r.remediation, "spec": r.spec,
    })
}

/// Every backend rule, those in force first, then the disabled ones.
fn all_backend(set: &backend_rules::RuleSet) -> Vec<Value> {
    let active = set
        .rules
        .iter()
        .zip(&set.origins)
        .map(|(r, o)| backend_json(r, o, true));
    let disabled = set.disabled.iter().map(|(r, o)| backend_json(r, o, false));
    active.chain(disabled).collect()
}

pub async fn list_backend(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<Value>> {
    let set = s.rules.current(&s.db).await;
    Ok(Json(
        json!({"rules": all_backend(&set), "errors": set.errors}),
    ))
}

pub async fn get_backend(
    State(s): State<AppState>,
    _: Viewer,
    Name(id): Name,
) -> ApiResult<Json<Value>> {
    let set = s.rules.current(&s.db).await;
    let rule = all_backend(&set)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .ok_or_else(|| ApiError::not_found(format!("no backend rule {id:?}")))?;
    Ok(Json(json!({ "rule": rule })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendPatch {
    enabled: bool,
}

/// Enables or disables a backend rule (built-in or custom).
pub async fn patch_backend(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Name(id): Name,
    ApiJson(p): ApiJson<BackendPatch>,
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
pub async fn validate(_: Admin, ApiBytes(body): ApiBytes) -> ApiResult<Json<Value>> {
    let text = yaml_text(&body)?;
    let (ok, errors) = spec::load_str(text).map_err(ApiError::unprocessable)?;
    let ids: Vec<&str> = ok.iter().map(|r| r.id.as_str()).collect();
    Ok(Json(json!({"valid": ids, "errors": errors})))
}

/// Adds or replaces custom backend rules from a rule file: all rules must be valid, or nothing is stored.
pub async fn create_backend(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
            Ok((StatusCode::CREATED, Json(json!({"stored": ids}))))
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

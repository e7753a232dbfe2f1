//! REST handlers of security profiles, activity snapshots and dumps, and suppression suggestions.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_api::profiles::{
    Dump, DumpDetail, DumpList, DumpRequest, ProfileDetail, ProfileList, ProfileSummary,
    SnapshotList, SuggestionAnswer,
};
use rampart_model::behavior::ActivitySnapshot;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;

use super::{export, store, suggest};
use crate::api::extract::{ApiBytes, ApiJson, ApiQuery, Id};
use crate::audit::{self, Action};
use crate::auth::extract::{Admin, Agent, Responder, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::remote_config::snapshot::Suppression;
use crate::state::AppState;
use crate::storage::now_ns;

const MAX_BEHAVIORS: usize = 50_000;

fn check_snapshot(s: &ActivitySnapshot) -> ApiResult<()> {
    let short = |what: &str, v: &str, max: usize| {
        if v.len() > max || v.chars().any(char::is_control) {
            Err(ApiError::unprocessable(format!(
                "{what}: at most {max} bytes, no control characters"
            )))
        } else {
            Ok(())
        }
    };
    short("id", &s.id, 128)?;
    if s.id.is_empty() || s.workload.image_name.is_empty() {
        return Err(ApiError::unprocessable(
            "a snapshot needs an id and an image name",
        ));
    }
    short("workload.id", &s.workload.id, 256)?;
    short("workload.image_name", &s.workload.image_name, 512)?;
    short("workload.image_tag", &s.workload.image_tag, 256)?;
    if !["container", "service"].contains(&s.workload.kind.as_str()) {
        return Err(ApiError::unprocessable(
            "workload.kind: container or service",
        ));
    }
    if s.behaviors.len() > MAX_BEHAVIORS {
        return Err(ApiError::too_large(format!(
            "at most {MAX_BEHAVIORS} behaviours per snapshot"
        )));
    }
    for b in &s.behaviors {
        let b = &b.behavior;
        if b.kind.len() > 16 || b.process.len() > 8192 || b.detail.len() > 8192 {
            return Err(ApiError::unprocessable("behaviour fields too long"));
        }
        if b.kind.contains('|') || b.process.contains('|') {
            return Err(ApiError::unprocessable(
                "`|` separates a behaviour key's parts: not allowed in kind or process",
            ));
        }
    }
    Ok(())
}

/// An agent sends a finished snapshot; it is stored once and merged into its workload's profile.
pub async fn ingest_snapshot(
    State(s): State<AppState>,
    Agent(agent): Agent,
    ApiJson(snap): ApiJson<ActivitySnapshot>,
) -> ApiResult<Json<store::Ingested>> {
    check_snapshot(&snap)?;
    Ok(Json(store::ingest(&s, agent.agent_id, &snap).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    image_name: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    _: Viewer,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ProfileList>> {
    let profiles = store::list(&s.db, q.image_name.as_deref())
        .await?
        .into_iter()
        .map(|p| ProfileSummary {
            behaviors: p.nodes.len(),
            score: p.score(),
            id: p.id,
            image_name: p.image_name,
            image_tag: p.image_tag,
            status: p.status,
            snapshots: p.snapshots,
            first_seen: p.first_seen,
            last_updated: p.last_updated,
            stable_at: p.stable_at,
        })
        .collect();
    Ok(Json(ProfileList { profiles }))
}

pub async fn get(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<ProfileDetail>> {
    Ok(Json(export::detail(&store::get(&s.db, id).await?)))
}

pub async fn snapshots(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<SnapshotList>> {
    store::get(&s.db, id).await?;
    Ok(Json(SnapshotList {
        snapshots: store::snapshots(&s.db, id, 200).await?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `json` (default) or `policy`.
    format: Option<String>,
    /// For `policy`: `flag` (default) or `kill` what runs outside the profile.
    action: Option<String>,
}

pub async fn export(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let p = store::get(&s.db, id).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(export::detail(&p)).into_response()),
        "policy" => {
            let kill = match q.action.as_deref().unwrap_or("flag") {
                "flag" => false,
                "kill" => true,
                other => {
                    return Err(ApiError::unprocessable(format!(
                        "action `{other}`: flag or kill"
                    )))
                }
            };
            Ok((
                [(header::CONTENT_TYPE, "application/yaml")],
                export::lockdown_policy(&p, kill),
            )
                .into_response())
        }
        other => Err(ApiError::unprocessable(format!(
            "format `{other}`: json or policy"
        ))),
    }
}

/// The suggestion for a signal: its newest sample's behaviour against its image's stable profile.
pub async fn suggestion_for(
    s: &AppState,
    signal_id: i64,
) -> ApiResult<Option<suggest::Suggestion>> {
    let signal = crate::signals::get(&s.db, signal_id).await?;
    if signal.source != "agent" {
        return Ok(None);
    }
    let samples = crate::signals::samples(&s.db, signal_id, s.config.signals.max_samples).await?;
    let Some(last) = samples.last() else {
        return Ok(None);
    };
    let Ok(event) = serde_json::from_value::<rampart_model::Event>(last.report.clone()) else {
        return Ok(None);
    };
    suggest::for_event(&s.db, &signal.rule_id, &event).await
}

pub async fn suggestion(
    State(s): State<AppState>,
    _: Viewer,
    Id(id): Id,
) -> ApiResult<Json<SuggestionAnswer>> {
    Ok(Json(SuggestionAnswer {
        suggestion: suggestion_for(&s, id).await?,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    #[serde(default)]
    reason: String,
}

/// Accepts a signal's suggestion: the suppression joins the rule's overrides (a new configuration
/// revision, so it is audited and can be removed or rolled back).
pub async fn accept_suggestion(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    // The body is optional: none, or `{reason}`.
    let reason = if body.is_empty() {
        String::new()
    } else {
        serde_json::from_slice::<Accept>(&body)
            .map_err(|e| ApiError::unprocessable(format!("body: {e}")))?
            .reason
    };
    if reason.len() > 1024 {
        return Err(ApiError::unprocessable("reason: at most 1024 bytes"));
    }
    let Some(sg) = suggestion_for(&s, id).await? else {
        return Err(ApiError::conflict(
            "no suggestion for this signal: its behaviour is not in a stable profile of its image",
        ));
    };
    let suppression = Suppression {
        expression: sg.expression.clone(),
        reason: if reason.is_empty() {
            format!(
                "behaviour in the stable profile {} of {}:{} (signal {id})",
                sg.profile_id, sg.image_name, sg.image_tag
            )
        } else {
            reason
        },
        created_by: caller.username.clone(),
        created_at: now_ns(),
    };
    crate::remote_config::api::add_suppression(&s, &caller, &sg.rule_id, suppression).await
}

/// Removes suppression number `index` (0-based, as `GET /api/v1/config` lists them) of a rule.
pub async fn remove_suppression(
    State(s): State<AppState>,
    Admin(caller): Admin,
    axum::extract::Path((rule_id, index)): axum::extract::Path<(String, usize)>,
) -> ApiResult<Response> {
    let summary = format!("suppression {index} of rule {rule_id} removed");
    let r = crate::remote_config::store::commit(
        &s.db,
        &(&caller).into(),
        &summary,
        |next| {
            let o = next
                .overrides
                .get_mut(&rule_id)
                .filter(|o| index < o.suppressions.len())
                .ok_or_else(|| {
                    ApiError::not_found(format!("rule {rule_id:?} has no suppression {index}"))
                })?;
            o.suppressions.remove(index);
            if !o.disabled && o.suppressions.is_empty() {
                next.overrides.remove(&rule_id);
            }
            Ok(())
        },
        |_| async { Ok(()) },
    )
    .await?;
    s.remote.watch.notify(r.revision);
    Ok(Json(json!({"revision": r.revision})).into_response())
}

/// A row of [`DUMP_COLS`].
fn dump_of(r: &sqlx::any::AnyRow) -> ApiResult<Dump> {
    Ok(Dump {
        id: r.try_get("id")?,
        agent_id: r.try_get("agent_id")?,
        container_id: r.try_get("container_id")?,
        duration_ns: r.try_get("duration_ns")?,
        state: r.try_get("state")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const DUMP_COLS: &str =
    "id, agent_id, container_id, duration_ns, state, created_by, created_at, updated_at";

/// Asks for an activity dump of a container (beyond the agents' automatic snapshots).
pub async fn start_dump(
    State(s): State<AppState>,
    Responder(caller): Responder,
    ApiJson(b): ApiJson<DumpRequest>,
) -> ApiResult<(StatusCode, Json<DumpDetail>)> {
    let id_ok = !b.container_id.is_empty()
        && b.container_id.len() <= 128
        && b.container_id.bytes().all(|c| c.is_ascii_hexdigit());
    if !id_ok {
        return Err(ApiError::unprocessable(
            "container_id: the container's hex id",
        ));
    }
    let secs = b.duration.unwrap_or(1800).clamp(1, 86_400);
    let now = now_ns();
    let row = sqlx::query(&format!(
        "INSERT INTO dump_requests (agent_id, container_id, duration_ns, state, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', $4, $5, $5) RETURNING {DUMP_COLS}"
    ))
    .bind(b.agent_id)
    .bind(&b.container_id)
    .bind((secs * 1_000_000_000) as i64)
    .bind(&caller.username)
    .bind(now)
    .fetch_one(&s.db.pool)
    .await?;
    let dump = dump_of(&row)?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::DumpStarted,
        &format!("dump {}", dump.id),
        json!(dump),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(DumpDetail { dump })))
}

pub async fn list_dumps(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<DumpList>> {
    let rows = sqlx::query(&format!(
        "SELECT {DUMP_COLS} FROM dump_requests ORDER BY id DESC LIMIT 500"
    ))
    .fetch_all(&s.db.pool)
    .await?;
    let dumps = rows.iter().map(dump_of).collect::<ApiResult<_>>()?;
    Ok(Json(DumpList { dumps }))
}

pub async fn stop_dump(
    State(s): State<AppState>,
    Responder(caller): Responder,
    Id(id): Id,
) -> ApiResult<Json<DumpDetail>> {
    let row = sqlx::query(&format!(
        "UPDATE dump_requests SET state = 'cancelled', updated_at = $1 WHERE id = $2 \
         AND state IN ('pending', 'running') RETURNING {DUMP_COLS}"
    ))
    .bind(now_ns())
    .bind(id)
    .fetch_optional(&s.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no pending or running dump {id}")))?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::DumpStopped,
        &format!("dump {id}"),
        json!({}),
    )
    .await?;
    Ok(Json(DumpDetail {
        dump: dump_of(&row)?,
    }))
}

/// An agent's pending and running dump requests (its own, or any agent's).
pub async fn agent_dumps(
    State(s): State<AppState>,
    Agent(agent): Agent,
) -> ApiResult<Json<DumpList>> {
    let rows = sqlx::query(&format!(
        "SELECT {DUMP_COLS} FROM dump_requests WHERE state IN ('pending', 'running', 'cancelled') \
         AND (agent_id IS NULL OR agent_id = $1) AND updated_at > $2 ORDER BY id"
    ))
    .bind(agent.agent_id)
    .bind(now_ns() - 86_400_000_000_000)
    .fetch_all(&s.db.pool)
    .await?;
    let dumps = rows.iter().map(dump_of).collect::<ApiResult<_>>()?;
    Ok(Json(DumpList { dumps }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpState {
    state: String,
}

pub async fn agent_dump_state(
    State(s): State<AppState>,
    Agent(agent): Agent,
    Id(id): Id,
    ApiJson(b): ApiJson<DumpState>,
) -> ApiResult<StatusCode> {
    if !["running", "done"].contains(&b.state.as_str()) {
        return Err(ApiError::unprocessable("state: running or done"));
    }
    let n = sqlx::query(
        "UPDATE dump_requests SET state = $1, updated_at = $2, agent_id = $3 WHERE id = $4 \
         AND state IN ('pending', 'running') AND (agent_id IS NULL OR agent_id = $3)",
    )
    .bind(&b.state)
    .bind(now_ns())
    .bind(agent.agent_id)
    .bind(id)
    .execute(&s.db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!(
            "no open dump {id} for this agent"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

//! Agents: enrollment, ingest of rule matches, reported rule metadata, and the admin's agent list.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use rampart_api::agents::{
    AgentDetail, AgentList, EnrollRequest, EnrollResponse, RulesReport, RulesStored, StatusReport,
};
use rampart_api::ingest::IngestAck;
use serde_json::json;

use super::extract::{ApiBytes, ApiJson, ClientIp, Id};
use crate::audit::{self, Action, Actor};
use crate::auth::extract::{Admin, Agent, Viewer};
use crate::auth::{agent_status, store};
use crate::error::{ApiError, ApiResult};
use crate::ingest::{self, validate};
use crate::state::AppState;
use crate::storage::now_ns;

/// Public route: the enrollment token in the body is the credential. The answer carries the key that
/// signs configuration bundles: the agent pins it (over the same authenticated exchange).
pub async fn enroll(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(e): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    if e.tags.len() > 32
        || e.tags
            .iter()
            .any(|t| t.is_empty() || t.len() > 128 || t.chars().any(char::is_control))
    {
        return Err(ApiError::unprocessable(
            "tags: at most 32, each 1-128 characters without control characters",
        ));
    }
    if e.token.len() > 128 {
        return Err(ApiError::unauthorized(
            "invalid, expired, revoked or used-up enrollment token",
        ));
    }
    let result = store::enroll(&s.db, &e.token, &e.hostname, &e.version).await;
    if result.is_err() {
        s.metrics.auth_failures.inc();
    }
    let (agent, secret) = result?;
    crate::remote_config::store::set_agent_tags(&s.db, agent.id, &e.tags).await?;
    let actor = Actor::anonymous(&agent.hostname, ip);
    let details = json!({"hostname": agent.hostname, "version": agent.version, "tags": e.tags});
    audit::record(
        &s.db.pool,
        actor,
        Action::AgentEnrolled,
        &format!("agent {}", agent.id),
        details,
    )
    .await?;
    let key = s.remote.signer(&s.db).await?.public_hex();
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            agent_id: agent.id,
            uid: agent.uid,
            secret,
            config_public_key: key,
        }),
    ))
}

/// Decrements the in-flight gauge however the request ends.
struct Inflight<'a>(&'a rampart_metrics::Gauge);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub async fn ingest(
    State(s): State<AppState>,
    Agent(agent): Agent,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<IngestAck>> {
    let started = Instant::now();
    s.metrics.ingest_requests.inc();
    s.metrics.ingest_inflight.inc();
    let _inflight = Inflight(&s.metrics.ingest_inflight);
    let result = async {
        let encoding = headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok());
        let json = validate::decode_body(encoding, &body, &s.config.limits)?;
        let signals = &s.config.signals;
        let receipt = validate::Receipt {
            hostname: &agent.hostname,
            received_at: now_ns(),
            max_skew_ns: signals.max_clock_skew.as_nanos() as i64,
            max_age_ns: signals.max_match_age.as_nanos() as i64,
        };
        let matches = validate::parse_batch(&json, &s.config.limits, &receipt)?;
        ingest::ingest(&s, &agent, matches).await
    }
    .await;
    s.metrics.ingest_latency.observe(started.elapsed());
    match result {
        Ok(ack) => Ok(Json(ack)),
        Err(e) => {
            if e.status.is_client_error() {
                s.metrics.ingest_rejected.inc();
            }
            Err(e)
        }
    }
}

/// An agent reports the metadata of the rules it loaded (description, severity, remediation...): kept as
/// that agent's report, replacing its previous one. It is never shown as a rule's own metadata (that comes
/// from the server's configuration), only as what this agent says.
pub async fn report_rules(
    State(s): State<AppState>,
    Agent(agent): Agent,
    ApiJson(r): ApiJson<RulesReport>,
) -> ApiResult<Json<RulesStored>> {
    if r.rules.len() > 20_000 {
        return Err(ApiError::too_large("at most 20000 rules"));
    }
    for (i, m) in r.rules.iter().enumerate() {
        if m.id.is_empty() || m.id.len() > 256 || m.id.chars().any(char::is_control) {
            return Err(ApiError::unprocessable(format!(
                "rules[{i}].id: 1-256 bytes, no control characters"
            )));
        }
    }
    let now = now_ns();
    let mut w = s.db.begin_write().await?;
    sqlx::query("DELETE FROM agent_rule_reports WHERE agent_id = $1")
        .bind(agent.agent_id)
        .execute(&mut *w.tx)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for m in r.rules.iter().filter(|m| seen.insert(m.id.as_str())) {
        let t = |s: &str| validate::column_text(s, 8192);
        let severity = m
            .tags
            .get("severity")
            .filter(|_| m.severity.is_empty())
            .unwrap_or(&m.severity);
        sqlx::query(
            "INSERT INTO agent_rule_reports (agent_id, rule_id, version, description, severity, tags, remediation, \
             policy, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(agent.agent_id)
        .bind(&m.id)
        .bind(t(&m.version))
        .bind(t(&m.description))
        .bind(t(severity))
        .bind(t(&serde_json::to_string(&m.tags).unwrap_or_default()))
        .bind(t(&m.remediation))
        .bind(t(&m.policy))
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .map_err(anyhow::Error::from)?;
    }
    w.commit().await?;
    Ok(Json(RulesStored { stored: seen.len() }))
}

/// An agent reports its health (kernel release, events delivered and dropped).
pub async fn report_status(
    State(s): State<AppState>,
    Agent(agent): Agent,
    ApiJson(r): ApiJson<StatusReport>,
) -> ApiResult<StatusCode> {
    agent_status::validate(&r)?;
    agent_status::store(&s.db, agent.agent_id, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<AgentList>> {
    Ok(Json(AgentList {
        agents: store::list_agents(&s.db).await?,
    }))
}

pub async fn get(State(s): State<AppState>, _: Viewer, Id(id): Id) -> ApiResult<Json<AgentDetail>> {
    Ok(Json(AgentDetail {
        agent: store::get_agent(&s.db, id).await?,
    }))
}

/// Revokes an agent's credential; its host stays out (no enrollment under its name) until readmitted.
pub async fn revoke(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::revoke_agent(&s.db, id).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::AgentRevoked,
        &format!("agent {id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets a revoked agent's host enroll again (with a new enrollment token).
pub async fn readmit(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::readmit_agent(&s.db, id).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::AgentReadmitted,
        &format!("agent {id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

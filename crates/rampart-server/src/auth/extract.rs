//! Axum extractors that authenticate a request and check its role. Every handler takes exactly one of
//! them (or is listed as public in the router), so a route cannot forget its check.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::secrets::{AGENT_TOKEN_PREFIX, USER_TOKEN_PREFIX};
use super::{store, AgentCaller, Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Any signed-in user or API token (read access).
pub struct Viewer(pub Caller);
/// Triage: signal state, assignee, comments.
pub struct Responder(pub Caller);
/// Rules, users, agents, tokens.
pub struct Admin(pub Caller);
/// An enrolled agent.
pub struct Agent(pub AgentCaller);

fn bearer(parts: &Parts) -> ApiResult<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token> header"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("Authorization header must be `Bearer <token>`"))?
        .trim();
    // Secrets are prefix + 64 hex digits; anything else cannot be valid and is refused before the database.
    let well_formed = token.len() == 68 && token[4..].bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(ApiError::unauthorized("invalid token"));
    }
    Ok(token)
}

async fn user(parts: &Parts, state: &AppState, min: Role) -> ApiResult<Caller> {
    let result = async {
        let token = bearer(parts)?;
        if !token.starts_with(USER_TOKEN_PREFIX) {
            return Err(ApiError::unauthorized(
                "this route needs a user session or API token",
            ));
        }
        let mut caller = store::resolve_user_token(&state.db, token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))?;
        caller.ip = crate::api::extract::client_ip(parts);
        if caller.role < min {
            return Err(ApiError::forbidden(format!(
                "this route needs role {} (the token has {})",
                min.as_str(),
                caller.role.as_str()
            )));
        }
        Ok(caller)
    }
    .await;
    if result.is_err() {
        state.metrics.auth_failures.inc();
    }
    result
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        user(parts, state, Role::Viewer).await.map(Viewer)
    }
}

impl FromRequestParts<AppState> for Responder {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        user(parts, state, Role::Responder).await.map(Responder)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        user(parts, state, Role::Admin).await.map(Admin)
    }
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let result = async {
            let token = bearer(parts)?;
            if !token.starts_with(AGENT_TOKEN_PREFIX) {
                return Err(ApiError::unauthorized(
                    "this route needs an agent credential",
                ));
            }
            store::resolve_agent(&state.db, token)
                .await?
                .ok_or_else(|| ApiError::unauthorized("unknown or revoked agent credential"))
        }
        .await;
        if result.is_err() {
            state.metrics.auth_failures.inc();
        }
        result.map(Agent)
    }
}

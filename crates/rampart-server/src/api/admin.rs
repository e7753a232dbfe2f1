//! Users, API tokens, enrollment tokens and sessions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use std::net::IpAddr;

use super::extract::{ApiJson, ClientIp, Id};
use crate::audit::{self, Action, Actor};
use crate::auth::extract::{Admin, Viewer};
use crate::auth::{store, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::now_ns;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

pub async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(l): ApiJson<Login>,
) -> ApiResult<Json<Value>> {
    let (token, expires_at, user) = sign_in(&s, &l.username, &l.password, ip).await?;
    Ok(Json(
        json!({"token": token, "expires_at": expires_at, "user": user}),
    ))
}

/// Checks a password and opens a session (the API's and the UI's sign-in); audits either outcome.
pub async fn sign_in(
    s: &AppState,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> ApiResult<(String, i64, store::User)> {
    let ttl = s.config.session_ttl.as_nanos() as i64;
    let result = if username.len() > 64 || password.len() > 1024 {
        Err(ApiError::unauthorized("wrong user name or password"))
    } else {
        store::login(&s.db, username, password, ttl).await
    };
    let target = format!("user {}", audit::details::clip(username, 64));
    match &result {
        Ok((_, _, user)) => {
            let actor = Actor::user(user.id, &user.username, ip);
            audit::record(&s.db.pool, actor, Action::LoginSucceeded, &target, json!({})).await?;
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let actor = Actor::anonymous(username, ip);
            audit::record(&s.db.pool, actor, Action::LoginFailed, &target, json!({})).await?;
        }
        Err(_) => {}
    }
    result
}

pub async fn logout(State(s): State<AppState>, Viewer(c): Viewer) -> ApiResult<StatusCode> {
    store::logout(&s.db, c.token_id).await?;
    audit::record(&s.db.pool, &c, Action::Logout, &format!("session {}", c.token_id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(Viewer(c): Viewer) -> Json<Value> {
    Json(json!({"user_id": c.user_id, "username": c.username, "role": c.role}))
}

pub async fn list_users(State(s): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"users": store::list_users(&s.db).await?})))
}

fn role(s: &str) -> ApiResult<Role> {
    Role::parse(s).ok_or_else(|| {
        ApiError::unprocessable(format!("role {s:?}: use admin, responder or viewer"))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    role: String,
}

pub async fn create_user(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(u): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = store::create_user(&s.db, &u.username, &u.password, role(&u.role)?).await?;
    audit::record(&s.db.pool, &caller, Action::UserCreated, &user_target(&user), json!({"role": user.role})).await?;
    Ok((StatusCode::CREATED, Json(json!({"user": user}))))
}

fn user_target(u: &store::User) -> String {
    format!("user {} ({})", u.id, u.username)
}

pub async fn get_user(State(s): State<AppState>, _: Admin, Id(id): Id) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"user": store::get_user(&s.db, id).await?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    role: Option<String>,
    password: Option<String>,
    disabled: Option<bool>,
}

pub async fn update_user(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(u): ApiJson<UserUpdate>,
) -> ApiResult<Json<Value>> {
    let new_role = u.role.as_deref().map(role).transpose()?;
    if id == caller.user_id
        && (new_role.is_some_and(|r| r != Role::Admin) || u.disabled == Some(true))
    {
        return Err(ApiError::conflict(
            "an admin cannot demote or disable itself",
        ));
    }
    let before = store::get_user(&s.db, id).await?;
    let user = store::update_user(&s.db, id, new_role, u.password.as_deref(), u.disabled).await?;
    let mut details = audit::details::diff(&json!(before), &json!(user));
    if u.password.is_some() {
        details["changes"]["password"] = json!([audit::details::REDACTED, audit::details::REDACTED]);
    }
    audit::record(&s.db.pool, &caller, Action::UserUpdated, &user_target(&user), details).await?;
    Ok(Json(json!({"user": user})))
}

pub async fn delete_user(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    if id == caller.user_id {
        return Err(ApiError::conflict("an admin cannot delete itself"));
    }
    let user = store::get_user(&s.db, id).await?;
    store::delete_user(&s.db, id).await?;
    audit::record(&s.db.pool, &caller, Action::UserDeleted, &user_target(&user), json!({"role": user.role})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(State(s): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"tokens": store::list_api_tokens(&s.db).await?}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: String,
    /// Lifetime in seconds (none: until revoked).
    ttl_seconds: Option<u64>,
    /// Owner (default: the caller).
    user_id: Option<i64>,
}

fn expiry(ttl: Option<u64>) -> ApiResult<Option<i64>> {
    ttl.map(|t| {
        if t == 0 || t > 10 * 365 * 86400 {
            return Err(ApiError::unprocessable("ttl_seconds: 1 to 10 years"));
        }
        Ok(now_ns() + t as i64 * 1_000_000_000)
    })
    .transpose()
}

pub async fn create_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(t): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let expires = expiry(t.ttl_seconds)?;
    let (token, info) = store::create_api_token(
        &s.db,
        t.user_id.unwrap_or(caller.user_id),
        &t.name,
        role(&t.role)?,
        expires,
    )
    .await?;
    let details = json!({"name": info.name, "role": info.role, "owner": info.user_id, "expires_at": info.expires_at});
    audit::record(&s.db.pool, &caller, Action::TokenCreated, &format!("token {}", info.id), details).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "info": info})),
    ))
}

pub async fn delete_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::delete_token(&s.db, id).await?;
    audit::record(&s.db.pool, &caller, Action::TokenRevoked, &format!("token {id}"), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_enrollment_tokens(State(s): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"enrollment_tokens": store::list_enrollment_tokens(&s.db).await?}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentToken {
    name: String,
    ttl_seconds: Option<u64>,
    max_uses: Option<i64>,
}

pub async fn create_enrollment_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(t): ApiJson<NewEnrollmentToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let expires = expiry(t.ttl_seconds)?;
    let (token, id) =
        store::create_enrollment_token(&s.db, &t.name, Some(caller.user_id), expires, t.max_uses)
            .await?;
    let details = json!({"name": t.name, "expires_at": expires, "max_uses": t.max_uses});
    audit::record(&s.db.pool, &caller, Action::EnrollmentTokenCreated, &format!("enrollment token {id}"), details).await?;
    Ok((StatusCode::CREATED, Json(json!({"token": token, "id": id}))))
}

pub async fn revoke_enrollment_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::revoke_enrollment_token(&s.db, id).await?;
    audit::record(&s.db.pool, &caller, Action::EnrollmentTokenRevoked, &format!("enrollment token {id}"), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Users, API tokens, enrollment tokens and sessions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rampart_api::users::{
    EnrollmentTokenCreated, EnrollmentTokenList, LoginRequest, Me, NewEnrollmentToken, NewToken,
    NewUser, Session, TokenCreated, TokenList, UserDetail, UserList, UserUpdate,
};
use serde_json::json;

use super::extract::{ApiJson, ClientIp, Id};
use crate::audit::{self, Action};
use crate::auth::extract::{Admin, Viewer};
use crate::auth::{login_guard, store, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::now_ns;

pub async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(l): ApiJson<LoginRequest>,
) -> ApiResult<Json<Session>> {
    let (token, expires_at, user) = login_guard::login(&s, ip, &l.username, &l.password).await?;
    Ok(Json(Session {
        token,
        expires_at,
        user,
    }))
}

pub async fn logout(State(s): State<AppState>, Viewer(c): Viewer) -> ApiResult<StatusCode> {
    store::logout(&s.db, c.token_id).await?;
    audit::record(
        &s.db.pool,
        &c,
        Action::Logout,
        &format!("session {}", c.token_id),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(Viewer(c): Viewer) -> Json<Me> {
    Json(Me {
        user_id: c.user_id,
        username: c.username,
        role: c.role,
    })
}

pub async fn list_users(State(s): State<AppState>, _: Admin) -> ApiResult<Json<UserList>> {
    let users = store::list_users(&s.db).await?;
    Ok(Json(UserList { users }))
}

fn role(s: &str) -> ApiResult<Role> {
    Role::parse(s).ok_or_else(|| {
        ApiError::unprocessable(format!("role {s:?}: use admin, responder or viewer"))
    })
}

pub async fn create_user(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(u): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserDetail>)> {
    let user = store::create_user(&s.db, &u.username, &u.password, role(&u.role)?).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::UserCreated,
        &user_target(&user),
        json!({"role": user.role}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserDetail { user })))
}

fn user_target(u: &store::User) -> String {
    format!("user {} ({})", u.id, u.username)
}

pub async fn get_user(
    State(s): State<AppState>,
    _: Admin,
    Id(id): Id,
) -> ApiResult<Json<UserDetail>> {
    let user = store::get_user(&s.db, id).await?;
    Ok(Json(UserDetail { user }))
}

pub async fn update_user(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
    ApiJson(u): ApiJson<UserUpdate>,
) -> ApiResult<Json<UserDetail>> {
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
        details["changes"]["password"] =
            json!([audit::details::REDACTED, audit::details::REDACTED]);
    }
    audit::record(
        &s.db.pool,
        &caller,
        Action::UserUpdated,
        &user_target(&user),
        details,
    )
    .await?;
    Ok(Json(UserDetail { user }))
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
    audit::record(
        &s.db.pool,
        &caller,
        Action::UserDeleted,
        &user_target(&user),
        json!({"role": user.role}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(State(s): State<AppState>, _: Admin) -> ApiResult<Json<TokenList>> {
    let tokens = store::list_api_tokens(&s.db).await?;
    Ok(Json(TokenList { tokens }))
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
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    if t.user_id.is_some_and(|u| u != caller.user_id) {
        return Err(ApiError::forbidden(
            "a token is minted by its owner: sign in as that user to create one for them",
        ));
    }
    let expires = expiry(t.ttl_seconds)?;
    let (token, info) =
        store::create_api_token(&s.db, caller.user_id, &t.name, role(&t.role)?, expires).await?;
    let details = json!({"name": info.name, "role": info.role, "owner": info.user_id, "expires_at": info.expires_at});
    audit::record(
        &s.db.pool,
        &caller,
        Action::TokenCreated,
        &format!("token {}", info.id),
        details,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(TokenCreated { token, info })))
}

pub async fn delete_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::delete_token(&s.db, id).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::TokenRevoked,
        &format!("token {id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_enrollment_tokens(
    State(s): State<AppState>,
    _: Admin,
) -> ApiResult<Json<EnrollmentTokenList>> {
    let enrollment_tokens = store::list_enrollment_tokens(&s.db).await?;
    Ok(Json(EnrollmentTokenList { enrollment_tokens }))
}

/// An enrollment token's lifetime unless the request says otherwise (seconds).
const DEFAULT_ENROLLMENT_TTL: u64 = 24 * 3600;
/// The most enrollments one token allows (a fleet roll-out names its size).
const MAX_ENROLLMENT_USES: i64 = 100_000;

pub async fn create_enrollment_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    ApiJson(t): ApiJson<NewEnrollmentToken>,
) -> ApiResult<(StatusCode, Json<EnrollmentTokenCreated>)> {
    // Unlimited, everlasting tokens let any holder (or a revoked agent keeping one) enroll forever.
    if t.max_uses
        .is_some_and(|m| !(1..=MAX_ENROLLMENT_USES).contains(&m))
    {
        return Err(ApiError::unprocessable(format!(
            "max_uses: 1 to {MAX_ENROLLMENT_USES}"
        )));
    }
    let expires = expiry(Some(t.ttl_seconds.unwrap_or(DEFAULT_ENROLLMENT_TTL)))?;
    let max_uses = t.max_uses.unwrap_or(1);
    let (token, id) = store::create_enrollment_token(
        &s.db,
        &t.name,
        Some(caller.user_id),
        expires,
        Some(max_uses),
    )
    .await?;
    let details = json!({"name": t.name, "expires_at": expires, "max_uses": max_uses});
    audit::record(
        &s.db.pool,
        &caller,
        Action::EnrollmentTokenCreated,
        &format!("enrollment token {id}"),
        details,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentTokenCreated {
            token,
            id,
            expires_at: expires,
            max_uses,
        }),
    ))
}

pub async fn revoke_enrollment_token(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    store::revoke_enrollment_token(&s.db, id).await?;
    audit::record(
        &s.db.pool,
        &caller,
        Action::EnrollmentTokenRevoked,
        &format!("enrollment token {id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

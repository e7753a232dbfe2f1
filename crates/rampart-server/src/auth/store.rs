//! Users, sessions/API tokens, enrollment tokens and agent credentials in the database.

use sqlx::Row;

use super::secrets::{self, AGENT_TOKEN_PREFIX, ENROLL_TOKEN_PREFIX, USER_TOKEN_PREFIX};
use super::{AgentCaller, Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::storage::{now_ns, Db};

pub use rampart_api::users::{EnrollmentTokenInfo, TokenInfo, User};

/// An enrolled agent (the API's type).
pub use rampart_api::agents::AgentInfo as Agent;

pub fn validate_username(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "username: 1-64 characters among letters, digits and . _ - @",
        ))
    }
}

pub fn validate_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < 12 || password.len() > 1024 {
        return Err(ApiError::unprocessable(
            "password: at least 12 characters (at most 1024 bytes)",
        ));
    }
    Ok(())
}

fn role_of(row: &sqlx::any::AnyRow, col: &str) -> ApiResult<Role> {
    let s: String = row.try_get(col)?;
    Role::parse(&s).ok_or_else(|| ApiError::internal(format!("bad role {s:?} in database")))
}

fn user_from(row: &sqlx::any::AnyRow) -> ApiResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role_of(row, "role")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn create_user(db: &Db, username: &str, password: &str, role: Role) -> ApiResult<User> {
    validate_username(username)?;
    validate_password(password)?;
    let p = password.to_string();
    let hash = secrets::argon2_gate()
        .run(move || secrets::hash_password(&p))
        .await??;
    let row = sqlx::query(
        "INSERT INTO users (username, password_hash, role, disabled, created_at) VALUES ($1, $2, $3, 0, $4) \
         ON CONFLICT (username) DO NOTHING RETURNING id, username, role, disabled, created_at",
    )
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .bind(now_ns())
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => user_from(&r),
        None => Err(ApiError::conflict(format!("user {username:?} exists"))),
    }
}

pub async fn count_users(db: &Db) -> ApiResult<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?)
}

pub async fn list_users(db: &Db) -> ApiResult<Vec<User>> {
    let rows =
        sqlx::query("SELECT id, username, role, disabled, created_at FROM users ORDER BY id")
            .fetch_all(&db.pool)
            .await?;
    rows.iter().map(user_from).collect()
}

pub async fn get_user(db: &Db, id: i64) -> ApiResult<User> {
    let row =
        sqlx::query("SELECT id, username, role, disabled, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    user_from(&row)
}

/// Changes a user's role, password or disabled flag. A new password or role ends the user's sessions;
/// disabling it removes its tokens too.
pub async fn update_user(
    db: &Db,
    id: i64,
    role: Option<Role>,
    password: Option<&str>,
    disabled: Option<bool>,
) -> ApiResult<User> {
    get_user(db, id).await?;
    if let Some(p) = password {
        validate_password(p)?;
        let p = p.to_string();
        let hash = secrets::argon2_gate()
            .run(move || secrets::hash_password(&p))
            .await??;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&db.pool)
            .await?;
        // Whoever signed in with the old password (perhaps the reason for the change) is signed out.
        end_sessions(db, id).await?;
    }
    if let Some(r) = role {
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(r.as_str())
            .bind(id)
            .execute(&db.pool)
            .await?;
        // Tokens never carry more than their user's role.
        end_sessions(db, id).await?;
    }
    if let Some(d) = disabled {
        sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(d as i64)
            .bind(id)
            .execute(&db.pool)
            .await?;
        if d {
            sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
                .bind(id)
                .execute(&db.pool)
                .await?;
        }
    }
    get_user(db, id).await
}

/// Ends every login session of user `id` (its API tokens stay: they are revoked one by one).
async fn end_sessions(db: &Db, id: i64) -> ApiResult<()> {
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND kind = 'session'")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn delete_user(db: &Db, id: i64) -> ApiResult<()> {
    let n = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!("no user {id}")));
    }
    Ok(())
}

/// Checks a password and opens a session. Unknown users cost the same argon2 time as known ones.
pub async fn login(
    db: &Db,
    username: &str,
    password: &str,
    ttl_ns: i64,
) -> ApiResult<(String, i64, User)> {
    let row = sqlx::query(
        "SELECT id, username, role, disabled, created_at, password_hash FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(&db.pool)
    .await?;
    let hash = match &row {
        Some(r) => r.try_get::<String, _>("password_hash")?,
        None => secrets::dummy_hash().to_string(),
    };
    let p = password.to_string();
    let ok = secrets::argon2_gate()
        .run(move || secrets::verify_password(&p, &hash))
        .await?;
    let user = match row {
        Some(r) if ok => user_from(&r)?,
        _ => return Err(ApiError::unauthorized("wrong user name or password")),
    };
    if user.disabled {
        return Err(ApiError::unauthorized("wrong user name or password"));
    }
    let token = secrets::new_secret(USER_TOKEN_PREFIX);
    let expires = now_ns() + ttl_ns;
    insert_token(
        db,
        &token,
        "session",
        "login",
        user.id,
        user.role,
        Some(expires),
    )
    .await?;
    Ok((token, expires, user))
}

async fn insert_token(
    db: &Db,
    token: &str,
    kind: &str,
    name: &str,
    user_id: i64,
    role: Role,
    expires: Option<i64>,
) -> ApiResult<i64> {
    let row = sqlx::query(
        "INSERT INTO api_tokens (token_hash, kind, name, user_id, role, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(secrets::digest(token))
    .bind(kind)
    .bind(name)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now_ns())
    .bind(expires)
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get("id")?)
}

/// A long-lived API token for automation, owned by `user_id`, with at most that user's role.
pub async fn create_api_token(
    db: &Db,
    user_id: i64,
    name: &str,
    role: Role,
    expires: Option<i64>,
) -> ApiResult<(String, TokenInfo)> {
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::unprocessable("name: 1-128 bytes"));
    }
    let owner = get_user(db, user_id).await?;
    if role > owner.role {
        return Err(ApiError::forbidden(
            "a token cannot have a higher role than its owner",
        ));
    }
    let token = secrets::new_secret(USER_TOKEN_PREFIX);
    let id = insert_token(db, &token, "api", name, user_id, role, expires).await?;
    let info = TokenInfo {
        id,
        name: name.into(),
        kind: "api".into(),
        role,
        user_id,
        created_at: now_ns(),
        expires_at: expires,
    };
    Ok((token, info))
}

pub async fn list_api_tokens(db: &Db) -> ApiResult<Vec<TokenInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, kind, role, user_id, created_at, expires_at FROM api_tokens WHERE kind = 'api' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenInfo {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                kind: r.try_get("kind")?,
                role: role_of(r, "role")?,
                user_id: r.try_get("user_id")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

pub async fn delete_token(db: &Db, id: i64) -> ApiResult<()> {
    let n = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!("no token {id}")));
    }
    Ok(())
}

/// The caller behind a user bearer token: the effective role is the lower of the token's and the user's.
pub async fn resolve_user_token(db: &Db, token: &str) -> ApiResult<Option<Caller>> {
    let row = sqlx::query(
        "SELECT t.id AS token_id, t.role AS token_role, t.expires_at, u.id AS user_id, u.username, u.role AS user_role, \
         u.disabled FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
    )
    .bind(secrets::digest(token))
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let expires: Option<i64> = r.try_get("expires_at")?;
    if expires.is_some_and(|e| e <= now_ns()) || r.try_get::<i64, _>("disabled")? != 0 {
        return Ok(None);
    }
    let role = role_of(&r, "token_role")?.min(role_of(&r, "user_role")?);
    Ok(Some(Caller {
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        role,
        token_id: r.try_get("token_id")?,
        ip: None,
    }))
}

pub async fn logout(db: &Db, token_id: i64) -> ApiResult<()> {
    sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND kind = 'session'")
        .bind(token_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn create_enrollment_token(
    db: &Db,
    name: &str,
    created_by: Option<i64>,
    expires: Option<i64>,
    max_uses: Option<i64>,
) -> ApiResult<(String, i64)> {
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::unprocessable("name: 1-128 bytes"));
    }
    if max_uses.is_some_and(|m| m < 1) {
        return Err(ApiError::unprocessable("max_uses: at least 1"));
    }
    let token = secrets::new_secret(ENROLL_TOKEN_PREFIX);
    let row = sqlx::query(
        "INSERT INTO enrollment_tokens (token_hash, name, created_by, created_at, expires_at, max_uses, uses, revoked) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0) RETURNING id",
    )
    .bind(secrets::digest(&token))
    .bind(name)
    .bind(created_by)
    .bind(now_ns())
    .bind(expires)
    .bind(max_uses)
    .fetch_one(&db.pool)
    .await?;
    Ok((token, row.try_get("id")?))
}

pub async fn list_enrollment_tokens(db: &Db) -> ApiResult<Vec<EnrollmentTokenInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, expires_at, max_uses, uses, revoked FROM enrollment_tokens ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EnrollmentTokenInfo {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                max_uses: r.try_get("max_uses")?,
                uses: r.try_get("uses")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            })
        })
        .collect()
}

/// The id of enrollment token `token` and whether it is bounded (expires and has a use limit), if it can
/// still enroll an agent.
pub async fn usable_enrollment_token(db: &Db, token: &str) -> ApiResult<Option<(i64, bool)>> {
    let row = sqlx::query(
        "SELECT id, expires_at, max_uses FROM enrollment_tokens WHERE token_hash = $1 AND revoked = 0 \
         AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)",
    )
    .bind(secrets::digest(token))
    .bind(now_ns())
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        let bounded = r.try_get::<Option<i64>, _>("expires_at")?.is_some()
            && r.try_get::<Option<i64>, _>("max_uses")?.is_some();
        Ok((r.try_get("id")?, bounded))
    })
    .transpose()
}

pub async fn revoke_enrollment_token(db: &Db, id: i64) -> ApiResult<()> {
    let n = sqlx::query("UPDATE enrollment_tokens SET revoked = 1 WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!("no enrollment token {id}")));
    }
    Ok(())
}

/// Exchanges a valid enrollment token for an agent credential. The use count is taken atomically so that
/// replicas cannot over-use a limited token.
pub async fn enroll(
    db: &Db,
    token: &str,
    hostname: &str,
    version: &str,
) -> ApiResult<(Agent, String)> {
    if hostname.is_empty() || hostname.len() > 255 || hostname.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "hostname: 1-255 bytes, no control characters",
        ));
    }
    if version.len() > 64 || version.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "version: at most 64 bytes, no control characters",
        ));
    }
    let now = now_ns();
    let mut w = db.begin_write().await?;
    let row = sqlx::query(
        "UPDATE enrollment_tokens SET uses = uses + 1 WHERE token_hash = $1 AND revoked = 0 \
         AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses) RETURNING id",
    )
    .bind(secrets::digest(token))
    .bind(now)
    .fetch_optional(&mut *w.tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::unauthorized(
            "invalid, expired, revoked or used-up enrollment token",
        ));
    };
    // Only a valid token learns that its host is shut out (and the refused attempt does not use it up:
    // the transaction is dropped).
    if let Some(id) = revoked_host(&mut w.tx, hostname).await? {
        return Err(ApiError::forbidden(format!(
            "host {hostname:?} was revoked (agent {id}): it stays out until an admin readmits it \
             (POST /api/v1/agents/{id}/readmit)"
        )));
    }
    let token_id: i64 = row.try_get("id")?;
    let secret = secrets::new_secret(AGENT_TOKEN_PREFIX);
    let uid = secrets::new_secret("agent-")[..22].to_string();
    let row = sqlx::query(
        "INSERT INTO agents (uid, secret_hash, hostname, version, enrollment_token_id, enrolled_at, last_seen_at, \
         matches_received, revoked) VALUES ($1, $2, $3, $4, $5, $6, $6, 0, 0) RETURNING id",
    )
    .bind(&uid)
    .bind(secrets::digest(&secret))
    .bind(hostname)
    .bind(version)
    .bind(token_id)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    let id: i64 = row.try_get("id")?;
    w.commit().await?;
    let agent = Agent {
        id,
        uid,
        hostname: hostname.into(),
        version: version.into(),
        enrolled_at: now,
        last_seen_at: now,
        matches_received: 0,
        revoked: false,
        revoked_at: None,
        readmitted_at: None,
        kernel_release: String::new(),
        events_delivered: 0,
        events_dropped: 0,
        status_at: 0,
        previous_dropped: 0,
        previous_status_at: 0,
    };
    Ok((agent, secret))
}

pub async fn resolve_agent(db: &Db, secret: &str) -> ApiResult<Option<AgentCaller>> {
    let row =
        sqlx::query("SELECT id, uid, hostname FROM agents WHERE secret_hash = $1 AND revoked = 0")
            .bind(secrets::digest(secret))
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| {
        Ok(AgentCaller {
            agent_id: r.try_get("id")?,
            uid: r.try_get("uid")?,
            hostname: r.try_get("hostname")?,
        })
    })
    .transpose()
}

fn agent_from(r: &sqlx::any::AnyRow) -> ApiResult<Agent> {
    Ok(Agent {
        id: r.try_get("id")?,
        uid: r.try_get("uid")?,
        hostname: r.try_get("hostname")?,
        version: r.try_get("version")?,
        enrolled_at: r.try_get("enrolled_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        matches_received: r.try_get("matches_received")?,
        revoked: r.try_get::<i64, _>("revoked")? != 0,
        revoked_at: r.try_get("revoked_at")?,
        readmitted_at: r.try_get("readmitted_at")?,
        kernel_release: r.try_get("kernel_release")?,
        events_delivered: r.try_get("events_delivered")?,
        events_dropped: r.try_get("events_dropped")?,
        status_at: r.try_get("status_at")?,
        previous_dropped: r.try_get("previous_dropped")?,
        previous_status_at: r.try_get("previous_status_at")?,
    })
}

const AGENT_COLS: &str =
    "id, uid, hostname, version, enrolled_at, last_seen_at, matches_received, revoked, revoked_at, readmitted_at, \
     kernel_release, events_delivered, events_dropped, status_at, previous_dropped, previous_status_at";

pub async fn list_agents(db: &Db) -> ApiResult<Vec<Agent>> {
    let rows = sqlx::query(&format!("SELECT {AGENT_COLS} FROM agents ORDER BY id"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(agent_from).collect()
}

pub async fn get_agent(db: &Db, id: i64) -> ApiResult<Agent> {
    let row = sqlx::query(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no agent {id}")))?;
    agent_from(&row)
}

pub async fn revoke_agent(db: &Db, id: i64) -> ApiResult<()> {
    let n = sqlx::query(
        "UPDATE agents SET revoked = 1, revoked_at = COALESCE(revoked_at, $1), readmitted_at = NULL WHERE id = $2",
    )
    .bind(now_ns())
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found(format!("no agent {id}")));
    }
    Ok(())
}

/// Lets a revoked agent's host enroll again (with a new enrollment token: its old credential stays revoked).
pub async fn readmit_agent(db: &Db, id: i64) -> ApiResult<()> {
    let n = sqlx::query("UPDATE agents SET readmitted_at = $1 WHERE id = $2 AND revoked = 1")
        .bind(now_ns())
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        get_agent(db, id).await?;
        return Err(ApiError::conflict(format!(
            "agent {id} is not revoked: nothing to readmit"
        )));
    }
    Ok(())
}

/// A revoked agent of `hostname` that no admin readmitted: that host stays out.
async fn revoked_host(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    hostname: &str,
) -> ApiResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT id FROM agents WHERE hostname = $1 AND revoked = 1 AND readmitted_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(hostname)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| r.try_get("id")).transpose().map_err(Into::into)
}

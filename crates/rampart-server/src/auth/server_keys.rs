//! Named server secrets shared by every replica through the database (`server_keys`): whichever replica
//! needs one first stores it; the others read that one. Stored sealed (`storage::sealed`).

use sqlx::Row;

use crate::error::ApiResult;
use crate::storage::secrets::server_key_label;
use crate::storage::{now_ns, Db};

/// The stored secret called `name`, storing `fresh` (secret and public halves, hex) if there is none yet.
pub async fn load_or_insert(db: &Db, name: &str, fresh: (&str, &str)) -> ApiResult<String> {
    if let Some(secret) = load(db, name).await? {
        return Ok(secret);
    }
    sqlx::query(
        "INSERT INTO server_keys (name, secret, public, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(db.seal(&server_key_label(name), fresh.0)?)
    .bind(fresh.1)
    .bind(now_ns())
    .execute(&db.pool)
    .await?;
    Ok(load(db, name).await?.unwrap_or_else(|| fresh.0.to_string()))
}

async fn load(db: &Db, name: &str) -> ApiResult<Option<String>> {
    let row = sqlx::query("SELECT secret FROM server_keys WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let stored: String = r.try_get("secret")?;
    Ok(Some(db.open(&server_key_label(name), &stored)?))
}

//! The server's bundle-signing key: created once, stored in the database so every replica signs with the
//! same key (agents pin its public half at enrollment).

use rampart_policy::bundle::BundleSigner;
use rand::RngCore;
use sqlx::Row;

use crate::error::ApiResult;
use crate::storage::{now_ns, Db};

const KEY_NAME: &str = "bundle-signing";

/// Loads the key, creating it on first use (the first replica to insert wins; the others read it).
pub async fn load_or_create(db: &Db) -> ApiResult<BundleSigner> {
    if let Some(signer) = load(db).await? {
        return Ok(signer);
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let fresh = BundleSigner::from_random(seed);
    sqlx::query(
        "INSERT INTO server_keys (name, secret, public, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(KEY_NAME)
    .bind(fresh.secret_hex())
    .bind(fresh.public_hex())
    .bind(now_ns())
    .execute(&db.pool)
    .await?;
    Ok(load(db).await?.unwrap_or(fresh))
}

async fn load(db: &Db) -> ApiResult<Option<BundleSigner>> {
    let row = sqlx::query("SELECT secret FROM server_keys WHERE name = $1")
        .bind(KEY_NAME)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let secret: String = row.try_get("secret")?;
    BundleSigner::from_hex(&secret)
        .map(Some)
        .map_err(crate::error::ApiError::internal)
}

//! The server's bundle-signing key: created once, stored in the database so every replica signs with the
//! same key (agents pin its public half at enrollment).

use rampart_policy::bundle::BundleSigner;
use rand::RngCore;

use crate::error::ApiResult;
use crate::storage::Db;

const KEY_NAME: &str = "bundle-signing";

/// Loads the key, creating it on first use (the first replica to insert wins; the others read it).
pub async fn load_or_create(db: &Db) -> ApiResult<BundleSigner> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let fresh = BundleSigner::from_random(seed);
    let secret = crate::auth::server_keys::load_or_insert(
        db,
        KEY_NAME,
        (&fresh.secret_hex(), &fresh.public_hex()),
    )
    .await?;
    BundleSigner::from_hex(&secret).map_err(crate::error::ApiError::internal)
}

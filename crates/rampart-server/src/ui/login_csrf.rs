//! CSRF protection for the login form, before any session exists: a signed double-submit token. The login
//! page sets a random nonce in an HttpOnly, SameSite=Strict cookie scoped to `/ui/login` and puts
//! HMAC-SHA256(server key, nonce) in the form; a login post must bring both, matching. Another site can
//! neither read the cookie nor compute the token for a nonce of its own (the key never leaves the server,
//! and is shared by replicas through `server_keys`).

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::auth::{cookie_value, same_secret};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const COOKIE: &str = "rampart_login";
const KEY_NAME: &str = "ui-login-csrf";

/// The login form's nonce (for the cookie) and token (for the form).
pub struct LoginCsrf {
    pub nonce: String,
    pub token: String,
}

async fn key(s: &AppState) -> ApiResult<&[u8]> {
    let key = s
        .login_key
        .get_or_try_init(|| async {
            let mut fresh = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut fresh);
            let stored = crate::auth::server_keys::load_or_insert(
                &s.db,
                KEY_NAME,
                (&hex::encode(fresh), ""),
            )
            .await?;
            hex::decode(stored).map_err(ApiError::internal)
        })
        .await?;
    Ok(key.as_slice())
}

fn sign(key: &[u8], nonce: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"rampart-ui-login\0");
    mac.update(nonce.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The nonce of the request's login cookie, if well formed (64 hex digits).
fn nonce_of(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// The token for the browser's current nonce, or for a new one (then the cookie must be set).
pub async fn issue(s: &AppState, headers: &HeaderMap) -> ApiResult<LoginCsrf> {
    let nonce = nonce_of(headers).unwrap_or_else(|| {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    });
    let token = sign(key(s).await?, &nonce);
    Ok(LoginCsrf { nonce, token })
}

/// Whether a login post carries the cookie and the matching token.
pub async fn check(s: &AppState, headers: &HeaderMap, given: Option<&str>) -> ApiResult<bool> {
    let (Some(nonce), Some(given)) = (nonce_of(headers), given) else {
        return Ok(false);
    };
    Ok(same_secret(given, &sign(key(s).await?, &nonce)))
}

/// The cookie holding the nonce: only the login path reads it, for an hour.
pub fn cookie(s: &AppState, nonce: &str) -> String {
    let secure = if s.config.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={nonce}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_depend_on_key_and_nonce() {
        let a = super::sign(b"key-one", "00ff");
        assert_eq!(a, super::sign(b"key-one", "00ff"));
        assert_ne!(a, super::sign(b"key-two", "00ff"));
        assert_ne!(a, super::sign(b"key-one", "00fe"));
        assert_eq!(a.len(), 64);
    }
}

//! Random secrets, their stored digests, and argon2 password hashes.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::blocking::{cores, BlockingGate};

/// Prefixes tell the secret kinds apart at a glance (and in leaked-secret scanners).
pub const USER_TOKEN_PREFIX: &str = "rpu_";
pub const AGENT_TOKEN_PREFIX: &str = "rpa_";
pub const ENROLL_TOKEN_PREFIX: &str = "rpe_";

/// A new random secret: prefix + 64 hex digits (256 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A readable random password for generated accounts (128 bits, base-32-ish alphabet without look-alikes).
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The digest stored for a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Where every argon2 computation runs: one at a time per core, since each takes 19 MiB and tens of
/// milliseconds (200 unbounded concurrent checks took the server from 22 MB to 2.57 GB).
pub fn argon2_gate() -> &'static BlockingGate {
    static GATE: std::sync::LazyLock<BlockingGate> = std::sync::LazyLock::new(|| {
        BlockingGate::new(
            "argon2",
            "password checks",
            cores(),
            std::time::Duration::from_secs(5),
        )
    });
    &GATE
}

/// A hash to verify against when the user does not exist, so that timing does not reveal user names.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn secrets_are_unique_and_prefixed() {
        let a = new_secret(USER_TOKEN_PREFIX);
        assert!(a.starts_with("rpu_") && a.len() == 68);
        assert_ne!(a, new_secret(USER_TOKEN_PREFIX));
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(new_password().len(), 24);
    }
}

//! Random secrets, their stored digests, and argon2 password hashes.

use argon2::password_hash::{
    self, rand_core::OsRng, Output, PasswordHash, PasswordHasher, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Whether `password` is the one `hash` (a PHC string) was made from, as `PasswordVerifier` checks it
/// (same parameters, constant-time comparison), but with this thread's kept working memory.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&h), Algorithm::try_from(h.algorithm))
    else {
        return false;
    };
    let Ok(version) = h.version.map(Version::try_from).transpose() else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let computed = Output::init_with(expected.len(), |out| {
        with_memory(blocks, |memory| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, memory)
        })
        .map_err(|_| password_hash::Error::Password)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|c| c == expected)
}

/// Runs `f` with `blocks` blocks of argon2 working memory (19 MiB with the default parameters), kept by
/// this thread and reused. Allocating and freeing it per check let glibc keep several copies in its
/// per-thread arenas: 200 concurrent sign-ins on two threads left the process 176-215 MiB larger, against
/// 38 MiB for two kept copies. Larger parameters than the default are allocated per call.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if blocks > Params::default().block_count() {
        return f(&mut vec![Block::default(); blocks]);
    }
    MEMORY.with_borrow_mut(|m| {
        if m.len() < blocks {
            m.resize(blocks, Block::default());
        }
        f(&mut m[..blocks])
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
        // Other parameters than the default (smaller, larger) are read from the hash.
        for m_cost in [64, 32 * 1024] {
            let params = Params::new(m_cost, 1, 1, None).unwrap();
            let salt = SaltString::generate(&mut OsRng);
            let h = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            assert!(verify_password("correct horse", &h), "{h}");
            assert!(!verify_password("correct horsf", &h), "{h}");
        }
        // Tampering with the stored digest fails the check.
        let mut bad = h.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(!verify_password("correct horse", &bad));
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

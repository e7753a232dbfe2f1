//! Secrets at rest. What the server must read back in clear (the bundle-signing key, the login form's key,
//! notification channels' settings with their tokens and passwords) is stored sealed (ChaCha20-Poly1305)
//! with a key kept outside the database: a file, mode 0600, in the data directory by default, or one a
//! secrets manager mounts (`--secrets-key-file`). A copy of the database alone reveals none of them. Each
//! value is bound to its slot (the associated data names table and row), so a sealed value cannot be moved
//! to another place. PostgreSQL replicas must share the key file: a key check stored in the database
//! refuses a server started with another key, before it could seal anything with it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// Prefix of a sealed value: `enc:v1:` + hex(nonce ‖ ciphertext ‖ tag). Anything else is a value stored
/// before sealing (sealed in place at start-up).
const PREFIX: &str = "enc:v1:";

/// The sealing key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    fn from_bytes(bytes: &[u8]) -> anyhow::Result<Sealer> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| anyhow::anyhow!("a secrets key is 32 bytes"))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A key that lives as long as the process (an in-memory database).
    pub fn ephemeral() -> anyhow::Result<Sealer> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        Sealer::from_bytes(&bytes)
    }

    /// The key in `path` (64 hex digits), created (mode 0600) if the file does not exist. Two servers
    /// creating it at once both end up with the one that reached the disk first.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Sealer> {
        if !path.exists() {
            create(path)?;
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the secrets key {}", path.display()))?;
        warn_if_readable_by_others(path);
        let bytes = hex::decode(text.trim()).map_err(|_| {
            anyhow::anyhow!(
                "{}: a secrets key is 64 hex digits (32 bytes)",
                path.display()
            )
        })?;
        Sealer::from_bytes(&bytes).with_context(|| path.display().to_string())
    }

    /// Seals `plain` for the slot `label` (table and row).
    pub fn seal(&self, label: &str, plain: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut data,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", hex::encode(out)))
    }

    /// Opens a value sealed for `label`; a value from before sealing comes back as it is.
    pub fn open(&self, label: &str, stored: &str) -> anyhow::Result<String> {
        let Some(sealed) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let bytes = hex::decode(sealed).context("a sealed value is hex")?;
        anyhow::ensure!(bytes.len() >= NONCE_LEN, "a sealed value too short");
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("nonce"))?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut data)
            .map_err(|_| {
                anyhow::anyhow!(
                    "{label}: cannot open this secret with the server's secrets key (another key sealed \
                     it, or it was altered)"
                )
            })?;
        String::from_utf8(plain.to_vec()).context("a sealed value is UTF-8")
    }
}

/// Whether `stored` is sealed already.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn create(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let tmp = PathBuf::from(format!(
        "{}.{}-{:x}.tmp",
        path.display(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating the secrets key {}", tmp.display()))?;
    f.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())?;
    f.sync_all()?;
    // A hard link fails if the key exists: whoever linked first wins, nobody overwrites a key in use.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the secrets key {}", path.display())),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "the secrets key {} is readable by others than its owner: chmod 600 it",
                path.display()
            );
            eprintln!(
                "rampart: WARNING: the secrets key {} is readable by others than its owner: chmod 600 it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let a = Sealer::load_or_create(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = a.seal("server_keys:x", "s3cret").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            a.seal("server_keys:x", "s3cret").unwrap(),
            "fresh nonce"
        );
        assert_eq!(a.open("server_keys:x", &sealed).unwrap(), "s3cret");
        assert!(a.open("server_keys:y", &sealed).is_err(), "another slot");
        let again = Sealer::load_or_create(&path).unwrap();
        assert_eq!(again.open("server_keys:x", &sealed).unwrap(), "s3cret");
        let other = Sealer::ephemeral().unwrap();
        assert!(other.open("server_keys:x", &sealed).is_err(), "another key");
        assert_eq!(
            a.open("x", "plain, from before").unwrap(),
            "plain, from before"
        );
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        assert!(a.open("server_keys:x", &tampered).is_err(), "altered");
    }
}

//! The agent's credential: its id and secret from enrollment, the server that issued them, and the key
//! that server signs configuration bundles with (pinned at enrollment). Kept in the spool directory,
//! mode 0600, written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub agent_id: i64,
    pub secret: String,
    pub server: String,
    /// Hex ed25519 public key of the server's bundle signer (absent from servers without remote config).
    #[serde(default)]
    pub config_key: Option<String>,
}

pub(crate) fn credentials_path(dir: &Path) -> PathBuf {
    dir.join("credentials.json")
}

/// The credential in `dir`, if it was issued by `server`.
pub fn load_credentials(dir: &Path, server: &str) -> Option<Credentials> {
    let c: Credentials =
        serde_json::from_slice(&std::fs::read(credentials_path(dir)).ok()?).ok()?;
    // A credential is only good for the server that issued it.
    (c.server == server).then_some(c)
}

pub(crate) fn save_credentials(dir: &Path, c: &Credentials) -> std::io::Result<()> {
    write_private(
        &credentials_path(dir),
        &serde_json::to_vec(c).map_err(std::io::Error::other)?,
    )
}

/// Writes a file only its owner can read, atomically (a temporary file renamed over it) and durably.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

//! First-run set-up for a single host: an admin account with a generated password (shown once, stored only
//! as an argon2 hash) and an enrollment token for the local agent.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::auth::{store, Role};
use crate::storage::Db;

pub struct FirstRun {
    /// Set when the admin account was created now: the only time its password is known.
    pub admin_password: Option<String>,
    pub admin_username: String,
}

/// Creates the `admin` user if the database has no user yet.
pub async fn ensure_admin(db: &Db) -> anyhow::Result<FirstRun> {
    let username = "admin".to_string();
    if store::count_users(db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        > 0
    {
        return Ok(FirstRun {
            admin_password: None,
            admin_username: username,
        });
    }
    let password = crate::auth::secrets::new_password();
    store::create_user(db, &username, &password, Role::Admin)
        .await
        .map_err(|e| anyhow::anyhow!("creating the admin: {e}"))?;
    Ok(FirstRun {
        admin_password: Some(password),
        admin_username: username,
    })
}

/// Returns the path of a file holding an enrollment token for local agents, creating token and file (mode
/// 0600) if missing.
pub async fn ensure_enrollment_token_file(db: &Db, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("agent-enrollment.token");
    if path.exists() {
        return Ok(path);
    }
    let (token, _) =
        store::create_enrollment_token(db, "local agent (rampart up)", None, None, None)
            .await
            .map_err(|e| anyhow::anyhow!("creating an enrollment token: {e}"))?;
    write_private(&path, token.as_bytes())?;
    Ok(path)
}

/// Writes a file readable only by its owner (atomically, through a temporary file).
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

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
    if store::count_users(db).await.map_err(api)? > 0 {
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

/// How long the generated local enrollment token lasts.
const LOCAL_TOKEN_TTL_NS: i64 = 24 * 3600 * 1_000_000_000;

/// Returns the path of a file (mode 0600) holding an enrollment token for an agent on this host: single use,
/// valid 24 h. The token in an existing file is kept while it can still enroll; a used-up or expired one is
/// replaced, and one without expiry or use limit (written before tokens were bounded) is revoked and
/// replaced. The agent removes the file once it enrolled.
pub async fn ensure_enrollment_token_file(db: &Db, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = token_path(dir);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        match store::usable_enrollment_token(db, existing)
            .await
            .map_err(api)?
        {
            Some((_, true)) => return Ok(path),
            Some((id, false)) => {
                store::revoke_enrollment_token(db, id).await.map_err(api)?;
                use crate::audit::{self, Action, Actor};
                let details = serde_json::json!({"reason": "unbounded local token replaced by a bounded one"});
                let target = format!("enrollment token {id}");
                audit::record(
                    &db.pool,
                    Actor::system("bootstrap"),
                    Action::EnrollmentTokenRevoked,
                    &target,
                    details,
                )
                .await?;
            }
            None => {}
        }
    }
    let (token, _) = store::create_enrollment_token(
        db,
        "local agent",
        None,
        Some(crate::storage::now_ns() + LOCAL_TOKEN_TTL_NS),
        Some(1),
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating an enrollment token: {e}"))?;
    write_private(&path, token.as_bytes())?;
    Ok(path)
}

/// `rampart up`'s local agent: a token file only while the agent has no credential. Once it enrolled, a
/// token file left over (one written before agents removed it) is removed and its token revoked: a
/// revoked local agent stays out, even across restarts, until an admin readmits it.
pub async fn local_agent_token(
    db: &Db,
    dir: &Path,
    agent_enrolled: bool,
) -> anyhow::Result<PathBuf> {
    if !agent_enrolled {
        return ensure_enrollment_token_file(db, dir).await;
    }
    let path = token_path(dir);
    if let Ok(leftover) = std::fs::read_to_string(&path) {
        if let Some((id, _)) = store::usable_enrollment_token(db, leftover.trim())
            .await
            .map_err(api)?
        {
            store::revoke_enrollment_token(db, id).await.map_err(api)?;
        }
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(path)
}

fn token_path(dir: &Path) -> PathBuf {
    dir.join("agent-enrollment.token")
}

fn api(e: crate::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
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

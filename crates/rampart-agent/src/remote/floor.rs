//! The highest configuration revision this agent applied, kept on disk (mode 0600) so that after a restart
//! an older bundle, replayed by whoever sits between agent and server, is refused. It belongs to one
//! enrollment: a new credential (another agent id, or another server key) starts from nothing, since a new
//! server numbers its revisions afresh.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::credentials::{write_private, Credentials};

#[derive(Debug, Serialize, Deserialize)]
struct Floor {
    agent_id: i64,
    config_key: String,
    revision: i64,
}

fn path(spool_dir: &Path) -> PathBuf {
    spool_dir.join("config-revision.json")
}

/// The highest revision applied under `creds`, if any.
pub(crate) fn load(spool_dir: &Path, creds: &Credentials) -> Option<i64> {
    let f: Floor = serde_json::from_slice(&std::fs::read(path(spool_dir)).ok()?).ok()?;
    (f.agent_id == creds.agent_id && Some(&f.config_key) == creds.config_key.as_ref())
        .then_some(f.revision)
}

/// Raises the floor to `revision` (never lowers it).
pub(crate) fn raise(spool_dir: &Path, creds: &Credentials, revision: i64) -> std::io::Result<()> {
    if load(spool_dir, creds).is_some_and(|r| r >= revision) {
        return Ok(());
    }
    let f = Floor {
        agent_id: creds.agent_id,
        config_key: creds.config_key.clone().unwrap_or_default(),
        revision,
    };
    write_private(
        &path(spool_dir),
        &serde_json::to_vec(&f).map_err(std::io::Error::other)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(agent_id: i64, key: &str) -> Credentials {
        Credentials {
            agent_id,
            secret: "s".into(),
            server: "http://127.0.0.1:1".into(),
            config_key: Some(key.into()),
        }
    }

    #[test]
    fn rises_only_and_belongs_to_one_enrollment() {
        let dir = tempfile::tempdir().unwrap();
        let c = creds(1, "k");
        assert_eq!(load(dir.path(), &c), None);
        raise(dir.path(), &c, 5).unwrap();
        raise(dir.path(), &c, 3).unwrap();
        assert_eq!(load(dir.path(), &c), Some(5));
        assert_eq!(load(dir.path(), &creds(2, "k")), None, "another agent id");
        assert_eq!(
            load(dir.path(), &creds(1, "other")),
            None,
            "another server key"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! Waking long-polling agents when the configuration changes: at once for changes made through this
//! server, within a second for changes another replica made (the database is polled while waiting).

use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiResult;
use crate::storage::Db;

/// The newest revision number this server knows of; `notify` after committing one.
pub struct ConfigWatch {
    tx: watch::Sender<i64>,
}

impl Default for ConfigWatch {
    fn default() -> Self {
        ConfigWatch {
            tx: watch::channel(0).0,
        }
    }
}

impl ConfigWatch {
    pub fn notify(&self, revision: i64) {
        self.tx.send_if_modified(|r| {
            let newer = revision > *r;
            if newer {
                *r = revision;
            }
            newer
        });
    }

    /// Waits up to `timeout` for a revision newer than `since`; returns the newest revision seen.
    pub async fn wait_newer(&self, db: &Db, since: i64, timeout: Duration) -> ApiResult<i64> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.tx.subscribe();
        loop {
            let latest = super::store::latest_number(db).await?;
            self.notify(latest);
            if latest > since || tokio::time::Instant::now() >= deadline {
                return Ok(latest);
            }
            let tick = (deadline - tokio::time::Instant::now()).min(Duration::from_secs(1));
            let _ = tokio::time::timeout(tick, rx.changed()).await;
        }
    }
}

//! Storage through sqlx's `Any` driver: one SQL code path for SQLite (embedded, default) and PostgreSQL
//! (several server replicas sharing one database). The SQL used is the common subset of both: `$n`
//! parameters, `INSERT … ON CONFLICT … RETURNING`, integers for times and flags, TEXT for JSON.

mod migrate;
pub mod sealed;
pub mod secrets;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use sqlx::any::AnyRow;
pub use sqlx::Row;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// The connection pool plus what the SQL layer needs to know about the backend.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
    /// SQLite has one writer: serialising write transactions in-process avoids `SQLITE_BUSY` on lock upgrades.
    /// (Only one process owns an SQLite file; PostgreSQL replicas rely on row locks instead.)
    sqlite_writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Seals the secrets stored in the database ([`sealed`]); set by the server at start-up.
    sealer: Option<std::sync::Arc<sealed::Sealer>>,
}

/// `sqlite://PATH?mode=rwc` for a database file (created if missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

impl Db {
    /// Connects and runs the migrations for this backend (under PostgreSQL's advisory lock, so replicas that
    /// start together migrate once).
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbKind::Postgres
        } else if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite://PATH or postgres://…");
        };
        let options: AnyConnectOptions = url.parse().context("parsing the database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL: readers never block the writer. synchronous=FULL: an acknowledged batch survives
                        // a power loss, not only a process crash (agents delete what the server acknowledged).
                        conn.execute(
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; \
                             PRAGMA foreign_keys=ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {}", redact_url(url)))?;
        migrate::run(&pool, kind).await?;
        Ok(Db {
            pool,
            kind,
            sqlite_writer: Default::default(),
            sealer: None,
        })
    }

    /// This database with the key that seals its secrets.
    pub fn with_sealer(self, sealer: sealed::Sealer) -> Db {
        Db {
            sealer: Some(std::sync::Arc::new(sealer)),
            ..self
        }
    }

    fn sealer(&self) -> anyhow::Result<&sealed::Sealer> {
        self.sealer
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("this database handle has no secrets key"))
    }

    /// Seals a secret for its slot `label` (table and row) before it is stored.
    pub fn seal(&self, label: &str, plain: &str) -> anyhow::Result<String> {
        self.sealer()?.seal(label, plain)
    }

    /// Opens a stored secret of slot `label` (one stored before sealing comes back as it is).
    pub fn open(&self, label: &str, stored: &str) -> anyhow::Result<String> {
        if !sealed::is_sealed(stored) {
            return Ok(stored.to_string());
        }
        self.sealer()?.open(label, stored)
    }

    /// Starts a write transaction. On SQLite it holds the process-wide writer lock until dropped.
    pub async fn begin_write(&self) -> anyhow::Result<WriteTx> {
        let guard = match self.kind {
            DbKind::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
            DbKind::Postgres => None,
        };
        let tx = self.pool.begin().await.context("starting a transaction")?;
        Ok(WriteTx { tx, _guard: guard })
    }

    /// `GREATEST`/`max` spelled for this backend (scalar two-argument form).
    pub fn greatest(&self) -> &'static str {
        match self.kind {
            DbKind::Sqlite => "max",
            DbKind::Postgres => "GREATEST",
        }
    }

    pub fn least(&self) -> &'static str {
        match self.kind {
            DbKind::Sqlite => "min",
            DbKind::Postgres => "LEAST",
        }
    }
}

/// A transaction plus (on SQLite) the writer lock.
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> anyhow::Result<()> {
        self.tx.commit().await.context("committing")?;
        Ok(())
    }
}

/// Whether a database error is a transient conflict worth retrying the whole transaction for
/// (PostgreSQL deadlock / serialisation failure, SQLite busy).
pub fn is_retryable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<sqlx::Error>().is_some_and(|e| match e {
            sqlx::Error::Database(d) => {
                matches!(
                    d.code().as_deref(),
                    Some("40P01") | Some("40001") | Some("5") | Some("6")
                ) || d.message().contains("database is locked")
            }
            sqlx::Error::PoolTimedOut => true,
            _ => false,
        })
    })
}

/// A URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Current time in epoch nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(super::redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}

//! The secrets stored in the database, at start-up: checks that the server's secrets key is the one that
//! sealed them (a replica started with another key stops here, before it seals anything), and seals in
//! place what an older version stored in clear (server keys, notification channels' settings).

use anyhow::Context;
use sqlx::Row;

use super::sealed::is_sealed;
use super::Db;

/// The server key that proves which secrets key sealed this database.
const KEY_CHECK: &str = "secrets-key-check";

/// The slot of a `server_keys` row.
pub fn server_key_label(name: &str) -> String {
    format!("server_keys:{name}")
}

/// The slot of a notification channel's settings.
pub fn channel_label(id: i64) -> String {
    format!("notification_channels:{id}")
}

/// Checks the key, then seals what is stored in clear. Run once at start-up, before serving.
pub async fn prepare(db: &Db) -> anyhow::Result<()> {
    check_key(db).await?;
    seal_in_place(db).await
}

async fn check_key(db: &Db) -> anyhow::Result<()> {
    let label = server_key_label(KEY_CHECK);
    sqlx::query(
        "INSERT INTO server_keys (name, secret, public, created_at) VALUES ($1, $2, '', $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(KEY_CHECK)
    .bind(db.seal(&label, "rampart")?)
    .bind(super::now_ns())
    .execute(&db.pool)
    .await?;
    let stored: String = sqlx::query("SELECT secret FROM server_keys WHERE name = $1")
        .bind(KEY_CHECK)
        .fetch_one(&db.pool)
        .await?
        .try_get("secret")?;
    db.open(&label, &stored).map(|_| ()).context(
        "the secrets key does not open this database's secrets: another key sealed them. Start every \
         server of this database with the same key file (--secrets-key-file; by default secrets.key in the \
         first server's data directory)",
    )
}

async fn seal_in_place(db: &Db) -> anyhow::Result<()> {
    let mut w = db.begin_write().await?;
    let mut sealed = 0;
    for r in sqlx::query("SELECT name, secret FROM server_keys")
        .fetch_all(&mut *w.tx)
        .await?
    {
        let (name, secret): (String, String) = (r.try_get("name")?, r.try_get("secret")?);
        if !is_sealed(&secret) {
            sqlx::query("UPDATE server_keys SET secret = $1 WHERE name = $2")
                .bind(db.seal(&server_key_label(&name), &secret)?)
                .bind(&name)
                .execute(&mut *w.tx)
                .await?;
            sealed += 1;
        }
    }
    for r in sqlx::query("SELECT id, config FROM notification_channels")
        .fetch_all(&mut *w.tx)
        .await?
    {
        let (id, config): (i64, String) = (r.try_get("id")?, r.try_get("config")?);
        if !is_sealed(&config) {
            sqlx::query("UPDATE notification_channels SET config = $1 WHERE id = $2")
                .bind(db.seal(&channel_label(id), &config)?)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            sealed += 1;
        }
    }
    w.commit().await?;
    if sealed > 0 {
        tracing::info!("sealed {sealed} secrets stored in clear by an earlier version");
    }
    Ok(())
}

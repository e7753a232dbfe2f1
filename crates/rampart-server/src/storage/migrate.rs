//! Migrations embedded in the binary, one directory per backend, run with sqlx's migrator at start-up.

use std::borrow::Cow;

use anyhow::Context;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::AnyPool;

use super::DbKind;

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../migrations/sqlite/0002_notifications.sql"),
    ),
    (
        3,
        "remote_config",
        include_str!("../../migrations/sqlite/0003_remote_config.sql"),
    ),
    (
        4,
        "profiles",
        include_str!("../../migrations/sqlite/0004_profiles.sql"),
    ),
    (5, "ui", include_str!("../../migrations/sqlite/0005_ui.sql")),
    (
        6,
        "agent_status",
        include_str!("../../migrations/sqlite/0006_agent_status.sql"),
    ),
    (
        7,
        "hostile_agents",
        include_str!("../../migrations/sqlite/0007_hostile_agents.sql"),
    ),
    (
        8,
        "audit_retention",
        include_str!("../../migrations/sqlite/0008_audit_retention.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../migrations/postgres/0002_notifications.sql"),
    ),
    (
        3,
        "remote_config",
        include_str!("../../migrations/postgres/0003_remote_config.sql"),
    ),
    (
        4,
        "profiles",
        include_str!("../../migrations/postgres/0004_profiles.sql"),
    ),
    (
        5,
        "ui",
        include_str!("../../migrations/postgres/0005_ui.sql"),
    ),
    (
        6,
        "agent_status",
        include_str!("../../migrations/postgres/0006_agent_status.sql"),
    ),
    (
        7,
        "hostile_agents",
        include_str!("../../migrations/postgres/0007_hostile_agents.sql"),
    ),
    (
        8,
        "audit_retention",
        include_str!("../../migrations/postgres/0008_audit_retention.sql"),
    ),
];

pub async fn run(pool: &AnyPool, kind: DbKind) -> anyhow::Result<()> {
    let files = match kind {
        DbKind::Sqlite => SQLITE,
        DbKind::Postgres => POSTGRES,
    };
    let migrations: Vec<Migration> = files
        .iter()
        .map(|(v, d, sql)| {
            Migration::new(
                *v,
                Cow::Borrowed(d),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    // The fields are what `sqlx::migrate!` fills in; building the migrator by hand avoids sqlx's macro crate.
    let migrator = Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    migrator
        .run(pool)
        .await
        .context("running database migrations")
}

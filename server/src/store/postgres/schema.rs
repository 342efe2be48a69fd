//! The PostgreSQL store's schema: forward-only migrations, each in its own transaction (DDL is
//! transactional in PostgreSQL: a migration that fails leaves the schema as it was), recorded in
//! `fieldsync_schema`. Instances starting at once take turns on an advisory lock, so each
//! migration runs once.

use tokio_postgres::Client;

/// The advisory lock migrations take (any number unique to fieldsync: "FSMIGRAT").
const MIGRATION_LOCK: i64 = 0x4653_4d49_4752_4154;

pub struct Migration {
    pub version: i32,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, sql: include_str!("schema/v1.sql") },
    Migration { version: 2, sql: include_str!("schema/v2.sql") },
];

pub const LATEST: i32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the database's schema is version {found}, newer than this server's {supported}: run the newer server")]
    Newer { found: i32, supported: i32 },
    #[error(
        "the database holds tables that are not a fieldsync store's (table {0}): give the server an empty database"
    )]
    Foreign(String),
    #[error("migrating the database failed: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

/// Brings the database to [`LATEST`]; returns the version it found.
pub async fn migrate(client: &mut Client) -> Result<i32, SchemaError> {
    migrate_to(client, LATEST).await
}

/// Brings the database to `target` (tests make databases of earlier versions with it); returns
/// the version it found.
#[doc(hidden)]
pub async fn migrate_to(client: &mut Client, target: i32) -> Result<i32, SchemaError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS fieldsync_schema (version INT NOT NULL, applied_at BIGINT NOT NULL)")
        .await?;
    let found: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM fieldsync_schema", &[]).await?.get(0);
    if found > LATEST {
        return Err(SchemaError::Newer { found, supported: LATEST });
    }
    if found == 0 {
        // A database for a new store must hold nothing else.
        let other = tx
            .query_opt(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name <> 'fieldsync_schema' LIMIT 1",
                &[],
            )
            .await?;
        if let Some(row) = other {
            return Err(SchemaError::Foreign(row.get(0)));
        }
    }
    tx.commit().await?;
    for m in MIGRATIONS.iter().filter(|m| m.version > found && m.version <= target) {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        // Another instance may have applied it while this one waited.
        let done: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM fieldsync_schema", &[]).await?.get(0);
        if done >= m.version {
            continue;
        }
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO fieldsync_schema (version, applied_at) VALUES ($1, $2)",
            &[&m.version, &crate::routes::now_ms()],
        )
        .await?;
        if m.version == 1 {
            // The store's identity: the server's automerge actor and the store's epoch.
            tx.execute(
                "INSERT INTO server_meta (key, value) VALUES ('actor', $1), ('epoch', $2) ON CONFLICT DO NOTHING",
                &[&fieldsync_core::ids::new_actor().to_bytes(), &crate::store::new_epoch().to_string().into_bytes()],
            )
            .await?;
        }
        tx.commit().await?;
        tracing::info!(version = m.version, "the PostgreSQL store's schema was migrated");
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_up_to_latest() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(LATEST));
    }
}

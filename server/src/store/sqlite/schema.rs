//! The server store's schema: forward-only migrations numbered by `PRAGMA user_version`, like the
//! device store's. A new database runs every migration from 0, so each version has one definition;
//! the tests below build a database at every earlier version and check that migrating it gives
//! exactly the schema of a new one, with its data kept.

use rusqlite::Connection;

/// "FSS1": marks a file as a fieldsync server store.
pub const APPLICATION_ID: i32 = 0x4653_5331;

pub struct Migration {
    pub version: u32,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, sql: include_str!("schema/v1.sql") },
    Migration { version: 2, sql: include_str!("schema/v2.sql") },
    Migration { version: 3, sql: include_str!("schema/v3.sql") },
    Migration { version: 4, sql: include_str!("schema/v4.sql") },
    Migration { version: 5, sql: include_str!("schema/v5.sql") },
    Migration { version: 6, sql: include_str!("schema/v6.sql") },
    Migration { version: 7, sql: include_str!("schema/v7.sql") },
    Migration { version: 8, sql: include_str!("schema/v8.sql") },
    Migration { version: 9, sql: include_str!("schema/v9.sql") },
    Migration { version: 10, sql: include_str!("schema/v10.sql") },
    Migration { version: 11, sql: include_str!("schema/v11.sql") },
];

pub const LATEST: u32 = 11;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the store was written by a newer server (schema {found}, this build knows {supported})")]
    Newer { found: u32, supported: u32 },
    #[error("the file is not a fieldsync server store")]
    Foreign,
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings the store to [`LATEST`] in one transaction, and gives a new store its automerge actor.
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    migrate_to(conn, LATEST)?;
    super::documents::ensure_server_actor(conn)?;
    Ok(())
}

/// Brings the store to `target` (tests build earlier versions with it).
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), SchemaError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app != 0 && app != APPLICATION_ID {
        return Err(SchemaError::Foreign);
    }
    if current > LATEST {
        return Err(SchemaError::Newer { found: current, supported: LATEST });
    }
    if current >= target {
        return Ok(());
    }
    let tx = conn.transaction()?;
    if current == 0 {
        drop_prerelease_documents(&tx)?;
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current && m.version <= target) {
        tx.execute_batch(m.sql)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(())
}

/// Development builds before the sync protocol kept documents in a `changes` table, in a shape no
/// release ever had; such documents are dropped (delete the data folder to re-seed the demo).
fn drop_prerelease_documents(conn: &Connection) -> rusqlite::Result<()> {
    let old: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes')
             OR (EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log')
                 AND NOT EXISTS (SELECT 1 FROM pragma_table_info('log') WHERE name = 'branch_id'))",
        [],
        |r| r.get(0),
    )?;
    if old {
        tracing::warn!("dropping documents from a pre-release development build");
        conn.execute_batch(
            "DROP TABLE IF EXISTS changes; DROP TABLE IF EXISTS log; DROP TABLE IF EXISTS documents;
             DROP TABLE IF EXISTS planned;",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'
                 ORDER BY type, name",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn migrations_are_numbered_in_order_up_to_latest() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, LATEST);
    }

    /// A store at each earlier version (with a user, a device and a token in it) migrates to
    /// exactly the schema of a new store, and keeps its rows.
    #[test]
    fn a_migrated_store_matches_a_new_one() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        for from in 1..LATEST {
            let mut old = Connection::open_in_memory().unwrap();
            migrate_to(&mut old, from).unwrap();
            // The rows as a server at that version wrote them (v2 binds devices and expires tokens).
            let (device, token) = if from < 2 {
                (
                    "INSERT INTO devices (device_id, user_id, registered_at) VALUES ('d1', 'u1', 5)",
                    "INSERT INTO tokens (token_hash, device_id, user_id, issued_at) VALUES (x'01', 'd1', 'u1', 7)",
                )
            } else {
                (
                    "INSERT INTO devices (device_id, user_id, registered_at, branch_id) VALUES ('d1', 'u1', 5, 'b1')",
                    "INSERT INTO tokens (token_hash, device_id, user_id, issued_at, expires_at)
                      VALUES (x'01', 'd1', 'u1', 7, 2592000007)",
                )
            };
            let photo_ref = if from < 3 {
                "INSERT INTO photo_refs (hash, customer_id) VALUES ('h1', 'c1')"
            } else {
                "INSERT INTO photo_refs (hash, manager_id, customer_id) VALUES ('h1', 'u1', 'c1')"
            };
            old.execute_batch(&format!(
                "INSERT INTO branches (id, name) VALUES ('b1', 'B');
                 INSERT INTO users (id, branch_id, username, display_name, role, password_hash)
                     VALUES ('u1', 'b1', 'wang', 'W', 'manager', 'h');
                 {device}; {token}; {photo_ref};"
            ))
            .unwrap();
            migrate(&mut old).unwrap();
            assert_eq!(schema_of(&old), schema_of(&fresh), "from v{from}");
            let (branch, expires): (String, i64) = old
                .query_row("SELECT d.branch_id, t.expires_at FROM devices d JOIN tokens t USING (device_id)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!((branch.as_str(), expires), ("b1", 7 + 30 * 24 * 3600 * 1000));
            // v3: references without their visit's manager cannot be attributed; the documents
            // record them again (`photos::adopt_unowned`).
            let refs: i64 = old.query_row("SELECT count(*) FROM photo_refs", [], |r| r.get(0)).unwrap();
            assert_eq!(refs, if from < 3 { 0 } else { 1 });
        }
    }

    #[test]
    fn a_newer_or_foreign_file_is_refused_unchanged() {
        let mut newer = Connection::open_in_memory().unwrap();
        newer.pragma_update(None, "user_version", LATEST + 1).unwrap();
        assert!(matches!(migrate(&mut newer), Err(SchemaError::Newer { .. })));
        let mut foreign = Connection::open_in_memory().unwrap();
        foreign.pragma_update(None, "application_id", 0x4653_4431).unwrap();
        assert!(matches!(migrate(&mut foreign), Err(SchemaError::Foreign)));
        assert_eq!(foreign.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0)).unwrap(), 0);
    }
}

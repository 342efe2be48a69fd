//! The device store's schema: forward-only migrations numbered by `PRAGMA user_version`.
//!
//! A new database runs every migration from 0, so there is one definition of each version; the
//! test in `tests/storage_files.rs` builds a database at every earlier version and checks that
//! migrating it gives exactly the schema of a new one, with the data kept.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// "FSD1": marks a file as a fieldsync device store, so another app's SQLite file is refused.
pub const APPLICATION_ID: i32 = 0x4653_4431;

/// One migration: the SQL taking the schema from `version - 1` to `version`.
pub struct Migration {
    pub version: u32,
    pub sql: &'static str,
    /// Projections that appear or change shape are rebuilt from the documents afterwards.
    pub rebuild_projections: bool,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, sql: include_str!("schema/v1.sql"), rebuild_projections: false },
    Migration { version: 2, sql: include_str!("schema/v2.sql"), rebuild_projections: true },
    Migration { version: 3, sql: include_str!("schema/v3.sql"), rebuild_projections: false },
    Migration { version: 4, sql: include_str!("schema/v4.sql"), rebuild_projections: true },
    Migration { version: 5, sql: include_str!("schema/v5.sql"), rebuild_projections: true },
    Migration { version: 6, sql: include_str!("schema/v6.sql"), rebuild_projections: true },
    Migration { version: 7, sql: include_str!("schema/v7.sql"), rebuild_projections: false },
];

pub const LATEST: u32 = 7;

/// Brings the database to [`LATEST`] in one transaction. Returns whether projections must be
/// rebuilt.
pub fn migrate(conn: &mut Connection) -> Result<bool> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(Error::NewerDatabase { found: current, supported: LATEST });
    }
    if current == LATEST {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    let mut rebuild = false;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sql)?;
        rebuild |= m.rebuild_projections && current > 0;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", LATEST)?;
    tx.commit()?;
    Ok(rebuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_up_to_latest() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, LATEST);
    }
}

//! The server's embedded SQLite store. Calls run on tokio's blocking pool so SQLite never blocks
//! the async runtime.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::error::AppError;

#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

impl Db {
    /// Opens (creating on first start) `server.db` in `data_dir`: WAL, synchronous=FULL, so an
    /// acknowledged write survives a crash.
    pub fn open(data_dir: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(data_dir.join("server.db"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        conn.execute_batch(crate::accounts::SCHEMA)?;
        drop_prerelease_documents(&conn)?;
        conn.execute_batch(crate::docs::SCHEMA)?;
        conn.execute_batch(crate::photos::SCHEMA)?;
        Ok(Db(Arc::new(Mutex::new(conn))))
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T: Send + 'static, E: Into<AppError> + Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn).map_err(Into::into)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    }

    /// Direct access for admin commands and tests (not from async code).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }
}

/// Development builds before the sync protocol kept documents in a `changes` table, in a shape no
/// release ever had; such documents are dropped (delete the data folder to re-seed the demo).
fn drop_prerelease_documents(conn: &Connection) -> rusqlite::Result<()> {
    let old: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes')",
        [],
        |r| r.get(0),
    )?;
    if old {
        tracing::warn!("dropping documents from a pre-release development build");
        conn.execute_batch("DROP TABLE changes; DROP TABLE IF EXISTS documents; ")?;
    }
    Ok(())
}

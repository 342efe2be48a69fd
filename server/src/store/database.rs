//! The store the server runs on: the embedded SQLite store (the default) or a PostgreSQL database
//! shared by several instances. Both offer the same calls; everything else in the server asks
//! this type, never one store in particular.

use std::path::Path;
use std::time::Duration;

use crate::accounts::{Device, User};
use crate::customers::PushError;
use crate::error::AppError;
use crate::store::postgres::db::{PgDb, PgOpenError};
use crate::store::{Db, Store, StoreError, StoreKey};
use crate::sync::Stats;

#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(Db),
    Postgres(PgDb),
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Sqlite(#[from] crate::store::OpenError),
    #[error(transparent)]
    Postgres(#[from] PgOpenError),
    #[error("{0}")]
    Setup(String),
}

impl From<Db> for Database {
    fn from(db: Db) -> Database {
        Database::Sqlite(db)
    }
}

impl From<&Db> for Database {
    fn from(db: &Db) -> Database {
        Database::Sqlite(db.clone())
    }
}

/// Write transactions from blocking code, on whichever store: what the admin commands, the demo
/// seed and the sweeps need.
pub trait WriteBlocking {
    fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E>;
}

impl WriteBlocking for Db {
    fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
        Db::write_blocking(self, f)
    }
}

impl WriteBlocking for PgDb {
    fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
        PgDb::write_blocking(self, f)
    }
}

impl WriteBlocking for Database {
    fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
        Database::write_blocking(self, f)
    }
}

impl Database {
    /// The PostgreSQL database at `url` when given, else the SQLite store in `data` (keyed with
    /// `key` when given). Connects and migrates; must be called inside a tokio runtime.
    pub async fn open(
        data: &Path,
        key: Option<&StoreKey>,
        url: Option<&str>,
        ca: Option<&Path>,
    ) -> Result<Database, DatabaseError> {
        match url {
            Some(url) => Ok(Database::Postgres(PgDb::open_with(url, ca).await?)),
            None => {
                let (data, key) = (data.to_path_buf(), key.cloned());
                let db = tokio::task::spawn_blocking(move || Db::open_keyed(&data, key.as_ref()))
                    .await
                    .map_err(|e| DatabaseError::Setup(e.to_string()))??;
                Ok(Database::Sqlite(db))
            }
        }
    }

    /// The SQLite store, if that is the one (backups of the data folder, tests).
    pub fn sqlite(&self) -> Option<&Db> {
        match self {
            Database::Sqlite(db) => Some(db),
            Database::Postgres(_) => None,
        }
    }

    /// Runs `f` on one consistent snapshot of the store. A panic inside fails this call only.
    pub async fn read<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        match self {
            Database::Sqlite(db) => db.read(f).await,
            Database::Postgres(db) => db.read(f).await,
        }
    }

    /// Runs `f` in one write transaction, committed when it succeeds.
    pub async fn write<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        match self {
            Database::Sqlite(db) => db.write(f).await,
            Database::Postgres(db) => db.write(f).await,
        }
    }

    /// [`Database::write`] from blocking code (admin commands, the demo seed, sweeps, tests).
    pub fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
        match self {
            Database::Sqlite(db) => db.write_blocking(f),
            Database::Postgres(db) => db.write_blocking(f),
        }
    }

    /// One sync round trip, from the request's body to the response's frame.
    pub async fn sync(
        &self,
        user: User,
        device: Device,
        body: axum::body::Bytes,
        now: i64,
    ) -> Result<(Vec<u8>, Stats), AppError> {
        match self {
            Database::Sqlite(db) => db.sync(user, device, body, now).await,
            Database::Postgres(db) => db.sync(user, device, body, now).await,
        }
    }

    /// One sync round trip from blocking code (the in-process transport of tests and tools).
    pub fn sync_blocking(
        &self,
        user: &User,
        device: &Device,
        decoded: impl Into<crate::sync::Decoded>,
        now: i64,
    ) -> Result<(fieldsync_core::sync::protocol::SyncResponse, Stats), PushError> {
        match self {
            Database::Sqlite(db) => db.sync_blocking(user, device, decoded, now),
            Database::Postgres(db) => db.sync_blocking(user, device, decoded, now),
        }
    }

    /// Whether the sync path takes work within `timeout` (for `/readyz`).
    pub async fn sync_path_alive(&self, timeout: Duration) -> bool {
        match self {
            Database::Sqlite(db) => db.sync_path_alive(timeout).await,
            Database::Postgres(db) => db.alive(timeout).await,
        }
    }

    /// PostgreSQL's pool and replicas; `None` for SQLite.
    pub async fn status(&self) -> Option<super::postgres::db::DatabaseStatus> {
        match self {
            Database::Sqlite(_) => None,
            Database::Postgres(db) => Some(db.status().await),
        }
    }

    /// The store's size on disk, bytes (the SQLite files in `data`, or the PostgreSQL database).
    pub async fn size(&self, data: &Path) -> u64 {
        match self {
            Database::Sqlite(_) => ["server.db", "server.db-wal"]
                .iter()
                .filter_map(|f| std::fs::metadata(data.join(f)).ok())
                .map(|m| m.len())
                .sum(),
            Database::Postgres(db) => db.size().await.unwrap_or(0),
        }
    }
}

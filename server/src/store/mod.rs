//! The server store's interface: everything the server keeps, behind one set of traits.
//!
//! Only `store::sqlite` (the embedded default) writes SQL; the rest of the server asks these
//! traits, so a second database implements them beside it. The traits are grouped by what they
//! keep:
//!
//! - [`DocumentStore`]: customer documents, the commit-ordered log devices pull from, projection
//!   rows, pool entries and planned visits;
//! - [`AccountStore`]: branches, outlets, users, devices and their actors, tokens, login failures
//!   and the audit trail;
//! - [`PhotoStore`]: photo blobs' metadata: references from visits, owners, uploads in flight;
//! - [`ReadModelStore`]: the supervisor pages' rows per branch, the visits' arrival facts and the
//!   branches' evidence thresholds;
//! - [`PageQueries`]: the supervisor pages' lists and figures, over the read models;
//! - [`SessionStore`]: the supervisor web app's browser sessions, and branches' time zones;
//! - [`PoolStore`]: the public pool's rules, every change of owner, and when customers are due
//!   back in the pool;
//! - [`DuplicateStore`]: each customer's phone and ID-number digest, for duplicate checks;
//! - [`StageStore`]: tier thresholds, asset snapshots and when customers turn dormant;
//! - [`ReminderStore`]: when the server writes each customer's next birthday reminder;
//! - [`CatalogStore`]: each branch's product catalog and its brochures;
//! - [`TerritoryStore`]: each branch's villages, their outlets and responsible managers;
//! - [`TargetStore`]: monthly targets and the progress counted against them;
//! - [`CampaignStore`]: campaigns, their members and how far they got.
//!
//! Every method runs inside a transaction the caller's runtime opened ([`Db::read`] and
//! [`Db::write`]): a whole request's reads see one snapshot, and its writes commit together or
//! not at all. Methods are synchronous: document work is CPU-bound and runs on the blocking pool.

pub mod accounts;
pub mod campaigns;
pub mod catalog;
pub mod database;
pub mod documents;
pub mod duplicates;
pub mod key;
pub mod pages;
pub mod photos;
pub mod pool;
pub mod postgres;
pub mod read_models;
pub mod reminders;
pub mod sessions;
pub mod sqlite;
pub mod stages;
pub mod targets;
pub mod territories;

pub use accounts::AccountStore;
pub use campaigns::CampaignStore;
pub use catalog::CatalogStore;
pub use database::{Database, WriteBlocking};
pub use documents::DocumentStore;
pub use duplicates::DuplicateStore;
pub use key::{KeyError, StoreKey};

/// A new store epoch: random, never 0 (0 is a device that has seen none).
pub fn new_epoch() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0.max(1)
}
pub use pages::PageQueries;
pub use photos::PhotoStore;
pub use pool::PoolStore;
pub use read_models::ReadModelStore;
pub use reminders::ReminderStore;
pub use sessions::SessionStore;
pub use sqlite::db::{Db, OpenError};
pub use sqlite::schema;
pub use stages::StageStore;
pub use targets::TargetStore;
pub use territories::TerritoryStore;

/// A failure of the store itself (never a refusal: those are the callers' errors). Messages name
/// tables and columns, never stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value that does not decode as this build expects.
    #[error("a stored {0} does not decode")]
    Corrupt(&'static str),
    /// PostgreSQL: the database's errors name tables, columns and constraints, never values
    /// (statements carry values as parameters, which errors do not echo).
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// PostgreSQL: a value that does not encode in its column's type.
    #[error("postgres: a value does not encode: {0}")]
    Encode(Box<dyn std::error::Error + Sync + Send>),
    /// No connection to the database could be had: the request may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the request failed because the database could not be reached or went away (a
    /// restart, a lost connection): retrying it later may succeed, and nothing was committed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Postgres(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| {
                        // Class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect
                        // now), 40001/40P01 (serialization failure, deadlock: retry).
                        let c = c.code();
                        c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01"
                    })
                    || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
            }
            _ => false,
        }
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Sqlite(e.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server keeps.
pub trait Store:
    DocumentStore
    + AccountStore
    + PhotoStore
    + ReadModelStore
    + PageQueries
    + SessionStore
    + PoolStore
    + DuplicateStore
    + StageStore
    + ReminderStore
    + CatalogStore
    + TerritoryStore
    + TargetStore
    + CampaignStore
{
}

impl<T> Store for T where
    T: DocumentStore
        + AccountStore
        + PhotoStore
        + ReadModelStore
        + PageQueries
        + SessionStore
        + PoolStore
        + DuplicateStore
        + StageStore
        + ReminderStore
        + CatalogStore
        + TerritoryStore
        + TargetStore
        + CampaignStore
        + ?Sized
{
}

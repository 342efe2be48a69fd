//! The crate's detailed error. Messages never contain personal data: they name fields and IDs
//! (device-minted UUIDs), never names, phone numbers or ID numbers.

use std::path::PathBuf;

use crate::domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),

    #[error("{field} is decided by the branch server; a tablet cannot write it")]
    ServerDecided { field: &'static str },

    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },

    #[error("{what} {id} already exists")]
    AlreadyExists { what: &'static str, id: String },

    #[error("a {entity} cannot move from {from} to {to}")]
    Transition { entity: &'static str, from: &'static str, to: &'static str },

    #[error("visit {in_progress} is still in progress; check out or abandon it first")]
    VisitInProgress { in_progress: String },

    #[error("{what} belongs to another manager")]
    NotYours { what: &'static str },

    #[error("no user is signed in on this store")]
    NotSignedIn,

    #[error("changes from another replica are corrupt: {reason}")]
    CorruptChanges { reason: String },

    #[error("changes for customer {customer_id} depend on {missing} change(s) this store does not have")]
    MissingDependencies { customer_id: String, missing: usize },

    #[error("customer document {customer_id} does not match the schema at {path}")]
    SchemaMismatch { customer_id: String, path: String },

    #[error("customer document {customer_id} has schema version {found}; this app reads up to {supported}")]
    NewerDocument { customer_id: String, found: u64, supported: u64 },

    #[error("the database could not be opened ({reason}); it was moved aside to {moved_to}, nothing was deleted")]
    Unreadable { reason: String, moved_to: PathBuf },

    #[error("the database could not be opened with this key; it was moved aside to {moved_to}, nothing was deleted")]
    WrongKey { moved_to: PathBuf },

    #[error("the database was written by a newer app (schema {found}, this app knows {supported}); update the app")]
    NewerDatabase { found: u32, supported: u32 },

    #[error("encryption keys must be 32 bytes")]
    BadKey,

    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),

    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<autosurgeon::ReconcileError> for Error {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        // Reconcile errors come from automerge or from a document of the wrong shape; neither
        // carries field values.
        match e {
            autosurgeon::ReconcileError::Automerge(a) => Error::Automerge(a),
            other => Error::SchemaMismatch { customer_id: String::new(), path: other.to_string() },
        }
    }
}

//! Sync with the branch server: the wire [`protocol`] and the sans-IO [`engine`] that drives a
//! sync session over any transport.

pub mod engine;
pub mod protocol;

pub use engine::{
    Rejection, RejectionKind, Reply, StoreAccess, SyncError, SyncOptions, SyncProgress, SyncReport, SyncSession,
    Transport, TransportError, run, run_in_steps,
};

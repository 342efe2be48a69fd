//! fieldsync-core: what runs on every tablet.
//!
//! - [`domain`]: typed customer files, validation and the actions that change them;
//! - [`document`]: one automerge document per customer, one commit per action;
//! - [`store`]: the device's SQLite store: documents, projections, queries, merge;
//! - [`sync`]: the sync protocol and the sans-IO engine that drives it;
//! - [`search`]: name search by Chinese characters and pinyin initials;
//! - [`workload`]: the reference workload and a deterministic branch generator, for benchmarks.

pub mod document;
pub mod domain;
pub mod error;
pub mod ids;
pub mod search;
pub mod store;
pub mod sync;
pub mod workload;

pub use error::{Error, Result};

// The domain's records and enums cross to Kotlin, Swift and Python in this namespace; the device
// object and its calls are fieldsync-ffi's.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("fieldsync_core");

//! fieldsync-server: the branch sync server and supervisor web app.
//!
//! - [`config`]: settings from a TOML file, the environment and the flags;
//! - [`error`]: the error type every handler returns, mapped to HTTP answers;
//! - [`routes`]: the router (`app`), built without a socket so tests drive it with `oneshot`;
//! - [`serve`]: binding, HTTP or HTTPS connections, graceful shutdown;
//! - [`tls`]: the certificate and key, reloaded on SIGHUP or change;
//! - [`data_lock`]: one server per data folder;
//! - [`backup`]: online backups of the store and its photos, and restoring them;
//! - [`metrics`]: what `/metrics` tells an operator.
//!
//! - [`accounts`]: branches, outlets, users, devices, login and revocation;
//! - [`store`]: the store's interface (every SQL statement lives in its SQLite implementation);
//! - [`customers`]: customer documents: validated pushes, snapshots, the commit-ordered log;
//! - [`doc_cache`]: hydrated documents kept between requests, keyed by version;
//! - [`sync`]: one sync round trip: pushes, claims, reconciliation, then the device's next page;
//! - [`in_process`]: that round trip as a sync transport in the same process (no sockets);
//! - [`photos`]: content-addressed photo blobs: resumable uploads, downloads by visibility;
//! - [`read_model`]: the supervisor pages' rows per branch and the visits' evidence flags;
//! - [`web`]: the supervisor web app (pages, sessions, review decisions);
//! - [`policy`]: who sees what (scopes) and who may write what (one table), with refusal reasons.

pub mod accounts;
pub mod backup;
pub mod campaigns;
pub mod catalog;
pub mod config;
pub mod customers;
pub mod data_lock;
pub mod demo;
pub mod doc_cache;
pub mod duplicates;
pub mod error;
pub mod in_process;
pub mod limits;
pub mod metrics;
pub mod migrate_store;
pub mod photos;
pub mod policy;
pub mod pool;
pub mod read_model;
pub mod reminders;
pub mod routes;
pub mod serve;
pub mod stages;
pub mod store;
pub mod sweeps;
pub mod sync;
pub mod targets;
pub mod territories;
pub mod tls;
pub mod web;

pub use config::Config;
pub use error::AppError;
pub use routes::{AppState, app};

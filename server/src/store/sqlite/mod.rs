//! The embedded SQLite store: the server's default, one file under the data folder.
//!
//! - [`db`]: connections (one writer, read-only readers), transactions and the group-commit
//!   thread;
//! - `readers`: the reader threads, each with its own connection, that run reads in order;
//! - [`schema`]: forward-only migrations numbered by `user_version`;
//! - `visibility`: the SQL twin of the one visibility rule;
//! - `documents`, `accounts`, `photos`, `read_models`, `pages`, `sessions`, `pool`, `duplicates`, `stages`, `reminders`, `catalog`, `territories`, `targets`, `campaigns`: the store traits implemented on a connection (inside the
//!   transaction [`db::Db`] opened).

pub mod db;
pub mod schema;

mod accounts;
mod campaigns;
mod catalog;
mod documents;
mod duplicates;
mod pages;
mod photos;
mod pool;
mod read_models;
mod readers;
mod reminders;
mod sessions;
mod stages;
mod targets;
mod territories;
pub(crate) mod visibility;

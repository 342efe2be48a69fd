//! [`crate::store::DocumentStore`] on SQLite.

use rusqlite::Connection;

impl crate::store::DocumentStore for Connection {}

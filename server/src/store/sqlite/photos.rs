//! [`crate::store::PhotoStore`] on SQLite.

use rusqlite::Connection;

impl crate::store::PhotoStore for Connection {}

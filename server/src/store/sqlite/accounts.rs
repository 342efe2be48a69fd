//! [`crate::store::AccountStore`] on SQLite.

use rusqlite::Connection;

impl crate::store::AccountStore for Connection {}

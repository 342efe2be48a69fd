//! [`crate::store::PhotoStore`] on SQLite.

use rusqlite::Connection;

use crate::store::StoreResult;

impl crate::store::PhotoStore for Connection {
    fn tmp_record_refs(&self, customer_id: &str, refs: &[(&str, &str)]) -> StoreResult<()> {
        Ok(crate::photos::record_refs(self, customer_id, refs.iter().copied())?)
    }
}

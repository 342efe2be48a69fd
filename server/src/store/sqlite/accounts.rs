//! [`crate::store::AccountStore`] on SQLite.

use rusqlite::Connection;

use crate::accounts::{AccountError, User};
use crate::store::{StoreError, StoreResult};

fn store_err(e: AccountError) -> StoreError {
    match e {
        AccountError::Store(e) => e,
        _ => StoreError::Corrupt("account"),
    }
}

impl crate::store::AccountStore for Connection {
    fn tmp_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        crate::accounts::user_by_id(self, user_id).map_err(store_err)
    }
    fn tmp_branch_named(&self, name: &str) -> StoreResult<bool> {
        Ok(self.prepare_cached("SELECT 1 FROM branches WHERE name = ?1")?.exists([name])?)
    }
    fn tmp_audit(&self, now: i64, actor: &str, action: &str, subject: &str) -> StoreResult<()> {
        crate::accounts::audit(self, now, actor, action, subject).map_err(store_err)
    }
}

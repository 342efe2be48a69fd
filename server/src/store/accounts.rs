//! The accounts part of the store's interface.

use crate::accounts::User;
use crate::store::StoreResult;

/// (Being filled in.)
pub trait AccountStore {
    fn tmp_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    fn tmp_branch_named(&self, name: &str) -> StoreResult<bool>;
    fn tmp_audit(&self, now: i64, actor: &str, action: &str, subject: &str) -> StoreResult<()>;
}

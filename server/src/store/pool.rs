//! The public pool's part of the store's interface: each branch's pool rules, every change of
//! owner as a row (the claim caps and the pages ask them), and when each owned customer is due
//! back in the pool. Written through [`crate::pool`].

use fieldsync_core::domain::{OwnerChange, PoolRules, RecycleDue};

use super::StoreResult;

/// A change of owner as the pages list it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerChangeRow {
    pub customer_id: String,
    pub change: OwnerChange,
}

pub trait PoolStore {
    /// A branch's rules and their version; `None` when the branch never set any.
    fn pool_rules(&self, branch_id: &str) -> StoreResult<Option<(PoolRules, i64)>>;

    fn set_pool_rules(&self, branch_id: &str, rules: &PoolRules, version: i64) -> StoreResult<()>;

    /// Records changes of owner not yet recorded (`key` as in the document's history).
    fn save_owner_changes(
        &self,
        customer_id: &str,
        branch_id: &str,
        changes: &[(&str, &OwnerChange)],
    ) -> StoreResult<()>;

    /// Whether a customer is locked, and when it is due back in the pool (`None`: never, or not
    /// owned).
    fn set_pool_state(
        &self,
        customer_id: &str,
        branch_id: &str,
        locked: bool,
        due: Option<&RecycleDue>,
    ) -> StoreResult<()>;

    /// What [`PoolStore::set_pool_state`] recorded: (locked, due).
    fn pool_state(&self, customer_id: &str) -> StoreResult<Option<(bool, Option<RecycleDue>)>>;

    /// Forgets a deleted customer's rows.
    fn pool_forget(&self, customer_id: &str) -> StoreResult<()>;

    /// Forgets every row (a rebuild writes them again from the documents).
    fn pool_clear(&self) -> StoreResult<()>;

    /// Claims `manager_id` won at or after `since`.
    fn claims_won_since(&self, manager_id: &str, since: i64) -> StoreResult<i64>;

    /// Customers `manager_id` serves now.
    fn owned_count(&self, branch_id: &str, manager_id: &str) -> StoreResult<i64>;

    /// The customers `manager_id` serves in `branch_id`.
    fn owned_by(&self, branch_id: &str, manager_id: &str) -> StoreResult<Vec<String>>;

    /// When `manager_id` last lost `customer_id` (to the pool or to someone else).
    fn last_lost(&self, manager_id: &str, customer_id: &str) -> StoreResult<Option<i64>>;

    /// Owned customers of a branch due back in the pool at `at`, earliest first, up to `limit`.
    fn pool_due_by(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>>;

    /// Branches with a customer due at `at`.
    fn branches_with_due(&self, at: i64) -> StoreResult<Vec<String>>;

    /// A customer's changes of owner, newest first.
    fn owner_changes_of(&self, customer_id: &str) -> StoreResult<Vec<OwnerChangeRow>>;
}

//! Territories' part of the store's interface: each village of a branch with its outlet and
//! responsible managers. Written through [`crate::territories`].

use fieldsync_core::domain::Territory;

use super::StoreResult;

pub trait TerritoryStore {
    /// A branch's villages with their outlet and managers, by village.
    fn territories(&self, branch_id: &str) -> StoreResult<Vec<Territory>>;

    /// When the branch's territories last changed (0: never).
    fn territories_version(&self, branch_id: &str) -> StoreResult<i64>;

    /// Sets a village's outlet and managers (no managers and no outlet: the village is
    /// forgotten, as a change at `at`).
    fn set_territory(&self, branch_id: &str, territory: &Territory, at: i64) -> StoreResult<()>;
}

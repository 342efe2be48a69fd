//! Tiers and lifecycle stages' part of the store's interface: each branch's thresholds and
//! dormancy period, each customer's latest asset snapshot, and when each customer's stage is
//! computed again. Written through [`crate::stages`].

use fieldsync_core::domain::CustomerRules;

use super::StoreResult;

pub trait StageStore {
    /// A branch's rules and their version (a settings version: see `crate::catalog`).
    fn customer_rules(&self, branch_id: &str) -> StoreResult<Option<(CustomerRules, i64)>>;

    fn set_customer_rules(&self, branch_id: &str, rules: &CustomerRules, version: i64) -> StoreResult<()>;

    /// The latest asset snapshot of a customer: (as of, assets in fen).
    fn asset_snapshot(&self, customer_id: &str) -> StoreResult<Option<(i64, i64)>>;

    fn save_asset_snapshot(&self, customer_id: &str, branch_id: &str, as_of: i64, assets_fen: i64) -> StoreResult<()>;

    /// The live customers of a branch whose ID-number digest is `id_key`.
    fn customers_with_id_key(&self, branch_id: &str, id_key: &str) -> StoreResult<Vec<String>>;

    /// When a customer's stage must be computed again (`None`: not until it changes).
    fn set_refresh_at(&self, customer_id: &str, branch_id: &str, at: Option<i64>) -> StoreResult<()>;

    /// A branch's customers whose stage is due to be computed again at `at`, earliest first.
    fn refresh_due(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>>;

    /// Branches with a stage due at `at`.
    fn branches_with_refresh(&self, at: i64) -> StoreResult<Vec<String>>;

    /// Forgets the derived rows (a rebuild writes them again; asset snapshots stay).
    fn clear_stage_state(&self) -> StoreResult<()>;
}

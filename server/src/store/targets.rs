//! Targets' part of the store's interface: each branch's monthly targets and the progress counted
//! from the read models. Written through [`crate::targets`].

use fieldsync_core::domain::Measures;

use super::StoreResult;

/// A manager's complaints of a month: (manager, received, handled in time, late).
pub type ComplaintCount = (String, i64, i64, i64);

pub trait TargetStore {
    /// Sets the target of `manager_id` (`""`: the branch's) for `month` (`2026-12`).
    fn set_target(&self, branch_id: &str, month: &str, manager_id: &str, target: &Measures) -> StoreResult<()>;

    /// A month's targets: (manager, or `""` for the branch; target).
    fn targets(&self, branch_id: &str, month: &str) -> StoreResult<Vec<(String, Measures)>>;

    /// What each manager did in `[from, to)`: completed visits (by who made them), new customers
    /// (by who serves them), leads won and their amount (by who opened them).
    fn done(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, Measures)>>;

    /// Visits returned by a reviewer in `[from, to)`, per manager who made them.
    fn returned_reviews(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, i64)>>;

    /// Complaints recorded in `[from, to)`, per manager serving the customer: (manager, received,
    /// handled within `limit_ms`, late: handled after it or still open past it at `now`).
    fn complaints(
        &self,
        branch_id: &str,
        from: i64,
        to: i64,
        limit_ms: i64,
        now: i64,
    ) -> StoreResult<Vec<ComplaintCount>>;

    /// Per village of the branch: its live customers, and those whose last visit fell in
    /// `[from, to)`.
    fn village_visits(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, i64, i64)>>;

    /// The same for one manager (indexed: asked with every manager's sync).
    fn done_by(&self, manager_id: &str, from: i64, to: i64) -> StoreResult<Measures>;
}

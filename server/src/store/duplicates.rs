//! The duplicate checks' part of the store's interface (查重): each live customer's canonical
//! phone and ID-number digest, and the pairs of a branch's customers that share one. Written
//! through [`crate::duplicates`].

use super::StoreResult;

/// Two customers of a branch sharing an ID number (`by_id`) or a phone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DuplicatePair {
    pub a: String,
    pub b: String,
    pub by_id: bool,
}

pub trait DuplicateStore {
    /// Records a customer's keys (`None`: none recorded).
    fn save_customer_keys(
        &self,
        customer_id: &str,
        branch_id: &str,
        phone: Option<&str>,
        id_key: Option<&str>,
    ) -> StoreResult<()>;

    fn forget_customer_keys(&self, customer_id: &str) -> StoreResult<()>;

    /// Forgets every row (a rebuild writes them again).
    fn clear_customer_keys(&self) -> StoreResult<()>;

    /// Pairs of `branch_id`'s customers sharing a key, ID matches first, up to `limit`.
    fn duplicate_pairs(&self, branch_id: &str, limit: u32) -> StoreResult<Vec<DuplicatePair>>;
}

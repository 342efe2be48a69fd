//! The photos part of the store's interface.

use crate::store::StoreResult;

/// (Being filled in.)
pub trait PhotoStore {
    fn tmp_record_refs(&self, customer_id: &str, refs: &[(&str, &str)]) -> StoreResult<()>;
}

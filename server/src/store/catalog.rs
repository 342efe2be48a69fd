//! The product catalog's part of the store's interface: each branch's products and their
//! brochures. Written through [`crate::catalog`].

use fieldsync_core::domain::CatalogProduct;

use super::StoreResult;

pub trait CatalogStore {
    /// A branch's active products, by ID.
    fn catalog(&self, branch_id: &str) -> StoreResult<Vec<CatalogProduct>>;

    /// When the branch's catalog last changed (0: never).
    fn catalog_version(&self, branch_id: &str) -> StoreResult<i64>;

    /// Adds or replaces a product (active).
    fn put_catalog_product(&self, branch_id: &str, product: &CatalogProduct, at: i64) -> StoreResult<()>;

    /// Withdraws a product; whether the branch had it active.
    fn remove_catalog_product(&self, branch_id: &str, product_id: &str, at: i64) -> StoreResult<bool>;

    fn save_catalog_file(&self, hash: &str, bytes: &[u8]) -> StoreResult<()>;

    /// A brochure an active product of `branch_id` names (`None` otherwise: another branch's
    /// file is not found).
    fn catalog_file(&self, branch_id: &str, hash: &str) -> StoreResult<Option<Vec<u8>>>;
}

//! [`CatalogStore`] on SQLite: `catalog_products` and `catalog_files` (schema v10).

use fieldsync_core::domain::CatalogProduct;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::catalog::CatalogStore;
use crate::store::{StoreError, StoreResult};

impl CatalogStore for Connection {
    fn catalog(&self, branch_id: &str) -> StoreResult<Vec<CatalogProduct>> {
        let mut stmt = self.prepare_cached(
            "SELECT product FROM catalog_products WHERE branch_id = ?1 AND active = 1 ORDER BY product_id",
        )?;
        let rows: Vec<String> = stmt.query_map([branch_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        rows.iter().map(|j| serde_json::from_str(j).map_err(|_| StoreError::Corrupt("catalog product"))).collect()
    }

    fn catalog_version(&self, branch_id: &str) -> StoreResult<i64> {
        Ok(self
            .prepare_cached("SELECT coalesce(max(updated_at), 0) FROM catalog_products WHERE branch_id = ?1")?
            .query_row([branch_id], |r| r.get(0))?)
    }

    fn put_catalog_product(&self, branch_id: &str, product: &CatalogProduct, at: i64) -> StoreResult<()> {
        let json = serde_json::to_string(product).map_err(|_| StoreError::Corrupt("catalog product"))?;
        self.prepare_cached(
            "INSERT INTO catalog_products (branch_id, product_id, product, active, updated_at) VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT (branch_id, product_id) DO UPDATE SET product = ?3, active = 1, updated_at = ?4",
        )?
        .execute(params![branch_id, product.id, json, at])?;
        Ok(())
    }

    fn remove_catalog_product(&self, branch_id: &str, product_id: &str, at: i64) -> StoreResult<bool> {
        let n = self
            .prepare_cached(
                "UPDATE catalog_products SET active = 0, updated_at = ?3
                 WHERE branch_id = ?1 AND product_id = ?2 AND active = 1",
            )?
            .execute(params![branch_id, product_id, at])?;
        Ok(n > 0)
    }

    fn save_catalog_file(&self, hash: &str, bytes: &[u8]) -> StoreResult<()> {
        self.prepare_cached("INSERT OR IGNORE INTO catalog_files (hash, bytes) VALUES (?1, ?2)")?
            .execute(params![hash, bytes])?;
        Ok(())
    }

    fn catalog_file(&self, branch_id: &str, hash: &str) -> StoreResult<Option<Vec<u8>>> {
        let named = self.catalog(branch_id)?.iter().any(|p| p.brochure.as_deref() == Some(hash));
        if !named {
            return Ok(None);
        }
        Ok(self
            .prepare_cached("SELECT bytes FROM catalog_files WHERE hash = ?1")?
            .query_row([hash], |r| r.get(0))
            .optional()?)
    }
}

//! [`CatalogStore`] on PostgreSQL, the twin of `store::sqlite::catalog`: `catalog_products` and
//! `catalog_files`.

use fieldsync_core::domain::CatalogProduct;

use super::PgStore;
use crate::store::catalog::CatalogStore;
use crate::store::{StoreError, StoreResult};

impl CatalogStore for PgStore<'_> {
    fn catalog(&self, branch_id: &str) -> StoreResult<Vec<CatalogProduct>> {
        let rows = self.query(
            "SELECT product FROM catalog_products WHERE branch_id = $1 AND active = 1 ORDER BY product_id",
            &[&branch_id],
        )?;
        let jsons = rows.iter().map(|r| r.try_get::<_, String>(0)).collect::<Result<Vec<_>, _>>()?;
        jsons.iter().map(|j| serde_json::from_str(j).map_err(|_| StoreError::Corrupt("catalog product"))).collect()
    }

    fn catalog_version(&self, branch_id: &str) -> StoreResult<i64> {
        self.remembered("catalog_products", "catalog version", branch_id, || {
            let row = self.query_one(
                "SELECT coalesce(max(updated_at), 0) FROM catalog_products WHERE branch_id = $1",
                &[&branch_id],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn put_catalog_product(&self, branch_id: &str, product: &CatalogProduct, at: i64) -> StoreResult<()> {
        let json = serde_json::to_string(product).map_err(|_| StoreError::Corrupt("catalog product"))?;
        self.execute(
            "INSERT INTO catalog_products (branch_id, product_id, product, active, updated_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (branch_id, product_id) DO UPDATE
                 SET product = excluded.product, active = 1, updated_at = excluded.updated_at",
            &[&branch_id, &product.id, &json, &at],
        )?;
        Ok(())
    }

    fn remove_catalog_product(&self, branch_id: &str, product_id: &str, at: i64) -> StoreResult<bool> {
        let n = self.execute(
            "UPDATE catalog_products SET active = 0, updated_at = $3
             WHERE branch_id = $1 AND product_id = $2 AND active = 1",
            &[&branch_id, &product_id, &at],
        )?;
        Ok(n > 0)
    }

    fn save_catalog_file(&self, hash: &str, bytes: &[u8]) -> StoreResult<()> {
        self.execute(
            "INSERT INTO catalog_files (hash, bytes) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
            &[&hash, &bytes],
        )?;
        Ok(())
    }

    fn catalog_file(&self, branch_id: &str, hash: &str) -> StoreResult<Option<Vec<u8>>> {
        let named = self.catalog(branch_id)?.iter().any(|p| p.brochure.as_deref() == Some(hash));
        if !named {
            return Ok(None);
        }
        let row = self.query_opt("SELECT bytes FROM catalog_files WHERE hash = $1", &[&hash])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

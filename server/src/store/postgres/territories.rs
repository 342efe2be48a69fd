//! [`TerritoryStore`] on PostgreSQL, the twin of `store::sqlite::territories`: `territories`.

use fieldsync_core::domain::Territory;

use super::PgStore;
use crate::store::territories::TerritoryStore;
use crate::store::{StoreError, StoreResult};

impl TerritoryStore for PgStore<'_> {
    fn territories(&self, branch_id: &str) -> StoreResult<Vec<Territory>> {
        let rows = self.query(
            "SELECT village, outlet_id, manager_ids FROM territories
             WHERE branch_id = $1 AND (outlet_id IS NOT NULL OR manager_ids <> '[]') ORDER BY village",
            &[&branch_id],
        )?;
        rows.iter()
            .map(|r| {
                let village: String = r.try_get(0)?;
                let outlet_id: Option<String> = r.try_get(1)?;
                let ids: String = r.try_get(2)?;
                let manager_ids = serde_json::from_str(&ids).map_err(|_| StoreError::Corrupt("territory managers"))?;
                Ok(Territory { village, outlet_id, manager_ids })
            })
            .collect()
    }

    fn territories_version(&self, branch_id: &str) -> StoreResult<i64> {
        self.remembered("territories", "territories version", branch_id, || {
            let row = self.query_one(
                "SELECT coalesce(max(updated_at), 0) FROM territories WHERE branch_id = $1",
                &[&branch_id],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn set_territory(&self, branch_id: &str, territory: &Territory, at: i64) -> StoreResult<()> {
        let ids = serde_json::to_string(&territory.manager_ids).map_err(|_| StoreError::Corrupt("territory"))?;
        self.execute(
            "INSERT INTO territories (branch_id, village, outlet_id, manager_ids, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (branch_id, village) DO UPDATE
                 SET outlet_id = excluded.outlet_id, manager_ids = excluded.manager_ids, updated_at = excluded.updated_at",
            &[&branch_id, &territory.village, &territory.outlet_id, &ids, &at],
        )?;
        Ok(())
    }
}

//! [`TerritoryStore`] on SQLite: `territories` (schema v10).

use fieldsync_core::domain::Territory;
use rusqlite::{Connection, params};

use crate::store::territories::TerritoryStore;
use crate::store::{StoreError, StoreResult};

impl TerritoryStore for Connection {
    fn territories(&self, branch_id: &str) -> StoreResult<Vec<Territory>> {
        let mut stmt = self.prepare_cached(
            "SELECT village, outlet_id, manager_ids FROM territories
             WHERE branch_id = ?1 AND (outlet_id IS NOT NULL OR manager_ids <> '[]') ORDER BY village",
        )?;
        let rows = stmt.query_map([branch_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?))
        })?;
        rows.map(|row| {
            let (village, outlet_id, ids) = row?;
            let manager_ids = serde_json::from_str(&ids).map_err(|_| StoreError::Corrupt("territory managers"))?;
            Ok(Territory { village, outlet_id, manager_ids })
        })
        .collect()
    }

    fn territories_version(&self, branch_id: &str) -> StoreResult<i64> {
        Ok(self
            .prepare_cached("SELECT coalesce(max(updated_at), 0) FROM territories WHERE branch_id = ?1")?
            .query_row([branch_id], |r| r.get(0))?)
    }

    fn set_territory(&self, branch_id: &str, territory: &Territory, at: i64) -> StoreResult<()> {
        let ids = serde_json::to_string(&territory.manager_ids).map_err(|_| StoreError::Corrupt("territory"))?;
        self.prepare_cached(
            "INSERT INTO territories (branch_id, village, outlet_id, manager_ids, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (branch_id, village) DO UPDATE SET outlet_id = ?3, manager_ids = ?4, updated_at = ?5",
        )?
        .execute(params![branch_id, territory.village, territory.outlet_id, ids, at])?;
        Ok(())
    }
}

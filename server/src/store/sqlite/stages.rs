//! [`StageStore`] on SQLite: `branch_customer_rules`, `asset_snapshots`, `stage_state` (v10).

use fieldsync_core::domain::CustomerRules;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::stages::StageStore;
use crate::store::{StoreError, StoreResult};

impl StageStore for Connection {
    fn customer_rules(&self, branch_id: &str) -> StoreResult<Option<(CustomerRules, i64)>> {
        let row: Option<(String, i64)> = self
            .prepare_cached("SELECT rules, version FROM branch_customer_rules WHERE branch_id = ?1")?
            .query_row([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(j, v)| Ok((serde_json::from_str(&j).map_err(|_| StoreError::Corrupt("customer rules"))?, v)))
            .transpose()
    }

    fn set_customer_rules(&self, branch_id: &str, rules: &CustomerRules, version: i64) -> StoreResult<()> {
        let json = serde_json::to_string(rules).map_err(|_| StoreError::Corrupt("customer rules"))?;
        self.prepare_cached(
            "INSERT INTO branch_customer_rules (branch_id, rules, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (branch_id) DO UPDATE SET rules = ?2, version = ?3",
        )?
        .execute(params![branch_id, json, version])?;
        Ok(())
    }

    fn asset_snapshot(&self, customer_id: &str) -> StoreResult<Option<(i64, i64)>> {
        Ok(self
            .prepare_cached("SELECT as_of, assets_fen FROM asset_snapshots WHERE customer_id = ?1")?
            .query_row([customer_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn save_asset_snapshot(&self, customer_id: &str, branch_id: &str, as_of: i64, assets_fen: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO asset_snapshots (customer_id, branch_id, as_of, assets_fen) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (customer_id) DO UPDATE SET branch_id = ?2, as_of = ?3, assets_fen = ?4",
        )?
        .execute(params![customer_id, branch_id, as_of, assets_fen])?;
        Ok(())
    }

    fn customers_with_id_key(&self, branch_id: &str, id_key: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id FROM customer_keys WHERE branch_id = ?1 AND id_key = ?2 ORDER BY customer_id",
        )?;
        let ids = stmt.query_map(params![branch_id, id_key], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn set_refresh_at(&self, customer_id: &str, branch_id: &str, at: Option<i64>) -> StoreResult<()> {
        match at {
            Some(at) => self
                .prepare_cached(
                    "INSERT INTO stage_state (customer_id, branch_id, refresh_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (customer_id) DO UPDATE SET branch_id = ?2, refresh_at = ?3
                     WHERE (branch_id, refresh_at) IS NOT (?2, ?3)",
                )?
                .execute(params![customer_id, branch_id, at])?,
            None => self.prepare_cached("DELETE FROM stage_state WHERE customer_id = ?1")?.execute([customer_id])?,
        };
        Ok(())
    }

    fn refresh_due(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id FROM stage_state WHERE branch_id = ?1 AND refresh_at <= ?2
             ORDER BY refresh_at, customer_id LIMIT ?3",
        )?;
        let ids = stmt.query_map(params![branch_id, at, limit], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn branches_with_refresh(&self, at: i64) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached("SELECT DISTINCT branch_id FROM stage_state WHERE refresh_at <= ?1")?;
        let ids = stmt.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn clear_stage_state(&self) -> StoreResult<()> {
        self.execute_batch("DELETE FROM stage_state")?;
        Ok(())
    }
}

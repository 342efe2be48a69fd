//! [`StageStore`] on PostgreSQL, the twin of `store::sqlite::stages`: `branch_customer_rules`,
//! `asset_snapshots`, `stage_state`.

use fieldsync_core::domain::CustomerRules;

use super::PgStore;
use crate::store::stages::StageStore;
use crate::store::{StoreError, StoreResult};

impl StageStore for PgStore<'_> {
    fn customer_rules(&self, branch_id: &str) -> StoreResult<Option<(CustomerRules, i64)>> {
        self.remembered("branch_customer_rules", "customer rules", branch_id, || {
            let Some(row) =
                self.query_opt("SELECT rules, version FROM branch_customer_rules WHERE branch_id = $1", &[&branch_id])?
            else {
                return Ok(None);
            };
            let json: String = row.try_get(0)?;
            let version: i64 = row.try_get(1)?;
            let rules = serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("customer rules"))?;
            Ok(Some((rules, version)))
        })
    }

    fn set_customer_rules(&self, branch_id: &str, rules: &CustomerRules, version: i64) -> StoreResult<()> {
        let json = serde_json::to_string(rules).map_err(|_| StoreError::Corrupt("customer rules"))?;
        self.execute(
            "INSERT INTO branch_customer_rules (branch_id, rules, version) VALUES ($1, $2, $3)
             ON CONFLICT (branch_id) DO UPDATE SET rules = excluded.rules, version = excluded.version",
            &[&branch_id, &json, &version],
        )?;
        Ok(())
    }

    fn asset_snapshot(&self, customer_id: &str) -> StoreResult<Option<(i64, i64)>> {
        let row =
            self.query_opt("SELECT as_of, assets_fen FROM asset_snapshots WHERE customer_id = $1", &[&customer_id])?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    fn save_asset_snapshot(&self, customer_id: &str, branch_id: &str, as_of: i64, assets_fen: i64) -> StoreResult<()> {
        self.write(
            "INSERT INTO asset_snapshots (customer_id, branch_id, as_of, assets_fen) VALUES ($1, $2, $3, $4)
             ON CONFLICT (customer_id) DO UPDATE
                 SET branch_id = excluded.branch_id, as_of = excluded.as_of, assets_fen = excluded.assets_fen",
            &[&customer_id, &branch_id, &as_of, &assets_fen],
        )?;
        Ok(())
    }

    fn customers_with_id_key(&self, branch_id: &str, id_key: &str) -> StoreResult<Vec<String>> {
        let rows = self.query(
            "SELECT customer_id FROM customer_keys WHERE branch_id = $1 AND id_key = $2 ORDER BY customer_id",
            &[&branch_id, &id_key],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn set_refresh_at(&self, customer_id: &str, branch_id: &str, at: Option<i64>) -> StoreResult<()> {
        match at {
            // As on SQLite, a row already holding these values is left alone.
            Some(at) => self.execute(
                "INSERT INTO stage_state (customer_id, branch_id, refresh_at) VALUES ($1, $2, $3)
                 ON CONFLICT (customer_id) DO UPDATE SET branch_id = excluded.branch_id, refresh_at = excluded.refresh_at
                 WHERE (stage_state.branch_id, stage_state.refresh_at)
                       IS DISTINCT FROM (excluded.branch_id, excluded.refresh_at)",
                &[&customer_id, &branch_id, &at],
            )?,
            None => self.execute("DELETE FROM stage_state WHERE customer_id = $1", &[&customer_id])?,
        };
        Ok(())
    }

    fn refresh_due(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>> {
        let rows = self.query(
            "SELECT customer_id FROM stage_state WHERE branch_id = $1 AND refresh_at <= $2
             ORDER BY refresh_at, customer_id LIMIT $3",
            &[&branch_id, &at, &i64::from(limit)],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn branches_with_refresh(&self, at: i64) -> StoreResult<Vec<String>> {
        // SQLite answers from the index `stage_state_due (branch_id, refresh_at)`, so by branch:
        // said here, as PostgreSQL's DISTINCT promises no order.
        let rows =
            self.query("SELECT DISTINCT branch_id FROM stage_state WHERE refresh_at <= $1 ORDER BY branch_id", &[&at])?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn clear_stage_state(&self) -> StoreResult<()> {
        self.batch("DELETE FROM stage_state")
    }
}

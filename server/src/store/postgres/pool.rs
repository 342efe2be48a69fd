//! [`PoolStore`] on PostgreSQL, the twin of `store::sqlite::pool`: `branch_pool_rules`,
//! `owner_changes` and `pool_state`.

use fieldsync_core::domain::{Owner, OwnerChange, OwnerChangeReason, PoolRules, RecycleCause, RecycleDue};

use super::PgStore;
use crate::store::pool::{OwnerChangeRow, PoolStore};
use crate::store::{StoreError, StoreResult};

impl PoolStore for PgStore<'_> {
    fn pool_rules(&self, branch_id: &str) -> StoreResult<Option<(PoolRules, i64)>> {
        self.remembered("branch_pool_rules", "pool rules", branch_id, || {
            let Some(row) =
                self.query_opt("SELECT rules, version FROM branch_pool_rules WHERE branch_id = $1", &[&branch_id])?
            else {
                return Ok(None);
            };
            let json: String = row.try_get(0)?;
            let version: i64 = row.try_get(1)?;
            let rules = serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("pool rules"))?;
            Ok(Some((rules, version)))
        })
    }

    fn set_pool_rules(&self, branch_id: &str, rules: &PoolRules, version: i64) -> StoreResult<()> {
        let json = serde_json::to_string(rules).map_err(|_| StoreError::Corrupt("pool rules"))?;
        self.execute(
            "INSERT INTO branch_pool_rules (branch_id, rules, version) VALUES ($1, $2, $3)
             ON CONFLICT (branch_id) DO UPDATE SET rules = excluded.rules, version = excluded.version",
            &[&branch_id, &json, &version],
        )?;
        Ok(())
    }

    fn save_owner_changes(
        &self,
        customer_id: &str,
        branch_id: &str,
        changes: &[(&str, &OwnerChange)],
    ) -> StoreResult<()> {
        for (key, c) in changes {
            self.write(
                "INSERT INTO owner_changes
                     (customer_id, change_key, branch_id, from_id, from_name, to_id, to_name, reason, by_id, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT DO NOTHING",
                &[
                    &customer_id,
                    key,
                    &branch_id,
                    &c.from.manager_id,
                    &c.from.manager_name,
                    &c.to.manager_id,
                    &c.to.manager_name,
                    &c.reason.code(),
                    &c.by,
                    &c.at,
                ],
            )?;
        }
        Ok(())
    }

    fn set_pool_state(
        &self,
        customer_id: &str,
        branch_id: &str,
        locked: bool,
        due: Option<&RecycleDue>,
    ) -> StoreResult<()> {
        // As on SQLite, a row already holding these values is left alone.
        self.write(
            "INSERT INTO pool_state (customer_id, branch_id, locked, due_at, warn_at, cause)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (customer_id) DO UPDATE SET branch_id = excluded.branch_id, locked = excluded.locked,
                 due_at = excluded.due_at, warn_at = excluded.warn_at, cause = excluded.cause
             WHERE (pool_state.branch_id, pool_state.locked, pool_state.due_at, pool_state.warn_at, pool_state.cause)
                   IS DISTINCT FROM (excluded.branch_id, excluded.locked, excluded.due_at, excluded.warn_at, excluded.cause)",
            &[
                &customer_id,
                &branch_id,
                &i64::from(locked),
                &due.map(|d| d.at),
                &due.map(|d| d.warn_from),
                &due.map(|d| d.cause.code()),
            ],
        )?;
        Ok(())
    }

    fn pool_state(&self, customer_id: &str) -> StoreResult<Option<(bool, Option<RecycleDue>)>> {
        let Some(row) = self.query_opt(
            "SELECT locked, due_at, warn_at, cause FROM pool_state WHERE customer_id = $1",
            &[&customer_id],
        )?
        else {
            return Ok(None);
        };
        let locked = row.try_get::<_, i64>(0)? != 0;
        let due_at: Option<i64> = row.try_get(1)?;
        let warn_at: Option<i64> = row.try_get(2)?;
        let cause: Option<String> = row.try_get(3)?;
        let due = match (due_at, warn_at, cause) {
            (Some(at), Some(warn_from), Some(cause)) => Some(RecycleDue {
                at,
                warn_from,
                cause: RecycleCause::from_code(&cause).ok_or(StoreError::Corrupt("recycle cause"))?,
            }),
            _ => None,
        };
        Ok(Some((locked, due)))
    }

    fn pool_forget(&self, customer_id: &str) -> StoreResult<()> {
        self.write("DELETE FROM pool_state WHERE customer_id = $1", &[&customer_id])?;
        Ok(())
    }

    fn pool_clear(&self) -> StoreResult<()> {
        self.batch("DELETE FROM owner_changes; DELETE FROM pool_state;")
    }

    fn claims_won_since(&self, manager_id: &str, since: i64) -> StoreResult<i64> {
        let row = self.query_one(
            "SELECT count(*) FROM owner_changes WHERE to_id = $1 AND reason = 'claimed' AND at >= $2",
            &[&manager_id, &since],
        )?;
        Ok(row.try_get(0)?)
    }

    fn owned_count(&self, branch_id: &str, manager_id: &str) -> StoreResult<i64> {
        let row = self.query_one(
            "SELECT count(*) FROM documents WHERE branch_id = $1 AND scope = 'm:' || $2::text",
            &[&branch_id, &manager_id],
        )?;
        Ok(row.try_get(0)?)
    }

    fn owned_by(&self, branch_id: &str, manager_id: &str) -> StoreResult<Vec<String>> {
        let rows = self.query(
            "SELECT customer_id FROM documents WHERE branch_id = $1 AND scope = 'm:' || $2::text ORDER BY customer_id",
            &[&branch_id, &manager_id],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn last_lost(&self, manager_id: &str, customer_id: &str) -> StoreResult<Option<i64>> {
        let row = self.query_one(
            "SELECT max(at) FROM owner_changes WHERE from_id = $1 AND customer_id = $2",
            &[&manager_id, &customer_id],
        )?;
        Ok(row.try_get(0)?)
    }

    fn pool_due_by(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>> {
        let rows = self.query(
            "SELECT customer_id FROM pool_state WHERE branch_id = $1 AND due_at IS NOT NULL AND due_at <= $2
             ORDER BY due_at, customer_id LIMIT $3",
            &[&branch_id, &at, &i64::from(limit)],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn branches_with_due(&self, at: i64) -> StoreResult<Vec<String>> {
        // SQLite answers from the index `pool_state_due (branch_id, due_at)`, so by branch: said
        // here, as PostgreSQL's DISTINCT promises no order.
        let rows = self.query(
            "SELECT DISTINCT branch_id FROM pool_state WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY branch_id",
            &[&at],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn owner_changes_of(&self, customer_id: &str) -> StoreResult<Vec<OwnerChangeRow>> {
        let rows = self.query(
            "SELECT from_id, from_name, to_id, to_name, reason, by_id, at FROM owner_changes
             WHERE customer_id = $1 ORDER BY change_key DESC",
            &[&customer_id],
        )?;
        rows.iter()
            .map(|r| {
                let from = Owner { manager_id: r.try_get(0)?, manager_name: r.try_get(1)? };
                let to = Owner { manager_id: r.try_get(2)?, manager_name: r.try_get(3)? };
                let reason: String = r.try_get(4)?;
                let by: String = r.try_get(5)?;
                let at: i64 = r.try_get(6)?;
                let reason = OwnerChangeReason::from_code(&reason).ok_or(StoreError::Corrupt("owner change reason"))?;
                Ok(OwnerChangeRow {
                    customer_id: customer_id.to_string(),
                    change: OwnerChange { from, to, reason, by, at },
                })
            })
            .collect()
    }
}

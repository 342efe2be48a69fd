//! [`PoolStore`] on SQLite: `branch_pool_rules`, `owner_changes` and `pool_state` (schema v10).

use fieldsync_core::domain::{Owner, OwnerChange, OwnerChangeReason, PoolRules, RecycleCause, RecycleDue};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::pool::{OwnerChangeRow, PoolStore};
use crate::store::{StoreError, StoreResult};

impl PoolStore for Connection {
    fn pool_rules(&self, branch_id: &str) -> StoreResult<Option<(PoolRules, i64)>> {
        let row: Option<(String, i64)> = self
            .prepare_cached("SELECT rules, version FROM branch_pool_rules WHERE branch_id = ?1")?
            .query_row([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(json, version)| {
            serde_json::from_str(&json).map(|rules| (rules, version)).map_err(|_| StoreError::Corrupt("pool rules"))
        })
        .transpose()
    }

    fn set_pool_rules(&self, branch_id: &str, rules: &PoolRules, version: i64) -> StoreResult<()> {
        let json = serde_json::to_string(rules).map_err(|_| StoreError::Corrupt("pool rules"))?;
        self.prepare_cached(
            "INSERT INTO branch_pool_rules (branch_id, rules, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (branch_id) DO UPDATE SET rules = ?2, version = ?3",
        )?
        .execute(params![branch_id, json, version])?;
        Ok(())
    }

    fn save_owner_changes(
        &self,
        customer_id: &str,
        branch_id: &str,
        changes: &[(&str, &OwnerChange)],
    ) -> StoreResult<()> {
        let mut stmt = self.prepare_cached(
            "INSERT OR IGNORE INTO owner_changes
                 (customer_id, change_key, branch_id, from_id, from_name, to_id, to_name, reason, by_id, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for (key, c) in changes {
            stmt.execute(params![
                customer_id,
                key,
                branch_id,
                c.from.manager_id,
                c.from.manager_name,
                c.to.manager_id,
                c.to.manager_name,
                c.reason.code(),
                c.by,
                c.at
            ])?;
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
        self.prepare_cached(
            "INSERT INTO pool_state (customer_id, branch_id, locked, due_at, warn_at, cause)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (customer_id) DO UPDATE SET branch_id = ?2, locked = ?3, due_at = ?4, warn_at = ?5, cause = ?6
             WHERE (branch_id, locked, due_at, warn_at, cause) IS NOT (?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            customer_id,
            branch_id,
            locked,
            due.map(|d| d.at),
            due.map(|d| d.warn_from),
            due.map(|d| d.cause.code())
        ])?;
        Ok(())
    }

    fn pool_state(&self, customer_id: &str) -> StoreResult<Option<(bool, Option<RecycleDue>)>> {
        let row = self
            .prepare_cached("SELECT locked, due_at, warn_at, cause FROM pool_state WHERE customer_id = ?1")?
            .query_row([customer_id], |r| {
                let cause: Option<String> = r.get(3)?;
                Ok((r.get::<_, bool>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<i64>>(2)?, cause))
            })
            .optional()?;
        let Some((locked, due_at, warn_at, cause)) = row else { return Ok(None) };
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
        self.prepare_cached("DELETE FROM pool_state WHERE customer_id = ?1")?.execute([customer_id])?;
        Ok(())
    }

    fn pool_clear(&self) -> StoreResult<()> {
        self.execute_batch("DELETE FROM owner_changes; DELETE FROM pool_state;")?;
        Ok(())
    }

    fn claims_won_since(&self, manager_id: &str, since: i64) -> StoreResult<i64> {
        Ok(self
            .prepare_cached("SELECT count(*) FROM owner_changes WHERE to_id = ?1 AND reason = 'claimed' AND at >= ?2")?
            .query_row(params![manager_id, since], |r| r.get(0))?)
    }

    fn owned_count(&self, branch_id: &str, manager_id: &str) -> StoreResult<i64> {
        Ok(self
            .prepare_cached("SELECT count(*) FROM documents WHERE branch_id = ?1 AND scope = 'm:' || ?2")?
            .query_row(params![branch_id, manager_id], |r| r.get(0))?)
    }

    fn owned_by(&self, branch_id: &str, manager_id: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id FROM documents WHERE branch_id = ?1 AND scope = 'm:' || ?2 ORDER BY customer_id",
        )?;
        let ids = stmt.query_map(params![branch_id, manager_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn last_lost(&self, manager_id: &str, customer_id: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .prepare_cached("SELECT max(at) FROM owner_changes WHERE from_id = ?1 AND customer_id = ?2")?
            .query_row(params![manager_id, customer_id], |r| r.get(0))?)
    }

    fn pool_due_by(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id FROM pool_state WHERE branch_id = ?1 AND due_at IS NOT NULL AND due_at <= ?2
             ORDER BY due_at, customer_id LIMIT ?3",
        )?;
        let ids = stmt.query_map(params![branch_id, at, limit], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn branches_with_due(&self, at: i64) -> StoreResult<Vec<String>> {
        let mut stmt =
            self.prepare_cached("SELECT DISTINCT branch_id FROM pool_state WHERE due_at IS NOT NULL AND due_at <= ?1")?;
        let ids = stmt.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn owner_changes_of(&self, customer_id: &str) -> StoreResult<Vec<OwnerChangeRow>> {
        let mut stmt = self.prepare_cached(
            "SELECT from_id, from_name, to_id, to_name, reason, by_id, at FROM owner_changes
             WHERE customer_id = ?1 ORDER BY change_key DESC",
        )?;
        let rows = stmt.query_map([customer_id], |r| {
            let reason: String = r.get(4)?;
            Ok((
                Owner { manager_id: r.get(0)?, manager_name: r.get(1)? },
                Owner { manager_id: r.get(2)?, manager_name: r.get(3)? },
                reason,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (from, to, reason, by, at) = row?;
            let reason = OwnerChangeReason::from_code(&reason).ok_or(StoreError::Corrupt("owner change reason"))?;
            Ok(OwnerChangeRow {
                customer_id: customer_id.to_string(),
                change: OwnerChange { from, to, reason, by, at },
            })
        })
        .collect()
    }
}

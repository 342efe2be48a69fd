//! [`TargetStore`] on SQLite: `targets`, and the progress counted from `rm_visits`,
//! `rm_customers` and `rm_leads` (schema v10).

use std::collections::BTreeMap;

use fieldsync_core::domain::Measures;
use rusqlite::{Connection, params};

use crate::store::StoreResult;
use crate::store::targets::{ComplaintCount, TargetStore};

impl TargetStore for Connection {
    fn set_target(&self, branch_id: &str, month: &str, manager_id: &str, t: &Measures) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO targets (branch_id, month, manager_id, visits, new_customers, leads_won, amount_won_fen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (branch_id, month, manager_id) DO UPDATE
                 SET visits = ?4, new_customers = ?5, leads_won = ?6, amount_won_fen = ?7",
        )?
        .execute(params![
            branch_id,
            month,
            manager_id,
            t.visits,
            t.new_customers,
            t.leads_won,
            t.amount_won_fen
        ])?;
        Ok(())
    }

    fn targets(&self, branch_id: &str, month: &str) -> StoreResult<Vec<(String, Measures)>> {
        let mut stmt = self.prepare_cached(
            "SELECT manager_id, visits, new_customers, leads_won, amount_won_fen FROM targets
             WHERE branch_id = ?1 AND month = ?2 ORDER BY manager_id",
        )?;
        let rows = stmt.query_map(params![branch_id, month], |r| {
            Ok((
                r.get(0)?,
                Measures {
                    visits: r.get(1)?,
                    new_customers: r.get(2)?,
                    leads_won: r.get(3)?,
                    amount_won_fen: r.get(4)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn done(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, Measures)>> {
        let mut out: BTreeMap<String, Measures> = BTreeMap::new();
        let mut stmt = self.prepare_cached(
            "SELECT manager_id, count(*) FROM rm_visits
             WHERE branch_id = ?1 AND status = 'completed' AND at >= ?2 AND at < ?3 GROUP BY manager_id",
        )?;
        for row in
            stmt.query_map(params![branch_id, from, to], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        {
            let (m, n) = row?;
            out.entry(m).or_default().visits = n;
        }
        let mut stmt = self.prepare_cached(
            "SELECT owner_id, count(*) FROM rm_customers
             WHERE branch_id = ?1 AND owner_id IS NOT NULL AND created_at >= ?2 AND created_at < ?3 GROUP BY owner_id",
        )?;
        for row in
            stmt.query_map(params![branch_id, from, to], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        {
            let (m, n) = row?;
            out.entry(m).or_default().new_customers = n;
        }
        let mut stmt = self.prepare_cached(
            "SELECT created_by, count(*), total(amount_fen) FROM rm_leads
             WHERE branch_id = ?1 AND won_at >= ?2 AND won_at < ?3 GROUP BY created_by",
        )?;
        let rows = stmt.query_map(params![branch_id, from, to], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, f64>(2)?))
        })?;
        for row in rows {
            let (m, n, amount) = row?;
            let e = out.entry(m).or_default();
            e.leads_won = n;
            e.amount_won_fen = amount as i64;
        }
        Ok(out.into_iter().collect())
    }

    fn returned_reviews(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, i64)>> {
        let mut stmt = self.prepare_cached(
            "SELECT manager_id, count(*) FROM rm_visits
             WHERE branch_id = ?1 AND at >= ?2 AND at < ?3 AND review = 'returned' GROUP BY manager_id",
        )?;
        let rows = stmt.query_map(params![branch_id, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn complaints(
        &self,
        branch_id: &str,
        from: i64,
        to: i64,
        limit_ms: i64,
        now: i64,
    ) -> StoreResult<Vec<ComplaintCount>> {
        let mut stmt = self.prepare_cached(
            "SELECT owner_id, count(*), total(resolved_at <= captured_at + ?4), total(coalesce(resolved_at, ?5) > captured_at + ?4)
             FROM rm_complaints WHERE branch_id = ?1 AND captured_at >= ?2 AND captured_at < ?3 AND owner_id IS NOT NULL
             GROUP BY owner_id",
        )?;
        let rows = stmt.query_map(params![branch_id, from, to, limit_ms, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as i64, r.get::<_, f64>(3)? as i64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn village_visits(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, i64, i64)>> {
        let mut stmt = self.prepare_cached(
            "SELECT village, count(*), total(last_visit_at >= ?2 AND last_visit_at < ?3) FROM rm_customers
             WHERE branch_id = ?1 AND scope NOT IN ('closed', 'deleted') GROUP BY village",
        )?;
        let rows =
            stmt.query_map(params![branch_id, from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as i64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn done_by(&self, manager_id: &str, from: i64, to: i64) -> StoreResult<Measures> {
        let visits = self
            .prepare_cached(
                "SELECT count(*) FROM rm_visits WHERE manager_id = ?1 AND at >= ?2 AND at < ?3 AND status = 'completed'",
            )?
            .query_row(params![manager_id, from, to], |r| r.get(0))?;
        let new_customers = self
            .prepare_cached(
                "SELECT count(*) FROM rm_customers WHERE owner_id = ?1 AND created_at >= ?2 AND created_at < ?3",
            )?
            .query_row(params![manager_id, from, to], |r| r.get(0))?;
        let (leads_won, amount): (i64, f64) = self
            .prepare_cached(
                "SELECT count(*), total(amount_fen) FROM rm_leads WHERE created_by = ?1 AND won_at >= ?2 AND won_at < ?3",
            )?
            .query_row(params![manager_id, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Measures { visits, new_customers, leads_won, amount_won_fen: amount as i64 })
    }
}

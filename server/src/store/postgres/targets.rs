//! [`TargetStore`] on PostgreSQL, the twin of `store::sqlite::targets`: `targets`, and the
//! progress counted from `rm_visits`, `rm_customers`, `rm_leads` and `rm_complaints`.
//!
//! SQLite's `total(condition)` (a float counting the rows where the condition holds) is
//! `count(*) FILTER (WHERE condition)` here; `total(amount_fen)` is the exact sum turned into a
//! float, as SQLite's (never an overflow error), then into an integer as the SQLite store does.
//! Lists SQLite groups without an ORDER BY come in the group's order there (it sorts to group):
//! PostgreSQL is told so.

use std::collections::BTreeMap;

use fieldsync_core::domain::Measures;

use super::PgStore;
use crate::store::StoreResult;
use crate::store::targets::{ComplaintCount, TargetStore};

impl TargetStore for PgStore<'_> {
    fn set_target(&self, branch_id: &str, month: &str, manager_id: &str, t: &Measures) -> StoreResult<()> {
        self.execute(
            "INSERT INTO targets (branch_id, month, manager_id, visits, new_customers, leads_won, amount_won_fen)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (branch_id, month, manager_id) DO UPDATE
                 SET visits = excluded.visits, new_customers = excluded.new_customers,
                     leads_won = excluded.leads_won, amount_won_fen = excluded.amount_won_fen",
            &[&branch_id, &month, &manager_id, &t.visits, &t.new_customers, &t.leads_won, &t.amount_won_fen],
        )?;
        Ok(())
    }

    fn targets(&self, branch_id: &str, month: &str) -> StoreResult<Vec<(String, Measures)>> {
        let rows = self.query(
            "SELECT manager_id, visits, new_customers, leads_won, amount_won_fen FROM targets
             WHERE branch_id = $1 AND month = $2 ORDER BY manager_id",
            &[&branch_id, &month],
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    Measures {
                        visits: r.try_get(1)?,
                        new_customers: r.try_get(2)?,
                        leads_won: r.try_get(3)?,
                        amount_won_fen: r.try_get(4)?,
                    },
                ))
            })
            .collect()
    }

    fn done(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, Measures)>> {
        let mut out: BTreeMap<String, Measures> = BTreeMap::new();
        let rows = self.query(
            "SELECT manager_id, count(*) FROM rm_visits
             WHERE branch_id = $1 AND status = 'completed' AND at >= $2 AND at < $3 GROUP BY manager_id",
            &[&branch_id, &from, &to],
        )?;
        for r in &rows {
            let (m, n): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
            out.entry(m).or_default().visits = n;
        }
        let rows = self.query(
            "SELECT owner_id, count(*) FROM rm_customers
             WHERE branch_id = $1 AND owner_id IS NOT NULL AND created_at >= $2 AND created_at < $3 GROUP BY owner_id",
            &[&branch_id, &from, &to],
        )?;
        for r in &rows {
            let (m, n): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
            out.entry(m).or_default().new_customers = n;
        }
        let rows = self.query(
            "SELECT created_by, count(*), coalesce(sum(amount_fen), 0)::DOUBLE PRECISION FROM rm_leads
             WHERE branch_id = $1 AND won_at >= $2 AND won_at < $3 GROUP BY created_by",
            &[&branch_id, &from, &to],
        )?;
        for r in &rows {
            let (m, n, amount): (String, i64, f64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let e = out.entry(m).or_default();
            e.leads_won = n;
            e.amount_won_fen = amount as i64;
        }
        Ok(out.into_iter().collect())
    }

    fn returned_reviews(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, i64)>> {
        let rows = self.query(
            "SELECT manager_id, count(*) FROM rm_visits
             WHERE branch_id = $1 AND at >= $2 AND at < $3 AND review = 'returned' GROUP BY manager_id
             ORDER BY manager_id",
            &[&branch_id, &from, &to],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn complaints(
        &self,
        branch_id: &str,
        from: i64,
        to: i64,
        limit_ms: i64,
        now: i64,
    ) -> StoreResult<Vec<ComplaintCount>> {
        // `captured_at + limit_ms` in NUMERIC: exact, where BIGINT would fail on an overflow that
        // SQLite turns into a float (with the same comparisons' outcomes).
        let rows = self.query(
            "SELECT owner_id, count(*),
                    count(*) FILTER (WHERE resolved_at <= captured_at::NUMERIC + $4::BIGINT),
                    count(*) FILTER (WHERE coalesce(resolved_at, $5) > captured_at::NUMERIC + $4::BIGINT)
             FROM rm_complaints WHERE branch_id = $1 AND captured_at >= $2 AND captured_at < $3 AND owner_id IS NOT NULL
             GROUP BY owner_id ORDER BY owner_id",
            &[&branch_id, &from, &to, &limit_ms, &now],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))).collect()
    }

    fn village_visits(&self, branch_id: &str, from: i64, to: i64) -> StoreResult<Vec<(String, i64, i64)>> {
        let rows = self.query(
            "SELECT village, count(*), count(*) FILTER (WHERE last_visit_at >= $2 AND last_visit_at < $3)
             FROM rm_customers
             WHERE branch_id = $1 AND scope NOT IN ('closed', 'deleted') GROUP BY village ORDER BY village",
            &[&branch_id, &from, &to],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    fn done_by(&self, manager_id: &str, from: i64, to: i64) -> StoreResult<Measures> {
        let visits = self
            .query_one(
                "SELECT count(*) FROM rm_visits WHERE manager_id = $1 AND at >= $2 AND at < $3 AND status = 'completed'",
                &[&manager_id, &from, &to],
            )?
            .try_get(0)?;
        let new_customers = self
            .query_one(
                "SELECT count(*) FROM rm_customers WHERE owner_id = $1 AND created_at >= $2 AND created_at < $3",
                &[&manager_id, &from, &to],
            )?
            .try_get(0)?;
        let row = self.query_one(
            "SELECT count(*), coalesce(sum(amount_fen), 0)::DOUBLE PRECISION FROM rm_leads
             WHERE created_by = $1 AND won_at >= $2 AND won_at < $3",
            &[&manager_id, &from, &to],
        )?;
        let (leads_won, amount): (i64, f64) = (row.try_get(0)?, row.try_get(1)?);
        Ok(Measures { visits, new_customers, leads_won, amount_won_fen: amount as i64 })
    }
}

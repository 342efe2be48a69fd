//! [`DuplicateStore`] on SQLite: `customer_keys` (schema v10).

use rusqlite::{Connection, params};

use crate::store::StoreResult;
use crate::store::duplicates::{DuplicatePair, DuplicateStore};

impl DuplicateStore for Connection {
    fn save_customer_keys(
        &self,
        customer_id: &str,
        branch_id: &str,
        phone: Option<&str>,
        id_key: Option<&str>,
    ) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO customer_keys (customer_id, branch_id, phone, id_key) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (customer_id) DO UPDATE SET branch_id = ?2, phone = ?3, id_key = ?4
             WHERE (branch_id, phone, id_key) IS NOT (?2, ?3, ?4)",
        )?
        .execute(params![customer_id, branch_id, phone, id_key])?;
        Ok(())
    }

    fn forget_customer_keys(&self, customer_id: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM customer_keys WHERE customer_id = ?1")?.execute([customer_id])?;
        Ok(())
    }

    fn clear_customer_keys(&self) -> StoreResult<()> {
        self.execute_batch("DELETE FROM customer_keys")?;
        Ok(())
    }

    fn duplicate_pairs(&self, branch_id: &str, limit: u32) -> StoreResult<Vec<DuplicatePair>> {
        let mut stmt = self.prepare_cached(
            "SELECT a.customer_id, b.customer_id, 1 FROM customer_keys a
               JOIN customer_keys b ON b.branch_id = a.branch_id AND b.id_key = a.id_key
                                   AND b.customer_id > a.customer_id
              WHERE a.branch_id = ?1 AND a.id_key IS NOT NULL
             UNION
             SELECT a.customer_id, b.customer_id, 0 FROM customer_keys a
               JOIN customer_keys b ON b.branch_id = a.branch_id AND b.phone = a.phone
                                   AND b.customer_id > a.customer_id
              WHERE a.branch_id = ?1 AND a.phone IS NOT NULL
             ORDER BY 3 DESC, 1, 2 LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![branch_id, limit], |r| {
            Ok(DuplicatePair { a: r.get(0)?, b: r.get(1)?, by_id: r.get(2)? })
        })?;
        let mut pairs: Vec<DuplicatePair> = rows.collect::<rusqlite::Result<_>>()?;
        // A pair sharing both keys is listed once, as an ID match.
        let mut seen = std::collections::HashSet::new();
        pairs.retain(|p| seen.insert((p.a.clone(), p.b.clone())));
        Ok(pairs)
    }
}

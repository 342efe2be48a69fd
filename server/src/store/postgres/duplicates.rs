//! [`DuplicateStore`] on PostgreSQL, the twin of `store::sqlite::duplicates`: `customer_keys`.

use super::PgStore;
use crate::store::StoreResult;
use crate::store::duplicates::{DuplicatePair, DuplicateStore};

impl DuplicateStore for PgStore<'_> {
    fn save_customer_keys(
        &self,
        customer_id: &str,
        branch_id: &str,
        phone: Option<&str>,
        id_key: Option<&str>,
    ) -> StoreResult<()> {
        // As on SQLite, a row already holding these values is left alone.
        self.write(
            "INSERT INTO customer_keys (customer_id, branch_id, phone, id_key) VALUES ($1, $2, $3, $4)
             ON CONFLICT (customer_id) DO UPDATE
                 SET branch_id = excluded.branch_id, phone = excluded.phone, id_key = excluded.id_key
             WHERE (customer_keys.branch_id, customer_keys.phone, customer_keys.id_key)
                   IS DISTINCT FROM (excluded.branch_id, excluded.phone, excluded.id_key)",
            &[&customer_id, &branch_id, &phone, &id_key],
        )?;
        Ok(())
    }

    fn forget_customer_keys(&self, customer_id: &str) -> StoreResult<()> {
        self.write("DELETE FROM customer_keys WHERE customer_id = $1", &[&customer_id])?;
        Ok(())
    }

    fn clear_customer_keys(&self) -> StoreResult<()> {
        self.batch("DELETE FROM customer_keys")
    }

    fn duplicate_pairs(&self, branch_id: &str, limit: u32) -> StoreResult<Vec<DuplicatePair>> {
        // The third column is a boolean here (SQLite's 1 and 0): true sorts after false, so
        // `DESC` still lists ID matches first.
        let rows = self.query(
            "SELECT a.customer_id, b.customer_id, true FROM customer_keys a
               JOIN customer_keys b ON b.branch_id = a.branch_id AND b.id_key = a.id_key
                                   AND b.customer_id > a.customer_id
              WHERE a.branch_id = $1 AND a.id_key IS NOT NULL
             UNION
             SELECT a.customer_id, b.customer_id, false FROM customer_keys a
               JOIN customer_keys b ON b.branch_id = a.branch_id AND b.phone = a.phone
                                   AND b.customer_id > a.customer_id
              WHERE a.branch_id = $1 AND a.phone IS NOT NULL
             ORDER BY 3 DESC, 1, 2 LIMIT $2",
            &[&branch_id, &i64::from(limit)],
        )?;
        let mut pairs = rows
            .iter()
            .map(|r| Ok(DuplicatePair { a: r.try_get(0)?, b: r.try_get(1)?, by_id: r.try_get(2)? }))
            .collect::<StoreResult<Vec<_>>>()?;
        // A pair sharing both keys is listed once, as an ID match.
        let mut seen = std::collections::HashSet::new();
        pairs.retain(|p| seen.insert((p.a.clone(), p.b.clone())));
        Ok(pairs)
    }
}

//! [`ReminderStore`] on SQLite: `birthday_due` (schema v10).

use rusqlite::{Connection, params};

use crate::store::StoreResult;
use crate::store::reminders::ReminderStore;

impl ReminderStore for Connection {
    fn set_birthday_due(&self, customer_id: &str, branch_id: &str, write_at: Option<i64>) -> StoreResult<()> {
        match write_at {
            Some(at) => self
                .prepare_cached(
                    "INSERT INTO birthday_due (customer_id, branch_id, write_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (customer_id) DO UPDATE SET branch_id = ?2, write_at = ?3
                     WHERE (branch_id, write_at) IS NOT (?2, ?3)",
                )?
                .execute(params![customer_id, branch_id, at])?,
            None => self.prepare_cached("DELETE FROM birthday_due WHERE customer_id = ?1")?.execute([customer_id])?,
        };
        Ok(())
    }

    fn birthdays_due(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id FROM birthday_due WHERE branch_id = ?1 AND write_at <= ?2
             ORDER BY write_at, customer_id LIMIT ?3",
        )?;
        let ids = stmt.query_map(params![branch_id, at, limit], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn branches_with_birthdays(&self, at: i64) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached("SELECT DISTINCT branch_id FROM birthday_due WHERE write_at <= ?1")?;
        let ids = stmt.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn clear_birthday_due(&self) -> StoreResult<()> {
        self.execute_batch("DELETE FROM birthday_due")?;
        Ok(())
    }
}

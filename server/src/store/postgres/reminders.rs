//! [`ReminderStore`] on PostgreSQL, the twin of `store::sqlite::reminders`: `birthday_due`.

use super::PgStore;
use crate::store::StoreResult;
use crate::store::reminders::ReminderStore;

impl ReminderStore for PgStore<'_> {
    fn set_birthday_due(&self, customer_id: &str, branch_id: &str, write_at: Option<i64>) -> StoreResult<()> {
        match write_at {
            // As on SQLite, a row already holding these values is left alone.
            Some(at) => self.execute(
                "INSERT INTO birthday_due (customer_id, branch_id, write_at) VALUES ($1, $2, $3)
                 ON CONFLICT (customer_id) DO UPDATE SET branch_id = excluded.branch_id, write_at = excluded.write_at
                 WHERE (birthday_due.branch_id, birthday_due.write_at)
                       IS DISTINCT FROM (excluded.branch_id, excluded.write_at)",
                &[&customer_id, &branch_id, &at],
            )?,
            None => self.execute("DELETE FROM birthday_due WHERE customer_id = $1", &[&customer_id])?,
        };
        Ok(())
    }

    fn birthdays_due(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>> {
        let rows = self.query(
            "SELECT customer_id FROM birthday_due WHERE branch_id = $1 AND write_at <= $2
             ORDER BY write_at, customer_id LIMIT $3",
            &[&branch_id, &at, &i64::from(limit)],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn branches_with_birthdays(&self, at: i64) -> StoreResult<Vec<String>> {
        // SQLite answers from the index `birthday_due_at (branch_id, write_at)`, so by branch:
        // said here, as PostgreSQL's DISTINCT promises no order.
        let rows =
            self.query("SELECT DISTINCT branch_id FROM birthday_due WHERE write_at <= $1 ORDER BY branch_id", &[&at])?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn clear_birthday_due(&self) -> StoreResult<()> {
        self.batch("DELETE FROM birthday_due")
    }
}

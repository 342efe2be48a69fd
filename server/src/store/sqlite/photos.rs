//! [`crate::store::PhotoStore`] on SQLite.

use rusqlite::{Connection, OptionalExtension, params};

use super::visibility::sql_visible;
use crate::accounts::User;
use crate::policy::View;
use crate::store::{PhotoStore, StoreError, StoreResult};

/// Byte counts in SQL: all are bounded far below `i64::MAX` by the photo limits.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sql_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl PhotoStore for Connection {
    fn replace_photo_refs(&self, customer_id: &str, refs: &[(&str, &str)]) -> StoreResult<()> {
        // A savepoint nests inside the caller's transaction and is its own transaction otherwise.
        self.execute_batch("SAVEPOINT photo_refs")?;
        let result = (|| -> rusqlite::Result<()> {
            self.prepare_cached("DELETE FROM photo_refs WHERE customer_id = ?1")?.execute([customer_id])?;
            let mut insert = self.prepare_cached(
                "INSERT OR IGNORE INTO photo_refs (hash, manager_id, customer_id) VALUES (?1, ?2, ?3)",
            )?;
            for (hash, manager_id) in refs {
                insert.execute(params![hash, manager_id, customer_id])?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(self.execute_batch("RELEASE photo_refs")?),
            Err(e) => {
                let _ = self.execute_batch("ROLLBACK TO photo_refs; RELEASE photo_refs");
                Err(StoreError::Sqlite(e))
            }
        }
    }

    fn photo_visible(&self, user: &User, hash: &str) -> StoreResult<bool> {
        let sql = format!(
            "SELECT 1 FROM photos p
             JOIN photo_refs r ON r.hash = p.hash AND r.manager_id = p.uploader_id
             JOIN documents d ON d.customer_id = r.customer_id AND d.branch_id = p.branch_id
             WHERE p.hash = ?1 AND {} LIMIT 1",
            sql_visible(user.role, View::Full, "d", "?2", "?3")
        );
        let found =
            self.prepare_cached(&sql)?.query_row(params![hash, user.id, user.branch_id], |_| Ok(())).optional()?;
        Ok(found.is_some())
    }

    fn photo_owner(&self, hash: &str) -> StoreResult<Option<(String, String)>> {
        Ok(self
            .prepare_cached("SELECT uploader_id, branch_id FROM photos WHERE hash = ?1")?
            .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn insert_photo_owner(&self, hash: &str, user: &User, bytes: u64, completed_at: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO photos (hash, uploader_id, branch_id, bytes, completed_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![hash, user.id, user.branch_id, sql_int(bytes), completed_at])?;
        Ok(())
    }

    fn photo_bytes_completed_since(&self, user_id: &str, since: i64, except: &str) -> StoreResult<u64> {
        Ok(self
            .prepare_cached(
                "SELECT coalesce(sum(bytes), 0) FROM photos WHERE uploader_id = ?1 AND completed_at > ?2 AND hash <> ?3",
            )?
            .query_row(params![user_id, since, except], |r| r.get(0).map(sql_count))?)
    }

    fn expire_photo_uploads(&self, cutoff: i64) -> StoreResult<usize> {
        Ok(self.prepare_cached("DELETE FROM photo_uploads WHERE updated_at <= ?1")?.execute([cutoff])?)
    }

    fn photo_uploads_in_flight(&self, user_id: &str, except: &str) -> StoreResult<(u64, u64)> {
        Ok(self
            .prepare_cached(
                "SELECT coalesce(sum(received), 0), count(*) FROM photo_uploads WHERE user_id = ?1 AND hash <> ?2",
            )?
            .query_row([user_id, except], |r| Ok((sql_count(r.get(0)?), sql_count(r.get(1)?))))?)
    }

    fn upsert_photo_upload(&self, hash: &str, user_id: &str, received: u64, total: u64, now: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO photo_uploads (hash, user_id, received, total, started_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (user_id, hash) DO UPDATE SET received = ?3, total = ?4, updated_at = ?5",
        )?
        .execute(params![hash, user_id, sql_int(received), sql_int(total), now])?;
        Ok(())
    }

    fn delete_photo_upload(&self, user_id: &str, hash: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM photo_uploads WHERE user_id = ?1 AND hash = ?2")?.execute([user_id, hash])?;
        Ok(())
    }
}

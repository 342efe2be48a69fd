//! [`crate::store::PhotoStore`] on PostgreSQL, the twin of `store::sqlite::photos`: tables
//! `photos`, `photo_refs` and `photo_uploads` (and `documents` for who sees a photo).
//!
//! PostgreSQL text cannot hold NUL, SQLite's can: a looked-up value holding one names no row
//! here, so such lookups find nothing without asking, and a reference holding one (which could
//! never match a stored photo nor a stored document) is not recorded.

use super::PgStore;
use crate::accounts::User;
use crate::policy::View;
use crate::store::sqlite::visibility::sql_visible;
use crate::store::{PhotoStore, StoreResult};

/// Byte counts in SQL: all are bounded far below `i64::MAX` by the photo limits.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sql_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Whether a text value cannot be stored in PostgreSQL (it holds a NUL), so no row holds it.
fn unstorable(value: &str) -> bool {
    value.contains('\0')
}

impl PhotoStore for PgStore<'_> {
    fn replace_photo_refs(&self, customer_id: &str, refs: &[(&str, &str)]) -> StoreResult<()> {
        if unstorable(customer_id) {
            return Ok(());
        }
        let (hashes, managers): (Vec<&str>, Vec<&str>) =
            refs.iter().filter(|(hash, manager_id)| !unstorable(hash) && !unstorable(manager_id)).copied().unzip();
        // A savepoint, as on SQLite: on failure the caller's transaction goes on without this
        // call's changes (PostgreSQL would otherwise abort the whole transaction).
        self.batch("SAVEPOINT photo_refs")?;
        let result = (|| -> StoreResult<()> {
            self.execute("DELETE FROM photo_refs WHERE customer_id = $1", &[&customer_id])?;
            if !hashes.is_empty() {
                self.execute(
                    "INSERT INTO photo_refs (hash, manager_id, customer_id)
                     SELECT r.hash, r.manager_id, $3::text FROM unnest($1::text[], $2::text[]) AS r (hash, manager_id)
                     ON CONFLICT DO NOTHING",
                    &[&hashes, &managers, &customer_id],
                )?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => self.batch("RELEASE SAVEPOINT photo_refs"),
            Err(e) => {
                let _ = self.batch("ROLLBACK TO SAVEPOINT photo_refs; RELEASE SAVEPOINT photo_refs");
                Err(e)
            }
        }
    }

    fn photo_visible(&self, user: &User, hash: &str) -> StoreResult<bool> {
        if unstorable(hash) || unstorable(&user.id) || unstorable(&user.branch_id) {
            return Ok(false);
        }
        // The SQLite store's SQL twin of the visibility rule, valid SQL here too with typed
        // parameters: one fixed statement per role.
        let sql = format!(
            "SELECT 1 FROM photos p
             JOIN photo_refs r ON r.hash = p.hash AND r.manager_id = p.uploader_id
             JOIN documents d ON d.customer_id = r.customer_id AND d.branch_id = p.branch_id
             WHERE p.hash = $1 AND {} LIMIT 1",
            sql_visible(user.role, View::Full, "d", "$2::text", "$3::text")
        );
        Ok(self.query_opt(&sql, &[&hash, &user.id, &user.branch_id])?.is_some())
    }

    fn photo_owner(&self, hash: &str) -> StoreResult<Option<(String, String)>> {
        if unstorable(hash) {
            return Ok(None);
        }
        let row = self.query_opt("SELECT uploader_id, branch_id FROM photos WHERE hash = $1", &[&hash])?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    fn insert_photo_owner(&self, hash: &str, user: &User, bytes: u64, completed_at: i64) -> StoreResult<()> {
        self.execute(
            "INSERT INTO photos (hash, uploader_id, branch_id, bytes, completed_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (hash) DO NOTHING",
            &[&hash, &user.id, &user.branch_id, &sql_int(bytes), &completed_at],
        )?;
        Ok(())
    }

    fn photo_bytes_completed_since(&self, user_id: &str, since: i64, except: &str) -> StoreResult<u64> {
        if unstorable(user_id) {
            return Ok(0);
        }
        // `except` as NULL when no stored photo can have it: then no photo is left out.
        let except = (!unstorable(except)).then_some(except);
        let row = self.query_one(
            "SELECT coalesce(sum(bytes), 0)::BIGINT FROM photos
             WHERE uploader_id = $1 AND completed_at > $2 AND hash IS DISTINCT FROM $3",
            &[&user_id, &since, &except],
        )?;
        Ok(sql_count(row.try_get(0)?))
    }

    fn expire_photo_uploads(&self, cutoff: i64) -> StoreResult<usize> {
        let deleted = self.execute("DELETE FROM photo_uploads WHERE updated_at <= $1", &[&cutoff])?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    fn photo_uploads_in_flight(&self, user_id: &str, except: &str) -> StoreResult<(u64, u64)> {
        if unstorable(user_id) {
            return Ok((0, 0));
        }
        let except = (!unstorable(except)).then_some(except);
        let row = self.query_one(
            "SELECT coalesce(sum(received), 0)::BIGINT, count(*) FROM photo_uploads
             WHERE user_id = $1 AND hash IS DISTINCT FROM $2",
            &[&user_id, &except],
        )?;
        Ok((sql_count(row.try_get(0)?), sql_count(row.try_get(1)?)))
    }

    fn upsert_photo_upload(&self, hash: &str, user_id: &str, received: u64, total: u64, now: i64) -> StoreResult<()> {
        self.execute(
            "INSERT INTO photo_uploads (hash, user_id, received, total, started_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (user_id, hash) DO UPDATE SET received = $3, total = $4, updated_at = $5",
            &[&hash, &user_id, &sql_int(received), &sql_int(total), &now],
        )?;
        Ok(())
    }

    fn delete_photo_upload(&self, user_id: &str, hash: &str) -> StoreResult<()> {
        if unstorable(user_id) || unstorable(hash) {
            return Ok(());
        }
        self.execute("DELETE FROM photo_uploads WHERE user_id = $1 AND hash = $2", &[&user_id, &hash])?;
        Ok(())
    }
}

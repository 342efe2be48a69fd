//! [`SessionStore`] on SQLite: table `web_sessions`, and `branches` for names and time zones.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreResult;
use crate::store::sessions::{SessionRecord, SessionStore};

impl SessionStore for Connection {
    fn insert_session(&self, token_hash: &[u8], r: &SessionRecord, created_at: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO web_sessions (token_hash, user_id, branch_id, csrf, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![token_hash, r.user_id, r.branch_id, r.csrf, created_at, r.expires_at])?;
        Ok(())
    }

    fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        Ok(self
            .prepare_cached("SELECT user_id, branch_id, csrf, expires_at FROM web_sessions WHERE token_hash = ?1")?
            .query_row([token_hash], |r| {
                Ok(SessionRecord { user_id: r.get(0)?, branch_id: r.get(1)?, csrf: r.get(2)?, expires_at: r.get(3)? })
            })
            .optional()?)
    }

    fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM web_sessions WHERE token_hash = ?1")?.execute([token_hash])?;
        Ok(())
    }

    fn set_session_branch(&self, token_hash: &[u8], branch_id: &str) -> StoreResult<()> {
        self.prepare_cached("UPDATE web_sessions SET branch_id = ?2 WHERE token_hash = ?1")?
            .execute(params![token_hash, branch_id])?;
        Ok(())
    }

    fn delete_expired_sessions(&self, now: i64) -> StoreResult<usize> {
        Ok(self.prepare_cached("DELETE FROM web_sessions WHERE expires_at <= ?1")?.execute([now])?)
    }

    fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM web_sessions WHERE user_id = ?1")?.execute([user_id])?;
        Ok(())
    }

    fn branches(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(self
            .prepare_cached("SELECT id, name FROM branches ORDER BY name, id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn branch(&self, branch_id: &str) -> StoreResult<Option<(String, String)>> {
        Ok(self
            .prepare_cached("SELECT name, time_zone FROM branches WHERE id = ?1")?
            .query_row([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

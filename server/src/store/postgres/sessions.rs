//! [`SessionStore`] on PostgreSQL: table `web_sessions`, and `branches` for names and time zones.

use super::PgStore;
use crate::store::StoreResult;
use crate::store::sessions::{SessionRecord, SessionStore};

impl SessionStore for PgStore<'_> {
    fn insert_session(&self, token_hash: &[u8], r: &SessionRecord, created_at: i64) -> StoreResult<()> {
        self.execute(
            "INSERT INTO web_sessions (token_hash, user_id, branch_id, csrf, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&token_hash, &r.user_id, &r.branch_id, &r.csrf, &created_at, &r.expires_at],
        )?;
        Ok(())
    }

    fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let row = self.query_opt(
            "SELECT user_id, branch_id, csrf, expires_at FROM web_sessions WHERE token_hash = $1",
            &[&token_hash],
        )?;
        Ok(row.map(|r| SessionRecord { user_id: r.get(0), branch_id: r.get(1), csrf: r.get(2), expires_at: r.get(3) }))
    }

    fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        self.execute("DELETE FROM web_sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(())
    }

    fn set_session_branch(&self, token_hash: &[u8], branch_id: &str) -> StoreResult<()> {
        self.execute("UPDATE web_sessions SET branch_id = $2 WHERE token_hash = $1", &[&token_hash, &branch_id])?;
        Ok(())
    }

    fn delete_expired_sessions(&self, now: i64) -> StoreResult<usize> {
        Ok(self.execute("DELETE FROM web_sessions WHERE expires_at <= $1", &[&now])? as usize)
    }

    fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        self.execute("DELETE FROM web_sessions WHERE user_id = $1", &[&user_id])?;
        Ok(())
    }

    fn branches(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = self.query("SELECT id, name FROM branches ORDER BY name, id", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn branch(&self, branch_id: &str) -> StoreResult<Option<(String, String)>> {
        self.remembered("branches", "branch", branch_id, || {
            let row = self.query_opt("SELECT name, time_zone FROM branches WHERE id = $1", &[&branch_id])?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }
}

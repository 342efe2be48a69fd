//! [`crate::store::AccountStore`] on SQLite.

use automerge::ActorId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::accounts::{Role, User};
use crate::store::accounts::{DeviceHolder, DeviceRecord, LoginFailures, TokenRecord, UserRecord};
use crate::store::{AccountStore, StoreResult};

const USER_COLUMNS: &str = "id, branch_id, outlet_id, username, display_name, role, password_hash, active";

fn user_row(row: &rusqlite::Row) -> rusqlite::Result<UserRecord> {
    let role: String = row.get(5)?;
    Ok(UserRecord {
        id: row.get(0)?,
        branch_id: row.get(1)?,
        outlet_id: row.get(2)?,
        username: row.get(3)?,
        display_name: row.get(4)?,
        role: Role::from_code(&role),
        password_hash: row.get(6)?,
        active: row.get(7)?,
    })
}

impl AccountStore for Connection {
    fn ping(&self) -> StoreResult<()> {
        self.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn note_device_sync(&self, device_id: &str, at: i64, app_version: &str, refused: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO device_syncs (device_id, last_sync_at, app_version, refused_last, refused_total)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (device_id) DO UPDATE SET last_sync_at = max(last_sync_at, ?2), app_version = ?3,
                 refused_last = ?4, refused_total = refused_total + ?4",
        )?
        .execute(params![device_id, at, app_version, refused])?;
        Ok(())
    }

    fn insert_audit(&self, at: i64, actor: &str, action: &str, subject: &str) -> StoreResult<()> {
        self.prepare_cached("INSERT INTO audit (at, actor, action, subject) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![at, actor, action, subject])?;
        Ok(())
    }

    fn insert_branch(&self, id: &str, name: &str) -> StoreResult<()> {
        self.prepare_cached("INSERT INTO branches (id, name) VALUES (?1, ?2)")?.execute(params![id, name])?;
        Ok(())
    }

    fn branch_exists(&self, id: &str) -> StoreResult<bool> {
        let found =
            self.prepare_cached("SELECT 1 FROM branches WHERE id = ?1")?.query_row([id], |_| Ok(())).optional()?;
        Ok(found.is_some())
    }

    fn branch_named(&self, name: &str) -> StoreResult<bool> {
        Ok(self.prepare_cached("SELECT 1 FROM branches WHERE name = ?1")?.exists([name])?)
    }

    fn insert_outlet(&self, id: &str, branch_id: &str, name: &str) -> StoreResult<()> {
        self.prepare_cached("INSERT INTO outlets (id, branch_id, name) VALUES (?1, ?2, ?3)")?
            .execute(params![id, branch_id, name])?;
        Ok(())
    }

    fn outlet_branch(&self, outlet_id: &str) -> StoreResult<Option<String>> {
        Ok(self
            .prepare_cached("SELECT branch_id FROM outlets WHERE id = ?1")?
            .query_row([outlet_id], |r| r.get(0))
            .optional()?)
    }

    fn username_taken(&self, username: &str) -> StoreResult<bool> {
        let found = self
            .prepare_cached("SELECT 1 FROM users WHERE username = ?1")?
            .query_row([username], |_| Ok(()))
            .optional()?;
        Ok(found.is_some())
    }

    fn insert_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO users (id, branch_id, outlet_id, username, display_name, role, password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            user.id,
            user.branch_id,
            user.outlet_id,
            user.username,
            user.display_name,
            user.role.code(),
            password_hash
        ])?;
        Ok(())
    }

    fn set_admin_head_office(&self, user_id: &str, head_office: bool) -> StoreResult<bool> {
        let changed = self
            .prepare_cached("UPDATE users SET head_office = ?2 WHERE id = ?1 AND role = 'admin'")?
            .execute(params![user_id, head_office])?;
        Ok(changed > 0)
    }

    fn is_head_office(&self, user_id: &str) -> StoreResult<bool> {
        Ok(self
            .prepare_cached("SELECT head_office FROM users WHERE id = ?1 AND active = 1")?
            .query_row([user_id], |r| r.get::<_, bool>(0))
            .optional()?
            .unwrap_or(false))
    }

    fn user_by_id(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
            .query_row([user_id], user_row)
            .optional()?)
    }

    fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?
            .query_row([username], user_row)
            .optional()?)
    }

    fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>> {
        Ok(self
            .prepare_cached("SELECT failures, first_at FROM login_failures WHERE username = ?1")?
            .query_row([key], |r| Ok(LoginFailures { failures: r.get(0)?, first_at: r.get(1)? }))
            .optional()?)
    }

    fn add_login_failure(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO login_failures (username, failures, first_at) VALUES (?1, 1, ?2)
             ON CONFLICT (username) DO UPDATE SET
                 failures = CASE WHEN ?2 - first_at >= ?3 THEN 1 ELSE failures + 1 END,
                 first_at = CASE WHEN ?2 - first_at >= ?3 THEN ?2 ELSE first_at END",
        )?
        .execute(params![key, now, window_ms])?;
        Ok(())
    }

    fn login_failure_rows(&self) -> StoreResult<i64> {
        Ok(self.prepare_cached("SELECT count(*) FROM login_failures")?.query_row([], |r| r.get(0))?)
    }

    fn delete_oldest_login_failures(&self, count: i64) -> StoreResult<()> {
        self.prepare_cached(
            "DELETE FROM login_failures WHERE username IN
                 (SELECT username FROM login_failures ORDER BY first_at LIMIT ?1)",
        )?
        .execute([count])?;
        Ok(())
    }

    fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM login_failures WHERE username = ?1")?.execute([key])?;
        Ok(())
    }

    fn device(&self, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        Ok(self
            .prepare_cached("SELECT user_id, branch_id, revoked_at, released_at FROM devices WHERE device_id = ?1")?
            .query_row([device_id], |r| {
                Ok(DeviceRecord {
                    user_id: r.get(0)?,
                    branch_id: r.get(1)?,
                    revoked_at: r.get(2)?,
                    released_at: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn device_holder(&self, device_id: &str) -> StoreResult<Option<DeviceHolder>> {
        Ok(self
            .prepare_cached(
                "SELECT coalesce(d.branch_id, u.branch_id), u.role FROM devices d LEFT JOIN users u ON u.id = d.user_id
                 WHERE d.device_id = ?1",
            )?
            .query_row([device_id], |r| {
                let role: Option<String> = r.get(1)?;
                Ok(DeviceHolder { branch_id: r.get(0)?, role: role.as_deref().and_then(Role::from_code) })
            })
            .optional()?)
    }

    fn insert_device(&self, device_id: &str, user_id: &str, branch_id: &str, registered_at: i64) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO devices (device_id, user_id, branch_id, registered_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![device_id, user_id, branch_id, registered_at])?;
        Ok(())
    }

    fn take_over_device(&self, device_id: &str, user_id: &str, branch_id: &str) -> StoreResult<()> {
        self.prepare_cached(
            "UPDATE devices SET user_id = ?2, branch_id = ?3, released_at = NULL WHERE device_id = ?1",
        )?
        .execute(params![device_id, user_id, branch_id])?;
        Ok(())
    }

    fn mark_device_revoked(&self, device_id: &str, at: i64) -> StoreResult<()> {
        self.prepare_cached("UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE device_id = ?1")?
            .execute(params![device_id, at])?;
        Ok(())
    }

    fn clear_device_revoked(&self, device_id: &str) -> StoreResult<()> {
        self.prepare_cached("UPDATE devices SET revoked_at = NULL WHERE device_id = ?1")?.execute([device_id])?;
        Ok(())
    }

    fn mark_device_released(&self, device_id: &str, at: i64) -> StoreResult<()> {
        self.prepare_cached("UPDATE devices SET released_at = coalesce(released_at, ?2) WHERE device_id = ?1")?
            .execute(params![device_id, at])?;
        Ok(())
    }

    fn actor_device(&self, actor: &ActorId) -> StoreResult<Option<String>> {
        Ok(self
            .prepare_cached("SELECT device_id FROM device_actors WHERE actor = ?1")?
            .query_row([actor.to_bytes()], |r| r.get(0))
            .optional()?)
    }

    fn device_actor_count(&self, device_id: &str) -> StoreResult<i64> {
        Ok(self
            .prepare_cached("SELECT count(*) FROM device_actors WHERE device_id = ?1")?
            .query_row([device_id], |r| r.get(0))?)
    }

    fn insert_device_actor(&self, actor: &ActorId, device_id: &str) -> StoreResult<()> {
        self.prepare_cached("INSERT INTO device_actors (actor, device_id) VALUES (?1, ?2)")?
            .execute(params![actor.to_bytes(), device_id])?;
        Ok(())
    }

    fn device_actors(&self, device_id: &str) -> StoreResult<Vec<ActorId>> {
        let mut stmt = self.prepare_cached("SELECT actor FROM device_actors WHERE device_id = ?1")?;
        let actors = stmt
            .query_map([device_id], |r| Ok(ActorId::from(r.get_ref(0)?.as_blob()?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(actors)
    }

    fn insert_token(
        &self,
        token_hash: &[u8],
        device_id: &str,
        user_id: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO tokens (token_hash, device_id, user_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![token_hash, device_id, user_id, issued_at, expires_at])?;
        Ok(())
    }

    fn token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>> {
        Ok(self
            .prepare_cached(
                "SELECT t.device_id, t.user_id, t.expires_at, d.revoked_at
                 FROM tokens t JOIN devices d ON d.device_id = t.device_id WHERE t.token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok(TokenRecord {
                    device_id: r.get(0)?,
                    user_id: r.get(1)?,
                    expires_at: r.get(2)?,
                    device_revoked_at: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn set_token_expiry(&self, token_hash: &[u8], expires_at: i64) -> StoreResult<()> {
        self.prepare_cached("UPDATE tokens SET expires_at = ?2 WHERE token_hash = ?1")?
            .execute(params![token_hash, expires_at])?;
        Ok(())
    }

    fn delete_device_tokens(&self, device_id: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM tokens WHERE device_id = ?1")?.execute([device_id])?;
        Ok(())
    }
}

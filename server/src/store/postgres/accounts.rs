//! [`crate::store::AccountStore`] on PostgreSQL, the twin of `store::sqlite::accounts`: tables
//! `branches`, `outlets`, `users`, `devices`, `device_actors`, `tokens`, `login_failures`,
//! `device_syncs` and `audit`.
//!
//! Nothing is kept in the process: a token issued, a device revoked or released, a failed login
//! counted by one server instance is what every instance reads next.
//!
//! Differences from SQLite the statements make up for:
//! - flags (`users.active`, `users.head_office`) are BIGINT 0/1, read as `!= 0` like rusqlite's
//!   `bool`;
//! - `audit.seq` is an identity, assigned in insertion order as SQLite's AUTOINCREMENT is;
//! - PostgreSQL text cannot hold NUL, SQLite's can. A looked-up key holding one can name no row
//!   here, so lookups (and updates, deletes) by such a key find nothing without asking. The one
//!   key that takes raw client input, a login failure's (a username as typed), is stored escaped
//!   when it holds a NUL ([`failure_key`]), so such usernames are counted and limited as on SQLite;
//! - `delete_oldest_login_failures` breaks ties on `first_at` by key (SQLite's order among ties is
//!   the rows' insertion order, which this table does not keep).

use std::borrow::Cow;

use automerge::ActorId;
use tokio_postgres::Row;

use super::PgStore;
use crate::accounts::{Role, User};
use crate::store::accounts::{DeviceHolder, DeviceRecord, LoginFailures, TokenRecord, UserRecord};
use crate::store::{AccountStore, StoreResult};

/// Whether a text value cannot be stored in PostgreSQL (it holds a NUL), so no row holds it.
fn unstorable(value: &str) -> bool {
    value.contains('\0')
}

/// Marks a login-failure key stored escaped.
const ESCAPE: char = '\u{1}';

/// A login-failure key as stored: as given, unless it holds a NUL (or starts with [`ESCAPE`]);
/// then [`ESCAPE`] followed by the key with `ESCAPE` doubled and NUL written `ESCAPE '0'`. Distinct
/// keys stay distinct; every key the server makes (`u:…`, `c:…`) is stored as given.
fn failure_key(key: &str) -> Cow<'_, str> {
    if !key.contains('\0') && !key.starts_with(ESCAPE) {
        return Cow::Borrowed(key);
    }
    let mut stored = String::with_capacity(key.len() + 2);
    stored.push(ESCAPE);
    for c in key.chars() {
        match c {
            ESCAPE => {
                stored.push(ESCAPE);
                stored.push(ESCAPE);
            }
            '\0' => {
                stored.push(ESCAPE);
                stored.push('0');
            }
            c => stored.push(c),
        }
    }
    Cow::Owned(stored)
}

fn user_row(row: &Row) -> StoreResult<UserRecord> {
    let role: String = row.try_get(5)?;
    let active: i64 = row.try_get(7)?;
    Ok(UserRecord {
        id: row.try_get(0)?,
        branch_id: row.try_get(1)?,
        outlet_id: row.try_get(2)?,
        username: row.try_get(3)?,
        display_name: row.try_get(4)?,
        role: Role::from_code(&role),
        password_hash: row.try_get(6)?,
        active: active != 0,
    })
}

impl AccountStore for PgStore<'_> {
    fn ping(&self) -> StoreResult<()> {
        self.query_one("SELECT 1", &[])?;
        Ok(())
    }

    fn note_device_sync(&self, device_id: &str, at: i64, app_version: &str, refused: i64) -> StoreResult<()> {
        self.write(
            "INSERT INTO device_syncs (device_id, last_sync_at, app_version, refused_last, refused_total)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (device_id) DO UPDATE SET last_sync_at = GREATEST(device_syncs.last_sync_at, $2),
                 app_version = $3, refused_last = $4, refused_total = device_syncs.refused_total + $4",
            &[&device_id, &at, &app_version, &refused],
        )?;
        Ok(())
    }

    fn insert_audit(&self, at: i64, actor: &str, action: &str, subject: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO audit (at, actor, action, subject) VALUES ($1, $2, $3, $4)",
            &[&at, &actor, &action, &subject],
        )?;
        Ok(())
    }

    fn insert_branch(&self, id: &str, name: &str) -> StoreResult<()> {
        self.execute("INSERT INTO branches (id, name) VALUES ($1, $2)", &[&id, &name])?;
        Ok(())
    }

    fn branch_exists(&self, id: &str) -> StoreResult<bool> {
        if unstorable(id) {
            return Ok(false);
        }
        Ok(self.query_opt("SELECT 1 FROM branches WHERE id = $1", &[&id])?.is_some())
    }

    fn branch_named(&self, name: &str) -> StoreResult<bool> {
        if unstorable(name) {
            return Ok(false);
        }
        Ok(!self.query("SELECT 1 FROM branches WHERE name = $1 LIMIT 1", &[&name])?.is_empty())
    }

    fn insert_outlet(&self, id: &str, branch_id: &str, name: &str) -> StoreResult<()> {
        self.execute("INSERT INTO outlets (id, branch_id, name) VALUES ($1, $2, $3)", &[&id, &branch_id, &name])?;
        Ok(())
    }

    fn outlet_branch(&self, outlet_id: &str) -> StoreResult<Option<String>> {
        if unstorable(outlet_id) {
            return Ok(None);
        }
        let row = self.query_opt("SELECT branch_id FROM outlets WHERE id = $1", &[&outlet_id])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn username_taken(&self, username: &str) -> StoreResult<bool> {
        if unstorable(username) {
            return Ok(false);
        }
        Ok(self.query_opt("SELECT 1 FROM users WHERE username = $1", &[&username])?.is_some())
    }

    fn insert_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO users (id, branch_id, outlet_id, username, display_name, role, password_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &user.id,
                &user.branch_id,
                &user.outlet_id,
                &user.username,
                &user.display_name,
                &user.role.code(),
                &password_hash,
            ],
        )?;
        Ok(())
    }

    fn set_admin_head_office(&self, user_id: &str, head_office: bool) -> StoreResult<bool> {
        if unstorable(user_id) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE users SET head_office = $2 WHERE id = $1 AND role = 'admin'",
            &[&user_id, &i64::from(head_office)],
        )?;
        Ok(changed > 0)
    }

    fn is_head_office(&self, user_id: &str) -> StoreResult<bool> {
        if unstorable(user_id) {
            return Ok(false);
        }
        let row = self.query_opt("SELECT head_office FROM users WHERE id = $1 AND active = 1", &[&user_id])?;
        Ok(row.map(|r| r.try_get::<_, i64>(0)).transpose()?.is_some_and(|flag| flag != 0))
    }

    fn user_by_id(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        if unstorable(user_id) {
            return Ok(None);
        }
        self.remembered("users", "user", user_id, || {
            let row = self.query_opt(
                "SELECT id, branch_id, outlet_id, username, display_name, role, password_hash, active
                 FROM users WHERE id = $1",
                &[&user_id],
            )?;
            row.as_ref().map(user_row).transpose()
        })
    }

    fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        if unstorable(username) {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT id, branch_id, outlet_id, username, display_name, role, password_hash, active
             FROM users WHERE username = $1",
            &[&username],
        )?;
        row.as_ref().map(user_row).transpose()
    }

    fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>> {
        let row =
            self.query_opt("SELECT failures, first_at FROM login_failures WHERE username = $1", &[&failure_key(key)])?;
        row.map(|r| Ok(LoginFailures { failures: r.try_get(0)?, first_at: r.try_get(1)? })).transpose()
    }

    fn add_login_failure(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<()> {
        // The window's age in NUMERIC: where `now - first_at` leaves BIGINT's range, SQLite goes on
        // in floating point (and starts the window over) where BIGINT arithmetic would fail.
        self.execute(
            "INSERT INTO login_failures (username, failures, first_at) VALUES ($1, 1, $2)
             ON CONFLICT (username) DO UPDATE SET
                 failures = CASE WHEN $2::bigint::numeric - login_failures.first_at >= $3::bigint
                     THEN 1 ELSE login_failures.failures + 1 END,
                 first_at = CASE WHEN $2::bigint::numeric - login_failures.first_at >= $3::bigint
                     THEN $2 ELSE login_failures.first_at END",
            &[&failure_key(key), &now, &window_ms],
        )?;
        Ok(())
    }

    fn login_failure_rows(&self) -> StoreResult<i64> {
        Ok(self.query_one("SELECT count(*) FROM login_failures", &[])?.try_get(0)?)
    }

    fn delete_oldest_login_failures(&self, count: i64) -> StoreResult<()> {
        // A negative LIMIT is no limit on SQLite and an error here: NULL is no limit.
        self.execute(
            "DELETE FROM login_failures WHERE username IN
                 (SELECT username FROM login_failures ORDER BY first_at, username
                  LIMIT CASE WHEN $1::bigint < 0 THEN NULL ELSE $1::bigint END)",
            &[&count],
        )?;
        Ok(())
    }

    fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.execute("DELETE FROM login_failures WHERE username = $1", &[&failure_key(key)])?;
        Ok(())
    }

    fn device(&self, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        if unstorable(device_id) {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT user_id, branch_id, revoked_at, released_at FROM devices WHERE device_id = $1",
            &[&device_id],
        )?;
        row.map(|r| {
            Ok(DeviceRecord {
                user_id: r.try_get(0)?,
                branch_id: r.try_get(1)?,
                revoked_at: r.try_get(2)?,
                released_at: r.try_get(3)?,
            })
        })
        .transpose()
    }

    fn device_holder(&self, device_id: &str) -> StoreResult<Option<DeviceHolder>> {
        if unstorable(device_id) {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT coalesce(d.branch_id, u.branch_id), u.role FROM devices d LEFT JOIN users u ON u.id = d.user_id
             WHERE d.device_id = $1",
            &[&device_id],
        )?;
        row.map(|r| {
            let role: Option<String> = r.try_get(1)?;
            Ok(DeviceHolder { branch_id: r.try_get(0)?, role: role.as_deref().and_then(Role::from_code) })
        })
        .transpose()
    }

    fn insert_device(&self, device_id: &str, user_id: &str, branch_id: &str, registered_at: i64) -> StoreResult<()> {
        self.execute(
            "INSERT INTO devices (device_id, user_id, branch_id, registered_at) VALUES ($1, $2, $3, $4)",
            &[&device_id, &user_id, &branch_id, &registered_at],
        )?;
        Ok(())
    }

    fn take_over_device(&self, device_id: &str, user_id: &str, branch_id: &str) -> StoreResult<()> {
        if unstorable(device_id) {
            return Ok(());
        }
        self.execute(
            "UPDATE devices SET user_id = $2, branch_id = $3, released_at = NULL WHERE device_id = $1",
            &[&device_id, &user_id, &branch_id],
        )?;
        Ok(())
    }

    fn mark_device_revoked(&self, device_id: &str, at: i64) -> StoreResult<()> {
        if unstorable(device_id) {
            return Ok(());
        }
        self.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE device_id = $1",
            &[&device_id, &at],
        )?;
        Ok(())
    }

    fn clear_device_revoked(&self, device_id: &str) -> StoreResult<()> {
        if unstorable(device_id) {
            return Ok(());
        }
        self.execute("UPDATE devices SET revoked_at = NULL WHERE device_id = $1", &[&device_id])?;
        Ok(())
    }

    fn mark_device_released(&self, device_id: &str, at: i64) -> StoreResult<()> {
        if unstorable(device_id) {
            return Ok(());
        }
        self.execute(
            "UPDATE devices SET released_at = coalesce(released_at, $2) WHERE device_id = $1",
            &[&device_id, &at],
        )?;
        Ok(())
    }

    fn actor_device(&self, actor: &ActorId) -> StoreResult<Option<String>> {
        let row = self.query_opt("SELECT device_id FROM device_actors WHERE actor = $1", &[&actor.to_bytes()])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn device_actor_count(&self, device_id: &str) -> StoreResult<i64> {
        if unstorable(device_id) {
            return Ok(0);
        }
        Ok(self.query_one("SELECT count(*) FROM device_actors WHERE device_id = $1", &[&device_id])?.try_get(0)?)
    }

    fn insert_device_actor(&self, actor: &ActorId, device_id: &str) -> StoreResult<()> {
        self.execute("INSERT INTO device_actors (actor, device_id) VALUES ($1, $2)", &[&actor.to_bytes(), &device_id])?;
        Ok(())
    }

    fn device_actors(&self, device_id: &str) -> StoreResult<Vec<ActorId>> {
        if unstorable(device_id) {
            return Ok(Vec::new());
        }
        // By actor: SQLite's table is WITHOUT ROWID, so its index on `device_id` lists a device's
        // actors in the order of their bytes.
        let rows = self.query("SELECT actor FROM device_actors WHERE device_id = $1 ORDER BY actor", &[&device_id])?;
        rows.iter().map(|r| Ok(ActorId::from(r.try_get::<_, Vec<u8>>(0)?))).collect()
    }

    fn insert_token(
        &self,
        token_hash: &[u8],
        device_id: &str,
        user_id: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO tokens (token_hash, device_id, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&token_hash, &device_id, &user_id, &issued_at, &expires_at],
        )?;
        Ok(())
    }

    fn token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let row = self.query_opt(
            "SELECT t.device_id, t.user_id, t.expires_at, d.revoked_at
             FROM tokens t JOIN devices d ON d.device_id = t.device_id WHERE t.token_hash = $1",
            &[&token_hash],
        )?;
        row.map(|r| {
            Ok(TokenRecord {
                device_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                expires_at: r.try_get(2)?,
                device_revoked_at: r.try_get(3)?,
            })
        })
        .transpose()
    }

    fn set_token_expiry(&self, token_hash: &[u8], expires_at: i64) -> StoreResult<()> {
        self.execute("UPDATE tokens SET expires_at = $2 WHERE token_hash = $1", &[&token_hash, &expires_at])?;
        Ok(())
    }

    fn delete_device_tokens(&self, device_id: &str) -> StoreResult<()> {
        if unstorable(device_id) {
            return Ok(());
        }
        self.execute("DELETE FROM tokens WHERE device_id = $1", &[&device_id])?;
        Ok(())
    }
}

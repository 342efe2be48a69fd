//! Branches, outlets, users and registered devices, in the server's SQLite store.
//!
//! Passwords are hashed with Argon2id; device tokens are random and stored only as SHA-256
//! hashes, each bound to the device it was issued to. Wrong passwords are rate-limited per
//! username; an unknown username and a wrong password get the same answer.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// Failed logins allowed per username within [`FAILURE_WINDOW_MS`].
pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Manager,
    Supervisor,
    Admin,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        match code {
            "manager" => Some(Role::Manager),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub branch_id: String,
    pub outlet_id: Option<String>,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field} is invalid")]
    Invalid { field: &'static str },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("the username is taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("too many failed logins; try again later")]
    RateLimited,
    #[error("this device has been revoked")]
    DeviceRevoked,
    #[error("not signed in")]
    Unauthenticated,
    #[error("password hashing failed")]
    Hashing,
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, AccountError>;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS branches (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outlets (id TEXT PRIMARY KEY, branch_id TEXT NOT NULL REFERENCES branches(id), name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL REFERENCES branches(id),
    outlet_id TEXT REFERENCES outlets(id),
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    registered_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    user_id TEXT NOT NULL REFERENCES users(id),
    issued_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (username TEXT PRIMARY KEY, failures INTEGER NOT NULL, first_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL
);
";

fn valid_name(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AccountError::Invalid { field });
    }
    Ok(())
}

pub fn audit(conn: &Connection, now: i64, actor: &str, action: &str, subject: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, subject) VALUES (?1, ?2, ?3, ?4)",
        params![now, actor, action, subject],
    )?;
    Ok(())
}

pub fn create_branch(conn: &Connection, name: &str, now: i64, actor: &str) -> Result<String> {
    valid_name("name", name, 100)?;
    let id = fieldsync_core::ids::new_id();
    conn.execute("INSERT INTO branches (id, name) VALUES (?1, ?2)", params![id, name])?;
    audit(conn, now, actor, "branch.create", &id)?;
    Ok(id)
}

pub fn create_outlet(conn: &Connection, branch_id: &str, name: &str, now: i64, actor: &str) -> Result<String> {
    valid_name("name", name, 100)?;
    exists(conn, "SELECT 1 FROM branches WHERE id = ?1", branch_id, "branch")?;
    let id = fieldsync_core::ids::new_id();
    conn.execute("INSERT INTO outlets (id, branch_id, name) VALUES (?1, ?2, ?3)", params![id, branch_id, name])?;
    audit(conn, now, actor, "outlet.create", &id)?;
    Ok(id)
}

fn exists(conn: &Connection, sql: &str, id: &str, what: &'static str) -> Result<()> {
    conn.query_row(sql, [id], |_| Ok(())).optional()?.ok_or(AccountError::NotFound { what })
}

pub struct NewUser<'a> {
    pub branch_id: &'a str,
    pub outlet_id: Option<&'a str>,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a str,
}

pub fn create_user(conn: &Connection, new: &NewUser, now: i64, actor: &str) -> Result<String> {
    if new.username.len() < 2
        || new.username.len() > 64
        || !new.username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return Err(AccountError::Invalid { field: "username" });
    }
    valid_name("display_name", new.display_name, 50)?;
    if new.password.chars().count() < 8 || new.password.len() > 256 {
        return Err(AccountError::Invalid { field: "password" });
    }
    exists(conn, "SELECT 1 FROM branches WHERE id = ?1", new.branch_id, "branch")?;
    if let Some(outlet) = new.outlet_id {
        let same_branch: Option<String> =
            conn.query_row("SELECT branch_id FROM outlets WHERE id = ?1", [outlet], |r| r.get(0)).optional()?;
        if same_branch.as_deref() != Some(new.branch_id) {
            return Err(AccountError::NotFound { what: "outlet" });
        }
    }
    let taken = conn.query_row("SELECT 1 FROM users WHERE username = ?1", [new.username], |_| Ok(())).optional()?;
    if taken.is_some() {
        return Err(AccountError::UsernameTaken);
    }
    let hash = Argon2::default().hash_password(new.password.as_bytes()).map_err(|_| AccountError::Hashing)?.to_string();
    let id = fieldsync_core::ids::new_id();
    conn.execute(
        "INSERT INTO users (id, branch_id, outlet_id, username, display_name, role, password_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, new.branch_id, new.outlet_id, new.username, new.display_name, new.role.code(), hash],
    )?;
    audit(conn, now, actor, "user.create", &id)?;
    Ok(id)
}

fn user_row(row: &rusqlite::Row) -> rusqlite::Result<(User, String, bool)> {
    let role: String = row.get(5)?;
    Ok((
        User {
            id: row.get(0)?,
            branch_id: row.get(1)?,
            outlet_id: row.get(2)?,
            username: row.get(3)?,
            display_name: row.get(4)?,
            role: Role::from_code(&role).unwrap_or(Role::Manager),
        },
        row.get(6)?,
        row.get(7)?,
    ))
}

const USER_COLUMNS: &str = "id, branch_id, outlet_id, username, display_name, role, password_hash, active";

fn valid_device_id(device_id: &str) -> Result<()> {
    if device_id.is_empty()
        || device_id.len() > 64
        || !device_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AccountError::Invalid { field: "device_id" });
    }
    Ok(())
}

/// Checks the password and issues a token bound to `device_id`. Returns the token (shown once)
/// and the user.
pub fn login(
    conn: &mut Connection,
    username: &str,
    password: &str,
    device_id: &str,
    now: i64,
) -> Result<(String, User)> {
    valid_device_id(device_id)?;
    if username.len() > 64 || password.len() > 256 {
        return Err(AccountError::WrongCredentials);
    }
    let tx = conn.transaction()?;
    let failures: Option<(i64, i64)> = tx
        .query_row("SELECT failures, first_at FROM login_failures WHERE username = ?1", [username], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((count, first_at)) = failures
        && count >= MAX_FAILURES
        && now - first_at < FAILURE_WINDOW_MS
    {
        return Err(AccountError::RateLimited);
    }
    let found = tx
        .query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"), [username], user_row)
        .optional()?;
    let verified = match &found {
        Some((_, hash, true)) => Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok(),
        _ => false,
    };
    let Some((user, _, _)) = found.filter(|_| verified) else {
        let fresh = failures.is_none_or(|(_, first_at)| now - first_at >= FAILURE_WINDOW_MS);
        if fresh {
            tx.execute(
                "INSERT INTO login_failures (username, failures, first_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (username) DO UPDATE SET failures = 1, first_at = ?2",
                params![username, now],
            )?;
        } else {
            tx.execute("UPDATE login_failures SET failures = failures + 1 WHERE username = ?1", [username])?;
        }
        tx.commit()?;
        return Err(AccountError::WrongCredentials);
    };
    let revoked: Option<Option<i64>> =
        tx.query_row("SELECT revoked_at FROM devices WHERE device_id = ?1", [device_id], |r| r.get(0)).optional()?;
    if matches!(revoked, Some(Some(_))) {
        return Err(AccountError::DeviceRevoked);
    }
    tx.execute("DELETE FROM login_failures WHERE username = ?1", [username])?;
    let token = issue_token(&tx, &user.id, device_id, now)?;
    tx.commit()?;
    Ok((token, user))
}

/// Registers `device_id` for a user whose credentials were checked and issues its token (one live
/// token per device: a new one replaces the old). Also used by the sync benchmark to register many
/// devices without paying for a password hash each.
pub fn issue_token(conn: &Connection, user_id: &str, device_id: &str, now: i64) -> Result<String> {
    valid_device_id(device_id)?;
    conn.execute(
        "INSERT INTO devices (device_id, user_id, registered_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE SET user_id = ?2",
        params![device_id, user_id, now],
    )?;
    conn.execute("DELETE FROM tokens WHERE device_id = ?1", [device_id])?;
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    conn.execute(
        "INSERT INTO tokens (token_hash, device_id, user_id, issued_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash(&token), device_id, user_id, now],
    )?;
    audit(conn, now, user_id, "device.login", device_id)?;
    Ok(token)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The user behind a token presented by `device_id`. A token from another device is as good as
/// none; a revoked device gets its own answer so the tablet wipes itself.
pub fn authenticate(conn: &Connection, token: &str, device_id: &str) -> Result<User> {
    let row: Option<(String, String, Option<i64>)> = conn
        .query_row(
            "SELECT t.device_id, t.user_id, d.revoked_at FROM tokens t JOIN devices d ON d.device_id = t.device_id
             WHERE t.token_hash = ?1",
            [token_hash(token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let revoked_device: Option<Option<i64>> =
        conn.query_row("SELECT revoked_at FROM devices WHERE device_id = ?1", [device_id], |r| r.get(0)).optional()?;
    if matches!(revoked_device, Some(Some(_))) {
        return Err(AccountError::DeviceRevoked);
    }
    let Some((bound_device, user_id, _)) = row else { return Err(AccountError::Unauthenticated) };
    if bound_device != device_id {
        return Err(AccountError::Unauthenticated);
    }
    let (user, _, active) = conn
        .query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), [&user_id], user_row)
        .optional()?
        .ok_or(AccountError::Unauthenticated)?;
    if !active {
        return Err(AccountError::Unauthenticated);
    }
    Ok(user)
}

/// An active user by ID.
pub fn user_by_id(conn: &Connection, user_id: &str) -> Result<Option<User>> {
    let row =
        conn.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), [user_id], user_row).optional()?;
    Ok(row.filter(|(_, _, active)| *active).map(|(user, _, _)| user))
}

/// Revokes a device (a lost tablet): its tokens stop working and its next contact wipes it.
/// A supervisor may revoke devices of their own branch; an admin any.
pub fn revoke_device(conn: &Connection, device_id: &str, by: Option<&User>, now: i64) -> Result<()> {
    valid_device_id(device_id)?;
    let owner_branch: Option<String> = conn
        .query_row(
            "SELECT u.branch_id FROM devices d JOIN users u ON u.id = d.user_id WHERE d.device_id = ?1",
            [device_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(branch) = owner_branch else { return Err(AccountError::NotFound { what: "device" }) };
    if let Some(actor) = by {
        let allowed = actor.role == Role::Admin || (actor.role == Role::Supervisor && actor.branch_id == branch);
        if !allowed {
            // Another branch's device is answered like a device that does not exist.
            return Err(AccountError::NotFound { what: "device" });
        }
    }
    conn.execute(
        "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE device_id = ?1",
        params![device_id, now],
    )?;
    conn.execute("DELETE FROM tokens WHERE device_id = ?1", [device_id])?;
    audit(conn, now, by.map_or("admin-cli", |u| u.id.as_str()), "device.revoke", device_id)?;
    Ok(())
}

//! Branches, outlets, users and registered devices.
//!
//! - Passwords are hashed with Argon2id, off the database lock; an unknown username is checked
//!   against a dummy hash, so it costs the same time as a wrong password and gets the same answer.
//! - Failed logins are limited per username and per client address, in a bounded table.
//! - A device belongs to one user of one branch. A login that presents a device held by someone
//!   else is refused; another user of the same branch takes a device over only after it was
//!   released (the tablet signed out, or a supervisor released it).
//! - Each device registers its automerge actors at login; the server takes changes only under
//!   the pushing device's actors.
//! - Device tokens are random, stored only as SHA-256 hashes, bound to their device, expire
//!   after [`TOKEN_TTL_MS`] unused and are renewed by use. A revoked device learns it is revoked
//!   only when it presents its own last token.
//! - Admins act within their branch unless they are head-office admins; supervisors act within
//!   their branch and never on admins.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use automerge::ActorId;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// Failed logins allowed per username within [`FAILURE_WINDOW_MS`].
pub const MAX_FAILURES: i64 = 5;
/// Failed logins allowed per client address within [`FAILURE_WINDOW_MS`] (a branch's PCs may share
/// one address, so this is looser than the per-username limit).
pub const MAX_CLIENT_FAILURES: i64 = 50;
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Rows kept in the failure table at most; the oldest go first.
pub const MAX_FAILURE_ROWS: i64 = 10_000;
/// A token unused for this long stops working.
pub const TOKEN_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// A used token is renewed at most this often (one write a day per device, not one per request).
const TOKEN_RENEW_EVERY_MS: i64 = 24 * 60 * 60 * 1000;
/// Automerge actors one device may register (one per local store it ever had).
const MAX_ACTORS_PER_DEVICE: i64 = 64;

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

/// A signed-in device: its ID and the automerge actors registered to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub actors: Vec<ActorId>,
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
    #[error("this device is registered to another user")]
    DeviceInUse,
    #[error("not signed in")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("password hashing failed")]
    Hashing,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> Self {
        AccountError::Store(e.into())
    }
}

pub type Result<T> = std::result::Result<T, AccountError>;

fn valid_name(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AccountError::Invalid { field });
    }
    Ok(())
}

pub fn audit(conn: &Connection, now: i64, actor: &str, action: &str, subject: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO audit (at, actor, action, subject) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![now, actor, action, subject])?;
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

/// Argon2id with the crate's default parameters: one hash costs ~25 ms and 19 MiB here.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

pub fn hash_password(password: &str) -> Result<String> {
    Ok(hasher().hash_password(password.as_bytes()).map_err(|_| AccountError::Hashing)?.to_string())
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
    let hash = hash_password(new.password)?;
    let id = fieldsync_core::ids::new_id();
    conn.execute(
        "INSERT INTO users (id, branch_id, outlet_id, username, display_name, role, password_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, new.branch_id, new.outlet_id, new.username, new.display_name, new.role.code(), hash],
    )?;
    audit(conn, now, actor, "user.create", &id)?;
    Ok(id)
}

/// Makes an admin a head-office admin (acting in every branch), or not.
pub fn set_head_office(conn: &Connection, user_id: &str, head_office: bool, now: i64, actor: &str) -> Result<()> {
    let changed = conn
        .execute("UPDATE users SET head_office = ?2 WHERE id = ?1 AND role = 'admin'", params![user_id, head_office])?;
    if changed == 0 {
        return Err(AccountError::NotFound { what: "admin" });
    }
    audit(conn, now, actor, if head_office { "user.head_office" } else { "user.branch_office" }, user_id)?;
    Ok(())
}

struct UserRow {
    user: User,
    password_hash: String,
    active: bool,
}

fn user_row(row: &rusqlite::Row) -> rusqlite::Result<UserRow> {
    let role: String = row.get(5)?;
    let role = Role::from_code(&role);
    Ok(UserRow {
        user: User {
            id: row.get(0)?,
            branch_id: row.get(1)?,
            outlet_id: row.get(2)?,
            username: row.get(3)?,
            display_name: row.get(4)?,
            role: role.unwrap_or(Role::Manager),
        },
        password_hash: row.get(6)?,
        // A row with a role this build does not know never signs in.
        active: row.get::<_, bool>(7)? && role.is_some(),
    })
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

/// An automerge actor as a device presents it: lowercase hex of 1 to 32 bytes.
pub fn parse_actor(hex: &str) -> Result<ActorId> {
    let ok = !hex.is_empty() && hex.len() <= 64 && hex.len().is_multiple_of(2);
    if !ok || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(AccountError::Invalid { field: "actor" });
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| AccountError::Invalid { field: "actor" }))
        .collect::<Result<_>>()?;
    Ok(ActorId::from(bytes.as_slice()))
}

/// A login attempt as it arrives: what the client says and where it comes from.
pub struct LoginAttempt {
    pub username: String,
    pub password: String,
    pub device_id: String,
    /// The automerge actor of the device's store (hex), registered to the device.
    pub actor: Option<String>,
    /// The client's address, for the per-client failure limit.
    pub client: Option<String>,
}

/// The first step of a login, under the database lock: input checks, the failure limits, and the
/// stored hash to verify (`None` for an unknown or inactive user: a dummy hash is verified instead).
pub struct LoginCheck {
    user: Option<UserRow>,
}

impl LoginCheck {
    pub fn password_hash(&self) -> Option<String> {
        self.user.as_ref().filter(|u| u.active).map(|u| u.password_hash.clone())
    }
}

fn failure_keys(attempt: &LoginAttempt) -> Vec<(String, i64)> {
    let mut keys = vec![(format!("u:{}", attempt.username), MAX_FAILURES)];
    if let Some(client) = &attempt.client {
        keys.push((format!("c:{client}"), MAX_CLIENT_FAILURES));
    }
    keys
}

pub fn login_check(conn: &Connection, attempt: &LoginAttempt, now: i64) -> Result<LoginCheck> {
    valid_device_id(&attempt.device_id)?;
    if let Some(actor) = &attempt.actor {
        parse_actor(actor)?;
    }
    for (key, max) in failure_keys(attempt) {
        let failures: Option<(i64, i64)> = conn
            .prepare_cached("SELECT failures, first_at FROM login_failures WHERE username = ?1")?
            .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((count, first_at)) = failures
            && count >= max
            && now - first_at < FAILURE_WINDOW_MS
        {
            return Err(AccountError::RateLimited);
        }
    }
    if attempt.username.len() > 64 || attempt.password.len() > 256 {
        return Ok(LoginCheck { user: None });
    }
    let user = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([&attempt.username], user_row)
        .optional()?;
    Ok(LoginCheck { user })
}

/// A hash of a random password with the same parameters as real ones: verifying against it costs
/// what a real verification costs.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password(&fieldsync_core::ids::new_id()).unwrap_or_else(|_| {
        // Hashing a fixed-size random string with default parameters does not fail; should it,
        // an unparsable hash still costs a parse, and every login is refused either way.
        String::new()
    })
});

/// The second step, off the lock: verifies the password against the stored hash, or against the
/// dummy hash for an unknown user (same cost, same answer).
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    let Some(hash) = hash else {
        let _ = argon2::PasswordHash::new(&DUMMY_HASH).map(|h| hasher().verify_password(password.as_bytes(), &h));
        return false;
    };
    argon2::PasswordHash::new(hash).is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
}

/// The last step, under the lock, in one transaction: records a failure, or binds the device
/// and issues its token.
pub fn login_finish(
    conn: &mut Connection,
    attempt: &LoginAttempt,
    check: LoginCheck,
    verified: bool,
    now: i64,
) -> Result<(String, User)> {
    let tx = conn.transaction()?;
    let user = check.user.filter(|u| u.active && verified);
    let Some(row) = user else {
        for (key, _) in failure_keys(attempt) {
            record_failure(&tx, &key, now)?;
        }
        tx.commit()?;
        return Err(AccountError::WrongCredentials);
    };
    tx.prepare_cached("DELETE FROM login_failures WHERE username = ?1")?
        .execute([format!("u:{}", attempt.username)])?;
    bind_device(&tx, &row.user, &attempt.device_id, now)?;
    if let Some(actor) = &attempt.actor {
        register_actor(&tx, &attempt.device_id, &parse_actor(actor)?)?;
    }
    let token = new_token(&tx, &row.user.id, &attempt.device_id, now)?;
    audit(&tx, now, &row.user.id, "device.login", &attempt.device_id)?;
    tx.commit()?;
    Ok((token, row.user))
}

fn record_failure(conn: &Connection, key: &str, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO login_failures (username, failures, first_at) VALUES (?1, 1, ?2)
         ON CONFLICT (username) DO UPDATE SET
             failures = CASE WHEN ?2 - first_at >= ?3 THEN 1 ELSE failures + 1 END,
             first_at = CASE WHEN ?2 - first_at >= ?3 THEN ?2 ELSE first_at END",
    )?
    .execute(params![key, now, FAILURE_WINDOW_MS])?;
    // Bounded: a flood of made-up usernames or addresses cannot grow the table without end.
    let rows: i64 = conn.prepare_cached("SELECT count(*) FROM login_failures")?.query_row([], |r| r.get(0))?;
    if rows > MAX_FAILURE_ROWS {
        conn.prepare_cached(
            "DELETE FROM login_failures WHERE username IN
                 (SELECT username FROM login_failures ORDER BY first_at LIMIT ?1)",
        )?
        .execute([rows - MAX_FAILURE_ROWS + MAX_FAILURE_ROWS / 10])?;
    }
    Ok(())
}

/// Binds `device_id` to `user`: a new device, the same user again, or a released device of the
/// user's branch. Anything else is refused and changes nothing.
fn bind_device(conn: &Connection, user: &User, device_id: &str, now: i64) -> Result<()> {
    /// A device's binding: its holder, branch, revocation and release.
    type Binding = (String, Option<String>, Option<i64>, Option<i64>);
    let row: Option<Binding> = conn
        .prepare_cached("SELECT user_id, branch_id, revoked_at, released_at FROM devices WHERE device_id = ?1")?
        .query_row([device_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    match row {
        None => {
            conn.prepare_cached(
                "INSERT INTO devices (device_id, user_id, branch_id, registered_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![device_id, user.id, user.branch_id, now])?;
        }
        Some((_, _, Some(_), _)) => return Err(AccountError::DeviceRevoked),
        Some((holder, _, None, None)) if holder == user.id => {}
        Some((_, branch, None, Some(_))) if branch.as_deref().is_none_or(|b| b == user.branch_id) => {
            conn.prepare_cached(
                "UPDATE devices SET user_id = ?2, branch_id = ?3, released_at = NULL WHERE device_id = ?1",
            )?
            .execute(params![device_id, user.id, user.branch_id])?;
            audit(conn, now, &user.id, "device.take_over", device_id)?;
        }
        Some(_) => return Err(AccountError::DeviceInUse),
    }
    Ok(())
}

fn register_actor(conn: &Connection, device_id: &str, actor: &ActorId) -> Result<()> {
    let holder: Option<String> = conn
        .prepare_cached("SELECT device_id FROM device_actors WHERE actor = ?1")?
        .query_row([actor.to_bytes()], |r| r.get(0))
        .optional()?;
    match holder {
        Some(d) if d == device_id => return Ok(()),
        Some(_) => return Err(AccountError::Invalid { field: "actor" }),
        None => {}
    }
    let server: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM server_meta WHERE key = 'actor'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if server.as_deref() == Some(actor.to_bytes()) {
        return Err(AccountError::Invalid { field: "actor" });
    }
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM device_actors WHERE device_id = ?1")?
        .query_row([device_id], |r| r.get(0))?;
    if count >= MAX_ACTORS_PER_DEVICE {
        return Err(AccountError::Invalid { field: "actor" });
    }
    conn.prepare_cached("INSERT INTO device_actors (actor, device_id) VALUES (?1, ?2)")?
        .execute(params![actor.to_bytes(), device_id])?;
    Ok(())
}

/// Registers `device_id` for a user whose credentials were checked, with an actor, and issues its
/// token. For the sync benchmark and tests, which register many devices without paying for a
/// password hash each.
pub fn register_device(conn: &Connection, user: &User, device_id: &str, actor: &ActorId, now: i64) -> Result<String> {
    valid_device_id(device_id)?;
    bind_device(conn, user, device_id, now)?;
    register_actor(conn, device_id, actor)?;
    new_token(conn, &user.id, device_id, now)
}

/// One live token per device: a new one replaces the old.
fn new_token(conn: &Connection, user_id: &str, device_id: &str, now: i64) -> Result<String> {
    conn.prepare_cached("DELETE FROM tokens WHERE device_id = ?1")?.execute([device_id])?;
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    conn.prepare_cached(
        "INSERT INTO tokens (token_hash, device_id, user_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![token_hash(&token), device_id, user_id, now, now + TOKEN_TTL_MS])?;
    Ok(token)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The user and device behind a token presented by `device_id`, read only. A token from another
/// device, an expired one or none is answered alike; a revoked device hears so only with its own
/// last token.
pub fn authenticate(conn: &Connection, token: &str, device_id: &str, now: i64) -> Result<Authenticated> {
    if token.len() > 128 || device_id.len() > 64 {
        return Err(AccountError::Unauthenticated);
    }
    let row: Option<(String, String, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT t.device_id, t.user_id, t.expires_at, d.revoked_at
             FROM tokens t JOIN devices d ON d.device_id = t.device_id WHERE t.token_hash = ?1",
        )?
        .query_row([token_hash(token)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((bound_device, user_id, expires_at, revoked_at)) = row else {
        return Err(AccountError::Unauthenticated);
    };
    if bound_device != device_id {
        return Err(AccountError::Unauthenticated);
    }
    if revoked_at.is_some() {
        return Err(AccountError::DeviceRevoked);
    }
    if now >= expires_at {
        return Err(AccountError::Unauthenticated);
    }
    let row = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([&user_id], user_row)
        .optional()?
        .filter(|r| r.active)
        .ok_or(AccountError::Unauthenticated)?;
    let renew = expires_at - now < TOKEN_TTL_MS - TOKEN_RENEW_EVERY_MS;
    let mut stmt = conn.prepare_cached("SELECT actor FROM device_actors WHERE device_id = ?1")?;
    let actors = stmt
        .query_map([device_id], |r| Ok(ActorId::from(r.get_ref(0)?.as_blob()?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Authenticated { user: row.user, device: Device { id: device_id.to_string(), actors }, renew })
}

/// Who a request comes from, and whether their token is due for renewal ([`renew_token`]).
pub struct Authenticated {
    pub user: User,
    pub device: Device,
    pub renew: bool,
}

/// Extends a token in use by [`TOKEN_TTL_MS`] from now (at most once a day per device).
pub fn renew_token(conn: &Connection, token: &str, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE tokens SET expires_at = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash(token), now + TOKEN_TTL_MS])?;
    Ok(())
}

/// An active user by ID.
pub fn user_by_id(conn: &Connection, user_id: &str) -> Result<Option<User>> {
    let row = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([user_id], user_row)
        .optional()?;
    Ok(row.filter(|r| r.active).map(|r| r.user))
}

/// Whether `actor` may act on a device held by a user of `branch_id` with `role`: a supervisor
/// within their branch and never on an admin's device; an admin within their branch unless they
/// are a head-office admin.
fn may_manage_device(conn: &Connection, actor: &User, branch_id: &str, holder_role: Option<Role>) -> Result<bool> {
    Ok(match actor.role {
        Role::Manager => false,
        Role::Supervisor => actor.branch_id == branch_id && holder_role != Some(Role::Admin),
        Role::Admin => {
            actor.branch_id == branch_id
                || conn
                    .prepare_cached("SELECT head_office FROM users WHERE id = ?1 AND active = 1")?
                    .query_row([&actor.id], |r| r.get::<_, bool>(0))
                    .optional()?
                    .unwrap_or(false)
        }
    })
}

/// Succeeds for a device `by` may manage (`None`: the administrator's command line); anything else
/// (no such device, another branch, an admin's device for a supervisor) is answered alike, as not
/// found.
fn managed_device(conn: &Connection, device_id: &str, by: Option<&User>) -> Result<()> {
    valid_device_id(device_id)?;
    let row: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT coalesce(d.branch_id, u.branch_id), u.role FROM devices d LEFT JOIN users u ON u.id = d.user_id
             WHERE d.device_id = ?1",
        )?
        .query_row([device_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((branch, role)) = row else { return Err(AccountError::NotFound { what: "device" }) };
    if let Some(actor) = by {
        let role = role.as_deref().and_then(Role::from_code);
        if !may_manage_device(conn, actor, branch.as_deref().unwrap_or_default(), role)? {
            return Err(AccountError::NotFound { what: "device" });
        }
    }
    Ok(())
}

/// Revokes a device (a lost tablet): it is refused from now on, and its next contact with its own
/// last token wipes it. `by` is `None` for the administrator's command line.
pub fn revoke_device(conn: &Connection, device_id: &str, by: Option<&User>, now: i64) -> Result<()> {
    managed_device(conn, device_id, by)?;
    conn.prepare_cached("UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE device_id = ?1")?
        .execute(params![device_id, now])?;
    audit(conn, now, by.map_or("admin-cli", |u| u.id.as_str()), "device.revoke", device_id)?;
    Ok(())
}

/// Releases a device so another user of its branch may sign in on it (the explicit take-over
/// path): its token stops working; a revoked device stays revoked until released, then starts
/// over. `by` is `None` for the administrator's command line.
pub fn release_device(conn: &Connection, device_id: &str, by: Option<&User>, now: i64) -> Result<()> {
    managed_device(conn, device_id, by)?;
    release(conn, device_id, now)?;
    conn.prepare_cached("UPDATE devices SET revoked_at = NULL WHERE device_id = ?1")?.execute([device_id])?;
    audit(conn, now, by.map_or("admin-cli", |u| u.id.as_str()), "device.release", device_id)?;
    Ok(())
}

/// A device signs out: its token ends here, and the device is free for another user of its branch
/// (the tablet wipes itself on its side).
pub fn sign_out(conn: &Connection, user: &User, device: &Device, now: i64) -> Result<()> {
    release(conn, &device.id, now)?;
    audit(conn, now, &user.id, "device.sign_out", &device.id)?;
    Ok(())
}

fn release(conn: &Connection, device_id: &str, now: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM tokens WHERE device_id = ?1")?.execute([device_id])?;
    conn.prepare_cached("UPDATE devices SET released_at = coalesce(released_at, ?2) WHERE device_id = ?1")?
        .execute(params![device_id, now])?;
    Ok(())
}

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
use sha2::{Digest, Sha256};

use crate::store::Store;
use crate::store::accounts::UserRecord;

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
    /// The device's clock minus the server's, as this request told it (`X-Device-Time`), for
    /// the evidence flags of the visits it brings.
    pub clock_offset_ms: Option<i64>,
    /// The app's version, as this request told it (`X-App-Version`), for the sync status page.
    pub app_version: Option<String>,
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

pub type Result<T> = std::result::Result<T, AccountError>;

fn valid_name(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AccountError::Invalid { field });
    }
    Ok(())
}

/// Appends one row to the audit trail. Takes the store (or, until `customers.rs` runs on the store,
/// the SQLite transaction it opens: see [`AsStore`]).
pub fn audit(store: &dyn Store, now: i64, actor: &str, action: &str, subject: &str) -> Result<()> {
    store.insert_audit(now, actor, action, subject)?;
    Ok(())
}

pub fn create_branch(store: &dyn Store, name: &str, now: i64, actor: &str) -> Result<String> {
    valid_name("name", name, 100)?;
    let id = fieldsync_core::ids::new_id();
    store.insert_branch(&id, name)?;
    audit(store, now, actor, "branch.create", &id)?;
    Ok(id)
}

pub fn create_outlet(store: &dyn Store, branch_id: &str, name: &str, now: i64, actor: &str) -> Result<String> {
    valid_name("name", name, 100)?;
    branch_exists(store, branch_id)?;
    let id = fieldsync_core::ids::new_id();
    store.insert_outlet(&id, branch_id, name)?;
    audit(store, now, actor, "outlet.create", &id)?;
    Ok(id)
}

fn branch_exists(store: &dyn Store, branch_id: &str) -> Result<()> {
    if store.branch_exists(branch_id)? { Ok(()) } else { Err(AccountError::NotFound { what: "branch" }) }
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

pub fn create_user(store: &dyn Store, new: &NewUser, now: i64, actor: &str) -> Result<String> {
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
    branch_exists(store, new.branch_id)?;
    if let Some(outlet) = new.outlet_id {
        let same_branch = store.outlet_branch(outlet)?;
        if same_branch.as_deref() != Some(new.branch_id) {
            return Err(AccountError::NotFound { what: "outlet" });
        }
    }
    if store.username_taken(new.username)? {
        return Err(AccountError::UsernameTaken);
    }
    let hash = hash_password(new.password)?;
    let user = User {
        id: fieldsync_core::ids::new_id(),
        branch_id: new.branch_id.to_string(),
        outlet_id: new.outlet_id.map(str::to_string),
        username: new.username.to_string(),
        display_name: new.display_name.to_string(),
        role: new.role,
    };
    store.insert_user(&user, &hash)?;
    audit(store, now, actor, "user.create", &user.id)?;
    Ok(user.id)
}

/// Makes an admin a head-office admin (acting in every branch), or not.
pub fn set_head_office(store: &dyn Store, user_id: &str, head_office: bool, now: i64, actor: &str) -> Result<()> {
    if !store.set_admin_head_office(user_id, head_office)? {
        return Err(AccountError::NotFound { what: "admin" });
    }
    audit(store, now, actor, if head_office { "user.head_office" } else { "user.branch_office" }, user_id)?;
    Ok(())
}

struct UserRow {
    user: User,
    password_hash: String,
    active: bool,
}

impl From<UserRecord> for UserRow {
    fn from(r: UserRecord) -> Self {
        UserRow {
            user: User {
                id: r.id,
                branch_id: r.branch_id,
                outlet_id: r.outlet_id,
                username: r.username,
                display_name: r.display_name,
                role: r.role.unwrap_or(Role::Manager),
            },
            password_hash: r.password_hash,
            // A row with a role this build does not know never signs in.
            active: r.active && r.role.is_some(),
        }
    }
}

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
    pub via: Via,
    /// The client's address, for the per-client failure limit.
    pub client: Option<String>,
}

/// Where a login comes from: a tablet (its token is bound to the device) or the supervisor web
/// app (a browser session). Both share the failure limits.
pub enum Via {
    Device {
        device_id: String,
        /// The automerge actor of the device's store (hex), registered to the device.
        actor: Option<String>,
    },
    Web,
}

/// The first step of a login, in one read of the store: input checks, the failure limits, and the
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

pub fn login_check(store: &dyn Store, attempt: &LoginAttempt, now: i64) -> Result<LoginCheck> {
    if let Via::Device { device_id, actor } = &attempt.via {
        valid_device_id(device_id)?;
        if let Some(actor) = actor {
            parse_actor(actor)?;
        }
    }
    for (key, max) in failure_keys(attempt) {
        if let Some(failures) = store.login_failures(&key)?
            && failures.failures >= max
            && now - failures.first_at < FAILURE_WINDOW_MS
        {
            return Err(AccountError::RateLimited);
        }
    }
    if attempt.username.len() > 64 || attempt.password.len() > 256 {
        return Ok(LoginCheck { user: None });
    }
    let user = store.user_by_username(&attempt.username)?.map(UserRow::from);
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

/// The second step, outside any transaction: verifies the password against the stored hash, or
/// against the dummy hash for an unknown user (same cost, same answer).
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    let Some(hash) = hash else {
        let _ = argon2::PasswordHash::new(&DUMMY_HASH).map(|h| hasher().verify_password(password.as_bytes(), &h));
        return false;
    };
    argon2::PasswordHash::new(hash).is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
}

/// The last step, in the caller's write transaction: records a failure, or (from a device) binds
/// the device and issues its token. The outer error aborts the login (the caller rolls its
/// transaction back); the inner one refuses wrong credentials, and the failure it recorded must be
/// committed. A web login returns no token: the caller opens the browser's session.
pub fn login_finish(
    store: &dyn Store,
    attempt: &LoginAttempt,
    check: LoginCheck,
    verified: bool,
    now: i64,
) -> Result<Result<(Option<String>, User)>> {
    let user = check.user.filter(|u| u.active && verified);
    let Some(row) = user else {
        for (key, _) in failure_keys(attempt) {
            record_failure(store, &key, now)?;
        }
        return Ok(Err(AccountError::WrongCredentials));
    };
    store.clear_login_failures(&format!("u:{}", attempt.username))?;
    let Via::Device { device_id, actor } = &attempt.via else {
        return Ok(Ok((None, row.user)));
    };
    bind_device(store, &row.user, device_id, now)?;
    if let Some(actor) = actor {
        register_actor(store, device_id, &parse_actor(actor)?)?;
    }
    let token = new_token(store, &row.user.id, device_id, now)?;
    audit(store, now, &row.user.id, "device.login", device_id)?;
    Ok(Ok((Some(token), row.user)))
}

fn record_failure(store: &dyn Store, key: &str, now: i64) -> Result<()> {
    store.add_login_failure(key, now, FAILURE_WINDOW_MS)?;
    // Bounded: a flood of made-up usernames or addresses cannot grow the table without end.
    let rows = store.login_failure_rows()?;
    if rows > MAX_FAILURE_ROWS {
        store.delete_oldest_login_failures(rows - MAX_FAILURE_ROWS + MAX_FAILURE_ROWS / 10)?;
    }
    Ok(())
}

/// Binds `device_id` to `user`: a new device, the same user again, or a released device of the
/// user's branch. Anything else is refused and changes nothing.
fn bind_device(store: &dyn Store, user: &User, device_id: &str, now: i64) -> Result<()> {
    match store.device(device_id)? {
        None => store.insert_device(device_id, &user.id, &user.branch_id, now)?,
        Some(d) if d.revoked_at.is_some() => return Err(AccountError::DeviceRevoked),
        Some(d) if d.released_at.is_none() && d.user_id == user.id => {}
        Some(d) if d.released_at.is_some() && d.branch_id.as_deref().is_none_or(|b| b == user.branch_id) => {
            store.take_over_device(device_id, &user.id, &user.branch_id)?;
            audit(store, now, &user.id, "device.take_over", device_id)?;
        }
        Some(_) => return Err(AccountError::DeviceInUse),
    }
    Ok(())
}

fn register_actor(store: &dyn Store, device_id: &str, actor: &ActorId) -> Result<()> {
    match store.actor_device(actor)? {
        Some(d) if d == device_id => return Ok(()),
        Some(_) => return Err(AccountError::Invalid { field: "actor" }),
        None => {}
    }
    if store.server_actor()? == *actor {
        return Err(AccountError::Invalid { field: "actor" });
    }
    if store.device_actor_count(device_id)? >= MAX_ACTORS_PER_DEVICE {
        return Err(AccountError::Invalid { field: "actor" });
    }
    store.insert_device_actor(actor, device_id)?;
    Ok(())
}

/// Registers `device_id` for a user whose credentials were checked, with an actor, and issues its
/// token. For the sync benchmark and tests, which register many devices without paying for a
/// password hash each.
pub fn register_device(store: &dyn Store, user: &User, device_id: &str, actor: &ActorId, now: i64) -> Result<String> {
    valid_device_id(device_id)?;
    bind_device(store, user, device_id, now)?;
    register_actor(store, device_id, actor)?;
    new_token(store, &user.id, device_id, now)
}

/// One live token per device: a new one replaces the old.
fn new_token(store: &dyn Store, user_id: &str, device_id: &str, now: i64) -> Result<String> {
    store.delete_device_tokens(device_id)?;
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    store.insert_token(&token_hash(&token), device_id, user_id, now, now + TOKEN_TTL_MS)?;
    Ok(token)
}

pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The user and device behind a token presented by `device_id`, read only. A token from another
/// device, an expired one or none is answered alike; a revoked device hears so only with its own
/// last token.
pub fn authenticate(store: &dyn Store, token: &str, device_id: &str, now: i64) -> Result<Authenticated> {
    if token.len() > 128 || device_id.len() > 64 {
        return Err(AccountError::Unauthenticated);
    }
    let Some(found) = store.token(&token_hash(token))? else {
        return Err(AccountError::Unauthenticated);
    };
    if found.device_id != device_id {
        return Err(AccountError::Unauthenticated);
    }
    if found.device_revoked_at.is_some() {
        return Err(AccountError::DeviceRevoked);
    }
    if now >= found.expires_at {
        return Err(AccountError::Unauthenticated);
    }
    let row = store
        .user_by_id(&found.user_id)?
        .map(UserRow::from)
        .filter(|r| r.active)
        .ok_or(AccountError::Unauthenticated)?;
    let renew = found.expires_at - now < TOKEN_TTL_MS - TOKEN_RENEW_EVERY_MS;
    let actors = store.device_actors(device_id)?;
    Ok(Authenticated {
        user: row.user,
        device: Device { id: device_id.to_string(), actors, clock_offset_ms: None, app_version: None },
        renew,
    })
}

/// Who a request comes from, and whether their token is due for renewal ([`renew_token`]).
pub struct Authenticated {
    pub user: User,
    pub device: Device,
    pub renew: bool,
}

/// Extends a token in use by [`TOKEN_TTL_MS`] from now (at most once a day per device).
pub fn renew_token(store: &dyn Store, token: &str, now: i64) -> Result<()> {
    store.set_token_expiry(&token_hash(token), now + TOKEN_TTL_MS)?;
    Ok(())
}

/// An active user by ID.
pub fn user_by_id(store: &dyn Store, user_id: &str) -> Result<Option<User>> {
    let row = store.user_by_id(user_id)?.map(UserRow::from);
    Ok(row.filter(|r| r.active).map(|r| r.user))
}

/// Whether `actor` may act on a device held by a user of `branch_id` with `role`: a supervisor
/// within their branch and never on an admin's device; an admin within their branch unless they
/// are a head-office admin.
fn may_manage_device(store: &dyn Store, actor: &User, branch_id: &str, holder_role: Option<Role>) -> Result<bool> {
    Ok(match actor.role {
        Role::Manager => false,
        Role::Supervisor => actor.branch_id == branch_id && holder_role != Some(Role::Admin),
        Role::Admin => actor.branch_id == branch_id || store.is_head_office(&actor.id)?,
    })
}

/// Succeeds for a device `by` may manage (`None`: the administrator's command line); anything else
/// (no such device, another branch, an admin's device for a supervisor) is answered alike, as not
/// found.
fn managed_device(store: &dyn Store, device_id: &str, by: Option<&User>) -> Result<()> {
    valid_device_id(device_id)?;
    let Some(holder) = store.device_holder(device_id)? else { return Err(AccountError::NotFound { what: "device" }) };
    if let Some(actor) = by
        && !may_manage_device(store, actor, holder.branch_id.as_deref().unwrap_or_default(), holder.role)?
    {
        return Err(AccountError::NotFound { what: "device" });
    }
    Ok(())
}

/// Revokes a device (a lost tablet): it is refused from now on, and its next contact with its own
/// last token wipes it. `by` is `None` for the administrator's command line.
pub fn revoke_device(store: &dyn Store, device_id: &str, by: Option<&User>, now: i64) -> Result<()> {
    managed_device(store, device_id, by)?;
    store.mark_device_revoked(device_id, now)?;
    audit(store, now, by.map_or("admin-cli", |u| u.id.as_str()), "device.revoke", device_id)?;
    Ok(())
}

/// Releases a device so another user of its branch may sign in on it (the explicit take-over
/// path): its token stops working; a revoked device stays revoked until released, then starts
/// over. `by` is `None` for the administrator's command line.
pub fn release_device(store: &dyn Store, device_id: &str, by: Option<&User>, now: i64) -> Result<()> {
    managed_device(store, device_id, by)?;
    release(store, device_id, now)?;
    store.clear_device_revoked(device_id)?;
    audit(store, now, by.map_or("admin-cli", |u| u.id.as_str()), "device.release", device_id)?;
    Ok(())
}

/// A device signs out: its token ends here, and the device is free for another user of its branch
/// (the tablet wipes itself on its side).
pub fn sign_out(store: &dyn Store, user: &User, device: &Device, now: i64) -> Result<()> {
    release(store, &device.id, now)?;
    audit(store, now, &user.id, "device.sign_out", &device.id)?;
    Ok(())
}

fn release(store: &dyn Store, device_id: &str, now: i64) -> Result<()> {
    store.delete_device_tokens(device_id)?;
    store.mark_device_released(device_id, now)?;
    Ok(())
}

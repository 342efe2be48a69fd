//! The accounts part of the store's interface: branches, outlets, users, devices and their
//! automerge actors, device tokens, failed logins (the rate limit's table) and the audit trail.
//!
//! The methods only keep and find rows; every decision (validation, password hashing, token
//! generation, who may manage which device, when a login is refused) is `crate::accounts`'s.

use automerge::ActorId;

use crate::accounts::{Role, User};
use crate::store::StoreResult;

/// A user as stored, with what signing in needs.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub branch_id: String,
    pub outlet_id: Option<String>,
    pub username: String,
    pub display_name: String,
    /// `None`: a role code this build does not know.
    pub role: Option<Role>,
    pub password_hash: String,
    pub active: bool,
}

/// A device's binding: who holds it, in which branch, and whether it was revoked or released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub user_id: String,
    /// `None` for a device registered before devices kept their branch.
    pub branch_id: Option<String>,
    pub revoked_at: Option<i64>,
    pub released_at: Option<i64>,
}

/// Who holds a device, as a supervisor managing it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceHolder {
    /// The device's branch, or else its holder's.
    pub branch_id: Option<String>,
    /// The holder's role (`None`: no such user, or a role this build does not know).
    pub role: Option<Role>,
}

/// A device token found by its hash, with its device's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The device the token was issued to.
    pub device_id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub device_revoked_at: Option<i64>,
}

/// Failed logins counted under one key (a username or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: i64,
    /// When the current window's first failure happened.
    pub first_at: i64,
}

/// Branches, outlets, users, devices and their actors, tokens, login failures and audit rows.
/// Writes take `&self` too: the caller's transaction makes a request's writes atomic.
pub trait AccountStore {
    /// A cheap round trip, for `/readyz`.
    fn ping(&self) -> StoreResult<()>;

    /// Records a device's sync: when, its app version, and the pushes refused in it.
    fn note_device_sync(&self, device_id: &str, at: i64, app_version: &str, refused: i64) -> StoreResult<()>;

    /// Appends one row to the audit trail.
    fn insert_audit(&self, at: i64, actor: &str, action: &str, subject: &str) -> StoreResult<()>;

    fn insert_branch(&self, id: &str, name: &str) -> StoreResult<()>;
    fn branch_exists(&self, id: &str) -> StoreResult<bool>;
    fn branch_named(&self, name: &str) -> StoreResult<bool>;
    fn insert_outlet(&self, id: &str, branch_id: &str, name: &str) -> StoreResult<()>;
    /// The branch of an outlet, if it exists.
    fn outlet_branch(&self, outlet_id: &str) -> StoreResult<Option<String>>;

    fn username_taken(&self, username: &str) -> StoreResult<bool>;
    /// A new active user, not a head-office admin.
    fn insert_user(&self, user: &User, password_hash: &str) -> StoreResult<()>;
    /// Sets whether an admin is a head-office admin; `false` when `user_id` is no admin.
    fn set_admin_head_office(&self, user_id: &str, head_office: bool) -> StoreResult<bool>;
    /// Whether `user_id` is an active head-office admin.
    fn is_head_office(&self, user_id: &str) -> StoreResult<bool>;
    fn user_by_id(&self, user_id: &str) -> StoreResult<Option<UserRecord>>;
    fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;

    /// Failed logins counted under `key`.
    fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>>;
    /// Counts one failed login under `key` at `now`: a window older than `window_ms` starts over.
    fn add_login_failure(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<()>;
    /// Keys with failed logins counted.
    fn login_failure_rows(&self) -> StoreResult<i64>;
    /// Forgets the `count` keys whose window started first.
    fn delete_oldest_login_failures(&self, count: i64) -> StoreResult<()>;
    fn clear_login_failures(&self, key: &str) -> StoreResult<()>;

    fn device(&self, device_id: &str) -> StoreResult<Option<DeviceRecord>>;
    fn device_holder(&self, device_id: &str) -> StoreResult<Option<DeviceHolder>>;
    fn insert_device(&self, device_id: &str, user_id: &str, branch_id: &str, registered_at: i64) -> StoreResult<()>;
    /// Binds a released device to another user of its branch (it is no longer released).
    fn take_over_device(&self, device_id: &str, user_id: &str, branch_id: &str) -> StoreResult<()>;
    /// Marks a device revoked at `at`, unless it already is.
    fn mark_device_revoked(&self, device_id: &str, at: i64) -> StoreResult<()>;
    fn clear_device_revoked(&self, device_id: &str) -> StoreResult<()>;
    /// Marks a device released at `at`, unless it already is.
    fn mark_device_released(&self, device_id: &str, at: i64) -> StoreResult<()>;

    /// The device an automerge actor is registered to.
    fn actor_device(&self, actor: &ActorId) -> StoreResult<Option<String>>;
    fn device_actor_count(&self, device_id: &str) -> StoreResult<i64>;
    fn insert_device_actor(&self, actor: &ActorId, device_id: &str) -> StoreResult<()>;
    fn device_actors(&self, device_id: &str) -> StoreResult<Vec<ActorId>>;

    fn insert_token(
        &self,
        token_hash: &[u8],
        device_id: &str,
        user_id: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    fn token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>>;
    fn set_token_expiry(&self, token_hash: &[u8], expires_at: i64) -> StoreResult<()>;
    fn delete_device_tokens(&self, device_id: &str) -> StoreResult<()>;
}

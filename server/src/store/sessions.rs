//! The web sessions part of the store's interface: supervisors' and admins' browser sessions, and
//! each branch's time zone (the pages show times in it).

use super::StoreResult;

/// A browser session found by its token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: String,
    /// The branch the pages show: the user's own, or the one an admin chose.
    pub branch_id: String,
    /// The token every form of the session carries.
    pub csrf: String,
    pub expires_at: i64,
}

pub trait SessionStore {
    fn insert_session(&self, token_hash: &[u8], record: &SessionRecord, created_at: i64) -> StoreResult<()>;
    fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>>;
    fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()>;
    fn set_session_branch(&self, token_hash: &[u8], branch_id: &str) -> StoreResult<()>;
    /// Removes sessions expired before `now`; how many.
    fn delete_expired_sessions(&self, now: i64) -> StoreResult<usize>;
    /// Ends every session of a user (deactivated, password changed).
    fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()>;

    /// Every branch: (ID, name), by name.
    fn branches(&self) -> StoreResult<Vec<(String, String)>>;
    /// A branch's name and IANA time zone.
    fn branch(&self, branch_id: &str) -> StoreResult<Option<(String, String)>>;
}

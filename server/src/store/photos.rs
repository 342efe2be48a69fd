//! The photos part of the store's interface: photo blobs' metadata (the blobs themselves are files
//! under the data folder). Every decision (which hashes are valid, quotas, when an upload expires)
//! is `crate::photos`'s.

use crate::accounts::User;
use crate::store::StoreResult;

/// References from visits, owners, uploads in flight.
pub trait PhotoStore {
    /// Replaces the photos one customer's visits reference with `refs` (hash, the visit's
    /// manager), all or nothing even outside a transaction.
    fn replace_photo_refs(&self, customer_id: &str, refs: &[(&str, &str)]) -> StoreResult<()>;
    /// Whether the photo has an owner, a visit of that owner on a customer of the owner's branch
    /// references it, and `user` sees that customer in full (the one visibility rule).
    fn photo_visible(&self, user: &User, hash: &str) -> StoreResult<bool>;
    /// The owner of a stored photo and their branch.
    fn photo_owner(&self, hash: &str) -> StoreResult<Option<(String, String)>>;
    /// Records the owner of a verified photo of `bytes`, unless it has one.
    fn insert_photo_owner(&self, hash: &str, user: &User, bytes: u64, completed_at: i64) -> StoreResult<()>;
    /// Bytes of photos `user_id` completed after `since`, apart from the photo `except`.
    fn photo_bytes_completed_since(&self, user_id: &str, since: i64, except: &str) -> StoreResult<u64>;

    /// Forgets the upload rows last updated at or before `cutoff`; how many.
    fn expire_photo_uploads(&self, cutoff: i64) -> StoreResult<usize>;
    /// Bytes received and count of a user's uploads in flight, apart from the photo `except`.
    fn photo_uploads_in_flight(&self, user_id: &str, except: &str) -> StoreResult<(u64, u64)>;
    /// Records that `user_id`'s upload of `hash` holds `received` of `total` bytes at `now`.
    fn upsert_photo_upload(&self, hash: &str, user_id: &str, received: u64, total: u64, now: i64) -> StoreResult<()>;
    fn delete_photo_upload(&self, user_id: &str, hash: &str) -> StoreResult<()>;
}

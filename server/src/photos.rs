//! Photo blobs: content-addressed by SHA-256, uploaded in resumable chunks, owned by whoever
//! completed them first, and served only through that owner's own visits.
//!
//! Layout under the data folder:
//! - `photos/<first two hex chars>/<sha256 hex>`: complete, verified blobs;
//! - `photos/partial/<sha256 hex>.<user key>.part`: uploads in progress, one per photo and user
//!   (the user key is hex of a digest of the user ID), so nobody can disturb another's upload.
//!
//! Who may read a photo: the first user whose upload of it completed and verified is its owner
//! (table `photos`, with their branch). A document's reference to the hash counts only when it
//! comes from a visit whose manager is that owner, on a customer of the owner's branch; the photo
//! is served to whoever sees such a customer under the one visibility rule
//! (`store::sqlite::visibility`). Knowing a hash, referencing it from one's own visit, or
//! uploading the same bytes again grants nothing: everyone else gets the 404 of a missing photo.
//!
//! Every chunk is fsync'ed before it is acknowledged, so the resume point a device is told survives
//! a crash. A blob appears only by an atomic rename once the SHA-256 of its whole content matches
//! its name, and only after its owner is committed to the store, so a complete blob is never
//! half-written, wrong, or owned by nobody. The only user input that reaches the filesystem is a
//! validated 64-character lowercase hex name.
//!
//! Limits per user, kept in the store so they survive restarts: bytes of partial uploads in flight
//! ([`MAX_PARTIAL_BYTES_PER_USER`], [`MAX_PARTIALS_PER_USER`]) and bytes of photos completed in any
//! 24 hours ([`MAX_DAILY_BYTES_PER_USER`]); a refused chunk writes nothing. A partial untouched for
//! [`PARTIAL_TTL_MS`] is deleted by [`sweep_partials`], which each new upload runs.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::accounts::{AccountError, User};
use crate::error::AppError;
use crate::routes::{AppState, Authed, now_ms};
use crate::store::{Store, StoreResult};

/// The largest photo the server takes.
pub const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;
/// The largest chunk one upload request may carry.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;
/// Bytes of unfinished uploads one user may hold on the server: six full-size photos cut half
/// way, far more than a tablet that uploads one photo at a time ever leaves.
pub const MAX_PARTIAL_BYTES_PER_USER: u64 = 64 * 1024 * 1024;
/// Unfinished uploads one user may hold at once: bounds the files a user can make the server keep.
pub const MAX_PARTIALS_PER_USER: u64 = 16;
/// Bytes of photos one user may complete in any 24 hours: a few hundred phone photos, a very busy
/// day in the field, while a runaway or hostile client cannot fill the disk.
pub const MAX_DAILY_BYTES_PER_USER: u64 = 1024 * 1024 * 1024;
/// The window of the daily quota.
pub const QUOTA_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// A partial upload untouched for this long is abandoned and deleted.
pub const PARTIAL_TTL_MS: i64 = 24 * 3600 * 1000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/photos/{hash}", get(download)).route(
        "/api/v1/photos/{hash}/upload",
        get(upload_status).put(upload).layer(DefaultBodyLimit::max(MAX_CHUNK_BYTES)),
    )
}

/// A photo's SHA-256 as 64 lowercase hex characters: the only form that names a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoHash(String);

impl PhotoHash {
    pub fn parse(s: &str) -> Option<PhotoHash> {
        let ok = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| PhotoHash(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn of(bytes: &[u8]) -> PhotoHash {
        PhotoHash(hex(&Sha256::digest(bytes)))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 0xf)] as char]).collect()
}

/// The SHA-256 of `bytes` as a photo name, for callers that store a photo they already hold.
pub fn hash_of(bytes: &[u8]) -> String {
    PhotoHash::of(bytes).0
}

fn photos_dir(data_dir: &FsPath) -> PathBuf {
    data_dir.join("photos")
}

fn partial_dir(data_dir: &FsPath) -> PathBuf {
    photos_dir(data_dir).join("partial")
}

pub(crate) fn blob_path(data_dir: &FsPath, hash: &PhotoHash) -> PathBuf {
    photos_dir(data_dir).join(&hash.0[..2]).join(&hash.0)
}

/// One user's upload of one photo. The user ID reaches the filesystem only as hex of its digest.
fn partial_path(data_dir: &FsPath, hash: &PhotoHash, user_id: &str) -> PathBuf {
    let user_key = hex(&Sha256::digest(user_id.as_bytes())[..16]);
    partial_dir(data_dir).join(format!("{}.{user_key}.part", hash.0))
}

/// Replaces the photos referenced by one customer's document: `refs` holds, for each photo of
/// each visit, the photo's hash and the visit's manager (only the photo's uploader's own visits
/// will count). All or nothing, inside the caller's transaction or on its own.
pub fn record_refs<'a>(
    store: &dyn Store,
    customer_id: &str,
    refs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> StoreResult<()> {
    // A malformed hash can never name a stored photo, so it is not recorded.
    let refs: Vec<(&str, &str)> = refs.into_iter().filter(|(hash, _)| PhotoHash::parse(hash).is_some()).collect();
    store.replace_photo_refs(customer_id, &refs)
}

/// The one-time pass a store upgraded past schema 3 asks for: photos stored before then have no
/// owner and their references were dropped. Each live customer's references are recorded again
/// from its document, and a stored blob without an owner goes to the manager of the first visit
/// that references it, when that manager is an active user of the customer's branch (as the
/// upload rule would have had it). Runs in the caller's transaction; returns the photos adopted.
pub fn adopt_unowned(store: &dyn Store, data_dir: &FsPath) -> Result<usize, crate::customers::PushError> {
    const UPGRADE: &str = "adopt_photos";
    if !store.upgrade_pending(UPGRADE)? {
        return Ok(0);
    }
    let actor = store.server_actor()?;
    let mut adopted = 0;
    for (customer_id, branch_id) in store.live_documents()? {
        let Some(doc) = crate::customers::load(store, &customer_id, &actor)? else { continue };
        let refs: Vec<(&str, &str)> = doc
            .file()
            .visits
            .values()
            .flat_map(|v| v.photos.iter().map(|h| (h.as_str(), v.manager_id.as_str())))
            .collect();
        record_refs(store, &customer_id, refs.iter().copied())?;
        for (hash, manager_id) in refs {
            let Some(hash) = PhotoHash::parse(hash) else { continue };
            if store.photo_owner(hash.as_str())?.is_some() {
                continue;
            }
            let Ok(meta) = fs::metadata(blob_path(data_dir, &hash)) else { continue };
            let Some(manager) = crate::accounts::user_by_id(store, manager_id)?.filter(|u| u.branch_id == branch_id)
            else {
                continue;
            };
            let at = modified_ms(&meta).unwrap_or(0);
            store.insert_photo_owner(hash.as_str(), &manager, meta.len(), at)?;
            adopted += 1;
        }
    }
    store.upgrade_done(UPGRADE)?;
    Ok(adopted)
}

/// Whether `user` may read the photo: it has an owner, a visit of that owner on a customer of the
/// owner's branch references it, and `user` sees that customer in full (the one visibility rule,
/// its SQL twin in `store::sqlite::visibility`, which includes the branch).
pub fn visible(store: &dyn Store, user: &User, hash: &str) -> StoreResult<bool> {
    let Some(hash) = PhotoHash::parse(hash) else { return Ok(false) };
    store.photo_visible(user, hash.as_str())
}

/// The owner of a stored photo: the user whose upload completed and verified first, and the
/// branch they were in.
pub fn owner(store: &dyn Store, hash: &str) -> StoreResult<Option<(String, String)>> {
    store.photo_owner(hash)
}

/// How much of a photo the server holds: the resume point of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub received: u64,
    pub complete: bool,
}

/// One upload of a given partial file at a time (per data folder): a second concurrent one is
/// refused rather than interleaved, and the sweep never deletes a partial in use. Several
/// instances on PostgreSQL share the data folder, so the guard is also an OS lock (`flock`) on the
/// partial's `.lock` file in `photos/locks/`: another process's upload of it is refused too.
/// The key, and the lock file whose OS lock is held while the guard lives (closed with it).
struct UploadGuard(PathBuf, #[allow(dead_code)] Option<std::fs::File>);

static UPLOADS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

impl UploadGuard {
    fn try_acquire(key: PathBuf) -> Option<UploadGuard> {
        let mut uploads = UPLOADS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Build the guard only once the key is ours: dropping a guard releases its key.
        if !uploads.insert(key.clone()) {
            return None;
        }
        // A partial's folder that does not exist yet holds nothing another process writes.
        let file = match os_lock(&key) {
            Ok(file) => file,
            Err(()) => {
                uploads.remove(&key);
                return None;
            }
        };
        Some(UploadGuard(key, file))
    }
}

/// Where the OS lock of a partial upload lives: `photos/locks/<partial's name>.lock` (beside the
/// partials' folder, so that folder holds partials only).
fn lock_path(partial: &FsPath) -> Option<PathBuf> {
    let photos = partial.parent()?.parent()?;
    let mut name = partial.file_name()?.to_owned();
    name.push(".lock");
    Some(photos.join("locks").join(name))
}

/// An exclusive, non-blocking OS lock on `partial`'s lock file (none when the photos folder does
/// not exist); `Err` when another process holds it.
fn os_lock(partial: &FsPath) -> Result<Option<std::fs::File>, ()> {
    use std::os::fd::AsRawFd;
    let Some(path) = lock_path(partial) else { return Ok(None) };
    if !path.parent().and_then(FsPath::parent).is_some_and(FsPath::is_dir) {
        return Ok(None);
    }
    if let Some(dir) = path.parent()
        && fs::create_dir_all(dir).is_err()
    {
        return Ok(None);
    }
    let file = match std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path) {
        Ok(file) => file,
        Err(_) => return Ok(None),
    };
    // SAFETY: flock on a descriptor this function owns; it changes nothing else.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if locked { Ok(Some(file)) } else { Err(()) }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        // An upload that ended (its partial became the photo, or was dropped) takes its lock file
        // with it, while it still holds the lock: nothing but partials and photos stays behind.
        // (Another process that opened the file just before finds it locked and is told "busy".)
        if self.1.is_some()
            && !self.0.exists()
            && let Some(lock) = lock_path(&self.0)
        {
            let _ = fs::remove_file(lock);
        }
        // The OS lock goes with the file, closed with the guard.
        UPLOADS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&self.0);
    }
}

fn io_error(e: io::Error) -> AppError {
    // io::Error's message names no path, so nothing about the upload reaches the log.
    AppError::Internal(format!("photo storage: {e}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, AppError> + Send + 'static) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| AppError::Internal(e.to_string()))?
}

/// The length of a file, or `None` if it does not exist.
fn file_len(path: &FsPath) -> io::Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file; whether it was there.
fn remove_if_present(path: &FsPath) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn current_status(data_dir: &FsPath, hash: &PhotoHash, user_id: &str) -> io::Result<UploadStatus> {
    if let Some(len) = file_len(&blob_path(data_dir, hash))? {
        return Ok(UploadStatus { received: len, complete: true });
    }
    let received = file_len(&partial_path(data_dir, hash, user_id))?.unwrap_or(0);
    Ok(UploadStatus { received, complete: false })
}

/// Makes a directory (and its missing parents) exist durably.
fn ensure_dir(dir: &FsPath) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(dir.parent().unwrap_or(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes the entries of a directory (created, renamed or removed files) durable.
fn sync_dir(dir: &FsPath) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn hash_file(path: &FsPath) -> io::Result<PhotoHash> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(PhotoHash(hex(&hasher.finalize())))
}

fn modified_ms(meta: &fs::Metadata) -> io::Result<i64> {
    Ok(meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

/// Deletes the partial uploads (of any user) whose file was last written more than
/// [`PARTIAL_TTL_MS`] before `now_ms`, skipping any an upload is working on; returns how many it
/// deleted. Their rows in the store stop counting against quotas at the same age
/// ([`expire_uploads`]). Each new upload runs it; `now_ms` is a parameter so tests can move time.
pub fn sweep_partials(data_dir: &FsPath, now_ms: i64) -> io::Result<usize> {
    let dir = partial_dir(data_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let cutoff = now_ms.saturating_sub(PARTIAL_TTL_MS);
    let expired = |path: &FsPath| -> io::Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(meta) => Ok(meta.is_file() && modified_ms(&meta)? <= cutoff),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        if !expired(&path)? {
            continue;
        }
        // An upload holding the file may have just written to it: look again once it is ours.
        let Some(_guard) = UploadGuard::try_acquire(path.clone()) else { continue };
        if expired(&path)? && remove_if_present(&path)? {
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(&dir)?;
    }
    // A lock file outlives its partial (see `UploadGuard`): an old one whose partial is gone goes.
    if let Ok(locks) = fs::read_dir(photos_dir(data_dir).join("locks")) {
        for entry in locks {
            let path = entry?.path();
            let partial = path.file_name().map(|n| dir.join(FsPath::new(n).with_extension("")));
            if expired(&path)? && partial.is_some_and(|p| !p.exists()) {
                remove_if_present(&path)?;
            }
        }
    }
    Ok(removed)
}

/// Forgets the upload rows untouched for [`PARTIAL_TTL_MS`] before `now_ms`: they no longer count
/// against their user's quota (their files go with [`sweep_partials`]).
pub fn expire_uploads(store: &dyn Store, now_ms: i64) -> StoreResult<usize> {
    store.expire_photo_uploads(now_ms.saturating_sub(PARTIAL_TTL_MS))
}

/// What a user's uploads in flight hold: bytes and count, apart from the photo `except`.
pub fn in_flight(store: &dyn Store, user_id: &str, except: &str) -> StoreResult<(u64, u64)> {
    store.photo_uploads_in_flight(user_id, except)
}

/// Bytes of photos a user completed in the [`QUOTA_WINDOW_MS`] before `now_ms`, apart from the
/// photo `except` (an upload redone after a crash is not charged twice).
pub fn completed_recently(store: &dyn Store, user_id: &str, except: &str, now_ms: i64) -> StoreResult<u64> {
    store.photo_bytes_completed_since(user_id, now_ms.saturating_sub(QUOTA_WINDOW_MS), except)
}

/// Checks both quotas for a chunk that brings `user`'s upload of `hash` to `received` of `total`
/// bytes and, if they allow it, reserves the bytes; nothing is written when they refuse (the
/// caller's write transaction rolls back).
fn reserve(store: &dyn Store, user_id: &str, hash: &str, received: u64, total: u64, now: i64) -> Result<(), AppError> {
    expire_uploads(store, now)?;
    let (others_bytes, others_count) = in_flight(store, user_id, hash)?;
    if others_bytes + received > MAX_PARTIAL_BYTES_PER_USER || others_count >= MAX_PARTIALS_PER_USER {
        return Err(AppError::PhotoQuota);
    }
    if completed_recently(store, user_id, hash, now)? + total > MAX_DAILY_BYTES_PER_USER {
        return Err(AppError::PhotoQuota);
    }
    store.upsert_photo_upload(hash, user_id, received, total, now)?;
    Ok(())
}

/// Records the owner of a verified photo, unless it has one: the first to complete it keeps it.
fn record_owner(store: &dyn Store, hash: &str, user: &User, bytes: u64, now: i64) -> StoreResult<()> {
    store.insert_photo_owner(hash, user, bytes, now)
}

fn forget_upload(store: &dyn Store, user_id: &str, hash: &str) -> StoreResult<()> {
    store.delete_photo_upload(user_id, hash)
}

/// What a chunk will do, decided from what the server holds before anything is written.
enum Plan {
    /// The photo is stored already (deduplication): nothing to write; the caller's own partial of
    /// it, if any, was deleted.
    Stored { len: u64, dropped_partial: bool },
    /// Append the chunk to the caller's partial, starting it over first if `restart`.
    Append { restart: bool, received: u64 },
}

fn plan_chunk(
    data_dir: &FsPath,
    hash: &PhotoHash,
    partial: &FsPath,
    offset: u64,
    total: u64,
    chunk_len: u64,
) -> Result<Plan, AppError> {
    if let Some(len) = file_len(&blob_path(data_dir, hash)).map_err(io_error)? {
        // Deduplication: the photo is here, whoever sent it. That grants the sender nothing.
        let dropped_partial = remove_if_present(partial).map_err(io_error)?;
        return Ok(Plan::Stored { len, dropped_partial });
    }
    let existing = file_len(partial).map_err(io_error)?.unwrap_or(0);
    // Starting over at 0: a partial that cannot become this photo (a client that changed its
    // mind, or lost its place) must never block it. The content is checked by its hash at the end.
    let restart = offset == 0 && existing > 0;
    let received = if restart { 0 } else { existing };
    if offset != received {
        return Err(AppError::PhotoOffsetMismatch { received });
    }
    let received = received + chunk_len;
    if received > total {
        return Err(AppError::Account(AccountError::Invalid { field: "total" }));
    }
    Ok(Plan::Append { restart, received })
}

/// Appends one chunk to the caller's partial; once `total` bytes are in, checks the content
/// against its name (deleting a partial that does not match). `Ok(true)` when verified.
fn append_chunk(
    hash: &PhotoHash,
    partial: &FsPath,
    restart: bool,
    received: u64,
    total: u64,
    chunk: &[u8],
) -> Result<bool, AppError> {
    let dir = partial.parent().unwrap_or(partial);
    let mut created = false;
    if restart {
        fs::remove_file(partial).map_err(io_error)?;
        created = true;
    }
    if !chunk.is_empty() {
        ensure_dir(dir).map_err(io_error)?;
        created |= !partial.exists();
        let mut file = OpenOptions::new().create(true).append(true).open(partial).map_err(io_error)?;
        file.write_all(chunk).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
    }
    if created {
        sync_dir(dir).map_err(io_error)?;
    }
    if received < total {
        return Ok(false);
    }
    if hash_file(partial).map_err(io_error)? != *hash {
        fs::remove_file(partial).map_err(io_error)?;
        sync_dir(dir).map_err(io_error)?;
        return Err(AppError::PhotoHashMismatch);
    }
    Ok(true)
}

/// Publishes a verified partial as the blob by an atomic rename (or drops it if an identical
/// blob appeared meanwhile from another user's upload).
fn publish(data_dir: &FsPath, hash: &PhotoHash, partial: &FsPath) -> Result<(), AppError> {
    let blob = blob_path(data_dir, hash);
    let blob_dir = blob.parent().unwrap_or(data_dir);
    ensure_dir(blob_dir).map_err(io_error)?;
    if blob.exists() {
        fs::remove_file(partial).map_err(io_error)?;
    } else {
        fs::rename(partial, &blob).map_err(io_error)?;
        sync_dir(blob_dir).map_err(io_error)?;
    }
    sync_dir(partial.parent().unwrap_or(data_dir)).map_err(io_error)
}

/// `GET /api/v1/photos/{hash}/upload`: the resume point of the caller's upload.
async fn upload_status(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(hash): Path<String>,
) -> Result<Json<UploadStatus>, AppError> {
    let hash = PhotoHash::parse(&hash).ok_or(AppError::NotFound)?;
    let data_dir = state.data_dir.clone();
    let status = blocking(move || current_status(&data_dir, &hash, &user.id).map_err(io_error)).await?;
    Ok(Json(status))
}

/// `PUT /api/v1/photos/{hash}/upload?offset=N&total=T` with one chunk as the body.
///
/// Order of operations, each step durable before the next: plan from what is on disk → check
/// quotas and reserve the bytes in the store → append and fsync the chunk → (last chunk) verify
/// the hash → commit the owner → rename the partial into place → forget the upload row. A crash
/// anywhere leaves either a partial the device resumes or restarts, or the published blob.
async fn upload(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(hash): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadStatus>, AppError> {
    let hash = PhotoHash::parse(&hash).ok_or(AppError::NotFound)?;
    let params = query.map(|Query(params)| params).unwrap_or_default();
    let number = |field: &'static str| {
        params.get(field).and_then(|v| v.parse::<u64>().ok()).ok_or(AppError::Account(AccountError::Invalid { field }))
    };
    let (offset, total) = (number("offset")?, number("total")?);
    let chunk = match body {
        Ok(chunk) => chunk,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            return Err(AppError::PhotoTooLarge);
        }
        Err(_) => return Err(AppError::Account(AccountError::Invalid { field: "body" })),
    };
    if total > MAX_PHOTO_BYTES || chunk.len() > MAX_CHUNK_BYTES {
        return Err(AppError::PhotoTooLarge);
    }
    if total == 0 {
        return Err(AppError::Account(AccountError::Invalid { field: "total" }));
    }
    let now = now_ms();
    let data_dir = state.data_dir.clone();
    if offset == 0 {
        // A new upload (or a restart): the moment to clear everyone's abandoned partials.
        let dir = data_dir.clone();
        let swept = blocking(move || sweep_partials(&dir, now).map_err(io_error)).await?;
        if swept > 0 {
            tracing::info!(swept, "abandoned partial photo uploads deleted");
        }
    }
    let chunk_len = chunk.len() as u64;
    let partial = Arc::new(partial_path(&data_dir, &hash, &user.id));
    // The guard goes into every step's closure as well: if the client goes away mid-request, the
    // step already running still finishes before another upload of this partial may start.
    let guard = Arc::new(UploadGuard::try_acquire(partial.to_path_buf()).ok_or(AppError::PhotoUploadBusy)?);
    let user = Arc::new(user);
    let (g, dir, h, p) = (guard.clone(), data_dir.clone(), hash.clone(), partial.clone());
    let plan = blocking(move || {
        let _guard = g;
        plan_chunk(&dir, &h, &p, offset, total, chunk_len)
    })
    .await?;
    let (restart, received) = match plan {
        Plan::Stored { len, dropped_partial } => {
            if dropped_partial {
                let (g, u, h) = (guard.clone(), user.clone(), hash.clone());
                state
                    .db
                    .write(move |s| {
                        let _guard = g;
                        forget_upload(s, &u.id, h.as_str())
                    })
                    .await?;
            }
            return Ok(Json(UploadStatus { received: len, complete: true }));
        }
        Plan::Append { restart, received } => (restart, received),
    };

    let (g, u, h) = (guard.clone(), user.clone(), hash.clone());
    state
        .db
        .write(move |s| {
            let _guard = g;
            reserve(s, &u.id, h.as_str(), received, total, now)
        })
        .await?;

    let (g, h, p) = (guard.clone(), hash.clone(), partial.clone());
    let written = blocking(move || {
        let _guard = g;
        append_chunk(&h, &p, restart, received, total, &chunk)
    })
    .await;
    let verified = match written {
        Ok(verified) => verified,
        Err(AppError::PhotoHashMismatch) => {
            let (g, u, h) = (guard.clone(), user.clone(), hash.clone());
            state
                .db
                .write(move |s| {
                    let _guard = g;
                    forget_upload(s, &u.id, h.as_str())
                })
                .await?;
            return Err(AppError::PhotoHashMismatch);
        }
        Err(e) => return Err(e),
    };
    if !verified {
        return Ok(Json(UploadStatus { received, complete: false }));
    }

    // The owner is committed before the blob appears: a blob never exists without one.
    let (g, u, h) = (guard.clone(), user.clone(), hash.clone());
    state
        .db
        .write(move |s| {
            let _guard = g;
            record_owner(s, h.as_str(), &u, total, now)
        })
        .await?;
    let (g, dir, h, p) = (guard.clone(), data_dir.clone(), hash.clone(), partial.clone());
    blocking(move || {
        let _guard = g;
        publish(&dir, &h, &p)
    })
    .await?;
    let (g, u, h) = (guard, user.clone(), hash);
    state
        .db
        .write(move |s| {
            let _guard = g;
            forget_upload(s, &u.id, h.as_str())
        })
        .await?;
    tracing::info!(user = %user.id, bytes = total, "photo upload complete");
    Ok(Json(UploadStatus { received: total, complete: true }))
}

/// A photo's bytes, for a user who may see it ([`visible`]); anyone else gets the same
/// [`AppError::NotFound`] as for a photo that does not exist.
pub async fn visible_bytes(state: &AppState, user: User, hash: &str) -> Result<Vec<u8>, AppError> {
    let hash = PhotoHash::parse(hash).ok_or(AppError::NotFound)?;
    let name = hash.0.clone();
    let allowed = state.db.read(move |s| visible(s, &user, &name)).await?;
    if !allowed {
        return Err(AppError::NotFound);
    }
    let data_dir = state.data_dir.clone();
    blocking(move || match fs::read(blob_path(&data_dir, &hash)) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(AppError::NotFound),
        Err(e) => Err(io_error(e)),
    })
    .await
}

/// `GET /api/v1/photos/{hash}`: the photo, to a user who may see it ([`visible`]); anyone else
/// gets the same 404 as for a photo that does not exist.
async fn download(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(hash): Path<String>,
) -> Result<Response, AppError> {
    let bytes = visible_bytes(&state, user, &hash).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        Body::from(bytes),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_hex_of_the_right_length_names_a_photo() {
        let good = hash_of(b"photo");
        assert!(PhotoHash::parse(&good).is_some());
        assert!(PhotoHash::parse(&good.to_uppercase()).is_none());
        assert!(PhotoHash::parse(&good[..63]).is_none());
        assert!(PhotoHash::parse(&format!("{good}0")).is_none());
        assert!(PhotoHash::parse(&format!("../{}", &good[3..])).is_none());
        assert!(PhotoHash::parse("").is_none());
        // Multi-byte characters never pass, even with a byte length of 64.
        assert!(PhotoHash::parse(&"é".repeat(32)).is_none());
    }

    #[test]
    fn a_second_upload_of_the_same_photo_is_busy_until_the_first_ends() {
        let key = PathBuf::from("/nonexistent/guard-test");
        let first = UploadGuard::try_acquire(key.clone()).unwrap();
        assert!(UploadGuard::try_acquire(key.clone()).is_none());
        let other = UploadGuard::try_acquire(PathBuf::from("/nonexistent/other"));
        assert!(other.is_some());
        drop(first);
        assert!(UploadGuard::try_acquire(key).is_some());
    }

    /// Another process (another instance on the same photo folder) holding the partial's OS lock
    /// makes the upload busy here too; an old lock file without its partial is swept.
    #[test]
    fn an_upload_another_process_holds_is_busy_and_old_lock_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let hash = PhotoHash::parse(&hash_of(b"q")).unwrap();
        let partial = partial_path(dir.path(), &hash, "u1");
        ensure_dir(partial.parent().unwrap()).unwrap();
        // A second open file description stands for the other process (flock conflicts across
        // descriptions, as across processes).
        let other = os_lock(&partial).unwrap().expect("the folder exists");
        assert!(UploadGuard::try_acquire(partial.clone()).is_none(), "held elsewhere");
        drop(other);
        let guard = UploadGuard::try_acquire(partial.clone()).expect("free again");
        assert!(os_lock(&partial).is_err(), "and now held here, for the other process");
        drop(guard);
        let later = now_ms() + PARTIAL_TTL_MS + 60_000;
        assert_eq!(sweep_partials(dir.path(), later).unwrap(), 0, "no partial to remove");
        let lock = lock_path(&partial).unwrap();
        assert!(lock.starts_with(dir.path().join("photos").join("locks")), "{lock:?}");
        assert!(!lock.exists(), "the lock file without its partial went");
    }

    #[test]
    fn hex_matches_the_known_digest() {
        assert_eq!(hash_of(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    /// The sweep never deletes a partial an upload holds, however old it looks.
    #[test]
    fn the_sweep_skips_a_partial_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let hash = PhotoHash::parse(&hash_of(b"p")).unwrap();
        let partial = partial_path(dir.path(), &hash, "u1");
        ensure_dir(partial.parent().unwrap()).unwrap();
        fs::write(&partial, b"half").unwrap();
        let later = now_ms() + PARTIAL_TTL_MS + 60_000;
        let guard = UploadGuard::try_acquire(partial.clone()).unwrap();
        assert_eq!(sweep_partials(dir.path(), later).unwrap(), 0);
        assert!(partial.exists());
        drop(guard);
        assert_eq!(sweep_partials(dir.path(), later).unwrap(), 1);
        assert!(!partial.exists());
    }

    #[test]
    fn partial_names_carry_no_user_input_but_the_hash() {
        let hash = PhotoHash::parse(&hash_of(b"p")).unwrap();
        let a = partial_path(FsPath::new("/d"), &hash, "../../etc/passwd");
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(a.parent().unwrap(), FsPath::new("/d/photos/partial"));
        assert!(name.starts_with(hash.as_str()) && name.ends_with(".part"));
        let stem = name.strip_suffix(".part").unwrap();
        assert!(stem.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.'), "{name}");
        assert_ne!(a, partial_path(FsPath::new("/d"), &hash, "another user"));
    }
}

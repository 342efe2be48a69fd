//! Photo blobs: content-addressed by SHA-256, uploaded in resumable chunks, served only to users
//! who can see a customer whose document references them.
//!
//! Layout under the data folder:
//! - `photos/<first two hex chars>/<sha256 hex>`: complete, verified blobs;
//! - `photos/partial/<sha256 hex>.part`: uploads in progress.
//!
//! Every chunk is fsync'ed before it is acknowledged, so the resume point a device is told survives
//! a crash. A blob appears only by an atomic rename once the SHA-256 of its whole content matches
//! its name, so a complete blob is never half-written or wrong. The only user input that reaches
//! the filesystem is a validated 64-character lowercase hex name.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::accounts::{AccountError, Role, User};
use crate::error::AppError;
use crate::routes::{AppState, Authed};

/// The largest photo the server takes.
pub const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;
/// The largest chunk one upload request may carry.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

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

fn hex(bytes: &[u8]) -> String {
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

fn blob_path(data_dir: &FsPath, hash: &PhotoHash) -> PathBuf {
    photos_dir(data_dir).join(&hash.0[..2]).join(&hash.0)
}

fn partial_path(data_dir: &FsPath, hash: &PhotoHash) -> PathBuf {
    photos_dir(data_dir).join("partial").join(format!("{}.part", hash.0))
}

/// Replaces the photos referenced by one customer's document.
pub fn record_refs(conn: &Connection, customer_id: &str, hashes: &[String]) -> rusqlite::Result<()> {
    // A savepoint nests inside the caller's transaction and is its own transaction otherwise.
    conn.execute_batch("SAVEPOINT photo_refs")?;
    let result = (|| {
        conn.prepare_cached("DELETE FROM photo_refs WHERE customer_id = ?1")?.execute([customer_id])?;
        let mut insert = conn.prepare_cached("INSERT OR IGNORE INTO photo_refs (hash, customer_id) VALUES (?1, ?2)")?;
        // A malformed hash can never name a stored photo, so it is not recorded.
        for hash in hashes.iter().filter_map(|h| PhotoHash::parse(h)) {
            insert.execute(params![hash.0, customer_id])?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("RELEASE photo_refs"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO photo_refs; RELEASE photo_refs");
            Err(e)
        }
    }
}

/// Whether `user` can see a customer whose document references the photo: a manager the
/// customers in their own scope, a supervisor or an admin the branch's customers not deleted.
pub fn visible(conn: &Connection, user: &User, hash: &str) -> rusqlite::Result<bool> {
    let Some(hash) = PhotoHash::parse(hash) else { return Ok(false) };
    let found = match user.role {
        Role::Manager => conn
            .prepare_cached(
                "SELECT 1 FROM photo_refs r JOIN documents d ON d.customer_id = r.customer_id
                 WHERE r.hash = ?1 AND d.scope = 'm:' || ?2 LIMIT 1",
            )?
            .query_row(params![hash.0, user.id], |_| Ok(()))
            .optional()?,
        Role::Supervisor | Role::Admin => conn
            .prepare_cached(
                "SELECT 1 FROM photo_refs r JOIN documents d ON d.customer_id = r.customer_id
                 WHERE r.hash = ?1 AND d.branch_id = ?2 AND d.scope <> 'deleted' LIMIT 1",
            )?
            .query_row(params![hash.0, user.branch_id], |_| Ok(()))
            .optional()?,
    };
    Ok(found.is_some())
}

/// How much of a photo the server holds: the resume point of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub received: u64,
    pub complete: bool,
}

/// One upload of a given photo at a time (per data folder): a second concurrent one is refused
/// rather than interleaved. Released when the filesystem work ends, even if the client is gone.
struct UploadGuard(PathBuf);

static UPLOADS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

impl UploadGuard {
    fn try_acquire(key: PathBuf) -> Option<UploadGuard> {
        let mut uploads = UPLOADS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Build the guard only once the key is ours: dropping a guard releases its key.
        if uploads.insert(key.clone()) { Some(UploadGuard(key)) } else { None }
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
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

fn current_status(data_dir: &FsPath, hash: &PhotoHash) -> io::Result<UploadStatus> {
    if let Some(len) = file_len(&blob_path(data_dir, hash))? {
        return Ok(UploadStatus { received: len, complete: true });
    }
    let received = file_len(&partial_path(data_dir, hash))?.unwrap_or(0);
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

/// Appends one chunk at `offset` and, once `total` bytes are in, verifies and publishes the blob.
/// Runs on the blocking pool under the photo's [`UploadGuard`].
fn append_chunk(
    data_dir: &FsPath,
    hash: &PhotoHash,
    offset: u64,
    total: u64,
    chunk: &[u8],
) -> Result<UploadStatus, AppError> {
    let blob = blob_path(data_dir, hash);
    if let Some(len) = file_len(&blob).map_err(io_error)? {
        // Deduplication: the photo is already here, whoever sent it.
        return Ok(UploadStatus { received: len, complete: true });
    }
    let partial = partial_path(data_dir, hash);
    let partial_dir = partial.parent().unwrap_or(data_dir).to_path_buf();
    let mut existing = file_len(&partial).map_err(io_error)?;
    if offset == 0 && existing.is_some_and(|len| len > 0) {
        // Starting over: a partial that cannot become this photo (left by a broken or hostile
        // client) must never block the real one. The content is checked by its hash at the end.
        fs::remove_file(&partial).map_err(io_error)?;
        existing = None;
    }
    let received = existing.unwrap_or(0);
    if offset != received {
        return Err(AppError::PhotoOffsetMismatch { received });
    }
    let received = received + chunk.len() as u64;
    if received > total {
        return Err(AppError::Account(AccountError::Invalid { field: "total" }));
    }
    if !chunk.is_empty() {
        ensure_dir(&partial_dir).map_err(io_error)?;
        let mut file = OpenOptions::new().create(true).append(true).open(&partial).map_err(io_error)?;
        file.write_all(chunk).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        if existing.is_none() {
            sync_dir(&partial_dir).map_err(io_error)?;
        }
    }
    if received < total {
        return Ok(UploadStatus { received, complete: false });
    }
    if hash_file(&partial).map_err(io_error)? != *hash {
        fs::remove_file(&partial).map_err(io_error)?;
        sync_dir(&partial_dir).map_err(io_error)?;
        return Err(AppError::PhotoHashMismatch);
    }
    let blob_dir = blob.parent().unwrap_or(data_dir);
    ensure_dir(blob_dir).map_err(io_error)?;
    fs::rename(&partial, &blob).map_err(io_error)?;
    sync_dir(blob_dir).map_err(io_error)?;
    sync_dir(&partial_dir).map_err(io_error)?;
    Ok(UploadStatus { received: total, complete: true })
}

/// `GET /api/v1/photos/{hash}/upload`: the resume point of an upload.
async fn upload_status(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(hash): Path<String>,
) -> Result<Json<UploadStatus>, AppError> {
    let hash = PhotoHash::parse(&hash).ok_or(AppError::NotFound)?;
    let data_dir = state.data_dir.clone();
    let status = blocking(move || current_status(&data_dir, &hash).map_err(io_error)).await?;
    Ok(Json(status))
}

/// `PUT /api/v1/photos/{hash}/upload?offset=N&total=T` with one chunk as the body.
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
    let data_dir = state.data_dir.clone();
    let guard = UploadGuard::try_acquire(partial_path(&data_dir, &hash)).ok_or(AppError::PhotoUploadBusy)?;
    let status = blocking(move || {
        let _guard = guard;
        append_chunk(&data_dir, &hash, offset, total, &chunk)
    })
    .await?;
    if status.complete && status.received == total {
        tracing::info!(user = %user.id, bytes = total, "photo upload complete");
    }
    Ok(Json(status))
}

/// `GET /api/v1/photos/{hash}`: the photo, to a user who can see a customer referencing it;
/// anyone else gets the same 404 as for a photo that does not exist.
async fn download(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(hash): Path<String>,
) -> Result<Response, AppError> {
    let hash = PhotoHash::parse(&hash).ok_or(AppError::NotFound)?;
    let name = hash.0.clone();
    let allowed = state
        .db
        .call(move |conn| visible(conn, &user, &name).map_err(|e| AppError::Internal(format!("photo refs: {e}"))))
        .await?;
    if !allowed {
        return Err(AppError::NotFound);
    }
    let data_dir = state.data_dir.clone();
    let bytes = blocking(move || match fs::read(blob_path(&data_dir, &hash)) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(AppError::NotFound),
        Err(e) => Err(io_error(e)),
    })
    .await?;
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

    #[test]
    fn hex_matches_the_known_digest() {
        assert_eq!(hash_of(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}

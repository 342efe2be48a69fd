//! Backups an operator can trust, taken while the server serves.
//!
//! `backup --to FILE` writes one file: a zstd-compressed tar holding
//! - `server.db`: a consistent copy of the store made by SQLite's `VACUUM INTO` in one read
//!   transaction (WAL lets the server keep writing meanwhile);
//! - `photos/ab/<sha256>`: every complete photo that copy knows, each checked against its name;
//! - `MANIFEST.json`: the format, when, the store's schema, the copy's SHA-256 and the photos.
//!
//! It is written as `FILE.partial` and renamed when whole and synced to disk: a backup killed
//! midway never leaves a file that looks complete. Photos are content-addressed and never change,
//! so the ones the copy names are the ones to keep; a photo that arrives after the copy is the
//! next backup's.
//!
//! `restore --from FILE --data DIR` refuses a folder that holds anything, unpacks into a sibling
//! folder, checks every file against the manifest (and every entry's name: nothing outside the
//! folder, nothing unexpected), opens the store (a store newer than this server is refused), and
//! only then renames it into place. Devices that synced after the backup bring back what the
//! restored server lacks through the sync's reconciliation.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a backup file says it is.
pub const FORMAT: &str = "fieldsync-backup/1";
/// The largest entry restore writes (a store of many GB is possible; a photo is at most 20 MB).
const MAX_ENTRY: u64 = 1 << 40;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_at: i64,
    pub schema: u32,
    pub db_sha256: String,
    pub db_bytes: u64,
    pub photos: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub db_bytes: u64,
    pub photos: usize,
    pub file_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0} holds no fieldsync store (server.db)")]
    NoStore(PathBuf),
    #[error("the data folder {0} is not empty: restore only into a new or empty folder")]
    NotEmpty(PathBuf),
    #[error("the backup file is not a fieldsync backup, or is damaged: {0}")]
    Damaged(String),
    #[error("photo {0} does not match its name (damaged on disk); the backup stops")]
    PhotoDamaged(String),
    #[error("the restored store cannot be opened: {0}")]
    Open(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

/// Which side of a copy failed.
enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `from` into `to`; returns the SHA-256 (hex) and length of what was copied.
fn copy_hashed(from: &mut impl Read, to: &mut impl Write) -> Result<(String, u64), CopyError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            return Ok((crate::photos::hex(&hasher.finalize()), total));
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// Takes a backup of the store in `data` (served or not) into `to`. `key` opens an encrypted
/// store (the copy is encrypted with the same key).
pub fn backup(
    data: &Path,
    to: &Path,
    now: i64,
    key: Option<&crate::store::StoreKey>,
) -> Result<BackupReport, BackupError> {
    let db_path = data.join("server.db");
    if !db_path.is_file() {
        return Err(BackupError::NoStore(data.to_path_buf()));
    }
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    let copy = PathBuf::from(format!("{}.db-copy", to.display()));
    let _ = std::fs::remove_file(&copy);
    let result = write_backup(&db_path, data, &copy, &partial, now, key);
    let _ = std::fs::remove_file(&copy);
    match result {
        Ok(report) => {
            std::fs::rename(&partial, to).map_err(io(to))?;
            if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
                // The rename itself reaches the disk.
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn write_backup(
    db_path: &Path,
    data: &Path,
    copy: &Path,
    partial: &Path,
    now: i64,
    key: Option<&crate::store::StoreKey>,
) -> Result<BackupReport, BackupError> {
    // The copy: one read transaction of the live store.
    let conn = crate::store::sqlite::db::open_connection(db_path, key, true)?;
    conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
    drop(conn);
    let copied = crate::store::sqlite::db::open_connection(copy, key, true)?;
    let schema: u32 = copied.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let photos: Vec<String> = {
        let mut stmt = copied.prepare("SELECT hash FROM photos ORDER BY hash")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    drop(copied);
    let photos: Vec<crate::photos::PhotoHash> =
        photos.iter().filter_map(|h| crate::photos::PhotoHash::parse(h)).collect();
    let mut db = std::fs::File::open(copy).map_err(io(copy))?;
    let (db_sha256, db_bytes) = match copy_hashed(&mut db, &mut std::io::sink()) {
        Ok(hashed) => hashed,
        Err(CopyError::Read(e) | CopyError::Write(e)) => return Err(io(copy)(e)),
    };
    let names = photos.iter().map(|h| h.as_str().to_string()).collect();
    let manifest = Manifest { format: FORMAT.into(), created_at: now, schema, db_sha256, db_bytes, photos: names };

    let file = std::fs::File::create(partial).map_err(io(partial))?;
    let encoder = zstd::Encoder::new(file, 3).map_err(io(partial))?;
    let mut tar = tar::Builder::new(encoder);
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Damaged(e.to_string()))?;
    append(&mut tar, "MANIFEST.json", &mut &manifest_json[..], manifest_json.len() as u64, partial)?;
    let mut db = std::fs::File::open(copy).map_err(io(copy))?;
    append(&mut tar, "server.db", &mut db, db_bytes, partial)?;
    for hash in &photos {
        let path = crate::photos::blob_path(data, hash);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let hash = hash.as_str();
        if crate::photos::hash_of(&bytes) != hash {
            return Err(BackupError::PhotoDamaged(hash.to_string()));
        }
        let name = format!("photos/{}/{hash}", &hash[..2]);
        append(&mut tar, &name, &mut &bytes[..], bytes.len() as u64, partial)?;
    }
    let encoder = tar.into_inner().map_err(io(partial))?;
    let file = encoder.finish().map_err(io(partial))?;
    file.sync_all().map_err(io(partial))?;
    let file_bytes = file.metadata().map_err(io(partial))?.len();
    Ok(BackupReport { db_bytes, photos: manifest.photos.len(), file_bytes })
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    body: &mut impl Read,
    len: u64,
    partial: &Path,
) -> Result<(), BackupError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, body).map_err(io(partial))
}

/// What a backup file's entry is, by its name; anything else is refused.
enum Entry {
    Manifest,
    Store,
    Photo(crate::photos::PhotoHash),
}

fn entry_kind(name: &str) -> Option<Entry> {
    match name {
        "MANIFEST.json" => Some(Entry::Manifest),
        "server.db" => Some(Entry::Store),
        _ => {
            let rest = name.strip_prefix("photos/")?;
            let (dir, hash) = rest.split_once('/')?;
            let hash = crate::photos::PhotoHash::parse(hash)?;
            (dir == &hash.as_str()[..2]).then_some(Entry::Photo(hash))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub schema: u32,
    pub photos: usize,
    pub created_at: i64,
}

/// Restores the backup `from` into `data`, which must not exist or be empty.
pub fn restore(from: &Path, data: &Path, key: Option<&crate::store::StoreKey>) -> Result<RestoreReport, BackupError> {
    if data.exists() {
        let mut entries = std::fs::read_dir(data).map_err(io(data))?;
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(data.to_path_buf()));
        }
    }
    let name = data.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "data".into());
    let staging = data.with_file_name(format!(".{name}.restoring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let result = unpack(from, &staging, key);
    match result {
        Ok(report) => {
            if data.exists() {
                std::fs::remove_dir(data).map_err(io(data))?;
            }
            std::fs::rename(&staging, data).map_err(io(data))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn unpack(from: &Path, staging: &Path, key: Option<&crate::store::StoreKey>) -> Result<RestoreReport, BackupError> {
    let damaged = |m: &str| BackupError::Damaged(m.to_string());
    let file = std::fs::File::open(from).map_err(io(from))?;
    let decoder = zstd::Decoder::new(file).map_err(|_| damaged("not zstd"))?;
    let mut archive = tar::Archive::new(decoder);
    let mut manifest: Option<Manifest> = None;
    let mut store: Option<(String, u64)> = None;
    let mut photos = std::collections::BTreeSet::new();
    for entry in archive.entries().map_err(|e| BackupError::Damaged(e.to_string()))? {
        let mut entry = entry.map_err(|e| BackupError::Damaged(e.to_string()))?;
        if entry.header().entry_type() != tar::EntryType::Regular || entry.size() > MAX_ENTRY {
            return Err(damaged("an entry that is not a plain file"));
        }
        let name = entry.path().map_err(|_| damaged("a name that is not text"))?.to_string_lossy().to_string();
        match entry_kind(&name).ok_or_else(|| damaged("an entry with an unexpected name"))? {
            Entry::Manifest => {
                let mut text = Vec::new();
                entry
                    .by_ref()
                    .take(64 << 20)
                    .read_to_end(&mut text)
                    .map_err(|e| BackupError::Damaged(e.to_string()))?;
                manifest = Some(serde_json::from_slice(&text).map_err(|_| damaged("the manifest is not readable"))?);
            }
            Entry::Store => {
                let path = staging.join("server.db");
                store = Some(write_hashed(&mut entry, &path)?);
            }
            Entry::Photo(hash) => {
                let path = crate::photos::blob_path(staging, &hash);
                std::fs::create_dir_all(path.parent().unwrap_or(staging)).map_err(io(&path))?;
                let (got, _) = write_hashed(&mut entry, &path)?;
                if got != hash.as_str() {
                    return Err(BackupError::Damaged(format!("photo {} does not match its name", hash.as_str())));
                }
                photos.insert(hash.as_str().to_string());
            }
        }
    }
    let manifest = manifest.ok_or_else(|| damaged("no manifest"))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged(format!("format {:?}, this server reads {FORMAT}", manifest.format)));
    }
    let (sha, bytes) = store.ok_or_else(|| damaged("no store"))?;
    if sha != manifest.db_sha256 || bytes != manifest.db_bytes {
        return Err(damaged("the store does not match the manifest"));
    }
    if manifest.photos.iter().any(|h| !photos.contains(h)) || photos.len() != manifest.photos.len() {
        return Err(damaged("the photos do not match the manifest"));
    }
    // Opened as the server opens it: a store newer than this server, or not a fieldsync store,
    // is refused here, before it takes the data folder's place.
    let db = crate::store::Db::open_keyed(staging, key).map_err(|e| BackupError::Open(e.to_string()))?;
    // A new epoch: the tablets that synced with the store after this backup are listed again.
    db.write_blocking(|s| s.renew_store_epoch()).map_err(|e| BackupError::Open(e.to_string()))?;
    Ok(RestoreReport { schema: manifest.schema, photos: photos.len(), created_at: manifest.created_at })
}

/// Writes `body` to `path`, synced; returns its SHA-256 and length.
fn write_hashed(body: &mut impl Read, path: &Path) -> Result<(String, u64), BackupError> {
    let mut file = std::fs::File::create(path).map_err(io(path))?;
    let written = copy_hashed(body, &mut file).map_err(|e| match e {
        CopyError::Read(e) => BackupError::Damaged(e.to_string()),
        CopyError::Write(e) => io(path)(e),
    })?;
    file.sync_all().map_err(io(path))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_expected_names_are_entries() {
        let hash = "a".repeat(64);
        assert!(matches!(entry_kind("MANIFEST.json"), Some(Entry::Manifest)));
        assert!(matches!(entry_kind("server.db"), Some(Entry::Store)));
        assert!(matches!(entry_kind(&format!("photos/aa/{hash}")), Some(Entry::Photo(_))));
        for bad in [
            format!("photos/ab/{hash}"),
            format!("photos/aa/../{hash}"),
            "../server.db".to_string(),
            "/etc/passwd".to_string(),
            "photos/aa/AAAA".to_string(),
            "server.db-wal".to_string(),
        ] {
            assert!(entry_kind(&bad).is_none(), "{bad}");
        }
    }
}

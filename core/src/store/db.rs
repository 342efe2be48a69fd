//! Opening the SQLite file: encryption key, durability pragmas, health checks, and moving an
//! unreadable file aside (never deleting it).

use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::types::{Type, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::schema::{self, APPLICATION_ID};
use crate::error::{Error, Result};

/// A raw 256-bit SQLCipher key; the app keeps it in the platform keystore.
#[derive(Clone)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn from_slice(bytes: &[u8]) -> Result<Key> {
        Ok(Key(bytes.try_into().map_err(|_| Error::BadKey)?))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Opens (creating if needed) and migrates the store at `path`. Returns the connection and whether
/// projections must be rebuilt after a migration.
pub fn open(path: &Path, key: Option<&Key>) -> Result<(Connection, bool)> {
    let existed = path.exists() && std::fs::metadata(path)?.len() > 0;
    let mut conn = match connect(path, key, existed) {
        Ok(conn) => conn,
        Err(Unhealthy::Sqlite(e)) => return Err(e.into()),
        Err(Unhealthy::Unreadable(reason)) => {
            let moved_to = move_aside(path)?;
            tracing::warn!(moved_to = %moved_to.display(), %reason, "moved an unreadable store aside");
            return Err(Error::Unreadable { reason, moved_to });
        }
        // SQLCipher cannot tell a wrong key from a damaged encrypted file; a key given, or a file
        // shaped like an encrypted database, is told to the app as a key that does not fit (both
        // are moved aside the same way, so a later right key can still open the file).
        Err(Unhealthy::NotADatabase) if key.is_some() || looks_encrypted(path) => {
            let moved_to = move_aside(path)?;
            tracing::warn!(moved_to = %moved_to.display(), "moved aside a store the key does not open");
            return Err(Error::WrongKey { moved_to });
        }
        Err(Unhealthy::NotADatabase) => {
            let moved_to = move_aside(path)?;
            let reason = "not a database".to_string();
            tracing::warn!(moved_to = %moved_to.display(), %reason, "moved an unreadable store aside");
            return Err(Error::Unreadable { reason, moved_to });
        }
    };
    let rebuild = schema::migrate(&mut conn)?;
    register_functions(&conn)?;
    Ok((conn, rebuild))
}

/// The SQL functions the store's queries call: `fs_search_rank(name, phone, query)`, how a customer
/// matches what a manager typed (`search::rank`: 0 best, NULL no match).
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("fs_search_rank", 3, flags, |ctx| {
        let name = ctx.get_raw(0).as_str_or_null().ok().flatten().unwrap_or("");
        let phone = ctx.get_raw(1).as_str_or_null().ok().flatten();
        let query = ctx.get_raw(2).as_str_or_null().ok().flatten().unwrap_or("");
        Ok(crate::search::rank(name, phone, query).map(|r| r as i64))
    })?;
    Ok(())
}

enum Unhealthy {
    /// Not a database to SQLite: encrypted with another key, or not one at all: moved aside.
    NotADatabase,
    /// Not our database, or damaged: moved aside.
    Unreadable(String),
    /// Anything else (disk full, permissions): reported as it is, the file left in place.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Unhealthy {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(NotADatabase) => Unhealthy::NotADatabase,
            Some(DatabaseCorrupt) => Unhealthy::Unreadable("the database file is damaged".into()),
            _ => Unhealthy::Sqlite(e),
        }
    }
}

fn connect(path: &Path, key: Option<&Key>, existed: bool) -> Result<Connection, Unhealthy> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // Until the file proves readable, closing must not checkpoint its WAL into it and delete the
    // WAL: an unreadable file is moved aside exactly as it was found.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    if let Some(key) = key {
        let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
        conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))?;
    }
    // Reading the schema is the first real read: a foreign, damaged or wrongly keyed file fails here.
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if existed && tables > 0 {
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        if app_id != APPLICATION_ID {
            return Err(Unhealthy::Unreadable("the file is not a fieldsync store".into()));
        }
        check_length(&conn, path)?;
    }
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
    // Temporary tables and sort spills stay in memory, so no plaintext reaches a temp file.
    // The WAL is checkpointed every ~8 MB rather than SQLite's 4 MB, so fewer user actions pay for
    // a checkpoint; `Store::compact` checkpoints at idle time.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = 2000;
         PRAGMA temp_store = MEMORY;
         PRAGMA busy_timeout = 5000;",
    )?;
    Ok(conn)
}

/// A file cut short (a copy interrupted, a full disk) would only fail later, on the first query that
/// touches a missing page; this catches it at open while no WAL holds newer pages.
fn check_length(conn: &Connection, path: &Path) -> Result<(), Unhealthy> {
    // Once a SQLCipher key is set, `PRAGMA page_size` answers as `cipher_page_size`, in text.
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| match r.get_ref(0)? {
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| rusqlite::Error::InvalidColumnType(0, "page_size".into(), Type::Text)),
        _ => r.get(0),
    })?;
    let page_size = page_size.max(0) as u64;
    let page_count: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let page_count = page_count.max(0) as u64;
    let len = std::fs::metadata(path).map_err(|e| Unhealthy::Unreadable(e.to_string()))?.len();
    let wal = wal_path(path);
    let wal_in_use = std::fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false);
    if page_size == 0 || len % page_size != 0 || (!wal_in_use && page_count * page_size > len) {
        return Err(Unhealthy::Unreadable("the database file is truncated".into()));
    }
    Ok(())
}

fn wal_path(path: &Path) -> PathBuf {
    sidecar(path, "-wal")
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether the file looks like an encrypted database: no plaintext SQLite header, and whole
/// pages (SQLCipher pages are at least 512 bytes).
fn looks_encrypted(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else { return false };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut header = [0u8; 16];
    file.read_exact(&mut header).is_ok() && &header != b"SQLite format 3\0" && len >= 512 && len.is_multiple_of(512)
}

/// Renames the file and its WAL/SHM side files to `<name>.unreadable-<unix ms>`.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut target = sidecar(path, &format!(".unreadable-{stamp}"));
    // Never onto a file moved aside earlier: rename would replace it.
    let mut n = 0;
    while ["", "-wal", "-shm"].iter().any(|suffix| sidecar(&target, suffix).exists()) {
        n += 1;
        target = sidecar(path, &format!(".unreadable-{stamp}-{n}"));
    }
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = sidecar(path, suffix);
        if side.exists() {
            std::fs::rename(&side, sidecar(&target, suffix))?;
        }
    }
    Ok(target)
}

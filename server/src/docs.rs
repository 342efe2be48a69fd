//! The server's customer documents: every accepted change appended once, keyed by customer and
//! change hash (a repeated push is harmless), with a commit-ordered sequence number that devices
//! pull from. SQLite has one writer at a time, so sequence numbers are assigned in commit order
//! and a cursor never skips a change committed late.

use automerge::ActorId;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::CustomerFile;
use rusqlite::{Connection, OptionalExtension, params};

use crate::accounts::User;
use crate::validate::{self, Refusal};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    customer_id TEXT PRIMARY KEY,
    branch_id TEXT NOT NULL,
    owner_id TEXT,
    updated_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    UNIQUE (customer_id, hash)
);
CREATE INDEX IF NOT EXISTS changes_customer ON changes (customer_id, seq);
";

/// Why a push of one document was not taken. The rest of a push goes on regardless.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the changes are corrupt")]
    Corrupt,
    #[error("the changes depend on history the server does not have")]
    MissingHistory,
    #[error("refused: {}", .0.message_en())]
    Refused(Refusal),
    /// Another branch's document, or a malformed ID: answered exactly like a document that
    /// does not exist.
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("document error: {0}")]
    Core(String),
}

/// The result of an accepted push.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub customer_id: String,
    /// Changes that were new to the server (0 for a repeated push).
    pub new_changes: usize,
}

fn load(conn: &Connection, customer_id: &str, actor: &ActorId) -> Result<Option<CustomerDoc>, PushError> {
    let mut stmt = conn.prepare_cached("SELECT bytes FROM changes WHERE customer_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([customer_id])?;
    let mut bytes = Vec::new();
    while let Some(row) = rows.next()? {
        bytes.extend_from_slice(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    CustomerDoc::load(customer_id, &bytes, actor).map(Some).map_err(|e| PushError::Core(e.to_string()))
}

/// Validates and stores one document's pushed changes, in one transaction.
pub fn push(
    conn: &mut Connection,
    branch_id: &str,
    writer: &User,
    customer_id: &str,
    bytes: &[u8],
    actor: &ActorId,
) -> Result<Accepted, PushError> {
    if customer_id.is_empty()
        || customer_id.len() > 64
        || !customer_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PushError::NotFound);
    }
    let changes = parse_changes(bytes).map_err(|_| PushError::Corrupt)?;
    let tx = conn.transaction()?;
    let home: Option<String> = tx
        .query_row("SELECT branch_id FROM documents WHERE customer_id = ?1", [customer_id], |r| r.get(0))
        .optional()?;
    if home.as_deref().is_some_and(|b| b != branch_id) {
        return Err(PushError::NotFound);
    }
    let existing = load(&tx, customer_id, actor)?;
    let before: Option<CustomerFile> = existing.as_ref().map(|d| d.file().clone());
    let merged = match existing {
        Some(mut doc) => {
            let new_bytes = doc.merge(customer_id, changes).map_err(merge_error)?;
            (!new_bytes.is_empty()).then_some((doc, new_bytes))
        }
        None => CustomerDoc::from_changes(customer_id, changes, actor).map_err(merge_error)?,
    };
    let Some((doc, new_bytes)) = merged else {
        return Ok(Accepted { customer_id: customer_id.to_string(), new_changes: 0 });
    };
    validate::check(before.as_ref(), doc.file(), writer).map_err(PushError::Refused)?;
    let new = parse_changes(&new_bytes).map_err(|_| PushError::Corrupt)?;
    // Until the server records an owner in the document, a new customer belongs to its creator.
    let owner = doc.file().server.owner.manager_id.as_deref().or(before.is_none().then_some(writer.id.as_str()));
    let inserted = append(&tx, branch_id, customer_id, &new, owner)?;
    tx.commit()?;
    Ok(Accepted { customer_id: customer_id.to_string(), new_changes: inserted })
}

fn merge_error(e: fieldsync_core::Error) -> PushError {
    use fieldsync_core::Error as E;
    match e {
        E::MissingDependencies { .. } => PushError::MissingHistory,
        E::CorruptChanges { .. } => PushError::Corrupt,
        E::SchemaMismatch { .. } | E::NewerDocument { .. } => PushError::Refused(Refusal::Invalid("document".into())),
        other => PushError::Core(other.to_string()),
    }
}

/// One change a device pulls, with the cursor to resume after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    pub seq: i64,
    pub customer_id: String,
    pub bytes: Vec<u8>,
}

/// Changes after `since` of the customers `owner_id` owns in `branch_id` (every customer of the
/// branch when `owner_id` is `None`, for supervisors), oldest first, at most `limit`.
pub fn pull(
    conn: &Connection,
    branch_id: &str,
    owner_id: Option<&str>,
    since: i64,
    limit: u32,
) -> Result<Vec<Pulled>, PushError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.seq, c.customer_id, c.bytes FROM changes c JOIN documents d ON d.customer_id = c.customer_id
         WHERE d.branch_id = ?1 AND (?2 IS NULL OR d.owner_id = ?2) AND c.seq > ?3
         ORDER BY c.seq LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(params![branch_id, owner_id, since, i64::from(limit.clamp(1, 10_000))], |r| {
            Ok(Pulled { seq: r.get(0)?, customer_id: r.get(1)?, bytes: r.get(2)? })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Stores changes the server itself wrote (its own decisions, the demo branch): no validation,
/// same idempotent append.
pub fn store_server_changes(
    conn: &mut Connection,
    branch_id: &str,
    customer_id: &str,
    bytes: &[u8],
    owner_id: Option<&str>,
) -> Result<usize, PushError> {
    let changes = parse_changes(bytes).map_err(|_| PushError::Corrupt)?;
    let tx = conn.transaction()?;
    let inserted = append(&tx, branch_id, customer_id, &changes, owner_id)?;
    tx.commit()?;
    Ok(inserted)
}

/// Appends changes once each (keyed by hash) and records the document's branch, owner (kept when
/// `owner_id` is `None`) and latest sequence number. Returns how many changes were new.
fn append(
    tx: &Connection,
    branch_id: &str,
    customer_id: &str,
    changes: &[automerge::Change],
    owner_id: Option<&str>,
) -> Result<usize, PushError> {
    let mut inserted = 0;
    for change in changes {
        inserted += tx
            .prepare_cached("INSERT OR IGNORE INTO changes (customer_id, hash, bytes) VALUES (?1, ?2, ?3)")?
            .execute(params![customer_id, change.hash().0.as_slice(), change.raw_bytes()])?;
    }
    let seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO documents (customer_id, branch_id, owner_id, updated_seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (customer_id) DO UPDATE SET owner_id = coalesce(?3, owner_id), updated_seq = ?4",
        params![customer_id, branch_id, owner_id, seq],
    )?;
    Ok(inserted)
}

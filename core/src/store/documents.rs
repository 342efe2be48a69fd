//! Document storage: a compacted snapshot per customer plus the change chunks appended since.
//! Compaction folds the chunks into the snapshot and deletes only the chunks it folded.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// The stored bytes of a document (snapshot followed by its chunks), ready for `AutoCommit::load`.
pub fn load(conn: &Connection, customer_id: &str) -> Result<Option<Vec<u8>>> {
    let snapshot: Option<Vec<u8>> = conn
        .prepare_cached("SELECT snapshot FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| r.get(0))
        .optional()?;
    let Some(mut bytes) = snapshot else { return Ok(None) };
    let mut stmt = conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE customer_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([customer_id])?;
    while let Some(row) = rows.next()? {
        bytes.extend_from_slice(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    Ok(Some(bytes))
}

pub fn exists(conn: &Connection, customer_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Stores a new document as a snapshot with no chunks. `unchecked` marks a snapshot whose
/// projection rows came from the server and that has not been parsed here yet.
pub fn create(conn: &Connection, customer_id: &str, snapshot: &[u8], unchecked: bool) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO documents (customer_id, snapshot, next_seq, chunks, unchecked) VALUES (?1, ?2, 0, 0, ?3)",
    )?
    .execute(params![customer_id, snapshot, unchecked])?;
    Ok(())
}

/// Who wrote a chunk: this device's user (to be pushed) or another replica (already on the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Local,
    Remote,
}

/// Appends a change chunk, creating the document's row on its first chunk. Returns the sequence
/// number the next chunk will get and how many chunks the document now has.
pub fn append(conn: &Connection, customer_id: &str, chunk: &[u8], origin: Origin) -> Result<ChunkState> {
    let state = conn
        .prepare_cached(
            "INSERT INTO documents (customer_id, snapshot, next_seq, chunks, local_seq) VALUES (?1, x'', 1, 1, ?2)
             ON CONFLICT (customer_id) DO UPDATE SET next_seq = next_seq + 1, chunks = chunks + 1,
                 local_seq = CASE WHEN ?2 > 0 THEN next_seq + 1 ELSE local_seq END
             RETURNING next_seq, chunks",
        )?
        .query_row(params![customer_id, i64::from(origin == Origin::Local)], |r| {
            Ok(ChunkState { next_seq: r.get(0)?, chunks: r.get(1)? })
        })?;
    conn.prepare_cached("INSERT INTO doc_chunks (customer_id, seq, bytes) VALUES (?1, ?2, ?3)")?.execute(params![
        customer_id,
        state.next_seq - 1,
        chunk
    ])?;
    Ok(state)
}

#[derive(Debug, Clone, Copy)]
pub struct ChunkState {
    pub next_seq: i64,
    pub chunks: i64,
}

/// How many chunks the document has, and the sequence number the next one will get.
pub fn chunk_state(conn: &Connection, customer_id: &str) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached("SELECT chunks, next_seq FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Replaces the snapshot with `snapshot`, which folds every chunk below `folded_below`.
pub fn compact(conn: &Connection, customer_id: &str, snapshot: &[u8], folded_below: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM doc_chunks WHERE customer_id = ?1 AND seq < ?2")?
        .execute(params![customer_id, folded_below])?;
    conn.prepare_cached(
        "UPDATE documents SET snapshot = ?2,
             chunks = (SELECT count(*) FROM doc_chunks WHERE customer_id = ?1)
         WHERE customer_id = ?1",
    )?
    .execute(params![customer_id, snapshot])?;
    Ok(())
}

/// Customers whose documents have at least `min_chunks` chunks.
pub fn needing_compaction(conn: &Connection, min_chunks: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT customer_id FROM documents WHERE chunks >= ?1")?;
    let ids = stmt.query_map([min_chunks], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

pub fn all_ids(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT customer_id FROM documents ORDER BY customer_id")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

pub fn delete(conn: &Connection, customer_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM doc_chunks WHERE customer_id = ?1")?.execute([customer_id])?;
    conn.prepare_cached("DELETE FROM documents WHERE customer_id = ?1")?.execute([customer_id])?;
    Ok(())
}

/// A document's sync bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRow {
    /// Chunk sequence number after the last local write.
    pub local_seq: i64,
    /// `local_seq` as of the last push the server accepted.
    pub pushed_seq: i64,
    /// The heads the server is known to hold (encoded by [`encode_heads`]).
    pub acked_heads: Vec<automerge::ChangeHash>,
    /// The snapshot and its projection rows came from the server and were not parsed here yet.
    pub unchecked: bool,
}

pub fn sync_row(conn: &Connection, customer_id: &str) -> Result<Option<SyncRow>> {
    Ok(conn
        .prepare_cached("SELECT local_seq, pushed_seq, acked_heads, unchecked FROM documents WHERE customer_id = ?1")?
        .query_row([customer_id], |r| {
            Ok(SyncRow {
                local_seq: r.get(0)?,
                pushed_seq: r.get(1)?,
                acked_heads: decode_heads(r.get_ref(2)?.as_blob()?),
                unchecked: r.get(3)?,
            })
        })
        .optional()?)
}

/// Records that the server holds `heads` and every local write up to `pushed_seq`.
pub fn set_acked(
    conn: &Connection,
    customer_id: &str,
    heads: &[automerge::ChangeHash],
    pushed_seq: Option<i64>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE documents SET acked_heads = ?2, pushed_seq = coalesce(?3, pushed_seq), unchecked = 0
         WHERE customer_id = ?1",
    )?
    .execute(params![customer_id, encode_heads(heads), pushed_seq])?;
    Ok(())
}

/// Documents with local writes the server has not acknowledged.
pub fn unpushed(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT customer_id FROM documents WHERE local_seq > pushed_seq")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

pub fn unchecked(conn: &Connection, limit: u32) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT customer_id FROM documents WHERE unchecked = 1 LIMIT ?1")?;
    let ids = stmt.query_map([limit], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

pub fn encode_heads(heads: &[automerge::ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub fn decode_heads(bytes: &[u8]) -> Vec<automerge::ChangeHash> {
    bytes.chunks_exact(32).filter_map(|c| automerge::ChangeHash::try_from(c).ok()).collect()
}

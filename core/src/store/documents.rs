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

/// Stores a new document as a snapshot with no chunks.
pub fn create(conn: &Connection, customer_id: &str, snapshot: &[u8]) -> Result<()> {
    conn.prepare_cached("INSERT INTO documents (customer_id, snapshot, next_seq, chunks) VALUES (?1, ?2, 0, 0)")?
        .execute(params![customer_id, snapshot])?;
    Ok(())
}

/// Appends a change chunk, creating the document's row on its first chunk. Returns the sequence
/// number the next chunk will get and how many chunks the document now has.
pub fn append(conn: &Connection, customer_id: &str, chunk: &[u8]) -> Result<ChunkState> {
    let state = conn
        .prepare_cached(
            "INSERT INTO documents (customer_id, snapshot, next_seq, chunks) VALUES (?1, x'', 1, 1)
             ON CONFLICT (customer_id) DO UPDATE SET next_seq = next_seq + 1, chunks = chunks + 1
             RETURNING next_seq, chunks",
        )?
        .query_row([customer_id], |r| Ok(ChunkState { next_seq: r.get(0)?, chunks: r.get(1)? }))?;
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

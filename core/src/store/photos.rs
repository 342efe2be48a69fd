//! Photos on the device, content-addressed by SHA-256 (lowercase hex, the form visits reference).
//! A photo taken here waits for upload; one fetched from the server is kept to be viewed offline.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::Store;
use crate::domain::{Problem, ValidationError};
use crate::error::{Error, Result};

/// The largest photo accepted (the server's limit too).
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Keeps a photo taken on this device; returns its hash, to put in the visit. Taking the same
    /// photo twice stores it once.
    pub fn add_photo(&mut self, bytes: &[u8]) -> Result<String> {
        if bytes.is_empty() || bytes.len() > MAX_PHOTO_BYTES {
            return Err(Error::Invalid(ValidationError::new("photo", Problem::OutOfRange)));
        }
        let hash = sha256_hex(bytes);
        self.conn.execute(
            "INSERT OR IGNORE INTO photos (hash, bytes, uploaded, own) VALUES (?1, ?2, 0, 1)",
            params![hash, bytes],
        )?;
        Ok(hash)
    }

    /// Keeps a photo fetched from the server, after checking it is the one asked for.
    pub fn keep_fetched_photo(&mut self, hash: &str, bytes: &[u8]) -> Result<()> {
        if sha256_hex(bytes) != hash {
            return Err(Error::CorruptChanges { reason: "the photo does not match its hash".into() });
        }
        self.conn
            .execute("INSERT OR IGNORE INTO photos (hash, bytes, uploaded) VALUES (?1, ?2, 1)", params![hash, bytes])?;
        Ok(())
    }

    pub fn photo(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn.query_row("SELECT bytes FROM photos WHERE hash = ?1", [hash], |r| r.get(0)).optional()?)
    }

    /// Photos taken here that the server does not have yet.
    pub fn photos_to_upload(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT hash FROM photos WHERE uploaded = 0 ORDER BY rowid")?;
        let hashes = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(hashes)
    }

    pub fn mark_photo_uploaded(&mut self, hash: &str) -> Result<()> {
        self.conn.execute("UPDATE photos SET uploaded = 1 WHERE hash = ?1", [hash])?;
        Ok(())
    }
}

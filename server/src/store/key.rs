//! The key of an encrypted server store (SQLCipher, as the tablets use): 32 random bytes, kept in
//! a file of 64 hex characters (`--key-file`, readable by the service user only). Without it the
//! store is plain SQLite, and the data folder belongs on an encrypted disk.

use std::path::Path;

#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("the key file {0} must hold 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`")]
    Shape(String),
}

impl StoreKey {
    pub fn from_file(path: &Path) -> Result<StoreKey, KeyError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| KeyError::Read(shown.clone(), e))?;
        if meta.len() > 1024 {
            return Err(KeyError::Shape(shown));
        }
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read(shown.clone(), e))?;
        StoreKey::from_hex(text.trim()).ok_or(KeyError::Shape(shown))
    }

    pub fn from_hex(hex: &str) -> Option<StoreKey> {
        if hex.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(StoreKey(key))
    }

    /// Keys `conn` (before anything reads it).
    pub fn apply(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_64_hex_characters() {
        assert!(StoreKey::from_hex(&"ab".repeat(32)).is_some());
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33), &"é".repeat(32)] {
            assert!(StoreKey::from_hex(bad).is_none(), "{bad}");
        }
        assert_eq!(format!("{:?}", StoreKey::from_hex(&"ab".repeat(32)).unwrap()), "StoreKey(..)");
    }
}

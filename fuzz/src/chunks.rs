//! automerge chunks: `magic (4) | checksum (4) | type (1) | uleb128 length | body`. The checksum
//! is the start of the SHA-256 of `type | length | body` (of the uncompressed form for compressed
//! changes), and parsers refuse a chunk whose checksum does not match. A fuzzer's mutations
//! almost always break it, so the targets repair framing and checksums before use: the mutated
//! body then reaches the code that matters.

use automerge::Change;
use sha2::{Digest, Sha256};

pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const TYPE_COMPRESSED_CHANGE: u8 = 2;

/// Rewrites every chunk at the start of `bytes` so its length fits what follows and its checksum
/// matches its body. Bytes after the last chunk that starts with the magic are kept as they are
/// (the parsers must refuse them).
pub fn fix_up(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    while rest.len() >= 9 && rest[..4] == MAGIC {
        let chunk_type = rest[8];
        // An unreadable length is taken as "the rest of the input".
        let (declared, leb_len) = read_uleb(&rest[9..]).unwrap_or((u64::MAX, 0));
        let body_start = 9 + leb_len;
        let len = usize::try_from(declared).unwrap_or(usize::MAX).min(rest.len() - body_start);
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[0; 4]);
        out.push(chunk_type);
        write_uleb(&mut out, len as u64);
        out.extend_from_slice(&rest[body_start..body_start + len]);
        let checksum = checksum(&out[start..]);
        out[start + 4..start + 8].copy_from_slice(&checksum);
        rest = &rest[body_start + len..];
    }
    out.extend_from_slice(rest);
    out
}

/// The checksum a well-formed `chunk` (header included) carries.
pub fn checksum(chunk: &[u8]) -> [u8; 4] {
    let mut sum = [0; 4];
    if chunk[8] == TYPE_COMPRESSED_CHANGE {
        // automerge hashes the uncompressed change; it does not check the checksum when parsing.
        if let Ok(change) = Change::try_from(chunk) {
            sum.copy_from_slice(&change.hash().0[..4]);
            return sum;
        }
    }
    // Documents, changes, and unknown types (which the parsers refuse anyway).
    sum.copy_from_slice(&Sha256::digest(&chunk[8..])[..4]);
    sum
}

/// Splits concatenated chunks (as a push or a pull carries them) at their declared lengths.
pub fn split(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 && rest[..4] == MAGIC {
        let Some((len, leb_len)) = read_uleb(&rest[9..]) else { break };
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(9 + leb_len)) else { break };
        if end > rest.len() {
            break;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

pub fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

pub fn write_uleb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_change_survives_fix_up_unchanged_and_a_flipped_byte_gets_a_new_checksum() {
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        let bytes = doc.save_after(&[]);
        assert_eq!(fix_up(&bytes), bytes);
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let fixed = fix_up(&flipped);
        assert_eq!(fixed.len(), bytes.len());
        assert_ne!(fixed[4..8], bytes[4..8]);
        let whole = doc.save();
        assert_eq!(fix_up(&whole), whole);
    }
}

//! The sync protocol between a device and the branch server: one HTTP `POST /api/v1/sync` per round
//! trip, a [`SyncRequest`] up and a [`SyncResponse`] down, each a binary frame:
//!
//! ```text
//! "FSY" | version: u8 | codec: u8 (0 = raw, 1 = zstd) | body (postcard, zstd-compressed if codec 1)
//! ```
//!
//! One request carries everything the device has for the server (pushed changes, pool claims,
//! documents it wants whole, automerge sync messages for documents being reconciled) and the
//! cursor it has pulled up to; the response carries the answers and the next page of what the
//! device's scope gained since the cursor. A sync with nothing new is one round trip of a few dozen
//! body bytes, whatever the number of customers.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks. The server answers any other version with
/// `426 upgrade_required`, never with a body the device cannot read.
/// 2: the branch's settings (pool rules, product catalog, territories) travel with a sync.
pub const VERSION: u8 = 3;

/// Media type of sync frames.
pub const CONTENT_TYPE: &str = "application/x-fieldsync";

/// The largest decoded frame either side accepts (a hostile frame cannot exhaust memory).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

const MAGIC: &[u8; 3] = b"FSY";
const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
/// Smaller bodies are sent raw: a zstd frame would be larger than what it saves.
const COMPRESS_FROM: usize = 96;

/// What a device sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The server sequence number the device has pulled up to; 0 for a device that has never
    /// synced, which asks the server to list its scope (see [`Listing`]).
    pub cursor: u64,
    /// The device's local day `[start, end)` in UTC ms, so a first sync lists today's planned
    /// customers first.
    pub today: Option<(i64, i64)>,
    /// A budget for the response body before compression; the server stops adding documents
    /// and changes once it is reached (at least one item is always sent).
    pub max_bytes: u32,
    /// Local changes the server has not acknowledged, per document.
    pub push: Vec<DocChanges>,
    /// Requests to take customers from the branch's public pool.
    pub claims: Vec<Claim>,
    /// Customers wanted whole (first sync, restoring a quarantined document).
    pub fetch: Vec<String>,
    /// automerge sync messages for documents whose history the two sides disagree about.
    pub reconcile: Vec<SyncMessage>,
    /// The version of the branch's settings the device holds (0: none); the server sends newer
    /// ones in [`SyncResponse::settings`].
    pub settings_version: i64,
    /// The store epoch of the last answer (0: none yet). A server whose store was restored from a
    /// backup has a new one, and lists such a device again (its cursor means nothing there).
    pub epoch: u64,
}

/// A document's changes: automerge change chunks (or one whole-document chunk), concatenated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocChanges {
    pub customer_id: String,
    #[serde(with = "serde_bytes_compat")]
    pub changes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub intent_id: String,
    pub customer_id: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncMessage {
    pub customer_id: String,
    /// An encoded `automerge::sync::Message`.
    #[serde(with = "serde_bytes_compat")]
    pub message: Vec<u8>,
}

/// What the server answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The cursor to send next time; everything up to it is in this response or was before.
    pub cursor: u64,
    /// The server store's epoch, to send back (see [`SyncRequest::epoch`]).
    pub epoch: u64,
    /// More changes are waiting after `cursor`: ask again.
    pub more: bool,
    /// Only in answer to `cursor == 0`: the device's scope, to fetch in this order.
    pub listing: Option<Listing>,
    /// One result per pushed document, in push order.
    pub pushed: Vec<PushResult>,
    pub claims: Vec<ClaimResult>,
    /// Documents sent whole (fetched, or new to the device's scope).
    pub snapshots: Vec<Snapshot>,
    /// New changes of documents the device holds.
    pub changes: Vec<DocChanges>,
    /// Masked entries of the branch's public pool, added or refreshed.
    pub pool: Vec<PoolEntry>,
    /// Customers no longer in the device's scope (documents and pool entries): purge them.
    pub purge: Vec<String>,
    /// Fetched IDs that are not (or no longer) visible to the device.
    pub gone: Vec<String>,
    pub reconcile: Vec<SyncMessage>,
    /// The branch's settings, when newer than the device's.
    pub settings: Option<BranchSettings>,
    /// A manager's progress against this month's target, as of this answer.
    pub progress: Option<crate::domain::MonthProgress>,
}

/// What a branch decides for all its tablets, read-only on them and used offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchSettings {
    pub version: i64,
    pub pool_rules: crate::domain::PoolRules,
    /// Tiers, dormancy and the days a complaint may stay open (settings a tablet stored before
    /// these were sent read as the defaults).
    #[serde(default)]
    pub customer_rules: crate::domain::CustomerRules,
    /// The branch's product catalog (active products only).
    pub catalog: Vec<crate::domain::CatalogProduct>,
    /// The branch's villages with their outlet and responsible managers.
    pub territories: Vec<crate::domain::Territory>,
}

/// The customers in a new device's scope, as of `cursor`, in the order to fetch them: today's
/// planned customers, then their villages, then the rest; pool entries last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub documents: Vec<String>,
    pub pool: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResult {
    pub customer_id: String,
    pub outcome: PushOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PushOutcome {
    /// Stored; `new_changes` were new to the server (0 for a repeated push).
    Accepted { new_changes: u32 },
    /// The server lacks history these changes depend on: reconcile with automerge sync.
    MissingHistory,
    /// Refused by validation: quarantine the document and restore it from the server.
    Refused(Refusal),
    /// Not visible to this device (another branch, or no such customer).
    NotFound,
    /// The bytes are not valid automerge changes.
    Corrupt,
}

/// Why the server refused a change: a stable code and messages for the quarantine list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    pub intent_id: String,
    pub accepted: bool,
    pub reason: String,
}

/// A document sent whole: its saved bytes and the projection rows the server computed from it, so
/// a tablet can show it without parsing the document first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub customer_id: String,
    #[serde(with = "serde_bytes_compat")]
    pub document: Vec<u8>,
    pub rows: crate::store::Rows,
}

/// A pool customer as a manager's tablet sees it: no phone, no ID number, the name masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolEntry {
    pub customer_id: String,
    pub name_masked: String,
    pub kind: String,
    pub village: String,
    pub tier: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("not a fieldsync sync frame")]
    NotAFrame,
    #[error("protocol version {found} is not supported (this side speaks {supported}); update the app")]
    Version { found: u8, supported: u8 },
    #[error("the frame is too large")]
    TooLarge,
    #[error("the frame is corrupt: {0}")]
    Corrupt(String),
}

/// zstd level for what a device sends: its uploads are small and its link is slow, so it pays for
/// the best ratio.
pub const DEVICE_LEVEL: i32 = 19;
/// zstd level for what the server sends: pages of up to a few MB for many devices at once, where
/// level 19 would cost the server ~0.3 s per MB; level 9 loses a few percent of the ratio.
pub const SERVER_LEVEL: i32 = 9;

/// Encodes a message as a frame at [`DEVICE_LEVEL`], compressing it when that pays.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    encode_at(message, DEVICE_LEVEL)
}

/// Encodes a message as a frame, compressed at `level` when that pays.
pub fn encode_at<T: Serialize>(message: &T, level: i32) -> Vec<u8> {
    // Serialising our own types into a Vec cannot fail.
    let body = postcard::to_stdvec(message).expect("postcard serialises protocol types");
    let mut out = Vec::with_capacity(body.len() / 2 + 8);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    if body.len() < COMPRESS_FROM {
        out.push(CODEC_RAW);
        out.extend_from_slice(&body);
    } else {
        out.push(CODEC_ZSTD);
        let compressed = zstd::bulk::compress(&body, level).expect("zstd compresses into a Vec");
        out.extend_from_slice(&compressed);
    }
    out
}

/// The protocol version a frame claims, if it is a frame at all.
fn frame_version(frame: &[u8]) -> Option<u8> {
    (frame.len() >= 5 && &frame[..3] == MAGIC).then(|| frame[3])
}

/// Decodes a frame strictly: wrong magic, version, codec, size or trailing bytes are errors.
pub fn decode<T: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<T, FrameError> {
    decode_within(frame, MAX_FRAME)
}

/// Decodes a frame whose body may inflate to `max` bytes at most (checked before inflating).
pub fn decode_within<T: for<'de> Deserialize<'de>>(frame: &[u8], max: usize) -> Result<T, FrameError> {
    let max = max.min(MAX_FRAME);
    let version = frame_version(frame).ok_or(FrameError::NotAFrame)?;
    if version != VERSION {
        return Err(FrameError::Version { found: version, supported: VERSION });
    }
    let payload = &frame[5..];
    let body = match frame[4] {
        CODEC_RAW => std::borrow::Cow::Borrowed(payload),
        CODEC_ZSTD => {
            let size = zstd::zstd_safe::get_frame_content_size(payload)
                .map_err(|_| FrameError::Corrupt("bad zstd frame".into()))?
                .ok_or_else(|| FrameError::Corrupt("zstd frame without a size".into()))?;
            if size > max as u64 {
                return Err(FrameError::TooLarge);
            }
            std::borrow::Cow::Owned(inflate(payload, size as usize)?)
        }
        _ => return Err(FrameError::Corrupt("unknown codec".into())),
    };
    if body.len() > max {
        return Err(FrameError::TooLarge);
    }
    let (value, rest) = postcard::take_from_bytes(&body).map_err(|e| FrameError::Corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Corrupt("trailing bytes".into()));
    }
    Ok(value)
}

/// Inflates a zstd frame of `size` bytes with this thread's decompression context (creating one
/// per frame was a few percent of a small request's cost on the server).
fn inflate(payload: &[u8], size: usize) -> Result<Vec<u8>, FrameError> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with_borrow_mut(|slot| {
        let decompressor = match slot {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new().map_err(|e| FrameError::Corrupt(e.to_string()))?),
        };
        decompressor.decompress(payload, size).map_err(|e| FrameError::Corrupt(e.to_string()))
    })
}

/// The body size a message will have before compression (for response budgets).
pub fn encoded_len<T: Serialize>(message: &T) -> usize {
    postcard::experimental::serialized_size(message).unwrap_or(usize::MAX)
}

/// Byte vectors as one length-prefixed blob (postcard's default for `Vec<u8>` is the same on the
/// wire; this keeps (de)serialisation a memcpy rather than a per-byte loop).
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_bytes(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_and_large_frames() {
        let small = SyncRequest { cursor: 42, max_bytes: 1000, ..Default::default() };
        let frame = encode(&small);
        assert!(frame.len() < 20, "a no-op request is a handful of bytes, got {}", frame.len());
        assert_eq!(decode::<SyncRequest>(&frame).unwrap(), small);

        let large = SyncRequest {
            push: vec![DocChanges { customer_id: "c1".into(), changes: vec![7; 10_000] }],
            ..Default::default()
        };
        let frame = encode(&large);
        assert_eq!(frame[4], CODEC_ZSTD);
        assert!(frame.len() < 200);
        assert_eq!(decode::<SyncRequest>(&frame).unwrap(), large);
    }

    #[test]
    fn a_corrupt_compressed_frame_leaves_the_threads_decompressor_usable() {
        let large = SyncRequest {
            push: vec![DocChanges { customer_id: "c1".into(), changes: (0..20_000u32).map(|i| i as u8).collect() }],
            ..Default::default()
        };
        let frame = encode(&large);
        assert_eq!(frame[4], CODEC_ZSTD);
        // The same frame cut short: zstd fails in the middle of inflating it.
        let damaged = &frame[..frame.len() - 3];
        for _ in 0..3 {
            assert!(matches!(decode::<SyncRequest>(damaged), Err(FrameError::Corrupt(_))));
            assert_eq!(decode::<SyncRequest>(&frame).unwrap(), large);
        }
    }

    #[test]
    fn refuses_bad_frames_without_panicking() {
        let good = encode(&SyncRequest { cursor: 1, ..Default::default() });
        assert_eq!(decode::<SyncRequest>(b"").unwrap_err(), FrameError::NotAFrame);
        assert_eq!(decode::<SyncRequest>(b"GET / HTTP/1.1").unwrap_err(), FrameError::NotAFrame);
        let mut old = good.clone();
        old[3] = 0;
        assert_eq!(decode::<SyncRequest>(&old).unwrap_err(), FrameError::Version { found: 0, supported: VERSION });
        let mut codec = good.clone();
        codec[4] = 9;
        assert!(matches!(decode::<SyncRequest>(&codec), Err(FrameError::Corrupt(_))));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(decode::<SyncRequest>(&trailing), Err(FrameError::Corrupt(_))));
        for cut in 0..good.len() {
            assert!(decode::<SyncRequest>(&good[..cut]).is_err());
        }
        // A small frame that would inflate past the limit is refused before inflating it.
        let mut bomb = [b"FSY".as_slice(), &[VERSION, 1]].concat();
        bomb.extend(zstd::bulk::compress(&vec![0u8; MAX_FRAME + 1], 1).unwrap());
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(decode::<SyncRequest>(&bomb).unwrap_err(), FrameError::TooLarge);
        // Random bytes behind a valid header never panic.
        let mut seed = 7u64;
        for _ in 0..500 {
            let mut frame = [b"FSY".as_slice(), &[VERSION]].concat();
            let len = (seed % 64) as usize;
            for _ in 0..=len {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                frame.push((seed >> 33) as u8);
            }
            let _ = decode::<SyncResponse>(&frame);
        }
    }
}

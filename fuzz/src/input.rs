//! How the targets read their input. Server-side inputs start with a two-byte header that picks
//! the signed-in user (and device) and the stored customer the bytes are sent for, so almost every
//! input reaches a real document; the rest are the bytes under test.

/// Header bit: use the bytes as they are, without repairing chunk framing and checksums.
pub const RAW: u8 = 0x80;

/// A server-side input: who sends, for which customer, what.
#[derive(Debug, Clone, Copy)]
pub struct Addressed<'a> {
    /// Index into the fixture's users (taken modulo their number).
    pub user: u8,
    /// Index into the fixture's customers; one past the last is a customer the server lacks.
    pub customer: u8,
    /// Skip the checksum repair (to fuzz the framing checks themselves).
    pub raw: bool,
    pub bytes: &'a [u8],
}

impl<'a> Addressed<'a> {
    pub fn read(data: &'a [u8]) -> Option<Self> {
        let [head, customer, bytes @ ..] = data else { return None };
        Some(Addressed { user: head & !RAW, customer: *customer, raw: head & RAW != 0, bytes })
    }

    pub fn write(user: u8, customer: u8, raw: bool, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![user | if raw { RAW } else { 0 }, customer];
        out.extend_from_slice(bytes);
        out
    }
}

/// A reply for the tablet: a mode byte (bit 0: raw, no checksum repair) and a frame's body
/// (postcard), so mutations work on the response's structure rather than on the frame header,
/// which `frame_decode` covers.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub raw: bool,
    pub body: &'a [u8],
}

impl<'a> Reply<'a> {
    pub fn read(data: &'a [u8]) -> Option<Self> {
        let [mode, body @ ..] = data else { return None };
        Some(Reply { raw: mode & 1 != 0, body })
    }

    pub fn write(raw: bool, body: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(raw)];
        out.extend_from_slice(body);
        out
    }
}

/// A frame carrying `body` uncompressed.
pub fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.extend_from_slice(b"FSY");
    frame.push(fieldsync_core::sync::protocol::VERSION);
    frame.push(0);
    frame.extend_from_slice(body);
    frame
}

//! The server's sync path as a transport in the same process: the device's credentials are
//! checked, its frame decoded, the round trip run and the answer encoded exactly as
//! `POST /api/v1/sync` does, and every refusal handed to the engine as the same
//! [`Rejection`] the HTTP transport derives from the answer. The sync engine, a tablet's store
//! and the real server are tested together without sockets (and the fuzz fixture records its
//! frames this way).

use fieldsync_core::sync::{Rejection, RejectionKind, Reply, Transport, TransportError, protocol};

use crate::accounts;
use crate::error::AppError;
use crate::store::Database;

/// One device's connection to a server in this process.
pub struct InProcess<'a> {
    db: Database,
    token: String,
    device_id: String,
    /// The server's clock, UTC ms.
    now: Box<dyn Fn() -> i64 + 'a>,
}

impl<'a> InProcess<'a> {
    /// A device signed in with `token` on `device_id` (as from `POST /api/v1/login`).
    pub fn new(db: impl Into<Database>, token: &str, device_id: &str) -> Self {
        InProcess::at(db, token, device_id, crate::routes::now_ms)
    }

    /// The same with the server's clock given (tests that move time).
    pub fn at(db: impl Into<Database>, token: &str, device_id: &str, now: impl Fn() -> i64 + 'a) -> Self {
        InProcess { db: db.into(), token: token.to_string(), device_id: device_id.to_string(), now: Box::new(now) }
    }

    fn round_trip(&self, frame: &[u8]) -> Result<Vec<u8>, AppError> {
        let now = (self.now)();
        let who = self.db.write_blocking(|store| {
            let who = accounts::authenticate(store, &self.token, &self.device_id, now)?;
            if who.renew {
                accounts::renew_token(store, &self.token, now)?;
            }
            Ok::<_, AppError>(who)
        })?;
        let decoded = crate::sync::decode_request(frame)?;
        let (response, _) = self.db.sync_blocking(&who.user, &who.device, decoded, now)?;
        Ok(protocol::encode_at(&response, protocol::SERVER_LEVEL))
    }
}

impl Transport for InProcess<'_> {
    fn exchange(&mut self, frame: Vec<u8>) -> Result<Reply, TransportError> {
        Ok(match self.round_trip(&frame) {
            Ok(answer) => Reply::Frame(answer),
            Err(e) => Reply::Rejected(e.rejection()),
        })
    }
}

impl AppError {
    /// This error as the sync engine's rejection: the kind its HTTP status means, its code and
    /// messages, as the HTTP transport reads them off the answer.
    pub fn rejection(&self) -> Rejection {
        let (status, code, message_zh, message_en) = self.answer();
        Rejection { kind: RejectionKind::from_http_status(status.as_u16()), code, message_zh, message_en }
    }
}

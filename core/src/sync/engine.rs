//! The sans-IO sync engine: a [`SyncSession`] turns the store's state into request frames and
//! applies reply frames; it never touches a socket. [`run`] drives a session over any
//! [`Transport`] (the HTTP one lives in `fieldsync-ffi`; tests can use anything).
//!
//! A session loops until nothing is left: local changes pushed, documents fetched, more pages
//! pulled, reconciliations finished. Each reply is applied atomically with its cursor, so a session
//! cut at any point (network, cancel, process kill) resumes where it stopped, and a retried request
//! repeats nothing: pushes are idempotent on the server, merges are idempotent here.

use std::collections::HashMap;

use automerge::sync::State;

use super::protocol::{self, FrameError, SyncResponse};
use crate::store::{Store, SyncBatch};

/// Response budget to start with: small enough that the first page (today's customers) arrives
/// quickly over EDGE, doubled after each full page up to [`MAX_PAGE_BYTES`].
pub const FIRST_PAGE_BYTES: u32 = 256 * 1024;
pub const MAX_PAGE_BYTES: u32 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The device's local day `[start, end)` in UTC ms: a first sync fetches today's planned
    /// customers first.
    pub today: Option<(i64, i64)>,
    /// Now, in UTC ms (for the quarantine log).
    pub now: i64,
    /// Stops a session that keeps going (a server bug) after this many round trips.
    pub max_round_trips: u32,
    /// The first response's byte budget; later ones double up to `max_page_bytes`.
    pub first_page_bytes: u32,
    pub max_page_bytes: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            today: None,
            now: 0,
            max_round_trips: 10_000,
            first_page_bytes: FIRST_PAGE_BYTES,
            max_page_bytes: MAX_PAGE_BYTES,
        }
    }
}

/// What a session has done so far, reported after every round trip.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncProgress {
    pub round_trips: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub changes_pushed: u64,
    pub changes_received: u64,
    pub documents_received: u64,
    /// Documents still to fetch whole (a first sync's remaining customers).
    pub documents_pending: u64,
    pub purged: u64,
    pub quarantined: u64,
    /// Photos uploaded after the documents (by the device's photo step).
    pub photos_uploaded: u64,
    /// Photos the server refused this time; they stay queued.
    pub photos_failed: u64,
}

pub type SyncReport = SyncProgress;

/// A transport's answer to one request frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The server's response frame.
    Frame(Vec<u8>),
    /// The server turned the request away.
    Rejected(Rejection),
}

/// Why the server turned a request away, in the engine's own terms: each transport maps its
/// signals to these (HTTP status codes with [`RejectionKind::from_http_status`], an in-process
/// server its errors), so the engine's decisions do not depend on the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The sign-in is not valid (expired, signed out): sign in again.
    Unauthenticated,
    /// The branch revoked this device: its data must go.
    Revoked,
    /// The server speaks a newer protocol: update the app.
    UpgradeRequired,
    /// Too many requests, or the server is saturated: try again later.
    Busy,
    /// The request was refused as it stands (too large, malformed, not allowed).
    Refused,
    /// The server failed.
    ServerFault,
}

impl RejectionKind {
    /// The kind an HTTP status (other than 200) of the sync endpoint means.
    pub fn from_http_status(status: u16) -> RejectionKind {
        match status {
            401 => RejectionKind::Unauthenticated,
            410 => RejectionKind::Revoked,
            426 => RejectionKind::UpgradeRequired,
            429 | 503 => RejectionKind::Busy,
            500..=599 => RejectionKind::ServerFault,
            _ => RejectionKind::Refused,
        }
    }
}

/// A rejection with the server's stable code and its messages (Chinese first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server revoked this device; the store has been wiped.
    #[error("this device was revoked; its local data has been wiped")]
    Revoked,
    #[error("the sign-in has expired; sign in again")]
    Unauthenticated,
    #[error("the server speaks a newer protocol; update the app")]
    UpgradeRequired,
    /// The server turned the request away (other than for the sign-in, the device or the
    /// protocol version, which have their own variants).
    #[error("the server refused the request ({code}): {message_en}")]
    Rejected { kind: RejectionKind, code: String, message_zh: String, message_en: String },
    #[error("network: {0}")]
    Transport(String),
    /// The server's TLS certificate is not one this tablet trusts (not a network fault: trying
    /// again does not help; the branch's IT checks the certificate or the CA given at sign-in).
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    #[error("cancelled")]
    Cancelled,
    #[error("the server's reply is not readable: {0}")]
    Protocol(#[from] FrameError),
    #[error("the session is not making progress")]
    NoProgress,
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// Sends one request frame and returns the reply; `Err` when no reply arrived.
pub trait Transport {
    fn exchange(&mut self, frame: Vec<u8>) -> Result<Reply, TransportError>;
}

/// Why no reply arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The connection failed, was cut or timed out: the next sync resumes.
    Network(String),
    /// The server's certificate is not trusted (see [`SyncError::Certificate`]).
    Certificate(String),
}

impl From<TransportError> for SyncError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Network(m) => SyncError::Transport(m),
            TransportError::Certificate(m) => SyncError::Certificate(m),
        }
    }
}

pub struct SyncSession {
    options: SyncOptions,
    states: HashMap<String, State>,
    in_flight: Option<SyncBatch>,
    progress: SyncProgress,
    page_bytes: u32,
    last: Option<Last>,
    finished: bool,
}

/// What the previous round asked and got, to decide whether another round is needed.
struct Last {
    more: bool,
    fetch: Vec<String>,
    received_anything: bool,
}

impl SyncSession {
    pub fn new(options: SyncOptions) -> Self {
        let page_bytes = options.first_page_bytes.clamp(1024, MAX_PAGE_BYTES);
        SyncSession {
            options,
            states: HashMap::new(),
            in_flight: None,
            progress: SyncProgress::default(),
            page_bytes,
            last: None,
            finished: false,
        }
    }

    pub fn progress(&self) -> &SyncProgress {
        &self.progress
    }

    /// The next request frame to send, or `None` when the session is complete.
    pub fn next_request(&mut self, store: &mut Store) -> Result<Option<Vec<u8>>, SyncError> {
        if self.finished {
            return Ok(None);
        }
        if self.progress.round_trips >= self.options.max_round_trips {
            return Err(SyncError::NoProgress);
        }
        let batch = store.next_sync_request(self.options.today, self.page_bytes, &mut self.states)?;
        let r = &batch.request;
        let has_work = !(r.push.is_empty() && r.claims.is_empty() && r.fetch.is_empty() && r.reconcile.is_empty());
        if let Some(last) = &self.last {
            if !has_work && !last.more {
                self.finished = true;
                return Ok(None);
            }
            if !last.more && !last.received_anything && r.push.is_empty() && r.fetch == last.fetch {
                // The same documents were asked for and nothing came back.
                return Err(SyncError::NoProgress);
            }
        }
        let frame = protocol::encode(&batch.request);
        self.progress.bytes_sent += frame.len() as u64;
        self.in_flight = Some(batch);
        Ok(Some(frame))
    }

    /// Applies the reply to the request [`next_request`](Self::next_request) returned last.
    pub fn handle_reply(&mut self, store: &mut Store, reply: Reply) -> Result<(), SyncError> {
        let batch = self.in_flight.take().ok_or(SyncError::NoProgress)?;
        self.progress.round_trips += 1;
        let frame = match reply {
            Reply::Frame(frame) => frame,
            Reply::Rejected(rejection) => return Err(rejected(store, rejection)),
        };
        self.progress.bytes_received += frame.len() as u64;
        let response: SyncResponse = protocol::decode(&frame)?;
        let applied = store.apply_sync_response(&batch, response, &mut self.states, self.options.now)?;
        let p = &mut self.progress;
        p.changes_pushed += applied.pushed_changes as u64;
        p.changes_received += applied.changes_received as u64;
        p.documents_received += applied.documents_received as u64;
        p.documents_pending = applied.pending as u64;
        p.purged += applied.purged as u64;
        p.quarantined += applied.quarantined as u64;
        if applied.more || applied.documents_received > 0 {
            self.page_bytes = (self.page_bytes.saturating_mul(2)).min(self.options.max_page_bytes.max(1024));
        }
        self.last = Some(Last {
            more: applied.more,
            fetch: batch.request.fetch.clone(),
            received_anything: applied.documents_received + applied.changes_received + applied.purged > 0
                || !batch.request.push.is_empty()
                || !batch.request.reconcile.is_empty(),
        });
        Ok(())
    }

    /// The reply never came: the request may or may not have reached the server. Nothing was
    /// applied here; the next session (or the next call to `next_request`) asks again, and the
    /// server ignores what it already has.
    pub fn abandon_request(&mut self) {
        self.in_flight = None;
        self.page_bytes = (self.page_bytes / 2).max(self.options.first_page_bytes.min(32 * 1024)).max(1024);
    }
}

/// What a rejection means for the session; a revoked device's store is wiped here.
fn rejected(store: &mut Store, rejection: Rejection) -> SyncError {
    match rejection.kind {
        RejectionKind::Revoked => match store.wipe() {
            Ok(()) => SyncError::Revoked,
            Err(e) => SyncError::Store(e),
        },
        RejectionKind::Unauthenticated => SyncError::Unauthenticated,
        RejectionKind::UpgradeRequired => SyncError::UpgradeRequired,
        kind @ (RejectionKind::Busy | RejectionKind::Refused | RejectionKind::ServerFault) => {
            let Rejection { code, message_zh, message_en, .. } = rejection;
            SyncError::Rejected { kind, code, message_zh, message_en }
        }
    }
}

/// Runs a whole session over `transport` on a store held throughout, reporting progress after
/// each round trip and checking `cancelled` before each request.
pub fn run(
    store: &mut Store,
    transport: &mut dyn Transport,
    options: SyncOptions,
    on_progress: &mut dyn FnMut(&SyncProgress),
    cancelled: &dyn Fn() -> bool,
) -> Result<SyncReport, SyncError> {
    run_in_steps(&std::cell::RefCell::new(store), transport, options, on_progress, cancelled)
}

/// Lends the store to a sync one step at a time (preparing a request, applying its reply) and
/// never while a request is on the network, so an app's other threads use the store meanwhile.
pub trait StoreAccess {
    type Guard<'a>: std::ops::DerefMut<Target = Store>
    where
        Self: 'a;
    /// What a failure to lend the store (or any failure of the sync) is reported as.
    type Error: From<SyncError>;

    fn store(&self) -> Result<Self::Guard<'_>, Self::Error>;
}

/// A store held exclusively, lent step by step.
impl StoreAccess for std::cell::RefCell<&mut Store> {
    type Guard<'a>
        = std::cell::RefMut<'a, Store>
    where
        Self: 'a;
    type Error = SyncError;

    fn store(&self) -> Result<std::cell::RefMut<'_, Store>, SyncError> {
        Ok(std::cell::RefMut::map(self.borrow_mut(), |store| &mut **store))
    }
}

/// [`run`] with the store borrowed through `access` for each step only: the one loop of a sync
/// session, for the command-line tool, the apps and the tests.
pub fn run_in_steps<A: StoreAccess>(
    access: &A,
    transport: &mut dyn Transport,
    options: SyncOptions,
    on_progress: &mut dyn FnMut(&SyncProgress),
    cancelled: &dyn Fn() -> bool,
) -> Result<SyncReport, A::Error> {
    let mut session = SyncSession::new(options);
    loop {
        if cancelled() {
            return Err(SyncError::Cancelled.into());
        }
        let Some(frame) = session.next_request(&mut *access.store()?)? else { break };
        match transport.exchange(frame) {
            Ok(reply) => session.handle_reply(&mut *access.store()?, reply)?,
            Err(e) => {
                session.abandon_request();
                return Err(SyncError::from(e).into());
            }
        }
        on_progress(session.progress());
    }
    Ok(session.progress().clone())
}

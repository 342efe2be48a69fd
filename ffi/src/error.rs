//! The one error the apps see: each variant is something the app does differently. The detailed
//! errors of the core, the store and the transport stay on this side; their messages name fields
//! and IDs, never a customer's name, phone or ID number, and nothing here adds any.

use fieldsync_core::Error as CoreError;
use fieldsync_core::sync::{RejectionKind, SyncError};

use crate::device::DeviceError;
use crate::transport::HttpError;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldsyncError {
    /// A value the user entered is refused: show the reason beside the field.
    #[error("{field} {reason_en}")]
    InvalidInput { field: String, reason_zh: String, reason_en: String },

    /// The customer, visit, lead or reminder does not exist on this tablet (any more).
    #[error("{what} not found")]
    NotFound { what: String },

    /// The action is not allowed in the record's state or for this user (a visit already in
    /// progress, a lead already won, another manager's visit, a field only the server writes).
    #[error("{reason_en}")]
    NotAllowed { reason_zh: String, reason_en: String },

    /// Nobody is signed in, or the sign-in expired: show the sign-in screen.
    #[error("sign in again")]
    SignInAgain,

    /// The branch revoked this tablet: its data has been wiped; show the sign-in screen.
    #[error("this device was revoked; its data has been wiped")]
    DeviceRevoked,

    /// The key does not open the store (encrypted with another key, not encrypted while a key
    /// was given, or damaged past telling). The file was moved aside, not deleted: the right key
    /// still opens it there; a new empty store can be opened at the same path.
    #[error("the store cannot be read with this key; it was moved aside to {moved_to}")]
    WrongKey { moved_to: String },

    /// The file was not a readable store (foreign or damaged). It was moved aside, not deleted;
    /// a new empty store can be opened at the same path and filled by a first sync.
    #[error("the store could not be read ({reason}); it was moved aside to {moved_to}")]
    StoreMovedAside { reason: String, moved_to: String },

    /// The store, a document or the server is newer than this app: update the app.
    #[error("update the app")]
    UpgradeRequired,

    /// The device's storage failed (disk full, I/O error). Retry later; nothing half-written.
    #[error("storage: {reason}")]
    Storage { reason: String },

    /// No answer from the server. Nothing is lost; sync again when the signal returns.
    #[error("network: {reason}")]
    Network { reason: String },

    /// The server's certificate is not one this tablet trusts (a wrong or expired certificate, a
    /// CA other than the one given at sign-in, or someone between the tablet and the server).
    /// Nothing was sent. Trying again does not help: tell the branch's IT; the CA to trust is given
    /// at sign-in (`ca_pem`), or the CA given is not a certificate.
    #[error("the server's certificate is not trusted: {reason}")]
    ServerCertificate { reason: String },

    /// The server refused the request; its message says why (Chinese first).
    #[error("the server refused ({code}): {message_en}")]
    Server { code: String, message_zh: String, message_en: String },

    /// The sync was cancelled; what it finished is kept, the next sync resumes.
    #[error("cancelled")]
    Cancelled,

    /// The store was closed; open it again.
    #[error("the store is closed")]
    Closed,

    /// A fault inside the library (a bug). The call changed nothing; report it.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl FieldsyncError {
    fn not_allowed(reason_en: String, reason_zh: &str) -> Self {
        FieldsyncError::NotAllowed { reason_zh: reason_zh.to_string(), reason_en }
    }
}

impl From<CoreError> for FieldsyncError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::Invalid(v) => FieldsyncError::InvalidInput {
                field: v.field.clone(),
                reason_zh: v.problem.message_zh().to_string(),
                reason_en: v.problem.message_en().to_string(),
            },
            CoreError::BadKey => FieldsyncError::InvalidInput {
                field: "key".into(),
                reason_zh: "密钥必须为 32 字节".into(),
                reason_en: "must be 32 bytes".into(),
            },
            CoreError::NotFound { what, .. } => FieldsyncError::NotFound { what: what.to_string() },
            CoreError::ServerDecided { .. } => {
                FieldsyncError::not_allowed(message, "该字段由网点服务器决定，平板不能修改")
            }
            CoreError::AlreadyExists { .. } => FieldsyncError::not_allowed(message, "记录已存在"),
            CoreError::Transition { .. } => FieldsyncError::not_allowed(message, "当前状态下不能这样变更"),
            CoreError::VisitInProgress { .. } => {
                FieldsyncError::not_allowed(message, "还有进行中的拜访，请先签退或放弃")
            }
            CoreError::NotYours { .. } => FieldsyncError::not_allowed(message, "这是其他客户经理的记录"),
            CoreError::NotSignedIn => FieldsyncError::SignInAgain,
            CoreError::WrongKey { moved_to } => FieldsyncError::WrongKey { moved_to: moved_to.display().to_string() },
            CoreError::Unreadable { reason, moved_to } => {
                FieldsyncError::StoreMovedAside { reason, moved_to: moved_to.display().to_string() }
            }
            CoreError::NewerDatabase { .. } | CoreError::NewerDocument { .. } => FieldsyncError::UpgradeRequired,
            CoreError::CorruptChanges { .. }
            | CoreError::MissingDependencies { .. }
            | CoreError::SchemaMismatch { .. }
            | CoreError::Sqlite(_)
            | CoreError::Automerge(_)
            | CoreError::Io(_) => FieldsyncError::Storage { reason: message },
        }
    }
}

impl From<HttpError> for FieldsyncError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Network(reason) => FieldsyncError::Network { reason },
            HttpError::Certificate(reason) => FieldsyncError::ServerCertificate { reason },
            HttpError::BadCa => FieldsyncError::ServerCertificate { reason: e.to_string() },
            HttpError::Server { status: 401, .. } => FieldsyncError::SignInAgain,
            HttpError::Server { status: 426, .. } => FieldsyncError::UpgradeRequired,
            HttpError::Server { code, message_zh, message_en, .. } => {
                FieldsyncError::Server { code, message_zh, message_en }
            }
            HttpError::BadAnswer => FieldsyncError::Network { reason: e.to_string() },
        }
    }
}

impl From<SyncError> for FieldsyncError {
    fn from(e: SyncError) -> Self {
        let message = e.to_string();
        match e {
            SyncError::Revoked => FieldsyncError::DeviceRevoked,
            SyncError::Unauthenticated => FieldsyncError::SignInAgain,
            SyncError::UpgradeRequired => FieldsyncError::UpgradeRequired,
            SyncError::Rejected { kind: RejectionKind::Busy, .. } => {
                FieldsyncError::Network { reason: "the server is busy; sync again shortly".into() }
            }
            SyncError::Rejected { code, message_zh, message_en, .. } => {
                FieldsyncError::Server { code, message_zh, message_en }
            }
            SyncError::Transport(reason) => FieldsyncError::Network { reason },
            SyncError::Certificate(reason) => FieldsyncError::ServerCertificate { reason },
            SyncError::Cancelled => FieldsyncError::Cancelled,
            SyncError::Protocol(_) | SyncError::NoProgress => FieldsyncError::Network { reason: message },
            SyncError::Store(e) => e.into(),
        }
    }
}

impl From<DeviceError> for FieldsyncError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Store(e) => e.into(),
            DeviceError::Http(e) => (*e).into(),
            DeviceError::Sync(e) => (*e).into(),
            DeviceError::NotSignedIn => FieldsyncError::SignInAgain,
            DeviceError::UnknownRole => FieldsyncError::UpgradeRequired,
            DeviceError::Closed => FieldsyncError::Closed,
        }
    }
}

//! fieldsync-ffi: what a tablet app links.
//!
//! - [`app`]: the apps' object ([`FieldsyncDevice`]) through uniffi, for Kotlin, Swift and
//!   Python, with [`records`] and the one [`error`] the apps see;
//! - [`transport`]: the blocking HTTP transport (ureq + rustls) for the core's sync engine;
//! - [`device`]: a signed-in device: its store, credentials and sync, the one object the app (and
//!   the `fieldsync-device` CLI, tests and benchmarks) drives.

pub mod app;
pub mod device;
pub mod error;
pub mod records;
pub mod transport;

pub use app::FieldsyncDevice;
pub use device::{Device, DeviceError};
pub use error::FieldsyncError;
pub use transport::{HttpError, HttpTransport};

uniffi::setup_scaffolding!("fieldsync");

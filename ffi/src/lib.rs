//! fieldsync-ffi: what a tablet app links.
//!
//! - [`transport`]: the blocking HTTP transport (ureq + rustls) for the core's sync engine;
//! - [`device`]: a signed-in device: its store, credentials and sync, the one object the app (and
//!   the `fieldsync-device` CLI, tests and benchmarks) drives.

pub mod device;
pub mod transport;

pub use device::{Device, DeviceError};
pub use transport::{HttpError, HttpTransport};

//! The server's policy, in one place: who sees what ([`scope`]), who may write what ([`write`]),
//! and why a write was refused ([`refusal`]). Sync, the JSON endpoints and the pages all ask here.

pub mod refusal;
pub mod scope;
pub mod write;

pub use refusal::Refusal;
pub use scope::{Scope, View};
pub use write::Directory;

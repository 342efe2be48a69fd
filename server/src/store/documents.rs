//! The customer documents part of the store's interface.

/// (Being filled in.)
pub trait DocumentStore {}

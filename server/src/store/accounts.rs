//! The accounts part of the store's interface.

/// (Being filled in.)
pub trait AccountStore {}

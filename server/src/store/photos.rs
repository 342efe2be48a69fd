//! The photos part of the store's interface.

/// (Being filled in.)
pub trait PhotoStore {}

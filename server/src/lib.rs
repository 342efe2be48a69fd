//! Placeholder until the sync issue fills this crate in.

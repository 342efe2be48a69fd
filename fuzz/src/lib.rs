//! The fuzz targets' shared harness:
//!
//! - [`chunks`]: makes mutated automerge chunks well framed again (length and checksum), so a
//!   mutation reaches automerge's parser and the server's checks instead of dying on the checksum;
//! - [`fixture`]: a server store and a tablet's store seeded by real device<->server syncs, and
//!   the seed corpora captured from that traffic;
//! - [`input`]: how the targets read their input;
//! - [`harness`]: per-input copies of the fixture (an in-memory copy of the server store, a fresh
//!   file copy of the tablet's store).

pub mod chunks;
pub mod fixture;
pub mod harness;
pub mod input;
pub mod panics;

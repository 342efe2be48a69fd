//! Identifiers minted on the device.

/// A new entity ID: a UUIDv7 string, time-ordered so that indexes stay append-mostly.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new automerge actor ID for a device or server: random, never reused across installs.
pub fn new_actor() -> automerge::ActorId {
    automerge::ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice())
}

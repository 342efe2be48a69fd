//! Inputs the fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`) found to crash, replayed through the
//! public API: each one crashed before its fix and runs in every test run.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::ActorId;
use automerge::sync::State;
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{CustomerKind, Profile, Role};
use fieldsync_core::store::{Store, User};

/// A customer document as a tablet writes it, loaded as a replica (the server's side).
fn customer_doc() -> CustomerDoc {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db"), None).unwrap();
    store.sign_in(User { id: "M1".into(), name: "王建国".into(), role: Role::Manager }).unwrap();
    let now = 1_753_056_000_000;
    let id = store.create_customer(Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村"), now).unwrap();
    let changes = parse_changes(&store.document_changes(&id).unwrap()).unwrap();
    CustomerDoc::from_changes(&id, changes, &ActorId::random()).unwrap().unwrap().0
}

/// fuzz target `server_reconcile`, crash `bloom-zero` (found in its first 20 s): an automerge sync
/// message whose one `have` entry carries a Bloom filter of 1 entry, 0 bits per entry and 0 probes
/// (heads: one unknown hash; no changes). 58 bytes.
const EMPTY_BLOOM_MESSAGE: [u8; 58] = [
    0x42, 0x01, 0xbf, 0xad, 0xcb, 0x0e, 0x96, 0x69, 0x07, 0xe3, 0xcb, 0x82, 0x95, 0x1d, 0x45, 0x3a, 0x86, 0x30, 0x25,
    0xa8, 0x5a, 0x24, 0x52, 0x2f, 0x1e, 0x49, 0x74, 0x67, 0x32, 0x7c, 0x32, 0xa0, 0x8c, 0xaf, 0x00, 0x01, 0x00, 0x10,
    0x01, 0x00, 0x00, 0x00, 0x42, 0xc4, 0xae, 0xb4, 0x9c, 0x1d, 0x22, 0xf7, 0xca, 0x59, 0xe1, 0x13, 0x00, 0x02, 0x02,
    0x84,
];

/// automerge 0.12 accepts the message, keeps the filter in the peer's state, then divides by zero
/// (`sync/bloom.rs:74`, "attempt to calculate the remainder with a divisor of zero", a panic in
/// release builds too) when it builds the reply. `receive_sync_message` runs under `contain`, but
/// `sync_message` does not, so the panic reaches the caller: the server's `reconcile` (answering
/// any signed-in user's request) and a tablet reconciling a document.
#[test]
fn a_sync_message_with_an_empty_bloom_filter_is_refused_or_answered_without_a_panic() {
    let mut doc = customer_doc();
    let mut state = State::new();
    let received = doc.receive_sync_message(&mut state, &EMPTY_BLOOM_MESSAGE);
    if received.is_err() {
        return; // Refused as corrupt: fine.
    }
    let reply = catch_unwind(AssertUnwindSafe(|| doc.sync_message(&mut state)));
    assert!(reply.is_ok(), "building the reply to an accepted sync message panicked");
}

/// fuzz target `server_push`, crash `opid-counter-overflow` (found within 5 minutes): two change
/// chunks with valid framing and checksums (a real pushed change, mutated; 1,099 bytes, in
/// `fuzz_regressions/opid-counter-overflow.bin`) whose operation columns hold an op ID counter past
/// `u32`. `Change::try_from` verifies the ops and unwraps the conversion (automerge `types.rs:464`,
/// `TryFromIntError(PosOverflow)`), so `parse_changes` panics instead of answering corrupt. Every
/// push reaches it before any check (`customers::push` parses first), and so does a tablet merging
/// pulled changes.
#[test]
fn a_change_whose_op_id_counter_overflows_is_corrupt_not_a_panic() {
    let bytes = include_bytes!("fuzz_regressions/opid-counter-overflow.bin");
    let parsed = catch_unwind(|| parse_changes(bytes).map(|c| c.len()));
    let parsed = parsed.expect("parse_changes panicked");
    assert!(parsed.is_err(), "a change with an overflowing op ID parsed: {parsed:?}");
}

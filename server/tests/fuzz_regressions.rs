//! Inputs the fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`) found to crash, replayed through the
//! server's own sync round trip (`Db::sync_blocking`, no HTTP): each one crashed before its fix and runs
//! in every test run.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fieldsync_core::domain::{self, CustomerKind, Profile};
use fieldsync_core::store::{Store, User as DeviceUser};
use fieldsync_core::sync::protocol::{DocChanges, PushOutcome, SyncMessage, SyncRequest};
use fieldsync_server::accounts::{Device, Role, User};
use fieldsync_server::store::Db;

const NOW: i64 = 1_753_056_000_000;

/// The same 58 bytes as `core/tests/fuzz_regressions.rs` (fuzz crash `bloom-zero`): an automerge
/// sync message whose Bloom filter has no bits.
const EMPTY_BLOOM_MESSAGE: [u8; 58] = [
    0x42, 0x01, 0xbf, 0xad, 0xcb, 0x0e, 0x96, 0x69, 0x07, 0xe3, 0xcb, 0x82, 0x95, 0x1d, 0x45, 0x3a, 0x86, 0x30, 0x25,
    0xa8, 0x5a, 0x24, 0x52, 0x2f, 0x1e, 0x49, 0x74, 0x67, 0x32, 0x7c, 0x32, 0xa0, 0x8c, 0xaf, 0x00, 0x01, 0x00, 0x10,
    0x01, 0x00, 0x00, 0x00, 0x42, 0xc4, 0xae, 0xb4, 0x9c, 0x1d, 0x22, 0xf7, 0xca, 0x59, 0xe1, 0x13, 0x00, 0x02, 0x02,
    0x84,
];

/// A manager whose tablet pushed one customer: the server store, the user, the device, the ID.
fn pushed_customer(dir: &tempfile::TempDir) -> (Db, User, Device, String) {
    let db = Db::open(dir.path()).unwrap();
    let mut store = Store::open(dir.path().join("tablet.db"), None).unwrap();
    store.sign_in(DeviceUser { id: "M1".into(), name: "王建国".into(), role: domain::Role::Manager }).unwrap();
    let id = store.create_customer(Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村"), NOW).unwrap();
    let user = User {
        id: "M1".into(),
        branch_id: "b1".into(),
        outlet_id: None,
        username: "m1".into(),
        display_name: "王建国".into(),
        role: Role::Manager,
    };
    let device =
        Device { id: "tablet-1".into(), actors: vec![store.actor().clone()], clock_offset_ms: None, app_version: None };
    let push = SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: id.clone(), changes: store.document_changes(&id).unwrap() }],
        ..Default::default()
    };
    let (answer, _) = db.sync_blocking(&user, &device, push, NOW).unwrap();
    assert_eq!(answer.pushed[0].outcome, PushOutcome::Accepted { new_changes: 1 });
    (db, user, device, id)
}

/// Fuzz target `server_reconcile`, crash `bloom-zero`: the server takes the message for a stored
/// document, then panics building its reply (automerge `sync/bloom.rs:74`, divide by zero). The
/// panic unwinds out of `Db::sync_blocking`; the server's `Db` catches it around the whole group-commit
/// batch, so every other device's request in that batch fails with it. One request's bad message
/// must fail that document (or that request) alone, with an answer.
#[test]
fn a_reconcile_message_with_an_empty_bloom_filter_gets_an_answer_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (db, user, device, id) = pushed_customer(&dir);
    let request = SyncRequest {
        cursor: 1,
        reconcile: vec![SyncMessage { customer_id: id, message: EMPTY_BLOOM_MESSAGE.to_vec() }],
        ..Default::default()
    };
    let answer = catch_unwind(AssertUnwindSafe(|| db.sync_blocking(&user, &device, request, NOW + 1000)));
    let answer = answer.expect("the sync round trip panicked on a reconcile message");
    assert!(answer.is_ok(), "the request failed as a whole: {:?}", answer.err());
}

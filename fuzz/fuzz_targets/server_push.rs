//! A push applied to a stored document the way the server takes it: a sync request carrying one
//! document's changes goes through the server's own round trip (`store::sqlite::db::sync_on`: parse, load the
//! stored document, merge, typed view, write policy, append) on a fresh copy of a store seeded by
//! real syncs. The input picks the user and the customer and carries the changes; their chunk
//! framing and checksums are repaired (unless the header says raw) so mutations reach automerge
//! and the checks instead of failing the checksum.
//!
//! Beyond "no panic": whatever the server accepted must stay readable, so the branch's supervisor
//! pulls the log and fetches the document whole afterwards, and that must not fail.

#![no_main]

use fieldsync_core::sync::protocol::{DocChanges, PushOutcome, SyncRequest};
use fieldsync_fuzz::chunks;
use fieldsync_fuzz::harness::Server;
use fieldsync_fuzz::input::Addressed;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // libFuzzer runs inputs on one thread; a connection is not `Sync`.
    static SERVER: Server = Server::load();
}

fuzz_target!(init: fieldsync_fuzz::panics::install(), |data: &[u8]| {
    fieldsync_fuzz::panics::with_input(data, || SERVER.with(|server| run(server, data)))
});

fn run(server: &Server, data: &[u8]) {
    let Some(input) = Addressed::read(data) else { return };
    let (user, device) = server.user(input.user);
    let customer_id = server.customer(input.customer).to_string();
    let changes = if input.raw { input.bytes.to_vec() } else { chunks::fix_up(input.bytes) };
    let mut conn = server.fresh();
    let cursor = Server::head(&conn);
    let now = server.info.now + 60_000;
    let request = SyncRequest {
        cursor,
        max_bytes: 64 * 1024,
        push: vec![DocChanges { customer_id: customer_id.clone(), changes }],
        ..Default::default()
    };
    let Ok((response, _)) = fieldsync_server::store::sqlite::db::sync_on(&mut conn, user, device, &request, now) else {
        return;
    };
    let accepted =
        response.pushed.iter().any(|p| matches!(p.outcome, PushOutcome::Accepted { new_changes } if new_changes > 0));
    if accepted {
        let (sup, sup_device) = server.supervisor_of(user);
        let follow = SyncRequest { cursor, max_bytes: 1 << 20, fetch: vec![customer_id], ..Default::default() };
        let read = fieldsync_server::store::sqlite::db::sync_on(&mut conn, sup, sup_device, &follow, now + 1);
        assert!(read.is_ok(), "an accepted push left the document unreadable: {:?}", read.err());
    }
}

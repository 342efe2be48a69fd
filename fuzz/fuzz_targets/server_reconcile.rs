//! A reconciliation message (an automerge sync message) received for a stored document: first by
//! the document itself (`CustomerDoc::receive_sync_message`, then a merge of what it carried, as
//! both sides do), then by the server's own round trip (`store::sqlite::db::sync_on` with the message in
//! `reconcile`) on a fresh copy of a store seeded by real syncs. The input picks the user and the
//! customer and carries the message.
//!
//! As for pushes: whatever the server took must stay readable by the branch's supervisor.

#![no_main]

use std::collections::HashMap;

use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::sync::protocol::{SyncMessage, SyncRequest};
use fieldsync_fuzz::harness::Server;
use fieldsync_fuzz::input::Addressed;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    server: Server,
    /// The stored documents, loaded once (a clone per input is far cheaper than a load).
    docs: HashMap<String, CustomerDoc>,
}

thread_local! {
    // libFuzzer runs inputs on one thread; a connection is not `Sync`.
    static FIXTURE: Fixture = fixture();
}

fn fixture() -> Fixture {
    let server = Server::load();
    let conn = server.fresh();
    let actor = fieldsync_server::store::DocumentStore::server_actor(&conn).expect("the server's actor");
    let mut docs = HashMap::new();
    for id in &server.info.customers {
        if let Ok(Some(doc)) = fieldsync_server::customers::load(&conn, id, &actor) {
            docs.insert(id.clone(), doc);
        }
    }
    Fixture { server, docs }
}

fuzz_target!(init: fieldsync_fuzz::panics::install(), |data: &[u8]| {
    fieldsync_fuzz::panics::with_input(data, || FIXTURE.with(|fixture| run(fixture, data)))
});

fn run(Fixture { server, docs }: &Fixture, data: &[u8]) {
    let Some(input) = Addressed::read(data) else { return };
    let (user, device) = server.user(input.user);
    let customer_id = server.customer(input.customer).to_string();
    let message = input.bytes.to_vec();

    if let Some(doc) = docs.get(&customer_id) {
        let mut state = automerge::sync::State::new();
        if let Ok(incoming) = doc.receive_sync_message(&mut state, &message)
            && let Ok(changes) = parse_changes(&incoming)
        {
            let mut doc = doc.clone();
            let _ = doc.merge(&customer_id, changes);
            let _ = doc.sync_message(&mut state);
        }
    }

    let mut conn = server.fresh();
    let cursor = Server::head(&conn);
    let now = server.info.now + 60_000;
    let request = SyncRequest {
        cursor,
        max_bytes: 64 * 1024,
        reconcile: vec![SyncMessage { customer_id: customer_id.clone(), message }],
        ..Default::default()
    };
    if fieldsync_server::store::sqlite::db::sync_on(&mut conn, user, device, &request, now).is_err() {
        return;
    }
    if Server::head(&conn) > cursor {
        let (sup, sup_device) = server.supervisor_of(user);
        let follow = SyncRequest { cursor, max_bytes: 1 << 20, fetch: vec![customer_id], ..Default::default() };
        let read = fieldsync_server::store::sqlite::db::sync_on(&mut conn, sup, sup_device, &follow, now + 1);
        assert!(read.is_ok(), "a reconciliation left the document unreadable: {:?}", read.err());
    }
}

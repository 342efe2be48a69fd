//! A tablet applying a server reply: a fresh copy of a real tablet's store (documents received
//! whole and merged, unpushed work, a pending pool claim) applies the reply built from the input
//! (`Store::apply_sync_response`, against the batch the real store builds for its next request,
//! after decoding the frame as the sync session does). The input is a mode byte and the reply's
//! body; automerge chunks inside it (pulled changes, snapshots) get their framing and checksums
//! repaired unless the mode says raw.
//!
//! Beyond "no panic": whatever the reply did, the tablet goes on: it checks the documents it
//! received, opens every customer the reply named, and builds its next request without an error
//! (one bad document must not stop a tablet's sync).

#![no_main]

use std::collections::HashMap;

use fieldsync_core::store::SyncBatch;
use fieldsync_core::sync::protocol::{self, SyncResponse};
use fieldsync_fuzz::chunks;
use fieldsync_fuzz::harness::Tablet;
use fieldsync_fuzz::input::{Reply as ReplyInput, raw_frame};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    tablet: Tablet,
    /// The request the fixture store sends next. Building it loads every unpushed document, so
    /// it is built once: every input starts from the same store, so it is the same batch.
    batch: SyncBatch,
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

fn fixture() -> Fixture {
    let tablet = Tablet::load();
    let mut store = tablet.fresh();
    let batch = store.next_sync_request(None, 64 * 1024, &mut HashMap::new()).expect("the fixture's next request");
    assert!(!batch.request.push.is_empty(), "the device fixture has unpushed work");
    Fixture { tablet, batch }
}

/// Repairs the automerge chunks a response carries.
fn fix_up(response: &mut SyncResponse) {
    for changes in &mut response.changes {
        changes.changes = chunks::fix_up(&changes.changes);
    }
    for snapshot in &mut response.snapshots {
        snapshot.document = chunks::fix_up(&snapshot.document);
    }
}

fuzz_target!(init: fieldsync_fuzz::panics::install(), |data: &[u8]| {
    fieldsync_fuzz::panics::with_input(data, || FIXTURE.with(|fixture| run(fixture, data)))
});

fn run(Fixture { tablet, batch }: &Fixture, data: &[u8]) {
    let Some(input) = ReplyInput::read(data) else { return };
    // As `SyncSession::handle_reply` does: a reply that does not decode changes nothing.
    let Ok(mut response) = protocol::decode::<SyncResponse>(&raw_frame(input.body)) else { return };
    if !input.raw {
        fix_up(&mut response);
    }
    let named: Vec<String> = response
        .snapshots
        .iter()
        .map(|s| &s.customer_id)
        .chain(response.changes.iter().map(|c| &c.customer_id))
        .chain(response.reconcile.iter().map(|m| &m.customer_id))
        .cloned()
        .collect();

    let mut store = tablet.fresh();
    let mut states = HashMap::new();
    let now = tablet.info.now + 60_000;
    if store.apply_sync_response(batch, response, &mut states, now).is_err() {
        return;
    }
    let _ = store.check_received(1_000);
    for id in named.iter().take(16) {
        let _ = store.customer_file(id);
    }
    if let Err(e) = store.next_sync_request(None, 64 * 1024, &mut states) {
        panic!("after a reply the tablet cannot build its next request: {e}");
    }
}

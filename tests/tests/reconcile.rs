//! When a device and the server disagree about a document's history, they reconcile it with
//! automerge's sync protocol and go back to the fast path; and a sync can be cancelled between
//! round trips and resumed.

use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_core::sync::{SyncError, SyncOptions};
use fieldsync_ffi::DeviceError;
use fieldsync_tests::{TestServer, device, now_ms, record_visit, sync};

#[test]
fn a_server_restored_from_an_older_backup_gets_the_missing_history_back() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let customer =
        m1.store().create_customer(Profile::new(CustomerKind::Individual, "陈一", "韩桥村"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let visit = record_visit(&mut m1, &customer, VisitDetails { notes: "第一次".into(), ..Default::default() });
    sync(&mut m1).unwrap();

    // The server loses the visit's two changes (restored from a backup taken before them); the
    // tablet still believes the server has them.
    let conn = server.db();
    let lost = conn
        .execute(
            "DELETE FROM log WHERE seq IN (SELECT seq FROM log WHERE customer_id = ?1 AND hash IS NOT NULL
                                           ORDER BY seq DESC LIMIT 2)",
            [&customer],
        )
        .unwrap();
    assert_eq!(lost, 2);
    conn.execute("UPDATE documents SET snapshot = x'', snapshot_seq = 0 WHERE customer_id = ?1", [&customer]).unwrap();
    drop(conn);
    // A restored server is a new process: nothing of the old one's memory survives.
    let server = server.restart();

    // The next edit builds on history the server lacks: the push is answered with missing
    // history, and the two sides reconcile the document within the same sync.
    record_visit(&mut m1, &customer, VisitDetails { notes: "第二次".into(), ..Default::default() });
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.quarantined, 0);
    assert!(report.round_trips >= 2, "{report:?}");
    assert!(m1.store().reconciling().unwrap().is_empty(), "reconciliation finished");
    assert!(m1.store().unpushed().unwrap().is_empty());
    // Back on the fast path: nothing left to say.
    assert_eq!(sync(&mut m1).unwrap().round_trips, 1);

    // Everyone gets the whole history again.
    sync(&mut sup).unwrap();
    let file = sup.store().customer_file(&customer).unwrap();
    assert_eq!(file.visits.len(), 2);
    assert!(file.visits.contains_key(&visit));
    assert_eq!(sup.store().heads(&customer).unwrap(), m1.store().heads(&customer).unwrap());
    let (rows, distinct): (i64, i64) = server
        .db()
        .query_row(
            "SELECT count(*), count(DISTINCT hash) FROM log WHERE customer_id = ?1 AND hash IS NOT NULL",
            [&customer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rows, distinct);
    assert_eq!(rows, 5, "create (with its owner), two visits of two changes each");
}

#[test]
fn a_cancelled_sync_stops_between_round_trips_and_resumes() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    for i in 0..40 {
        let mut profile = Profile::new(CustomerKind::Individual, format!("客户{i}"), "韩桥村");
        profile.notes = format!("{i}").repeat(400);
        m1.store().create_customer(profile, now_ms()).unwrap();
    }
    sync(&mut m1).unwrap();

    let mut tablet = device(dir.path(), "tablet", &server.url(), "m1");
    let options = || SyncOptions { now: now_ms(), first_page_bytes: 2048, max_page_bytes: 4096, ..Default::default() };
    let mut reports = Vec::new();
    let cancel_after = std::cell::Cell::new(false);
    let err = tablet
        .sync(
            options(),
            &mut |p| {
                reports.push(p.clone());
                cancel_after.set(true);
            },
            &|| cancel_after.get(),
        )
        .unwrap_err();
    assert!(matches!(&err, DeviceError::Sync(e) if matches!(**e, SyncError::Cancelled)), "{err:?}");
    assert_eq!(reports.len(), 1, "cancelled after the first round trip");
    let first = &reports[0];
    assert_eq!(first.round_trips, 1);
    assert!(first.bytes_received > 0 && first.bytes_sent > 0);
    let held = tablet.store().customer_ids().unwrap().len();
    assert!(held > 0 && held < 40, "part of the book arrived ({held})");
    assert_eq!(first.documents_pending as usize, 40 - held);

    // Resumed: progress is reported after every round trip and the rest arrives.
    let mut reports = Vec::new();
    tablet.sync(options(), &mut |p| reports.push(p.clone()), &|| false).unwrap();
    assert!(reports.len() > 1);
    assert!(
        reports
            .windows(2)
            .all(|w| w[1].documents_received >= w[0].documents_received && w[1].bytes_received > w[0].bytes_received)
    );
    assert_eq!(reports.last().unwrap().documents_pending, 0);
    assert_eq!(reports.last().unwrap().documents_received as usize, 40 - held);
    assert_eq!(tablet.store().customer_ids().unwrap().len(), 40);
}

/// After a restore the log's head is behind the cursors of the tablets that synced since the
/// backup; what is written from then on gets numbers they already passed. Such a tablet is listed
/// again (as a new one is), so nothing written after the restore escapes it.
#[test]
fn a_tablet_ahead_of_a_restored_log_is_listed_again_and_misses_nothing() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut other = device(dir.path(), "m1b", &server.url(), "m1");
    let first = m1.store().create_customer(Profile::new(CustomerKind::Individual, "陈一", "韩桥村"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    for i in 0..3 {
        let c =
            m1.store().create_customer(Profile::new(CustomerKind::Individual, format!("陈{i}"), "韩桥村"), now_ms());
        record_visit(&mut m1, &c.unwrap(), VisitDetails::default());
    }
    sync(&mut m1).unwrap();
    // The server is put back to before the last sync: its log ends where the first sync left it.
    let conn = server.db();
    let first_seq: i64 =
        conn.query_row("SELECT max(seq) FROM log WHERE customer_id = ?1", [&first], |r| r.get(0)).unwrap();
    conn.execute(
        "DELETE FROM documents WHERE customer_id IN (SELECT customer_id FROM log WHERE seq > ?1)",
        [first_seq],
    )
    .unwrap();
    conn.execute("DELETE FROM log WHERE seq > ?1", [first_seq]).unwrap();
    // A restored store's numbering is the backup's too.
    let _ = conn.execute("UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'log'", [first_seq]);
    drop(conn);
    let server = server.restart();

    // Another tablet writes after the restore: its changes take numbers m1 has passed.
    let late =
        other.store().create_customer(Profile::new(CustomerKind::Individual, "晚到", "韩桥村"), now_ms()).unwrap();
    sync(&mut other).unwrap();
    let late_seq: i64 =
        server.db().query_row("SELECT max(seq) FROM log WHERE customer_id = ?1", [&late], |r| r.get(0)).unwrap();
    assert!(late_seq <= first_seq + 4, "numbered below m1's cursor: {late_seq} after {first_seq}");

    sync(&mut m1).unwrap();
    assert!(m1.store().customer_file(&late).is_ok(), "the customer written after the restore reached m1");
    // And m1 kept what it holds that the server lost.
    assert_eq!(m1.store().customers(&Default::default(), 50, None).unwrap().items.len(), 5);
}

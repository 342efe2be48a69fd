//! Backups under load: 20 tablets sync while the store is copied; the copy restores into a new
//! folder with every document whole and every photo matching its hash; the server started on it
//! serves the tablets, and a tablet that changes a customer gets back to the server the history
//! and photos it lost since the backup (the sync's reconciliation).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_server::store::Db;
use fieldsync_tests::{TestServer, device, now_ms, record_visit, sync};

const TABLETS: usize = 20;

/// A small JPEG-like photo, different for each `(tablet, n)`.
fn photo(tablet: usize, n: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..2048).map(|i| ((i * 31 + tablet * 7 + n * 13) % 251) as u8));
    bytes
}

/// Every live document of the store in `data`: (customer, heads, photos its visits name).
fn documents(data: &std::path::Path) -> Vec<(String, Vec<automerge::ChangeHash>, Vec<String>)> {
    let db = Db::open(data).unwrap();
    let ids: Vec<String> = db.with(|c| {
        let mut stmt = c.prepare("SELECT customer_id FROM documents WHERE scope <> 'deleted' ORDER BY 1").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    });
    let actor = automerge::ActorId::random();
    ids.into_iter()
        .map(|id| {
            let mut doc = db.with(|c| fieldsync_server::customers::load(c, &id, &actor)).unwrap().unwrap();
            let photos = doc.file().visits.values().flat_map(|v| v.photos.clone()).collect();
            (id, doc.heads(), photos)
        })
        .collect()
}

#[test]
fn a_backup_taken_under_load_restores_whole_and_the_tablets_bring_back_the_rest() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let stop = Arc::new(AtomicBool::new(false));
    let backed_up = Arc::new(AtomicBool::new(false));
    let signed_in = Arc::new(AtomicUsize::new(0));
    let tablets: Vec<_> = (0..TABLETS)
        .map(|t| {
            let (dir, url, stop, backed_up, signed_in) =
                (dir.path().to_path_buf(), url.clone(), stop.clone(), backed_up.clone(), signed_in.clone());
            std::thread::spawn(move || {
                let user = if t % 2 == 0 { "m1" } else { "m2" };
                let mut tablet = device(&dir, &format!("t{t}"), &url, user);
                signed_in.fetch_add(1, Ordering::SeqCst);
                let mut customers = Vec::new();
                let mut after = 0;
                let mut n = 0;
                loop {
                    // Up to ten rounds before the backup, waiting for it after them; two after.
                    if stop.load(Ordering::SeqCst) || after >= 2 {
                        break;
                    }
                    if backed_up.load(Ordering::SeqCst) {
                        after += 1;
                    } else if n >= 10 {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                    n += 1;
                    let profile = Profile::new(CustomerKind::Individual, format!("客户{t}-{n}"), "韩桥村");
                    let customer = tablet.store().create_customer(profile, now_ms()).unwrap();
                    let hash = tablet.store().add_photo(&photo(t, n)).unwrap();
                    let details =
                        VisitDetails { notes: format!("第{n}次"), photos: vec![hash], ..Default::default() };
                    record_visit(&mut tablet, &customer, details);
                    customers.push(customer);
                    sync(&mut tablet).unwrap();
                }
                (tablet, customers)
            })
        })
        .collect();

    // The backup, while the tablets sync (all signed in before it: a tablet signed in after a
    // backup must sign in again on the restored server, as its token is not in it).
    while signed_in.load(Ordering::SeqCst) < TABLETS {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let file = dir.path().join("branch.fsbackup");
    let report = fieldsync_server::backup::backup(server.data.path(), &file, now_ms(), None).unwrap();
    backed_up.store(true, Ordering::SeqCst);
    assert!(report.photos > 0, "{report:?}");
    // The load shows in the metrics: round trips, changes, the apply and writer-wait times.
    let metrics = fieldsync_server::metrics::render(0, Some(now_ms()), None);
    for name in [
        "fieldsync_sync_round_trips_total{outcome=\"ok\"}",
        "fieldsync_changes_total{outcome=\"accepted\"}",
        "fieldsync_apply_seconds_bucket",
        "fieldsync_lock_wait_seconds_count",
        "fieldsync_http_bytes_in_total{kind=\"sync\"}",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
    let mut tablets: Vec<_> = tablets.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    let live = documents(server.data.path());

    // Restored into a new folder: every document loads, each one's heads are history the live
    // server has (nothing torn, nothing invented), every photo it names is there with its hash.
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    let done = fieldsync_server::backup::restore(&file, &data, None).unwrap();
    assert_eq!(done.photos, report.photos);
    let copy = documents(&data);
    let restored_photos: Vec<String> = {
        let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
        let mut stmt = conn.prepare("SELECT hash FROM photos").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert!(!copy.is_empty() && copy.len() < live.len(), "the backup is older than the load's end");
    for (id, heads, photos) in &copy {
        let (_, live_heads, _) = live.iter().find(|(l, ..)| l == id).expect("a document the server had");
        let db = Db::open(server.data.path()).unwrap();
        let mut doc =
            db.with(|c| fieldsync_server::customers::load(c, id, &automerge::ActorId::random())).unwrap().unwrap();
        let history: Vec<automerge::ChangeHash> = doc.changes().iter().map(|c| c.hash()).collect();
        for h in heads {
            assert!(history.contains(h), "{id}: a head the live server has");
        }
        assert!(!live_heads.is_empty());
        // A visit names its photos before they are uploaded (documents sync first): a photo the
        // server had whole at the backup is restored; one still uploading then is not in it.
        for hash in photos.iter().filter(|h| restored_photos.contains(h)) {
            let bytes = std::fs::read(data.join("photos").join(&hash[..2]).join(hash)).expect("the photo is restored");
            assert_eq!(&fieldsync_server::photos::hash_of(&bytes), hash);
        }
    }
    // Every photo the restored store knows is there, matching its hash.
    assert_eq!(restored_photos.len(), done.photos);
    for hash in &restored_photos {
        let bytes = std::fs::read(data.join("photos").join(&hash[..2]).join(hash)).expect("the photo is restored");
        assert_eq!(&fieldsync_server::photos::hash_of(&bytes), hash);
    }
    // A second restore into the same, now full, folder is refused and changes nothing.
    let err = fieldsync_server::backup::restore(&file, &data, None).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");

    // The restored server: every tablet syncs and loses nothing it holds. Each tablet then edits
    // the customers the backup has: the server lacks their later history, and the sync's
    // reconciliation brings it back, photos included.
    let moved = tempfile::tempdir().unwrap();
    std::fs::remove_dir(moved.path()).unwrap();
    std::fs::rename(&data, moved.path()).unwrap();
    let server = server.replace_data(moved);
    let in_backup: Vec<&String> = copy.iter().map(|(id, ..)| id).collect();
    let mut edited = Vec::new();
    for (t, (tablet, customers)) in tablets.iter_mut().enumerate() {
        sync(tablet).unwrap();
        for (n, customer) in customers.iter().enumerate() {
            assert!(tablet.store().customer_file(customer).is_ok(), "{customer}: still on the tablet");
            // Two of each tablet's customers the backup has, and the last one it has.
            let last = customers.iter().rposition(|c| in_backup.contains(&c));
            if !in_backup.contains(&customer) || (n >= 2 && Some(n) != last) {
                continue;
            }
            let hash = tablet.store().add_photo(&photo(t, 10_000 + n)).unwrap();
            let details = VisitDetails { notes: "恢复后".into(), photos: vec![hash], ..Default::default() };
            record_visit(tablet, customer, details);
            edited.push((t, customer.clone()));
        }
        sync(tablet).unwrap();
        assert!(tablet.store().reconciling().unwrap().is_empty(), "reconciliation finished");
    }
    assert!(!edited.is_empty());
    // Every tablet syncs again: what the others changed since the restore reaches it, though the
    // restored log numbers those changes below the cursor it had (the restore's new epoch has it
    // listed again).
    for (tablet, _) in &mut tablets {
        sync(tablet).unwrap();
    }
    let after = documents(server.data.path());
    for (t, customer) in &edited {
        let (_, heads, _) = after.iter().find(|(id, ..)| id == customer).unwrap();
        let mut heads = heads.clone();
        heads.sort();
        for (other, (tablet, _)) in tablets.iter_mut().enumerate().filter(|(other, _)| other % 2 == t % 2) {
            let mut theirs = tablet.store().heads(customer).unwrap();
            theirs.sort();
            assert_eq!(theirs, heads, "tablet {other} has {customer} as the server does");
        }
    }
    for (t, customer) in &edited {
        let tablet = &mut tablets[*t].0;
        {
            let (_, heads, photos) = after.iter().find(|(id, ..)| id == customer).expect("the customer is served");
            let mut mine = tablet.store().heads(customer).unwrap();
            let mut theirs = heads.clone();
            mine.sort();
            theirs.sort();
            assert_eq!(mine, theirs, "{customer}: the tablet and the server agree");
            for hash in photos {
                let path = server.data.path().join("photos").join(&hash[..2]).join(hash);
                let bytes = std::fs::read(&path).expect("every photo of the document is on the server");
                assert_eq!(&fieldsync_server::photos::hash_of(&bytes), hash);
            }
        }
    }
}

/// Heads of one customer in the server's store, sorted (empty: the store lacks it).
fn server_heads(server: &TestServer, customer: &str) -> Vec<automerge::ChangeHash> {
    let mut heads = documents(server.data.path())
        .into_iter()
        .find(|(id, ..)| id == customer)
        .map(|(_, heads, _)| heads)
        .unwrap_or_default();
    heads.sort();
    heads
}

fn tablet_heads(tablet: &mut fieldsync_ffi::Device, customer: &str) -> Vec<automerge::ChangeHash> {
    let mut heads = tablet.store().heads(customer).unwrap();
    heads.sort();
    heads
}

/// A tablet that synced after the backup and changes nothing more still gives the restored server
/// what it lost: its own changes to customers the backup has, and customers created since. What it
/// wrote on top of history made elsewhere and lost with the server (a supervisor's review) cannot
/// be taken from it: that is set aside in its quarantine, and the document is the server's again.
/// A second tablet of the same manager holding the first one's work does not offer it as its own.
#[test]
fn a_restored_server_gets_back_what_tablets_gave_it_since_the_backup_without_new_edits() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut m1b = device(dir.path(), "m1b", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let new = |name: &str| Profile::new(CustomerKind::Individual, name, "韩桥村");
    let kept = m1.store().create_customer(new("陈一"), now_ms()).unwrap();
    let reviewed = m1.store().create_customer(new("陈二"), now_ms()).unwrap();
    let visit = record_visit(&mut m1, &reviewed, VisitDetails::default());
    sync(&mut m1).unwrap();
    sync(&mut m1b).unwrap();
    sync(&mut sup).unwrap();

    let file = dir.path().join("branch.fsbackup");
    fieldsync_server::backup::backup(server.data.path(), &file, now_ms(), None).unwrap();

    // After the backup: m1 records a visit on a kept customer and creates one; a supervisor
    // returns a visit, and m1 records another on top of that review; m1b pulls all of it.
    record_visit(&mut m1, &kept, VisitDetails { notes: "备份之后".into(), ..Default::default() });
    let created = m1.store().create_customer(new("陈三"), now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let status = fieldsync_tests::post_json(
        &mut sup,
        &format!("/api/v1/customers/{reviewed}/reviews/{visit}"),
        serde_json::json!({"decision": "returned", "comment": "请补充"}),
    );
    assert_eq!(status, 204);
    sync(&mut m1).unwrap();
    record_visit(&mut m1, &reviewed, VisitDetails { notes: "审核之后".into(), ..Default::default() });
    sync(&mut m1).unwrap();
    sync(&mut m1b).unwrap();
    let before_restore = (tablet_heads(&mut m1, &kept), tablet_heads(&mut m1, &created));
    assert_eq!(server_heads(&server, &kept), before_restore.0);

    let restored = tempfile::tempdir().unwrap();
    std::fs::remove_dir(restored.path()).unwrap();
    fieldsync_server::backup::restore(&file, restored.path(), None).unwrap();
    let server = server.replace_data(restored);
    assert!(server_heads(&server, &created).is_empty(), "the backup is older than the new customer");

    // m1b syncs first: it holds m1's work but offers none of it as its own, and sets nothing aside.
    sync(&mut m1b).unwrap();
    assert!(m1b.store().quarantined().unwrap().is_empty(), "{:?}", m1b.store().quarantined().unwrap());
    assert!(m1b.store().reconciling().unwrap().is_empty());
    assert!(server_heads(&server, &created).is_empty());

    // m1, with nothing new to push, gives back what the server lost.
    assert!(m1.store().unpushed().unwrap().is_empty());
    sync(&mut m1).unwrap();
    assert!(m1.store().reconciling().unwrap().is_empty(), "reconciliation finished");
    assert!(m1.store().unpushed().unwrap().is_empty());
    assert_eq!(server_heads(&server, &kept), before_restore.0, "the visit after the backup is back");
    assert_eq!(server_heads(&server, &created), before_restore.1, "the customer created since is back");
    assert_eq!(tablet_heads(&mut m1, &created), before_restore.1);
    // The visit built on the lost review is set aside, the document is the server's again.
    let quarantined = m1.store().quarantined().unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(
        (quarantined[0].customer_id.as_str(), quarantined[0].code.as_str()),
        (reviewed.as_str(), "lost_history")
    );
    assert!(!quarantined[0].changes.is_empty(), "the visit's changes are kept on the tablet");
    assert_eq!(tablet_heads(&mut m1, &reviewed), server_heads(&server, &reviewed));
    assert_eq!(m1.store().customer_file(&reviewed).unwrap().visits.len(), 1);
    // Back on the fast path.
    assert_eq!(sync(&mut m1).unwrap().round_trips, 1);

    // Everyone ends with the server's documents.
    for tablet in [&mut m1b, &mut sup] {
        sync(tablet).unwrap();
        sync(tablet).unwrap();
        for customer in [&kept, &created, &reviewed] {
            assert_eq!(tablet_heads(tablet, customer), server_heads(&server, customer), "{customer}");
        }
        assert!(tablet.store().quarantined().unwrap().is_empty());
    }
}

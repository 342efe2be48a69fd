//! Photos through the real server on loopback: a visit's photo uploaded after the documents and
//! stored byte for byte under its hash, fetched over HTTP by who can see the customer and refused
//! (404) to anyone else, an upload cut half way resumed without sending it all again, an identical
//! photo from another device not sent twice, and bad photos refused on the device. A known hash
//! referenced from another manager's visit (same branch or another) grants nothing, even with the
//! bytes uploaded again; an abandoned partial upload expires; a photo over the uploader's daily
//! quota waits on the tablet and goes up later.

use std::path::{Path, PathBuf};

use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_ffi::transport::PHOTO_CHUNK;
use fieldsync_ffi::{Device, DeviceError, HttpError};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::photos::hash_of;
use fieldsync_tests::proxy::Proxy;
use fieldsync_tests::{Branch, PASSWORD, TestServer, device, now_ms, record_visit, sync};

/// `len` bytes that do not compress, different for each seed (a stand-in for a JPEG).
fn photo_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn new_customer(device: &mut Device, name: &str) -> String {
    let profile = Profile::new(CustomerKind::Individual, name, "韩桥村");
    device.store().create_customer(profile, now_ms()).unwrap()
}

/// Records a completed visit on `customer` whose details reference `photos`; returns its ID.
fn visit_with_photos(device: &mut Device, customer: &str, photos: &[String]) -> String {
    let details =
        VisitDetails { notes: "拍了营业执照".into(), photos: photos.to_vec(), ..VisitDetails::default() };
    record_visit(device, customer, details)
}

/// Where the server keeps a complete photo.
fn blob_path(server: &TestServer, hash: &str) -> PathBuf {
    server.data.path().join("photos").join(&hash[..2]).join(hash)
}

/// The server's partial uploads of a photo (one per uploading user).
fn partials(server: &TestServer, hash: &str) -> Vec<PathBuf> {
    files_under(&server.data.path().join("photos").join("partial"))
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(hash)))
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// How many files of the server's photo folder hold this photo, complete or partial.
fn copies_on_server(server: &TestServer, hash: &str) -> usize {
    files_under(&server.data.path().join("photos"))
        .iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(hash)))
        .count()
}

/// The server's resume point for a photo, asked with the device's credentials (`server` is the
/// server's own address, not the proxy's, so these bytes are not counted).
fn upload_status(device: &mut Device, server: &TestServer, hash: &str) -> serde_json::Value {
    let token = device.store().setting("token").unwrap().expect("signed in");
    let device_id = device.device_id().unwrap();
    let mut response = ureq::get(format!("{}/api/v1/photos/{hash}/upload", server.url()))
        .header("authorization", &format!("Bearer {token}"))
        .header("x-device-id", &device_id)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap()
}

fn assert_not_found(result: Result<Vec<u8>, DeviceError>) {
    match result {
        Err(DeviceError::Http(e)) => {
            assert!(matches!(*e, HttpError::Server { status: 404, ref code, .. } if code == "not_found"), "{e:?}")
        }
        other => panic!("expected a 404, got {:?}", other.map(|b| b.len())),
    }
}

#[test]
fn a_visit_photo_reaches_the_server_and_only_those_who_see_the_customer() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");

    // 1. m1 photographs a document during a visit and syncs.
    let bytes = photo_bytes(700_000, 1);
    let hash = m1.store().add_photo(&bytes).unwrap();
    assert_eq!(hash, hash_of(&bytes), "photos are named by their SHA-256");
    assert_eq!(m1.store().photos_to_upload().unwrap(), vec![hash.clone()]);
    let customer = new_customer(&mut m1, "张三");
    visit_with_photos(&mut m1, &customer, std::slice::from_ref(&hash));
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.changes_pushed, 3, "create, start, check out");
    assert_eq!(report.photos_uploaded, 1);
    assert!(report.bytes_sent >= bytes.len() as u64, "the photo's bytes are counted: {}", report.bytes_sent);
    assert!(m1.store().photos_to_upload().unwrap().is_empty());
    assert_eq!(std::fs::read(blob_path(&server, &hash)).unwrap(), bytes, "the server holds the same bytes");
    assert!(partials(&server, &hash).is_empty());
    assert_eq!(copies_on_server(&server, &hash), 1);
    // The device keeps its own copy to show offline.
    assert_eq!(m1.photo(&hash).unwrap(), bytes);
    // Nothing is left to send: the next sync uploads nothing.
    assert_eq!(sync(&mut m1).unwrap().photos_uploaded, 0);

    // 2. The supervisor's tablet receives the visit, and fetches the photo when it is opened.
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    sync(&mut sup).unwrap();
    let file = sup.store().customer_file(&customer).unwrap();
    let visit = file.visits.values().next().expect("the visit reached the supervisor");
    assert_eq!(visit.photos, vec![hash.clone()]);
    assert!(sup.store().photo(&hash).unwrap().is_none(), "photos are not part of the document sync");
    assert_eq!(sup.photo(&hash).unwrap(), bytes, "fetched over HTTP");
    assert_eq!(sup.store().photo(&hash).unwrap().as_deref(), Some(&bytes[..]), "and kept to view offline");
    assert!(sup.store().photos_to_upload().unwrap().is_empty(), "a fetched photo is not sent back");

    // Another manager of the branch, who cannot see the customer, gets the 404 of a missing photo.
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    sync(&mut m2).unwrap();
    assert!(m2.store().customer_ids().unwrap().is_empty());
    assert_not_found(m2.photo(&hash));
    assert!(m2.store().photo(&hash).unwrap().is_none());
    // So does another branch's supervisor.
    let mut sup2 = device(dir.path(), "sup2", &server.url(), "sup2");
    sync(&mut sup2).unwrap();
    assert_not_found(sup2.photo(&hash));
    assert!(sup2.store().photo(&hash).unwrap().is_none());
    // And a photo nobody took is the same 404, even to the supervisor.
    assert_not_found(sup.photo(&hash_of(b"no such photo")));
}

#[test]
fn a_cut_photo_upload_resumes_where_it_stopped_and_the_server_keeps_one_copy() {
    let (server, _branch) = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &proxy.url(), "m1");
    sync(&mut m1).unwrap();

    let size = 900_000u64;
    let bytes = photo_bytes(size as usize, 2);
    let hash = m1.store().add_photo(&bytes).unwrap();
    let customer = new_customer(&mut m1, "李四");
    visit_with_photos(&mut m1, &customer, std::slice::from_ref(&hash));

    // The documents of this sync are a few KB: cutting once 300 KB have gone up lands inside the
    // second chunk of the photo.
    let cut = 300_000u64;
    assert!(cut > PHOTO_CHUNK as u64 && cut < 2 * PHOTO_CHUNK as u64);
    proxy.reset_counts();
    proxy.cut_up_after(cut);
    let err = sync(&mut m1).unwrap_err();
    assert!(matches!(&err, DeviceError::Http(e) if matches!(**e, HttpError::Network(_))), "{err:?}");
    assert_eq!(proxy.cuts(), 1);
    let cut_attempt = proxy.counts();
    assert_eq!(cut_attempt.up, cut);
    // The documents went through before the photo; the photo is still to send.
    assert!(m1.store().unpushed().unwrap().is_empty());
    assert_eq!(m1.store().photos_to_upload().unwrap(), vec![hash.clone()]);
    // The server kept the acknowledged first chunk, and nothing of the cut one.
    assert!(!blob_path(&server, &hash).exists());
    let partial = partials(&server, &hash);
    assert_eq!(partial.len(), 1);
    assert_eq!(std::fs::metadata(&partial[0]).unwrap().len(), PHOTO_CHUNK as u64);
    let status = upload_status(&mut m1, &server, &hash);
    assert_eq!(status, serde_json::json!({"received": PHOTO_CHUNK, "complete": false}));

    // The next sync sends only the rest.
    proxy.reset_counts();
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.photos_uploaded, 1);
    assert_eq!(report.changes_pushed, 0);
    let resumed = proxy.counts();
    let rest = size - PHOTO_CHUNK as u64;
    assert!(resumed.up >= rest, "the rest went up: {} < {rest}", resumed.up);
    assert!(resumed.up < rest + 32 * 1024, "only the rest went up: {} bytes for {rest}", resumed.up);
    let total = cut_attempt.up + resumed.up;
    assert!(total < size + cut + 64 * 1024, "{total} bytes up for a {size}-byte photo");
    assert!(total < 2 * size);
    assert!(m1.store().photos_to_upload().unwrap().is_empty());

    // One complete copy, the right one, and no partial file left behind.
    assert_eq!(std::fs::read(blob_path(&server, &hash)).unwrap(), bytes);
    assert!(partials(&server, &hash).is_empty());
    assert_eq!(copies_on_server(&server, &hash), 1);
    assert_eq!(upload_status(&mut m1, &server, &hash), serde_json::json!({"received": size, "complete": true}));
    // The branch sees it.
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    sync(&mut sup).unwrap();
    assert_eq!(sup.photo(&hash).unwrap(), bytes);
}

#[test]
fn an_identical_photo_from_another_device_is_not_sent_again() {
    let (server, _branch) = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let bytes = photo_bytes(900_000, 3);
    let hash = m1.store().add_photo(&bytes).unwrap();
    let customer = new_customer(&mut m1, "王五");
    visit_with_photos(&mut m1, &customer, std::slice::from_ref(&hash));
    assert_eq!(sync(&mut m1).unwrap().photos_uploaded, 1);

    // m1's second tablet, through the proxy, holds the same picture (say, copied from the first).
    let mut m1b = device(dir.path(), "m1b", &proxy.url(), "m1");
    sync(&mut m1b).unwrap();
    assert_eq!(m1b.store().add_photo(&bytes).unwrap(), hash);
    assert_eq!(m1b.store().photos_to_upload().unwrap(), vec![hash.clone()]);
    assert_eq!(upload_status(&mut m1b, &server, &hash), serde_json::json!({"received": 900_000, "complete": true}));
    proxy.reset_counts();
    let report = sync(&mut m1b).unwrap();
    let up = proxy.counts().up;
    assert_eq!(report.photos_uploaded, 1, "marked uploaded");
    assert!(m1b.store().photos_to_upload().unwrap().is_empty());
    assert!(up < 16 * 1024, "{up} bytes went up for a photo the server has");
    assert!(report.bytes_sent < 16 * 1024, "{}", report.bytes_sent);
    assert_eq!(copies_on_server(&server, &hash), 1);
    assert_eq!(std::fs::read(blob_path(&server, &hash)).unwrap(), bytes);

    // Another manager with the same bytes: nothing is sent either, and holding the bytes does not
    // let them fetch the server's copy of a photo none of their customers references.
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    assert_eq!(m2.transport().unwrap().upload_photo(&hash, &bytes).unwrap(), 0);
    assert_eq!(
        m2.transport().unwrap().fetch_photo(&hash).map_err(|e| format!("{e}")),
        Err("404 not_found: not found".into())
    );
    assert_eq!(copies_on_server(&server, &hash), 1);
}

#[test]
fn empty_and_oversized_photos_are_refused_on_the_device() {
    use fieldsync_core::store::MAX_PHOTO_BYTES;
    assert_eq!(MAX_PHOTO_BYTES as u64, fieldsync_server::photos::MAX_PHOTO_BYTES, "device and server agree");

    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let too_big = photo_bytes(MAX_PHOTO_BYTES + 1, 4);
    for bad in [&[][..], &too_big[..]] {
        match m1.store().add_photo(bad) {
            Err(fieldsync_core::Error::Invalid(e)) => assert_eq!(e.field, "photo"),
            other => panic!("a {}-byte photo was not refused: {other:?}", bad.len()),
        }
        assert!(m1.store().photo(&hash_of(bad)).unwrap().is_none(), "nothing stored");
    }
    assert!(m1.store().photos_to_upload().unwrap().is_empty());
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.photos_uploaded, 0);
    assert!(!server.data.path().join("photos").exists() || files_under(&server.data.path().join("photos")).is_empty());

    // The largest photo allowed goes through, on the device and on the server.
    let largest = photo_bytes(MAX_PHOTO_BYTES, 5);
    let hash = m1.store().add_photo(&largest).unwrap();
    assert_eq!(sync(&mut m1).unwrap().photos_uploaded, 1);
    assert_eq!(std::fs::read(blob_path(&server, &hash)).unwrap(), largest);
}

fn assert_photo_quota(result: Result<u64, HttpError>) {
    match result {
        Err(HttpError::Server { status: 507, ref code, .. }) if code == "photo_quota" => {}
        other => panic!("expected a 507 photo_quota, got {other:?}"),
    }
}

/// A manager of the other branch (the harness has only its supervisor), added to the running
/// server's store.
fn other_branch_manager(server: &TestServer, branch: &Branch, username: &str) -> String {
    let new = NewUser {
        branch_id: &branch.other_branch,
        outlet_id: None,
        username,
        display_name: "孙经理",
        role: Role::Manager,
        password: PASSWORD,
    };
    server.write(|s| accounts::create_user(s, &new, now_ms(), "test")).unwrap()
}

/// The photo's owner as the server recorded it: (uploader, branch).
fn owner_on_server(server: &TestServer, hash: &str) -> Option<(String, String)> {
    server.write(|s| fieldsync_server::photos::owner(s, hash)).unwrap()
}

/// The hash-reference attack with real tablets: m1 photographs a visit; m2 (same branch) and a
/// manager of another branch learn the hash and reference it from a visit on a customer of their
/// own, one of them even holding and "uploading" the same bytes. The server accepts their visits,
/// but only m1 and m1's supervisor can fetch the photo; everyone else gets the 404 of a photo that
/// does not exist.
#[test]
fn a_known_hash_on_another_managers_visit_fetches_nothing() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let bytes = photo_bytes(400_000, 6);
    let hash = m1.store().add_photo(&bytes).unwrap();
    let customer = new_customer(&mut m1, "周六");
    visit_with_photos(&mut m1, &customer, std::slice::from_ref(&hash));
    assert_eq!(sync(&mut m1).unwrap().photos_uploaded, 1);
    assert_eq!(owner_on_server(&server, &hash), Some((branch.m1.clone(), branch.id.clone())));

    // m2 references the hash from a visit on a customer of m2's own, and holds the same bytes:
    // the upload answers "complete" at once and sends nothing.
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    let own = new_customer(&mut m2, "吴七");
    assert_eq!(m2.store().add_photo(&bytes).unwrap(), hash);
    visit_with_photos(&mut m2, &own, std::slice::from_ref(&hash));
    let report = sync(&mut m2).unwrap();
    assert_eq!((report.changes_pushed, report.photos_uploaded, report.photos_failed), (3, 1, 0));
    assert!(report.bytes_sent < 64 * 1024, "{} bytes: the photo was not sent again", report.bytes_sent);
    // A manager of another branch references it from a visit on their own customer.
    let m3_id = other_branch_manager(&server, &branch, "m3");
    let mut m3 = device(dir.path(), "m3", &server.url(), "m3");
    let theirs = new_customer(&mut m3, "郑八");
    visit_with_photos(&mut m3, &theirs, std::slice::from_ref(&hash));
    assert_eq!(sync(&mut m3).unwrap().changes_pushed, 3);
    let mut sup2 = device(dir.path(), "sup2", &server.url(), "sup2");
    sync(&mut sup2).unwrap();
    assert_eq!(sup2.store().customer_ids().unwrap(), vec![theirs.clone()], "sup2 sees m3's customer");

    let missing = hash_of(b"no such photo");
    for (who, d) in [("m2", &mut m2), ("m3", &mut m3), ("sup2", &mut sup2)] {
        let transport = d.transport().unwrap();
        let refused = transport.fetch_photo(&hash).map_err(|e| format!("{e}"));
        assert_eq!(refused, transport.fetch_photo(&missing).map_err(|e| format!("{e}")), "{who}");
        assert_eq!(refused, Err("404 not_found: not found".into()), "{who}");
    }
    assert_not_found(m3.photo(&hash));
    assert!(m3.store().photo(&hash).unwrap().is_none());
    // The dedup upload made nobody else an owner.
    assert_eq!(owner_on_server(&server, &hash), Some((branch.m1.clone(), branch.id.clone())));
    assert_ne!(m3_id, branch.m1);

    // The photographer and the branch's supervisor still fetch it.
    assert_eq!(m1.transport().unwrap().fetch_photo(&hash).unwrap(), bytes);
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    sync(&mut sup).unwrap();
    assert_eq!(sup.photo(&hash).unwrap(), bytes);
    assert_eq!(copies_on_server(&server, &hash), 1);
}

/// An upload cut half way and abandoned: the sweep (with the time injected) deletes the partial
/// once it is a day old, and not before; the tablet then sends the whole photo again.
#[test]
fn an_abandoned_partial_upload_expires_and_the_photo_is_sent_again() {
    let (server, _branch) = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &proxy.url(), "m1");
    sync(&mut m1).unwrap();
    let size = 600_000u64;
    let bytes = photo_bytes(size as usize, 7);
    let hash = m1.store().add_photo(&bytes).unwrap();
    let customer = new_customer(&mut m1, "冯九");
    visit_with_photos(&mut m1, &customer, std::slice::from_ref(&hash));
    proxy.cut_up_after(300_000);
    assert!(sync(&mut m1).is_err());
    assert_eq!(partials(&server, &hash).len(), 1);

    let now = now_ms();
    let day = fieldsync_server::photos::PARTIAL_TTL_MS;
    assert_eq!(fieldsync_server::photos::sweep_partials(server.data.path(), now + day - 60_000).unwrap(), 0);
    assert_eq!(partials(&server, &hash).len(), 1, "kept for a day");
    assert_eq!(fieldsync_server::photos::sweep_partials(server.data.path(), now + day + 60_000).unwrap(), 1);
    assert!(partials(&server, &hash).is_empty());
    assert_eq!(upload_status(&mut m1, &server, &hash), serde_json::json!({"received": 0, "complete": false}));

    proxy.reset_counts();
    let report = sync(&mut m1).unwrap();
    assert_eq!(report.photos_uploaded, 1);
    assert!(proxy.counts().up >= size, "the whole photo went up again");
    assert_eq!(std::fs::read(blob_path(&server, &hash)).unwrap(), bytes);
    assert_eq!(copies_on_server(&server, &hash), 1);
}

/// A photo that would take its uploader past the daily quota is refused (507) before any byte is
/// written; the visit syncs anyway and the photo waits on the tablet. Once the day's earlier
/// uploads are more than 24 hours old (moved back in the server's ledger), the next sync sends it.
#[test]
fn a_photo_over_the_daily_quota_waits_on_the_tablet() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let daily = fieldsync_server::photos::MAX_DAILY_BYTES_PER_USER as i64;
    // m1 completed all but 100 KB of the quota an hour ago.
    server.exec(&format!(
        "INSERT INTO photos (hash, uploader_id, branch_id, bytes, completed_at) VALUES ('{}', '{}', '{}', {}, {})",
        hash_of(b"earlier"),
        branch.m1,
        branch.id,
        daily - 100_000,
        now_ms() - 3_600_000
    ));
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let bytes = photo_bytes(300_000, 8);
    let hash = m1.store().add_photo(&bytes).unwrap();
    let customer = new_customer(&mut m1, "陈十");
    visit_with_photos(&mut m1, &customer, std::slice::from_ref(&hash));
    let report = sync(&mut m1).unwrap();
    assert_eq!((report.changes_pushed, report.photos_uploaded, report.photos_failed), (3, 0, 1));
    assert_eq!(m1.store().photos_to_upload().unwrap(), vec![hash.clone()], "it waits on the tablet");
    assert_eq!(copies_on_server(&server, &hash), 0, "nothing written on the server");
    assert_photo_quota(m1.transport().unwrap().upload_photo(&hash, &bytes));
    assert_eq!(copies_on_server(&server, &hash), 0);
    // Other managers are not affected.
    let mut m2 = device(dir.path(), "m2", &server.url(), "m2");
    let other = photo_bytes(300_000, 9);
    assert_eq!(m2.transport().unwrap().upload_photo(&hash_of(&other), &other).unwrap(), 300_000);

    // A day later the earlier uploads no longer count.
    server
        .exec(&format!("UPDATE photos SET completed_at = completed_at - 86400000 WHERE uploader_id = '{}'", branch.m1));
    let report = sync(&mut m1).unwrap();
    assert_eq!((report.photos_uploaded, report.photos_failed), (1, 0));
    assert_eq!(std::fs::read(blob_path(&server, &hash)).unwrap(), bytes);
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    sync(&mut sup).unwrap();
    assert_eq!(sup.photo(&hash).unwrap(), bytes);
}

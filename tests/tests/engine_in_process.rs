//! The sans-IO sync engine with a real tablet store and the real server code, joined by the
//! in-process transport: no sockets. Refusals reach the engine as the same rejections the HTTP
//! transport derives from the server's answers (checked against a server over HTTP).

use fieldsync_core::domain::{CustomerKind, Profile, Role as CoreRole, VisitDetails};
use fieldsync_core::store::{CustomerFilter, Store, User as TabletUser};
use fieldsync_core::sync::{self, Rejection, RejectionKind, Reply, SyncError, SyncOptions, Transport, protocol};
use fieldsync_ffi::HttpTransport;
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::in_process::InProcess;
use fieldsync_server::store::Db;
use fieldsync_tests::{TestServer, now_ms};

const HOUR: i64 = 3_600_000;

/// A server store with one branch and two managers; their IDs.
fn server() -> (tempfile::TempDir, Db, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let managers = db.with(|conn| {
        let branch = accounts::create_branch(conn, "城关支行", 0, "test").unwrap();
        ["m1", "m2"]
            .iter()
            .map(|name| {
                let new = NewUser {
                    branch_id: &branch,
                    outlet_id: None,
                    username: name,
                    display_name: &format!("客户经理{name}"),
                    role: Role::Manager,
                    password: "a long enough password",
                };
                accounts::create_user(conn, &new, 0, "test").unwrap()
            })
            .collect()
    });
    (dir, db, managers)
}

/// A tablet of `manager`: its store (signed in) and its token for `device_id`.
fn tablet(db: &Db, dir: &std::path::Path, manager: &str, device_id: &str) -> (Store, String) {
    let mut store = Store::open(dir.join(format!("{device_id}.db")), None).unwrap();
    let token = db.with(|conn| {
        let user = accounts::user_by_id(conn, manager).unwrap().unwrap();
        store
            .sign_in(TabletUser { id: user.id.clone(), name: user.display_name.clone(), role: CoreRole::Manager })
            .unwrap();
        accounts::register_device(conn, &user, device_id, store.actor(), now_ms()).unwrap()
    });
    (store, token)
}

fn sync_over(store: &mut Store, transport: &mut dyn Transport) -> Result<sync::SyncProgress, SyncError> {
    let options = SyncOptions { now: now_ms(), ..SyncOptions::default() };
    sync::run(store, transport, options, &mut |_| {}, &|| false)
}

fn names(store: &Store) -> Vec<String> {
    let page = store.customers(&CustomerFilter::default(), 500, None).unwrap();
    let mut names: Vec<String> = page.items.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

#[test]
fn two_tablets_sync_through_the_server_code_without_sockets() {
    let (dir, db, managers) = server();
    let (mut a, token_a) = tablet(&db, dir.path(), &managers[0], "tablet-a");
    let (mut b, token_b) = tablet(&db, dir.path(), &managers[0], "tablet-b");

    let customer = a.create_customer(Profile::new(CustomerKind::Individual, "蒋秀兰", "韩桥村"), now_ms()).unwrap();
    fieldsync_tests::record_visit_in(&mut a, &customer, VisitDetails { notes: "种柑橘".into(), ..Default::default() });
    let pushed = sync_over(&mut a, &mut InProcess::new(&db, &token_a, "tablet-a")).unwrap();
    assert!(pushed.changes_pushed >= 2, "{pushed:?}");

    let pulled = sync_over(&mut b, &mut InProcess::new(&db, &token_b, "tablet-b")).unwrap();
    assert_eq!(pulled.documents_received, 1, "{pulled:?}");
    assert_eq!(names(&b), vec!["蒋秀兰".to_string()]);
    assert_eq!(b.customer_360(&customer).unwrap().visits[0].notes, "种柑橘");

    // Nothing left: one more round trip, nothing moves.
    let again = sync_over(&mut a, &mut InProcess::new(&db, &token_a, "tablet-a")).unwrap();
    assert_eq!((again.changes_pushed, again.changes_received, again.documents_received), (0, 0, 0));
}

#[test]
fn a_revoked_tablet_is_wiped_and_an_unknown_token_signs_in_again() {
    let (dir, db, managers) = server();
    let (mut a, token) = tablet(&db, dir.path(), &managers[0], "tablet-a");
    a.create_customer(Profile::new(CustomerKind::Individual, "蒋秀兰", "韩桥村"), now_ms()).unwrap();

    let mut stranger = InProcess::new(&db, "not-a-token", "tablet-a");
    assert!(matches!(sync_over(&mut a, &mut stranger), Err(SyncError::Unauthenticated)));
    assert_eq!(names(&a).len(), 1, "a refused sign-in changes nothing on the tablet");

    sync_over(&mut a, &mut InProcess::new(&db, &token, "tablet-a")).unwrap();
    db.write_blocking(|s| accounts::revoke_device(s, "tablet-a", None, now_ms())).unwrap();
    assert!(matches!(sync_over(&mut a, &mut InProcess::new(&db, &token, "tablet-a")), Err(SyncError::Revoked)));
    assert!(names(&a).is_empty(), "the revoked tablet keeps no customer");
    assert!(a.user().is_none());
}

#[test]
fn the_server_clock_given_to_the_transport_is_the_servers_now() {
    // A token expires by the server's clock: moved a year ahead, the same token is refused.
    let (dir, db, managers) = server();
    let (mut a, token) = tablet(&db, dir.path(), &managers[0], "tablet-a");
    let later = now_ms() + 366 * 24 * HOUR;
    let mut transport = InProcess::at(&db, &token, "tablet-a", move || later);
    assert!(matches!(sync_over(&mut a, &mut transport), Err(SyncError::Unauthenticated)));
}

/// Frames the server refuses, each with a label.
fn bad_frames() -> Vec<(&'static str, Vec<u8>)> {
    let good = protocol::encode(&protocol::SyncRequest { cursor: 1, ..Default::default() });
    let mut newer = good.clone();
    newer[3] = newer[3].wrapping_add(1);
    vec![
        ("garbage", b"GET / HTTP/1.1".to_vec()),
        ("a newer protocol", newer),
        ("cut short", good[..good.len() - 1].to_vec()),
    ]
}

fn rejection(reply: Result<Reply, fieldsync_core::sync::TransportError>) -> Rejection {
    match reply {
        Ok(Reply::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn refusals_are_the_same_rejections_in_process_and_over_http() {
    // A server over HTTP, and the server code in this process on a store of its own: a bad frame
    // from a signed-in device is refused alike whatever the data.
    let (server, _) = TestServer::start();
    let http_dir = tempfile::tempdir().unwrap();
    let mut http_device = fieldsync_tests::device(http_dir.path(), "http", &server.url(), "m1");
    let mut http = http_device.transport().unwrap();
    let (dir, db, managers) = self::server();
    let (_, token) = tablet(&db, dir.path(), &managers[0], "in-process");
    let mut local = InProcess::new(&db, &token, "in-process");

    for (label, frame) in bad_frames() {
        let over_http = rejection(http.exchange(frame.clone()));
        let in_process = rejection(local.exchange(frame));
        assert_eq!(over_http, in_process, "{label}");
        assert!(!over_http.code.is_empty() && !over_http.message_zh.is_empty(), "{label}: {over_http:?}");
    }
    let kinds: Vec<RejectionKind> = bad_frames().into_iter().map(|(_, f)| rejection(local.exchange(f)).kind).collect();
    assert_eq!(kinds, vec![RejectionKind::Refused, RejectionKind::UpgradeRequired, RejectionKind::Refused]);

    let good = protocol::encode(&protocol::SyncRequest { cursor: 1, ..Default::default() });
    let stranger = rejection(InProcess::new(&db, "not-a-token", "in-process").exchange(good.clone()));
    let http_stranger =
        rejection(HttpTransport::new(&server.url(), &Default::default(), "not-a-token", "http").exchange(good));
    assert_eq!(stranger, http_stranger);
    assert_eq!(stranger.kind, RejectionKind::Unauthenticated);
}

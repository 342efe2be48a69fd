//! Pushing tablets' changes into the server's document store and pulling them on another
//! tablet, with real device stores on disk.

use fieldsync_core::domain::{self, Action, CustomerKind, Profile};
use fieldsync_core::store::{Store, User as DeviceUser};
use fieldsync_server::accounts::{Role, User};
use fieldsync_server::db::Db;
use fieldsync_server::docs::{self, PushError};
use fieldsync_server::validate::Refusal;

const NOW: i64 = 1_753_056_000_000;

fn server_user(id: &str, role: Role) -> User {
    User { id: id.into(), branch_id: "b1".into(), outlet_id: None, username: id.into(), display_name: id.into(), role }
}

fn tablet(dir: &tempfile::TempDir, name: &str, user: &str) -> Store {
    let mut store = Store::open(dir.path().join(name), None).unwrap();
    store.sign_in(DeviceUser { id: user.into(), name: user.into(), role: domain::Role::Manager }).unwrap();
    store
}

#[test]
fn a_customer_goes_from_one_tablet_through_the_server_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let actor = fieldsync_core::ids::new_actor();
    let mut a = tablet(&dir, "a.db", "M1");
    let mut b = tablet(&dir, "b.db", "M1");
    let id = a.create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), NOW).unwrap();
    let bytes = a.document_changes(&id).unwrap();
    let m1 = server_user("M1", Role::Manager);
    let accepted = db.with(|c| docs::push(c, "b1", &m1, &id, &bytes, &actor)).unwrap();
    assert_eq!(accepted.new_changes, 1);
    // A repeated push is harmless.
    assert_eq!(db.with(|c| docs::push(c, "b1", &m1, &id, &bytes, &actor)).unwrap().new_changes, 0);

    let pulled = db.with(|c| docs::pull(c, "b1", Some("M1"), 0, 100)).unwrap();
    assert_eq!(pulled.len(), 1);
    for p in &pulled {
        b.merge(&p.customer_id, &p.bytes).unwrap();
    }
    assert_eq!(b.customer_file(&id).unwrap(), a.customer_file(&id).unwrap());
    // The cursor moves on: nothing new after the last sequence number.
    let last = pulled.last().unwrap().seq;
    assert!(db.with(|c| docs::pull(c, "b1", Some("M1"), last, 100)).unwrap().is_empty());
    // Another manager's scope and another branch see nothing.
    assert!(db.with(|c| docs::pull(c, "b1", Some("M2"), 0, 100)).unwrap().is_empty());
    assert!(db.with(|c| docs::pull(c, "b2", None, 0, 100)).unwrap().is_empty());
    // A supervisor's scope is the whole branch.
    assert_eq!(db.with(|c| docs::pull(c, "b1", None, 0, 100)).unwrap().len(), 1);
}

#[test]
fn bad_pushes_change_nothing_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let actor = fieldsync_core::ids::new_actor();
    let mut a = tablet(&dir, "a.db", "M1");
    let id = a.create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), NOW).unwrap();
    let base = a.heads(&id).unwrap();
    let first = a.document_changes(&id).unwrap();
    let m1 = server_user("M1", Role::Manager);
    db.with(|c| docs::push(c, "b1", &m1, &id, &first, &actor)).unwrap();
    let count = || db.with(|c| c.query_row("SELECT count(*) FROM changes", [], |r| r.get::<_, i64>(0)).unwrap());
    assert_eq!(count(), 1);

    // Garbage, truncated, and another branch's or a malformed document ID.
    assert!(matches!(db.with(|c| docs::push(c, "b1", &m1, &id, b"garbage", &actor)), Err(PushError::Corrupt)));
    assert!(matches!(
        db.with(|c| docs::push(c, "b1", &m1, &id, &first[..first.len() - 2], &actor)),
        Err(PushError::Corrupt)
    ));
    assert!(matches!(db.with(|c| docs::push(c, "b2", &m1, &id, &first, &actor)), Err(PushError::NotFound)));
    assert!(matches!(db.with(|c| docs::push(c, "b1", &m1, "../x", &first, &actor)), Err(PushError::NotFound)));

    // Only the new changes, without the history they build on, from a device that lost it.
    a.apply(&id, &Action::RequestClaim { intent_id: "i1".into() }, NOW).unwrap();
    let mut doc =
        fieldsync_core::document::CustomerDoc::load(&id, &a.document_changes(&id).unwrap(), a.actor()).unwrap();
    let only_new = doc.changes_since(&base);
    let other = "0198aaaa-0000-7000-8000-000000000001";
    let unknown = db.with(|c| docs::push(c, "b1", &m1, other, &only_new, &actor));
    assert!(matches!(unknown, Err(PushError::MissingHistory)), "{unknown:?}");

    // Another manager editing M1's customer is refused with a reason.
    let m2 = server_user("M2", Role::Manager);
    let mut p = a.customer_file(&id).unwrap().profile;
    p.occupation = "改".into();
    a.sign_in(DeviceUser { id: "M2".into(), name: "M2".into(), role: domain::Role::Manager }).unwrap();
    a.apply(&id, &Action::UpdateProfile { profile: p }, NOW).unwrap();
    let edit = a.document_changes(&id).unwrap();
    let refused = db.with(|c| docs::push(c, "b1", &m2, &id, &edit, &actor));
    assert!(matches!(refused, Err(PushError::Refused(Refusal::NotYourCustomer))), "{refused:?}");
    assert_eq!(count(), 1, "nothing refused was stored");
}

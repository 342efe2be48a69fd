//! The store interface's conformance, part `SessionStore`: the same calls on the SQLite store and
//! on the PostgreSQL store give the same results.

mod common;

use common::pg::PgTest;
use fieldsync_server::store::SessionStore;
use fieldsync_server::store::sessions::SessionRecord;

/// What a scenario saw, to compare across the stores.
fn scenario<S: SessionStore + ?Sized>(store: &S, setup: impl Fn(&str)) -> Vec<String> {
    let mut seen = Vec::new();
    setup(
        "INSERT INTO branches (id, name, time_zone) VALUES ('b2', '西岗支行', 'Asia/Shanghai'), ('b1', '东湖支行', 'Asia/Urumqi')",
    );
    setup(
        "INSERT INTO users (id, branch_id, username, display_name, role, password_hash) VALUES ('u1', 'b1', 'u1', 'U', 'supervisor', 'x')",
    );
    let record = |csrf: &str, expires_at| SessionRecord {
        user_id: "u1".into(),
        branch_id: "b1".into(),
        csrf: csrf.into(),
        expires_at,
    };
    store.insert_session(b"t1", &record("c1", 100), 1).unwrap();
    store.insert_session(b"t2", &record("c2", 200), 1).unwrap();
    store.insert_session(&[0, 255, 7], &record("c3", 300), 1).unwrap();
    seen.push(format!("{:?}", store.session(b"t1").unwrap()));
    seen.push(format!("{:?}", store.session(&[0, 255, 7]).unwrap()));
    seen.push(format!("{:?}", store.session(b"none").unwrap()));
    store.set_session_branch(b"t2", "b2").unwrap();
    seen.push(format!("{:?}", store.session(b"t2").unwrap()));
    seen.push(format!("{:?}", store.delete_expired_sessions(100).unwrap()));
    seen.push(format!("{:?}", store.session(b"t1").unwrap()));
    store.delete_session(b"t2").unwrap();
    seen.push(format!("{:?}", store.session(b"t2").unwrap()));
    store.delete_user_sessions("u1").unwrap();
    seen.push(format!("{:?}", store.session(&[0, 255, 7]).unwrap()));
    seen.push(format!("{:?}", store.branches().unwrap()));
    seen.push(format!("{:?}", store.branch("b1").unwrap()));
    seen.push(format!("{:?}", store.branch("nope").unwrap()));
    seen
}

#[test]
fn sessions_behave_the_same_on_both_stores() {
    let pg = PgTest::new();
    let on_pg = pg.write(|store| scenario(store, |sql| store.batch(sql).unwrap()));
    let on_sqlite = {
        let dir = tempfile::tempdir().unwrap();
        let db = fieldsync_server::store::Db::open(dir.path()).unwrap();
        db.with(|conn| {
            let tx = conn.transaction().unwrap();
            let seen = scenario(&*tx, |sql| tx.execute_batch(sql).unwrap());
            tx.commit().unwrap();
            seen
        })
    };
    assert_eq!(on_pg, on_sqlite);
    assert!(on_sqlite.iter().any(|s| s.contains("东湖支行")), "{on_sqlite:?}");
}

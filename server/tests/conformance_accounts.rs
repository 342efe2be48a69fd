//! The store interface's conformance, part `AccountStore`: the same calls on the SQLite store and
//! on the PostgreSQL store give the same results. And on PostgreSQL, what one server instance
//! writes (tokens, revocations, failed logins) is what another reads next.

mod common;

use automerge::ActorId;
use common::pg::PgTest;
use fieldsync_server::accounts::{Role, User};
use fieldsync_server::store::postgres::PgStore;
use fieldsync_server::store::{AccountStore, StoreResult};

fn user(id: &str, branch: &str, outlet: Option<&str>, role: Role) -> User {
    User {
        id: id.into(),
        branch_id: branch.into(),
        outlet_id: outlet.map(Into::into),
        username: format!("n.{id}"),
        display_name: format!("名{id}"),
        role,
    }
}

/// What a scenario saw, to compare across the stores. `setup` runs SQL without results, `read`
/// SQL whose rows are one text column each.
fn scenario<S: AccountStore + ?Sized>(
    store: &S,
    setup: impl Fn(&str),
    read: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut seen = Vec::new();
    // Whether `f` fails; what it did is rolled back and the transaction goes on.
    let fails = |f: &dyn Fn() -> StoreResult<()>| {
        setup("SAVEPOINT probe");
        let failed = f().is_err();
        setup("ROLLBACK TO SAVEPOINT probe; RELEASE SAVEPOINT probe");
        failed
    };

    store.ping().unwrap();

    // Branches and outlets.
    store.insert_branch("b1", "东湖支行").unwrap();
    store.insert_branch("b2", "西岗支行").unwrap();
    seen.push(format!("dup branch fails {}", fails(&|| store.insert_branch("b1", "again"))));
    for id in ["b1", "b2", "b3", "", "b\0"] {
        seen.push(format!("branch_exists {id:?} {:?}", store.branch_exists(id).unwrap()));
    }
    for name in ["东湖支行", "东湖", "again", "东湖支行\0"] {
        seen.push(format!("branch_named {name:?} {:?}", store.branch_named(name).unwrap()));
    }
    store.insert_outlet("o1", "b1", "一号网点").unwrap();
    seen.push(format!("outlet of unknown branch fails {}", fails(&|| store.insert_outlet("o2", "b9", "x"))));
    seen.push(format!("dup outlet fails {}", fails(&|| store.insert_outlet("o1", "b2", "x"))));
    for id in ["o1", "o2", "o\0"] {
        seen.push(format!("outlet_branch {id:?} {:?}", store.outlet_branch(id).unwrap()));
    }

    // Users.
    store.insert_user(&user("u1", "b1", Some("o1"), Role::Manager), "hash-u1").unwrap();
    store.insert_user(&user("s1", "b1", None, Role::Supervisor), "hash-s1").unwrap();
    store.insert_user(&user("a1", "b2", None, Role::Admin), "hash-a1").unwrap();
    store.insert_user(&user("a2", "b1", None, Role::Admin), "hash-a2").unwrap();
    seen.push(format!(
        "dup username fails {}",
        fails(&|| store.insert_user(&user("u1", "b1", None, Role::Manager), "h"))
    ));
    seen.push(format!(
        "unknown branch fails {}",
        fails(&|| store.insert_user(&user("u9", "b9", None, Role::Manager), "h"))
    ));
    // A role this build does not know, an inactive user, a flag stored as 2.
    setup(
        "INSERT INTO users (id, branch_id, username, display_name, role, password_hash, active)
         VALUES ('x1', 'b1', 'n.x1', 'X', 'auditor', 'hash-x1', 0), ('x2', 'b2', 'n.x2', 'Y', 'admin', 'hash-x2', 2)",
    );
    for name in ["n.u1", "n.U1", "n.nobody", "", "n.u1\0"] {
        seen.push(format!("username_taken {name:?} {:?}", store.username_taken(name).unwrap()));
    }
    for (id, flag) in
        [("a1", true), ("a2", true), ("a2", false), ("u1", true), ("s1", true), ("nobody", true), ("a\0", true)]
    {
        seen.push(format!("set_admin_head_office {id:?} {flag} {:?}", store.set_admin_head_office(id, flag).unwrap()));
    }
    setup("UPDATE users SET head_office = 5 WHERE id IN ('a2', 'x2')");
    for id in ["a1", "a2", "u1", "x2", "nobody", "a1\0"] {
        seen.push(format!("is_head_office {id:?} {:?}", store.is_head_office(id).unwrap()));
    }
    setup("UPDATE users SET active = 0 WHERE id = 'a1'");
    seen.push(format!("is_head_office inactive a1 {:?}", store.is_head_office("a1").unwrap()));
    for id in ["u1", "s1", "a1", "x1", "x2", "nobody", "u1\0"] {
        seen.push(format!("user_by_id {id:?} {:?}", store.user_by_id(id).unwrap()));
    }
    for name in ["n.u1", "n.x1", "n.x2", "N.U1", "", "n.u1\0"] {
        seen.push(format!("user_by_username {name:?} {:?}", store.user_by_username(name).unwrap()));
    }
    setup("UPDATE users SET active = 1 WHERE id = 'a1'");

    // Failed logins: counting, the window starting over, distinct keys, clearing, the oldest
    // forgotten first.
    seen.push(format!("login_failures none {:?}", store.login_failures("u:alice").unwrap()));
    for now in [1_000, 1_200, 1_899] {
        store.add_login_failure("u:alice", now, 900).unwrap();
    }
    seen.push(format!("3 in window {:?}", store.login_failures("u:alice").unwrap()));
    store.add_login_failure("u:alice", 1_900, 900).unwrap();
    seen.push(format!("window starts over {:?}", store.login_failures("u:alice").unwrap()));
    store.add_login_failure("u:alice", 1_950, 900).unwrap();
    seen.push(format!("counted again {:?}", store.login_failures("u:alice").unwrap()));
    // A clock gone back counts within the window.
    store.add_login_failure("u:alice", 10, 900).unwrap();
    seen.push(format!("clock back {:?}", store.login_failures("u:alice").unwrap()));
    // Keys as typed: NUL, the escape character, case.
    let odd = ["u:a\0b", "u:a", "\u{1}u:a\u{1}0b", "\u{1}", "\0", "u:A", "c:10.0.0.1"];
    for (i, key) in odd.iter().enumerate() {
        for _ in 0..=i {
            store.add_login_failure(key, 2_000 + i as i64, 900).unwrap();
        }
    }
    for key in odd {
        seen.push(format!("login_failures {key:?} {:?}", store.login_failures(key).unwrap()));
    }
    // Windows whose age leaves the 64-bit range.
    store.add_login_failure("u:overflow", -5, 10).unwrap();
    store.add_login_failure("u:overflow", i64::MAX, 10).unwrap();
    seen.push(format!("overflow up {:?}", store.login_failures("u:overflow").unwrap()));
    store.add_login_failure("u:underflow", i64::MAX, 10).unwrap();
    store.add_login_failure("u:underflow", i64::MIN, i64::MIN).unwrap();
    seen.push(format!("overflow down {:?}", store.login_failures("u:underflow").unwrap()));
    seen.push(format!("rows {:?}", store.login_failure_rows().unwrap()));
    store.clear_login_failures("u:a\0b").unwrap();
    store.clear_login_failures("u:nobody").unwrap();
    seen.push(format!(
        "cleared {:?} {:?}",
        store.login_failures("u:a\0b").unwrap(),
        store.login_failures("u:a").unwrap()
    ));
    seen.push(format!("rows {:?}", store.login_failure_rows().unwrap()));
    store.delete_oldest_login_failures(0).unwrap();
    seen.push(format!("rows after 0 {:?}", store.login_failure_rows().unwrap()));
    store.delete_oldest_login_failures(3).unwrap();
    seen.push(format!("rows after 3 {:?}", store.login_failure_rows().unwrap()));
    for key in odd {
        seen.push(format!("after delete {key:?} {:?}", store.login_failures(key).unwrap()));
    }
    store.delete_oldest_login_failures(4).unwrap();
    // Left: two keys tied on `first_at`, the first inserted also first by key.
    seen.push(format!("left {:?}", read("SELECT username FROM login_failures ORDER BY username")));
    store.delete_oldest_login_failures(1).unwrap();
    seen.push(format!(
        "of a tie {:?} {:?}",
        store.login_failures("u:overflow").unwrap(),
        store.login_failures("u:underflow").unwrap()
    ));
    store.delete_oldest_login_failures(-1).unwrap();
    seen.push(format!("negative is all {:?}", store.login_failure_rows().unwrap()));
    store.delete_oldest_login_failures(5).unwrap();

    // Devices: registered, one from before devices kept their branch, unknown.
    store.insert_device("d1", "u1", "b1", 100).unwrap();
    store.insert_device("d2", "x1", "b1", 101).unwrap();
    setup("INSERT INTO devices (device_id, user_id, registered_at) VALUES ('d0', 'a1', 50)");
    seen.push(format!("dup device fails {}", fails(&|| store.insert_device("d1", "s1", "b1", 1))));
    seen.push(format!("unknown user fails {}", fails(&|| store.insert_device("d9", "nobody", "b1", 1))));
    for id in ["d0", "d1", "d2", "d9", "d\0"] {
        seen.push(format!("device {id:?} {:?}", store.device(id).unwrap()));
        seen.push(format!("device_holder {id:?} {:?}", store.device_holder(id).unwrap()));
    }
    store.mark_device_revoked("d1", 200).unwrap();
    store.mark_device_revoked("d1", 300).unwrap();
    store.mark_device_revoked("d9", 300).unwrap();
    store.mark_device_revoked("d\0", 300).unwrap();
    seen.push(format!("revoked once {:?}", store.device("d1").unwrap()));
    store.clear_device_revoked("d1").unwrap();
    store.clear_device_revoked("d9").unwrap();
    seen.push(format!("revocation cleared {:?}", store.device("d1").unwrap()));
    store.mark_device_released("d1", 400).unwrap();
    store.mark_device_released("d1", 500).unwrap();
    store.mark_device_released("d\0", 500).unwrap();
    seen.push(format!("released once {:?}", store.device("d1").unwrap()));
    store.take_over_device("d1", "s1", "b1").unwrap();
    store.take_over_device("d9", "s1", "b1").unwrap();
    seen.push(format!("taken over {:?}", store.device("d1").unwrap()));
    store.mark_device_released("d0", 600).unwrap();
    store.take_over_device("d0", "a2", "b1").unwrap();
    seen.push(format!("legacy taken over {:?} {:?}", store.device("d0").unwrap(), store.device_holder("d0").unwrap()));
    seen.push(format!("take over by nobody fails {}", fails(&|| store.take_over_device("d1", "nobody", "b1"))));

    // Actors: registered out of byte order, listed in it.
    let actors = [vec![5u8], vec![1, 2], vec![1], vec![0xff, 0], vec![0; 16]];
    for a in &actors {
        store.insert_device_actor(&ActorId::from(a.as_slice()), "d1").unwrap();
    }
    store.insert_device_actor(&ActorId::from(&[7u8][..]), "d2").unwrap();
    seen.push(format!("dup actor fails {}", fails(&|| store.insert_device_actor(&ActorId::from(&[5u8][..]), "d2"))));
    seen.push(format!(
        "unknown device fails {}",
        fails(&|| store.insert_device_actor(&ActorId::from(&[9u8][..]), "d9"))
    ));
    for a in [&[5u8][..], &[7], &[1, 2, 3], &[]] {
        seen.push(format!("actor_device {a:?} {:?}", store.actor_device(&ActorId::from(a)).unwrap()));
    }
    for d in ["d1", "d2", "d9", "d\0"] {
        seen.push(format!("device_actor_count {d:?} {:?}", store.device_actor_count(d).unwrap()));
        seen.push(format!("device_actors {d:?} {:?}", store.device_actors(d).unwrap()));
    }

    // Tokens: found with their device's revocation; renewed; gone with the device's tokens.
    store.insert_token(b"t1", "d1", "s1", 10, 1_000).unwrap();
    store.insert_token(&[0, 255, 7], "d2", "x1", 20, 2_000).unwrap();
    store.insert_token(b"t3", "d2", "x1", 30, 3_000).unwrap();
    seen.push(format!("dup token fails {}", fails(&|| store.insert_token(b"t1", "d2", "x1", 1, 1))));
    seen.push(format!("token of unknown device fails {}", fails(&|| store.insert_token(b"t9", "d9", "s1", 1, 1))));
    for t in [&b"t1"[..], &[0, 255, 7], b"t3", b"none", b""] {
        seen.push(format!("token {t:?} {:?}", store.token(t).unwrap()));
    }
    store.mark_device_revoked("d2", 700).unwrap();
    seen.push(format!("token of revoked device {:?}", store.token(&[0, 255, 7]).unwrap()));
    store.set_token_expiry(b"t1", 5_000).unwrap();
    store.set_token_expiry(b"t1", 4_000).unwrap();
    store.set_token_expiry(b"none", 4_000).unwrap();
    seen.push(format!("renewed {:?}", store.token(b"t1").unwrap()));
    store.delete_device_tokens("d2").unwrap();
    store.delete_device_tokens("d9").unwrap();
    store.delete_device_tokens("d\0").unwrap();
    for t in [&b"t1"[..], &[0, 255, 7], b"t3"] {
        seen.push(format!("after delete {t:?} {:?}", store.token(t).unwrap()));
    }

    // Syncs: the latest time kept, refusals added up.
    store.note_device_sync("d1", 1_000, "1.0.0", 2).unwrap();
    store.note_device_sync("d1", 900, "1.0.1", 0).unwrap();
    store.note_device_sync("d1", 1_100, "1.0.2", 3).unwrap();
    store.note_device_sync("gone", 5, "0.9", 1).unwrap();
    seen.push(format!(
        "syncs {:?}",
        read(
            "SELECT device_id || ' ' || CAST(last_sync_at AS TEXT) || ' ' || app_version || ' '
                 || CAST(refused_last AS TEXT) || ' ' || CAST(refused_total AS TEXT)
             FROM device_syncs ORDER BY device_id"
        )
    ));

    // The audit trail, in the order written (ties on time included).
    store.insert_audit(3, "u1", "device.login", "d1").unwrap();
    store.insert_audit(1, "admin-cli", "branch.create", "b1").unwrap();
    store.insert_audit(1, "admin-cli", "branch.create", "b2").unwrap();
    store.insert_audit(2, "s1", "web.logout", "").unwrap();
    seen.push(format!(
        "audit {:?}",
        read(
            "SELECT CAST(seq AS TEXT) || ' ' || CAST(at AS TEXT) || ' ' || actor || ' ' || action || ' ' || subject
             FROM audit ORDER BY seq"
        )
    ));
    seen
}

fn on_sqlite() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let db = fieldsync_server::store::Db::open(dir.path()).unwrap();
    db.with(|conn| {
        let tx = conn.transaction().unwrap();
        let seen = scenario(
            &*tx,
            |sql| tx.execute_batch(sql).unwrap(),
            |sql| {
                let mut stmt = tx.prepare(sql).unwrap();
                stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().collect::<Result<_, _>>().unwrap()
            },
        );
        tx.commit().unwrap();
        seen
    })
}

fn pg_read(store: &PgStore, sql: &str) -> Vec<String> {
    store.query(sql, &[]).unwrap().iter().map(|r| r.try_get::<_, String>(0).unwrap()).collect()
}

#[test]
fn accounts_behave_the_same_on_both_stores() {
    let pg = PgTest::new();
    let on_pg = pg.write(|store| scenario(store, |sql| store.batch(sql).unwrap(), |sql| pg_read(store, sql)));
    let on_sqlite = on_sqlite();
    for (i, (p, s)) in on_pg.iter().zip(&on_sqlite).enumerate() {
        assert_eq!(p, s, "step {i}");
    }
    assert_eq!(on_pg, on_sqlite);

    let has = |s: &str| assert!(on_sqlite.iter().any(|x| x == s), "{s} not in {on_sqlite:#?}");
    has("dup branch fails true");
    has("branch_exists \"b\\0\" false");
    has("3 in window Some(LoginFailures { failures: 3, first_at: 1000 })");
    has("window starts over Some(LoginFailures { failures: 1, first_at: 1900 })");
    has("clock back Some(LoginFailures { failures: 3, first_at: 1900 })");
    has("login_failures \"u:a\\0b\" Some(LoginFailures { failures: 1, first_at: 2000 })");
    has("login_failures \"u:a\" Some(LoginFailures { failures: 2, first_at: 2001 })");
    has("login_failures \"\\u{1}u:a\\u{1}0b\" Some(LoginFailures { failures: 3, first_at: 2002 })");
    has("overflow up Some(LoginFailures { failures: 1, first_at: 9223372036854775807 })");
    has("overflow down Some(LoginFailures { failures: 2, first_at: 9223372036854775807 })");
    has("negative is all 0");
    has("is_head_office \"a2\" true");
    has("is_head_office \"x2\" false");
    has("left [\"u:overflow\", \"u:underflow\"]");
    has("of a tie None Some(LoginFailures { failures: 2, first_at: 9223372036854775807 })");
    has("is_head_office inactive a1 false");
    has(
        "revoked once Some(DeviceRecord { user_id: \"u1\", branch_id: Some(\"b1\"), revoked_at: Some(200), released_at: None })",
    );
    has(
        "taken over Some(DeviceRecord { user_id: \"s1\", branch_id: Some(\"b1\"), revoked_at: None, released_at: None })",
    );
    has("device_holder \"d0\" Some(DeviceHolder { branch_id: Some(\"b2\"), role: Some(Admin) })");
    has("device_holder \"d2\" Some(DeviceHolder { branch_id: Some(\"b1\"), role: None })");
    has(
        "token of revoked device Some(TokenRecord { device_id: \"d2\", user_id: \"x1\", expires_at: 2000, device_revoked_at: Some(700) })",
    );
    has("renewed Some(TokenRecord { device_id: \"d1\", user_id: \"s1\", expires_at: 4000, device_revoked_at: None })");
    has("after delete [0, 255, 7] None");
    has("syncs [\"d1 1100 1.0.2 3 5\", \"gone 5 0.9 1 1\"]");
    has(
        "audit [\"1 3 u1 device.login d1\", \"2 1 admin-cli branch.create b1\", \"3 1 admin-cli branch.create b2\", \"4 2 s1 web.logout \"]",
    );
    let actors = on_sqlite.iter().find(|s| s.starts_with("device_actors \"d1\"")).unwrap();
    // In byte order, as SQLite's index lists them (not in the order registered).
    assert!(
        actors.ends_with(r#"[ActorID("00000000000000000000000000000000"), ActorID("01"), ActorID("0102"), ActorID("05"), ActorID("ff00")]"#),
        "{actors}"
    );
}

/// Two server instances on one database, each with its own pool: a token one issues the other
/// accepts, a revocation or release by one is seen by the other's next request, and failed logins
/// count up whichever instance the attempts reach.
#[test]
fn instances_share_tokens_revocations_and_failed_logins() {
    let pg = PgTest::new();
    let other = {
        let config: tokio_postgres::Config = pg.url.parse().unwrap();
        let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
        deadpool_postgres::Pool::builder(manager).max_size(2).build().unwrap()
    };
    let on_other = |f: &dyn Fn(&PgStore)| {
        let handle = pg.rt.handle().clone();
        let mut client = pg.rt.block_on(other.get()).unwrap();
        let tx = pg.rt.block_on(client.transaction()).unwrap();
        f(&PgStore::new(&tx, &handle));
        pg.rt.block_on(tx.commit()).unwrap();
    };

    pg.write(|s| {
        s.insert_branch("b1", "东湖支行").unwrap();
        s.insert_user(&user("u1", "b1", None, Role::Manager), "h").unwrap();
        s.insert_device("d1", "u1", "b1", 1).unwrap();
        s.insert_token(b"t1", "d1", "u1", 1, 1_000).unwrap();
        s.add_login_failure("u:n.u1", 10, 900).unwrap();
    });
    on_other(&|s| {
        let token = s.token(b"t1").unwrap().unwrap();
        assert_eq!((token.device_id.as_str(), token.user_id.as_str(), token.expires_at), ("d1", "u1", 1_000));
        assert_eq!(token.device_revoked_at, None);
        s.add_login_failure("u:n.u1", 20, 900).unwrap();
        s.mark_device_revoked("d1", 50).unwrap();
    });
    pg.write(|s| {
        assert_eq!(s.token(b"t1").unwrap().unwrap().device_revoked_at, Some(50));
        assert_eq!(s.login_failures("u:n.u1").unwrap().map(|f| (f.failures, f.first_at)), Some((2, 10)));
        s.clear_device_revoked("d1").unwrap();
        s.delete_device_tokens("d1").unwrap();
        s.mark_device_released("d1", 60).unwrap();
    });
    on_other(&|s| {
        assert_eq!(s.token(b"t1").unwrap(), None);
        let device = s.device("d1").unwrap().unwrap();
        assert_eq!((device.revoked_at, device.released_at), (None, Some(60)));
        s.clear_login_failures("u:n.u1").unwrap();
    });
    pg.write(|s| assert_eq!(s.login_failures("u:n.u1").unwrap(), None));
}

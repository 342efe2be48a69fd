//! The store interface's conformance, part `PhotoStore`: the same calls on the SQLite store and on
//! the PostgreSQL store give the same results.

mod common;

use common::pg::PgTest;
use common::user;
use fieldsync_server::accounts::Role;
use fieldsync_server::store::postgres::PgStore;
use fieldsync_server::store::{PhotoStore, StoreResult};

/// What a scenario saw, to compare across the stores. `setup` runs SQL without results, `read`
/// SQL whose rows are one text column each.
fn scenario<S: PhotoStore + ?Sized>(
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
    let refs = || {
        read(
            "SELECT customer_id || ' ' || hash || ' ' || manager_id FROM photo_refs
             ORDER BY customer_id, hash, manager_id",
        )
    };

    let u1 = user("u1", Role::Manager, "b1");
    let u2 = user("u2", Role::Manager, "b1");
    let u3 = user("u3", Role::Manager, "b2");
    let s1 = user("s1", Role::Supervisor, "b1");
    let a1 = user("a1", Role::Admin, "b1");
    let a2 = user("a2", Role::Admin, "b2");
    let nul = user("u1\0", Role::Manager, "b1");
    let nul_branch = user("s1", Role::Supervisor, "b1\0");
    let users = [&u1, &u2, &u3, &s1, &a1, &a2, &nul, &nul_branch];
    // Customers of both branches, in every kind of scope (a malformed one included).
    setup(
        "INSERT INTO documents (customer_id, branch_id, scope, updated_seq) VALUES
             ('c1', 'b1', 'm:u1', 1), ('c2', 'b1', 'pool', 2), ('c3', 'b2', 'm:u3', 3), ('c4', 'b1', 'm:u2', 4),
             ('c5', 'b1', 'closed', 5), ('c6', 'b1', 'm:', 6), ('c7', 'b1', 'deleted', 7), ('c8', 'b2', 'pool', 8)",
    );

    // Owners: the first to complete keeps the photo.
    store.insert_photo_owner("h1", &u1, 100, 10).unwrap();
    store.insert_photo_owner("h1", &u2, 999, 11).unwrap();
    store.insert_photo_owner("h2", &u2, 200, 12).unwrap();
    store.insert_photo_owner("h3", &u3, 300, 13).unwrap();
    store.insert_photo_owner("h4", &u1, 400, 20).unwrap();
    store.insert_photo_owner("h5", &u1, 500, 30).unwrap();
    store.insert_photo_owner("h6", &s1, 600, 40).unwrap();
    for hash in ["h1", "h2", "h9", "", "h1\0"] {
        seen.push(format!("photo_owner {hash:?} {:?}", store.photo_owner(hash).unwrap()));
    }

    // References: duplicates, a visit by someone other than the uploader, every scope.
    store.replace_photo_refs("c1", &[("h1", "u1"), ("h1", "u1"), ("h5", "u2"), ("h9", "u1")]).unwrap();
    store.replace_photo_refs("c2", &[("h2", "u2")]).unwrap();
    store.replace_photo_refs("c3", &[("h3", "u3"), ("h1", "u3")]).unwrap();
    store.replace_photo_refs("c4", &[("h1", "u1")]).unwrap();
    store.replace_photo_refs("c5", &[("h4", "u1")]).unwrap();
    store.replace_photo_refs("c6", &[("h6", "s1")]).unwrap();
    store.replace_photo_refs("c7", &[("h5", "u1")]).unwrap();
    store.replace_photo_refs("c8", &[("h3", "u3")]).unwrap();
    store.replace_photo_refs("c9", &[]).unwrap();
    seen.push(format!("refs {:?}", refs()));
    let visible = |label: &str, seen: &mut Vec<String>| {
        for u in users {
            let row: Vec<bool> = ["h1", "h2", "h3", "h4", "h5", "h6", "h9", "h1\0"]
                .iter()
                .map(|h| store.photo_visible(u, h).unwrap())
                .collect();
            seen.push(format!("{label} visible to {:?} {row:?}", (&u.id, &u.branch_id)));
        }
    };
    visible("first", &mut seen);
    // Replaced: c1 loses its references, c4's are the same again, c2 gets a second photo.
    store.replace_photo_refs("c1", &[]).unwrap();
    store.replace_photo_refs("c4", &[("h1", "u1")]).unwrap();
    store.replace_photo_refs("c2", &[("h2", "u2"), ("h1", "u1")]).unwrap();
    seen.push(format!("refs replaced {:?}", refs()));
    visible("replaced", &mut seen);
    // References holding NUL never match a stored photo or customer.
    store.replace_photo_refs("c1", &[("h1\0", "u1"), ("h1", "u1\0"), ("h5", "u1")]).unwrap();
    store.replace_photo_refs("c\0", &[("h1", "u1")]).unwrap();
    visible("nul", &mut seen);
    store.replace_photo_refs("c1", &[("h5", "u1")]).unwrap();
    store.replace_photo_refs("c\0", &[]).unwrap();
    seen.push(format!("refs again {:?}", refs()));

    // The daily quota's ledger.
    setup("INSERT INTO photos (hash, uploader_id, branch_id, bytes, completed_at) VALUES ('n1', 'neg', 'b1', -50, 5)");
    for (user_id, since, except) in [
        ("u1", 10, ""),
        ("u1", 9, ""),
        ("u1", 10, "h4"),
        ("u1", 10, "h1"),
        ("u1", 10, "h4\0"),
        ("u1", 30, ""),
        ("u1", i64::MIN, "h9"),
        ("u2", 0, "h1"),
        ("nobody", 0, ""),
        ("neg", 0, ""),
        ("u1\0", 0, ""),
    ] {
        let bytes = store.photo_bytes_completed_since(user_id, since, except).unwrap();
        seen.push(format!("completed {user_id:?} {since} {except:?} {bytes}"));
    }
    let big = user("big", Role::Manager, "b1");
    store.insert_photo_owner("g1", &big, u64::MAX, 1).unwrap();
    seen.push(format!("owner of huge {:?}", store.photo_owner("g1").unwrap()));
    seen.push(format!("one huge {:?}", store.photo_bytes_completed_since("big", 0, "").unwrap()));
    store.insert_photo_owner("g2", &big, 1, 1).unwrap();
    seen.push(format!(
        "sum past 64 bits fails {}",
        fails(&|| store.photo_bytes_completed_since("big", 0, "").map(drop))
    ));

    // Uploads in flight.
    store.upsert_photo_upload("h1", "u1", 10, 100, 1_000).unwrap();
    store.upsert_photo_upload("h2", "u1", 20, 200, 1_001).unwrap();
    store.upsert_photo_upload("h1", "u2", 5, 100, 1_002).unwrap();
    store.upsert_photo_upload("h1", "u1", 50, 120, 1_500).unwrap();
    let uploads = || {
        read(
            "SELECT user_id || ' ' || hash || ' ' || CAST(received AS TEXT) || ' ' || CAST(total AS TEXT) || ' '
                 || CAST(started_at AS TEXT) || ' ' || CAST(updated_at AS TEXT)
             FROM photo_uploads ORDER BY user_id, hash",
        )
    };
    seen.push(format!("uploads {:?}", uploads()));
    for (user_id, except) in
        [("u1", ""), ("u1", "h1"), ("u1", "h2"), ("u1", "h1\0"), ("u2", "h1"), ("nobody", ""), ("u1\0", "")]
    {
        seen.push(format!(
            "in flight {user_id:?} {except:?} {:?}",
            store.photo_uploads_in_flight(user_id, except).unwrap()
        ));
    }
    seen.push(format!("expire none {:?}", store.expire_photo_uploads(999).unwrap()));
    seen.push(format!("expire at cutoff {:?}", store.expire_photo_uploads(1_001).unwrap()));
    seen.push(format!("uploads {:?}", uploads()));
    store.delete_photo_upload("u2", "h1").unwrap();
    store.delete_photo_upload("u2", "h9").unwrap();
    store.delete_photo_upload("nobody", "h1").unwrap();
    store.delete_photo_upload("u1\0", "h1").unwrap();
    store.delete_photo_upload("u1", "h1\0").unwrap();
    seen.push(format!("uploads {:?}", uploads()));
    store.upsert_photo_upload("g1", "big", u64::MAX, u64::MAX, 2_000).unwrap();
    seen.push(format!("huge upload {:?}", store.photo_uploads_in_flight("big", "").unwrap()));
    store.upsert_photo_upload("g2", "big", 1, 1, 2_000).unwrap();
    seen.push(format!(
        "in flight past 64 bits fails {}",
        fails(&|| store.photo_uploads_in_flight("big", "").map(drop))
    ));
    seen.push(format!("expire all {:?}", store.expire_photo_uploads(i64::MAX).unwrap()));
    seen.push(format!("uploads {:?}", uploads()));
    seen
}

/// A failing reference leaves the customer's references as they were, and the caller's
/// transaction usable. `refuse_bad` installs a trigger refusing a reference to photo "bad".
fn all_or_nothing<S: PhotoStore + ?Sized>(
    store: &S,
    setup: impl Fn(&str),
    read: impl Fn(&str) -> Vec<String>,
    refuse_bad: &str,
) -> Vec<String> {
    let refs = || read("SELECT customer_id || ' ' || hash || ' ' || manager_id FROM photo_refs ORDER BY 1");
    setup("INSERT INTO documents (customer_id, branch_id, scope, updated_seq) VALUES ('c1', 'b1', 'm:u1', 1)");
    store.insert_photo_owner("h1", &user("u1", Role::Manager, "b1"), 1, 1).unwrap();
    store.replace_photo_refs("c1", &[("h1", "u1")]).unwrap();
    setup(refuse_bad);
    let failed = store.replace_photo_refs("c1", &[("h2", "u1"), ("bad", "u1")]).is_err();
    let mut seen = vec![format!("failed {failed}"), format!("kept {:?}", refs())];
    seen.push(format!("still visible {:?}", store.photo_visible(&user("u1", Role::Manager, "b1"), "h1").unwrap()));
    store.replace_photo_refs("c1", &[("h2", "u1")]).unwrap();
    seen.push(format!("then replaced {:?}", refs()));
    seen
}

#[test]
fn a_failed_replacement_changes_nothing_on_both_stores() {
    let pg = PgTest::new();
    let on_pg = pg.write(|store| {
        all_or_nothing(
            store,
            |sql| store.batch(sql).unwrap(),
            |sql| pg_read(store, sql),
            "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN IF NEW.hash = 'bad' THEN RAISE EXCEPTION 'bad'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER refuse_bad BEFORE INSERT ON photo_refs FOR EACH ROW EXECUTE FUNCTION refuse_bad()",
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let db = fieldsync_server::store::Db::open(dir.path()).unwrap();
    let on_sqlite = db.with(|conn| {
        let tx = conn.transaction().unwrap();
        let seen = all_or_nothing(
            &*tx,
            |sql| tx.execute_batch(sql).unwrap(),
            |sql| {
                let mut stmt = tx.prepare(sql).unwrap();
                stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().collect::<Result<_, _>>().unwrap()
            },
            "CREATE TEMP TRIGGER refuse_bad BEFORE INSERT ON photo_refs WHEN NEW.hash = 'bad'
                 BEGIN SELECT RAISE(ABORT, 'bad'); END",
        );
        tx.commit().unwrap();
        seen
    });
    assert_eq!(on_pg, on_sqlite);
    assert_eq!(on_sqlite, ["failed true", "kept [\"c1 h1 u1\"]", "still visible true", "then replaced [\"c1 h2 u1\"]"]);
}

fn pg_read(store: &PgStore, sql: &str) -> Vec<String> {
    store.query(sql, &[]).unwrap().iter().map(|r| r.try_get::<_, String>(0).unwrap()).collect()
}

#[test]
fn photos_behave_the_same_on_both_stores() {
    let pg = PgTest::new();
    let on_pg = pg.write(|store| scenario(store, |sql| store.batch(sql).unwrap(), |sql| pg_read(store, sql)));
    let on_sqlite = {
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
    };
    for (i, (p, s)) in on_pg.iter().zip(&on_sqlite).enumerate() {
        assert_eq!(p, s, "step {i}");
    }
    assert_eq!(on_pg, on_sqlite);

    let has = |s: &str| assert!(on_sqlite.iter().any(|x| x == s), "{s} not in {on_sqlite:#?}");
    has("photo_owner \"h1\" Some((\"u1\", \"b1\"))");
    has("photo_owner \"h9\" None");
    // u1 sees h1 through c1 (their customer); u2 sees h1 through c4 (u1's visit on u2's
    // customer); the supervisor sees h1, h2 (pool), h4 (closed), not h6 (malformed scope).
    has("first visible to (\"u1\", \"b1\") [true, false, false, false, false, false, false, false]");
    has("first visible to (\"u2\", \"b1\") [true, false, false, false, false, false, false, false]");
    has("first visible to (\"s1\", \"b1\") [true, true, false, true, false, false, false, false]");
    has("first visible to (\"a2\", \"b2\") [false, false, true, false, false, false, false, false]");
    has("replaced visible to (\"u1\", \"b1\") [false, false, false, false, false, false, false, false]");
    has("nul visible to (\"u1\", \"b1\") [false, false, false, false, true, false, false, false]");
    has(
        "refs again [\"c1 h5 u1\", \"c2 h1 u1\", \"c2 h2 u2\", \"c3 h1 u3\", \"c3 h3 u3\", \"c4 h1 u1\", \"c5 h4 u1\", \"c6 h6 s1\", \"c7 h5 u1\", \"c8 h3 u3\"]",
    );
    has("completed \"u1\" 10 \"\" 900");
    has("completed \"u1\" 10 \"h4\" 500");
    has("completed \"u1\" 10 \"h4\\0\" 900");
    has("completed \"neg\" 0 \"\" 0");
    has("one huge 9223372036854775807");
    has("sum past 64 bits fails true");
    has("uploads [\"u1 h1 50 120 1000 1500\", \"u1 h2 20 200 1001 1001\", \"u2 h1 5 100 1002 1002\"]");
    has("in flight \"u1\" \"h1\" (20, 1)");
    has("in flight \"u1\" \"h1\\0\" (70, 2)");
    has("expire at cutoff 1");
    has("in flight past 64 bits fails true");
    has("expire all 3");
}

//! The store's files on disk: encryption at rest, files that cannot be opened (moved aside, never
//! deleted), a database from a newer app, and migrating a database of the first release.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use fieldsync_core::Error;
use fieldsync_core::domain::*;
use fieldsync_core::store::{Key, Store, schema};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;

/// Personal data that must never be readable in the files of an encrypted store.
const NAME: &str = "张三丰";
const PHONE: &str = "13912345678";

fn key() -> Key {
    Key(*b"fieldsync storage test key 32 by")
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Every file of a folder, by name.
fn folder(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Names of the files in `dir` that hold the name or the phone number in plain text.
fn files_with_personal_data(dir: &Path) -> Vec<String> {
    folder(dir)
        .into_iter()
        .filter(|(_, bytes)| contains(bytes, NAME.as_bytes()) || contains(bytes, PHONE.as_bytes()))
        .map(|(name, _)| name)
        .collect()
}

/// A signed-in store holding two customers with the name and phone, and a visit.
fn store_with_personal_data(path: &Path, key: Option<&Key>) -> (Store, Vec<String>) {
    let mut store = Store::open(path, key).unwrap();
    store.sign_in(manager("M1")).unwrap();
    let mut ids = Vec::new();
    for village in ["韩桥村", "张坪村"] {
        let mut p = profile(NAME, village);
        p.phone = Some(PHONE.into());
        ids.push(store.create_customer(p, NOW).unwrap());
    }
    complete_visit(&mut store, &ids[0], NOW + HOUR, "家里种了二十亩柑橘");
    (store, ids)
}

/// Error texts name fields, IDs and paths, never personal data.
fn assert_no_personal_data(e: &Error) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(NAME) && !text.contains(PHONE), "personal data in an error: {text}");
    }
}

/// Opening fails with `Unreadable`; returns where the file was moved.
fn unreadable(opened: fieldsync_core::Result<Store>) -> PathBuf {
    match opened {
        Err(e @ Error::Unreadable { .. }) => {
            assert_no_personal_data(&e);
            let Error::Unreadable { moved_to, .. } = e else { unreachable!() };
            moved_to
        }
        Err(e) => panic!("expected Error::Unreadable, got {e:?}"),
        Ok(_) => panic!("expected Error::Unreadable, the store opened"),
    }
}

/// Opening fails with `WrongKey`; returns where the file was moved.
fn wrong_key(opened: fieldsync_core::Result<Store>) -> PathBuf {
    match opened {
        Err(e @ Error::WrongKey { .. }) => {
            assert_no_personal_data(&e);
            let Error::WrongKey { moved_to } = e else { unreachable!() };
            moved_to
        }
        Err(e) => panic!("expected Error::WrongKey, got {e:?}"),
        Ok(_) => panic!("expected Error::WrongKey, the store opened"),
    }
}

/// Opening fails with either outcome that moves the file aside (random bytes may look like an
/// encrypted database, which SQLCipher cannot tell from one with another key).
fn moved_aside(opened: fieldsync_core::Result<Store>) -> PathBuf {
    match opened {
        Err(Error::WrongKey { moved_to } | Error::Unreadable { moved_to, .. }) => moved_to,
        Err(e) => panic!("expected the file moved aside, got {e:?}"),
        Ok(_) => panic!("expected the file moved aside, the store opened"),
    }
}

/// The file at `path` is gone and `moved_to`, next to it, holds exactly `bytes`.
fn assert_moved_aside(path: &Path, moved_to: &Path, bytes: &[u8]) {
    assert!(!path.exists(), "the unreadable file is still at {}", path.display());
    assert_eq!(moved_to.parent(), path.parent());
    assert!(moved_to.file_name().unwrap().to_string_lossy().starts_with("device.db.unreadable-"), "{moved_to:?}");
    assert!(std::fs::read(moved_to).unwrap() == bytes, "the moved file's bytes changed");
}

/// Every file that was in the folder is still there, maybe under another name, byte for byte.
fn assert_nothing_deleted(before: &BTreeMap<String, Vec<u8>>, dir: &Path) {
    let after: BTreeSet<Vec<u8>> = folder(dir).into_values().collect();
    for (name, bytes) in before {
        assert!(after.contains(bytes), "{name} was deleted or changed");
    }
}

// ---------------------------------------------------------------------------------------------
// Encryption at rest
// ---------------------------------------------------------------------------------------------

#[test]
fn without_a_key_the_personal_data_is_readable_on_disk() {
    // The control for the next test: the scan does find plaintext when there is some.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (store, _) = store_with_personal_data(&path, None);
    assert!(std::fs::metadata(sidecar(&path, "-wal")).unwrap().len() > 0);
    assert!(!files_with_personal_data(dir.path()).is_empty());
    drop(store);
    assert_eq!(files_with_personal_data(dir.path()), vec!["device.db".to_string()]);
}

#[test]
fn with_a_key_no_personal_data_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (store, ids) = store_with_personal_data(&path, Some(&key()));
    // Open, with the writes in the WAL, and closed, with them checkpointed into the database.
    assert!(std::fs::metadata(sidecar(&path, "-wal")).unwrap().len() > 0, "the WAL holds the writes");
    let files = folder(dir.path());
    assert!(
        files.contains_key("device.db") && files.contains_key("device.db-wal") && files.contains_key("device.db-shm")
    );
    assert_eq!(files_with_personal_data(dir.path()), Vec::<String>::new());
    drop(store);
    assert_eq!(files_with_personal_data(dir.path()), Vec::<String>::new());

    let mut store = Store::open(&path, Some(&key())).unwrap();
    let view = store.customer_360(&ids[0]).unwrap();
    assert_eq!(view.file.profile.name, NAME);
    assert_eq!(view.file.profile.phone.as_deref(), Some(PHONE));
    assert_eq!(view.visits.len(), 1);
    assert_eq!(view.visits[0].notes, "家里种了二十亩柑橘");
    assert_eq!(store.customer_ids().unwrap().len(), 2);
}

#[test]
fn a_wrong_key_is_told_apart_moves_the_file_aside_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (store, ids) = store_with_personal_data(&path, Some(&key()));
    drop(store);
    let before = folder(dir.path());
    let original = std::fs::read(&path).unwrap();

    let moved_to = wrong_key(Store::open(&path, Some(&Key([7; 32]))));
    assert_moved_aside(&path, &moved_to, &original);
    assert_nothing_deleted(&before, dir.path());

    let mut store = Store::open(&moved_to, Some(&key())).unwrap();
    assert_eq!(store.customer_file(&ids[1]).unwrap().profile.phone.as_deref(), Some(PHONE));
}

#[test]
fn a_missing_or_unneeded_key_is_a_wrong_key_and_foreign_bytes_are_not() {
    let dir = tempfile::tempdir().unwrap();
    // An encrypted store opened without its key.
    let path = dir.path().join("encrypted.db");
    let (store, ids) = store_with_personal_data(&path, Some(&key()));
    drop(store);
    let moved_to = wrong_key(Store::open(&path, None));
    let mut store = Store::open(&moved_to, Some(&key())).unwrap();
    assert_eq!(store.customer_file(&ids[0]).unwrap().id, ids[0]);
    // A store without encryption opened with a key.
    let path = dir.path().join("plain.db");
    let (store, _) = store_with_personal_data(&path, None);
    drop(store);
    let moved_to = wrong_key(Store::open(&path, Some(&key())));
    assert!(Store::open(&moved_to, None).is_ok());
    // Bytes no database could be (not whole pages), opened without a key, are foreign.
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "购物清单：大米、油".repeat(100)).unwrap();
    unreadable(Store::open(&path, None));
}

#[test]
fn a_wrong_key_on_a_store_with_a_hot_wal_moves_the_wal_too() {
    // As after a crash: the database and a WAL holding the latest writes, no shared-memory index.
    let dir = tempfile::tempdir().unwrap();
    let live = tempfile::tempdir().unwrap();
    let (store, ids) = store_with_personal_data(&live.path().join("device.db"), Some(&key()));
    let path = dir.path().join("device.db");
    std::fs::copy(live.path().join("device.db"), &path).unwrap();
    std::fs::copy(live.path().join("device.db-wal"), sidecar(&path, "-wal")).unwrap();
    drop(store);
    let before = folder(dir.path());

    let moved_to = wrong_key(Store::open(&path, Some(&Key([7; 32]))));
    assert_moved_aside(&path, &moved_to, &before["device.db"]);
    assert!(!sidecar(&path, "-wal").exists());
    assert!(std::fs::read(sidecar(&moved_to, "-wal")).unwrap() == before["device.db-wal"]);
    assert_nothing_deleted(&before, dir.path());

    // The moved database with its WAL is whole: the right key recovers every write.
    let mut store = Store::open(&moved_to, Some(&key())).unwrap();
    assert_eq!(store.customer_360(&ids[0]).unwrap().visits.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Damaged, foreign and newer files
// ---------------------------------------------------------------------------------------------

/// A closed store of many pages, checkpointed (no WAL left), and its bytes.
fn closed_store(path: &Path, key: Option<&Key>) -> Vec<u8> {
    let mut store = Store::open(path, key).unwrap();
    store.sign_in(manager("M1")).unwrap();
    for i in 0..40 {
        let id = store.create_customer(profile(&format!("客户{i}"), "韩桥村"), NOW).unwrap();
        complete_visit(&mut store, &id, NOW + HOUR, &"收入来自柑橘种植。".repeat(20));
    }
    drop(store);
    assert!(!sidecar(path, "-wal").exists(), "closing checkpoints and removes the WAL");
    std::fs::read(path).unwrap()
}

#[test]
fn a_truncated_database_is_moved_aside() {
    for key in [None, Some(key())] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let bytes = closed_store(&path, key.as_ref());
        let page = 4096;
        assert!(bytes.len().is_multiple_of(page) && bytes.len() >= 8 * page, "{} bytes", bytes.len());
        // Half of it on a page boundary (pages missing at the end), and a length no page size divides.
        for len in [bytes.len() / 2 / page * page, bytes.len() / 2 + 123] {
            let cut = &bytes[..len];
            std::fs::write(&path, cut).unwrap();
            let moved_to = unreadable(Store::open(&path, key.as_ref()));
            assert_moved_aside(&path, &moved_to, cut);
        }
    }
}

#[test]
fn another_apps_sqlite_database_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT);
         CREATE INDEX notes_title ON notes (title);
         INSERT INTO notes (title, body) VALUES ('shopping', 'rice, oil'), ('todo', 'call the bank');",
    )
    .unwrap();
    drop(conn);
    let bytes = std::fs::read(&path).unwrap();

    let moved_to = unreadable(Store::open(&path, None));
    assert_moved_aside(&path, &moved_to, &bytes);
    let conn = Connection::open(&moved_to).unwrap();
    let notes: i64 = conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)).unwrap();
    assert_eq!(notes, 2);
}

#[test]
fn a_garbage_file_is_moved_aside() {
    let seed: u64 =
        std::env::var("FIELDSYNC_GARBAGE_SEED").map(|s| s.parse().unwrap()).unwrap_or_else(|_| rand::random());
    eprintln!("garbage seed {seed}; replay with FIELDSYNC_GARBAGE_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for (len, key) in [(10_000, None), (3 * 4096, None), (3 * 4096, Some(key())), (57, None)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        std::fs::write(&path, &bytes).unwrap();
        let moved_to = moved_aside(Store::open(&path, key.as_ref()));
        assert_moved_aside(&path, &moved_to, &bytes);
    }
}

#[test]
fn unreadable_files_in_a_row_are_all_kept() {
    // The app may open the same path again at once (e.g. with a wrong key and then a damaged
    // file): the second file moved aside must not replace the first.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut moved = BTreeMap::new();
    for i in 0..5u8 {
        let bytes = vec![i; 4096];
        std::fs::write(&path, &bytes).unwrap();
        let moved_to = moved_aside(Store::open(&path, None));
        assert_moved_aside(&path, &moved_to, &bytes);
        moved.insert(moved_to, bytes);
    }
    assert_eq!(moved.len(), 5, "two files were moved to the same name");
    for (moved_to, bytes) in &moved {
        assert!(std::fs::read(moved_to).unwrap() == *bytes, "{} was overwritten", moved_to.display());
    }
}

#[test]
fn an_empty_file_opens_as_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    std::fs::write(&path, b"").unwrap();
    let mut store = Store::open(&path, Some(&key())).unwrap();
    store.sign_in(manager("M1")).unwrap();
    let id = store.create_customer(profile("杨桂敏", "韩桥村"), NOW).unwrap();
    drop(store);
    assert_eq!(folder(dir.path()).into_keys().collect::<Vec<_>>(), vec!["device.db".to_string()]);
    let mut store = Store::open(&path, Some(&key())).unwrap();
    assert_eq!(store.customer_file(&id).unwrap().profile.name, "杨桂敏");
}

#[test]
fn a_database_from_a_newer_app_is_refused_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    closed_store(&path, None);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", schema::LATEST + 1).unwrap();
    drop(conn);
    let bytes = std::fs::read(&path).unwrap();

    match Store::open(&path, None) {
        Err(e @ Error::NewerDatabase { .. }) => {
            assert_no_personal_data(&e);
            let Error::NewerDatabase { found, supported } = e else { unreachable!() };
            assert_eq!((found, supported), (schema::LATEST + 1, schema::LATEST));
        }
        Err(e) => panic!("expected Error::NewerDatabase, got {e:?}"),
        Ok(_) => panic!("expected Error::NewerDatabase, the store opened"),
    }
    assert!(std::fs::read(&path).unwrap() == bytes, "the newer database was changed");
    assert_eq!(folder(dir.path()).into_keys().collect::<Vec<_>>(), vec!["device.db".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

/// The schema as comparable lines: every `sqlite_master` entry (its SQL with whitespace
/// collapsed), every table's columns, and every index with its key columns, sorted by name.
fn schema_of(conn: &Connection) -> Vec<String> {
    // Rows of a query as text lines, whatever the column types.
    let rows = |sql: &str, args: &[&str]| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map(rusqlite::params_from_iter(args), |r| {
            let values: Vec<String> = (0..n)
                .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                .collect::<Result<_, _>>()?;
            Ok(values.join(" "))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let names = |sql: &str, args: &[&str]| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let mut out = Vec::new();
    // Every entry with its SQL, whitespace collapsed (sqlite_master keeps it as written).
    let mut stmt = conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").unwrap();
    let entries = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
    });
    for entry in entries.unwrap() {
        let (kind, name, table, sql) = entry.unwrap();
        let sql = sql.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
        out.push(format!("{kind} {name} on {table}: {sql:?}"));
    }
    for table in names("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", &[]) {
        out.push(format!("table {table}"));
        for column in rows("SELECT * FROM pragma_table_info(?1) ORDER BY cid", &[&table]) {
            out.push(format!("  column {column}"));
        }
        // By name, leaving out index_list's `seq`, which follows creation order.
        for index in names("SELECT name FROM pragma_index_list(?1) ORDER BY name", &[&table]) {
            for row in rows(
                "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) WHERE name = ?2",
                &[&table, &index],
            ) {
                out.push(format!("  index {row}"));
            }
            for key in rows("SELECT * FROM pragma_index_xinfo(?1) ORDER BY seqno", &[&index]) {
                out.push(format!("    key {key}"));
            }
        }
    }
    out
}

fn pragma(conn: &Connection, name: &str) -> i64 {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap()
}

/// Builds a database at user_version 1 exactly as the first release created it, holding the
/// documents, metadata and v1 projections of `donor` (a store written by the current code).
///
/// Copying rows into a schema made from `v1.sql` (rather than dropping the v2 objects from a
/// current store) keeps the test honest if a later migration ever alters a v1 table: the old
/// schema comes from the old file, not from undoing the new one. The v1 tables are copied whole,
/// by their v1 columns; the documents are the same bytes either way, and the v1 projection code
/// wrote these tables exactly as today's does.
fn first_release_database(path: &Path, key: Option<&Key>, donor: &Path) {
    let conn = Connection::open(path).unwrap();
    if let Some(key) = key {
        let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
        conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";")).unwrap();
    }
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(include_str!("../src/store/schema/v1.sql")).unwrap();
    conn.pragma_update(None, "application_id", schema::APPLICATION_ID).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();

    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tables, ["customers", "doc_chunks", "documents", "leads", "meta", "visits"]);
    let columns: Vec<String> = tables
        .iter()
        .map(|table| {
            let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid").unwrap();
            let names: Vec<String> = stmt.query_map([table], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            names.join(", ")
        })
        .collect();

    // The donor is not encrypted: an empty key says so to SQLCipher.
    conn.execute("ATTACH DATABASE ?1 AS donor KEY ''", [donor.to_str().unwrap()]).unwrap();
    for (table, columns) in tables.iter().zip(&columns) {
        let copied = conn
            .execute(&format!("INSERT INTO main.{table} ({columns}) SELECT {columns} FROM donor.{table}"), [])
            .unwrap();
        assert!(copied > 0, "nothing to copy in {table}");
    }
    conn.execute_batch("DETACH DATABASE donor;").unwrap();
}

#[test]
fn a_first_release_database_migrates_to_the_current_schema_with_its_data() {
    for key in [None, Some(key())] {
        let dir = tempfile::tempdir().unwrap();

        // The data, written by the current code through the public API.
        let donor_path = dir.path().join("donor.db");
        let mut donor = Store::open(&donor_path, None).unwrap();
        donor.sign_in(manager("M1")).unwrap();
        let mut open_reminders = BTreeSet::new();
        for i in 0..12i64 {
            let id =
                donor.create_customer(profile(&format!("客户{i}"), ["韩桥村", "张坪村"][i as usize % 2]), NOW).unwrap();
            for (n, kind) in [ReminderKind::Maturity, ReminderKind::Birthday].into_iter().enumerate() {
                let reminder = Reminder {
                    id: fieldsync_core::ids::new_id(),
                    kind,
                    due_at: NOW + (i - 3) * DAY + n as i64 * HOUR,
                    note: "提醒".into(),
                    done_at: None,
                };
                let reminder_id = reminder.id.clone();
                donor.apply(&id, &Action::AddReminder { reminder }, NOW).unwrap();
                if i % 4 == 0 && n == 0 {
                    donor.apply(&id, &Action::CompleteReminder { reminder_id }, NOW).unwrap();
                } else {
                    open_reminders.insert(reminder_id);
                }
            }
            if i % 3 == 0 {
                complete_visit(&mut donor, &id, NOW + i * HOUR, "回访");
            }
            if i % 2 == 1 {
                let lead = NewLead {
                    id: fieldsync_core::ids::new_id(),
                    product: Product::Wealth,
                    amount_fen: 5_000_000 + i,
                    source: LeadSource::Referral,
                    expected_close: Some(NOW + 30 * DAY),
                    probability: None,
                    visit_id: None,
                    notes: String::new(),
                    catalog_id: None,
                };
                donor.apply(&id, &Action::AddLead { lead }, NOW).unwrap();
            }
        }
        let ids = donor.customer_ids().unwrap();
        let files: Vec<CustomerFile> = ids.iter().map(|id| donor.customer_file(id).unwrap()).collect();
        let projections = donor.projection_dump().unwrap();
        let actor = donor.actor().clone();
        let user = donor.user().cloned();
        assert!(projections.iter().any(|row| row.starts_with("reminders: ")));
        drop(donor);

        let path = dir.path().join("device.db");
        first_release_database(&path, key.as_ref(), &donor_path);
        let mut store = Store::open(&path, key.as_ref()).unwrap();
        let fresh = Store::open(dir.path().join("fresh.db"), key.as_ref()).unwrap();

        let (migrated, new) = (store.connection(), fresh.connection());
        assert_eq!(pragma(migrated, "user_version"), i64::from(schema::LATEST));
        assert_eq!(pragma(migrated, "application_id"), i64::from(schema::APPLICATION_ID));
        assert_eq!(pragma(new, "user_version"), i64::from(schema::LATEST));
        assert_eq!(schema_of(migrated), schema_of(new));
        let integrity: String = migrated.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok");

        // The data: documents, identity, and every projection, the reminders rebuilt from the documents.
        assert_eq!(store.actor(), &actor);
        assert_eq!(store.user().cloned(), user);
        assert_eq!(store.customer_ids().unwrap(), ids);
        for (id, file) in ids.iter().zip(&files) {
            assert_eq!(&store.customer_file(id).unwrap(), file);
        }
        assert_eq!(store.projection_dump().unwrap(), projections);
        let upcoming = store.upcoming_reminders(NOW + 365 * DAY, 100, None).unwrap();
        assert!(upcoming.next.is_none());
        let upcoming_ids: BTreeSet<String> = upcoming.items.iter().map(|r| r.reminder_id.clone()).collect();
        assert_eq!(upcoming_ids, open_reminders);
        assert!(upcoming.items.windows(2).all(|w| w[0].due_at <= w[1].due_at));
        assert!(upcoming.items.iter().all(|r| r.customer_name.starts_with("客户")));

        // Opening again migrates nothing more, and the migrated store takes new writes.
        drop(store);
        let mut store = Store::open(&path, key.as_ref()).unwrap();
        assert_eq!(store.projection_dump().unwrap(), projections);
        let visit = complete_visit(&mut store, &ids[1], NOW + DAY, "迁移后的走访");
        assert!(store.customer_file(&ids[1]).unwrap().visits.contains_key(&visit));
    }
}

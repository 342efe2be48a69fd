//! The server's store encrypted at rest (`--key-file`, SQLCipher as on the tablets): a synced
//! customer's phone and ID number appear nowhere in the data folder's files; the wrong key, or
//! none, opens nothing; a backup of the encrypted store restores with the key only.

use fieldsync_core::domain::{CustomerKind, Profile};
use fieldsync_server::store::{Db, StoreKey};
use fieldsync_tests::{Setup, TestServer, device, now_ms, sync};

const PHONE: &str = "13912345678";
const ID_NUMBER: &str = "11010519491231002X";

fn files_hold(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            found.push(entry.display().to_string());
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn a_keyed_store_holds_no_plaintext_and_opens_with_its_key_only() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("store.key");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).unwrap();
    let setup = Setup { key_file: Some(key_file.clone()), ..Setup::default() };
    let (server, _branch) = TestServer::start_with(setup);
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut profile = Profile::new(CustomerKind::Individual, "邹运兰", "韩桥村");
    profile.phone = Some(PHONE.into());
    profile.id_number = Some(ID_NUMBER.into());
    let customer = m1.store().create_customer(profile.clone(), now_ms()).unwrap();
    sync(&mut m1).unwrap();

    // The same on a plain store: the phone is in its files (the check below can tell).
    let (plain, _) = TestServer::start();
    let mut other = device(dir.path(), "other", &plain.url(), "m1");
    other.store().create_customer(profile, now_ms()).unwrap();
    sync(&mut other).unwrap();
    assert!(!files_hold(plain.data.path(), PHONE.as_bytes()).is_empty(), "a plain store holds the phone");
    drop(plain);
    let held: i64 = server
        .db()
        .query_row("SELECT count(*) FROM documents WHERE customer_id = ?1", [&customer], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 1, "the server has it");

    // A second tablet receives it whole: the server reads its own store.
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().customer_file(&customer).unwrap().profile.phone.as_deref(), Some(PHONE));

    let data = server.data.path().to_path_buf();
    let backup = dir.path().join("branch.fsbackup");
    let key = StoreKey::from_file(&key_file).unwrap();
    fieldsync_server::backup::backup(&data, &backup, now_ms(), Some(&key)).unwrap();
    // Nothing personal in the data folder's files (the store, its WAL, the photos) or the backup.
    for needle in [PHONE, ID_NUMBER, "11010519491231"] {
        assert_eq!(files_hold(&data, needle.as_bytes()), Vec::<String>::new(), "{needle}");
        assert!(files_hold(dir.path(), needle.as_bytes()).iter().all(|f| !f.ends_with(".fsbackup")));
    }
    let stop = server.data.path().to_path_buf();
    drop(server);

    // Without the key, or with another, the store does not open; with it, it does.
    assert!(Db::open(&stop).is_err(), "no key");
    let wrong = StoreKey::from_hex(&"a5".repeat(32)).unwrap();
    assert!(Db::open_keyed(&stop, Some(&wrong)).is_err(), "the wrong key");

    // The backup restores with the key only.
    let restored = tempfile::tempdir().unwrap();
    assert!(fieldsync_server::backup::restore(&backup, &restored.path().join("a"), None).is_err());
    assert!(fieldsync_server::backup::restore(&backup, &restored.path().join("b"), Some(&wrong)).is_err());
    assert!(!restored.path().join("a").exists() && !restored.path().join("b").exists(), "nothing left behind");
    fieldsync_server::backup::restore(&backup, &restored.path().join("c"), Some(&key)).unwrap();
    let db = Db::open_keyed(&restored.path().join("c"), Some(&key)).unwrap();
    let doc = db.with(|c| fieldsync_server::customers::load(c, &customer, &automerge::ActorId::random())).unwrap();
    assert_eq!(doc.unwrap().file().profile.id_number.as_deref(), Some(ID_NUMBER));
}

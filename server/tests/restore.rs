//! `restore` given hostile or damaged backup files: each is refused with a clear error before
//! anything takes the data folder's place; nothing is created at the target, no staging folder is
//! left behind, and nothing is written outside it.

use std::path::{Path, PathBuf};

use fieldsync_server::backup::{self, BackupError, Manifest};
use fieldsync_server::store::Db;

const NOW: i64 = 1_780_000_000_000;

/// A real backup of a seeded store, and its entries as (name, bytes).
fn good_backup(dir: &Path) -> (PathBuf, Vec<(String, Vec<u8>)>) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = Db::open(&data).unwrap();
    fieldsync_server::demo::seed(&db, 3, NOW).unwrap();
    drop(db);
    let file = dir.join("good.fsbackup");
    backup::backup(&data, &file, NOW, None).unwrap();
    let decoder = zstd::Decoder::new(std::fs::File::open(&file).unwrap()).unwrap();
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            (name, bytes)
        })
        .collect();
    (file, entries)
}

/// One entry of a crafted archive: its raw name (written into the header as is, so names the
/// tar crate would refuse to write can be tested), its type and bytes.
struct Crafted {
    name: String,
    kind: tar::EntryType,
    link: Option<&'static str>,
    bytes: Vec<u8>,
}

fn plain(name: &str, bytes: &[u8]) -> Crafted {
    Crafted { name: name.into(), kind: tar::EntryType::Regular, link: None, bytes: bytes.to_vec() }
}

fn write_archive(path: &Path, entries: &[Crafted]) {
    let encoder = zstd::Encoder::new(std::fs::File::create(path).unwrap(), 3).unwrap();
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        let mut header = tar::Header::new_old();
        let name = entry.name.as_bytes();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(entry.kind);
        header.set_mode(0o644);
        header.set_size(entry.bytes.len() as u64);
        if let Some(link) = entry.link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, entry.bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

fn manifest_of(entries: &[(String, Vec<u8>)]) -> Manifest {
    let (_, bytes) = entries.iter().find(|(n, _)| n == "MANIFEST.json").unwrap();
    serde_json::from_slice(bytes).unwrap()
}

fn store_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    entries.iter().find(|(n, _)| n == "server.db").unwrap().1.clone()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Nothing at the target, no staging folder beside it, nothing escaped next to it.
fn nothing_left(dir: &Path, target: &Path) {
    assert!(!target.exists(), "the target was created");
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(!names.iter().any(|n| n.contains("restoring")), "a staging folder was left: {names:?}");
    assert!(!names.iter().any(|n| n.contains("escaped")), "an entry escaped the folder: {names:?}");
}

#[test]
fn hostile_and_damaged_backups_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (good, entries) = good_backup(dir.path());
    let manifest = manifest_of(&entries);
    let store = store_of(&entries);
    let manifest_json = serde_json::to_vec(&manifest).unwrap();
    let photo = "ab".repeat(32);
    let with_photo = |hash: &str| {
        let mut m = manifest_of(&entries);
        m.photos.push(hash.to_string());
        serde_json::to_vec(&m).unwrap()
    };
    let mut damaged_store = store.clone();
    let middle = damaged_store.len() / 2;
    damaged_store[middle] ^= 0xff;
    let mut other_format = manifest_of(&entries);
    other_format.format = "fieldsync-backup/99".into();
    let link = |name: &str, kind, to| Crafted { name: name.into(), kind, link: Some(to), bytes: Vec::new() };

    let cases: Vec<(&str, Vec<Crafted>)> = vec![
        (
            "a name that climbs out",
            vec![plain("MANIFEST.json", &manifest_json), plain("server.db", &store), plain("../escaped", b"x")],
        ),
        (
            "an absolute name",
            vec![plain("/tmp/escaped", b"x"), plain("MANIFEST.json", &manifest_json), plain("server.db", &store)],
        ),
        ("a photo path that climbs out", vec![plain(&format!("photos/ab/../../../escaped{}", &photo[..8]), b"x")]),
        (
            "a symbolic link as the store",
            vec![plain("MANIFEST.json", &manifest_json), link("server.db", tar::EntryType::Symlink, "/etc/passwd")],
        ),
        (
            "a hard link as the store",
            vec![plain("MANIFEST.json", &manifest_json), link("server.db", tar::EntryType::Link, "/etc/passwd")],
        ),
        (
            "a folder entry",
            vec![Crafted { name: "photos/ab".into(), kind: tar::EntryType::Directory, link: None, bytes: Vec::new() }],
        ),
        (
            "an unexpected file",
            vec![plain("MANIFEST.json", &manifest_json), plain("server.db", &store), plain("server.db-wal", b"x")],
        ),
        ("no manifest", vec![plain("server.db", &store)]),
        ("no store", vec![plain("MANIFEST.json", &manifest_json)]),
        ("a manifest that is not JSON", vec![plain("MANIFEST.json", b"{not json"), plain("server.db", &store)]),
        (
            "another format",
            vec![plain("MANIFEST.json", &serde_json::to_vec(&other_format).unwrap()), plain("server.db", &store)],
        ),
        ("a damaged store", vec![plain("MANIFEST.json", &manifest_json), plain("server.db", &damaged_store)]),
        (
            "a photo that does not match its name",
            vec![
                plain("MANIFEST.json", &with_photo(&photo)),
                plain("server.db", &store),
                plain(&format!("photos/ab/{photo}"), b"not that photo"),
            ],
        ),
        (
            "a photo the manifest names, missing",
            vec![plain("MANIFEST.json", &with_photo(&photo)), plain("server.db", &store)],
        ),
        (
            "a photo the manifest does not name",
            vec![
                plain("MANIFEST.json", &manifest_json),
                plain("server.db", &store),
                plain(&format!("photos/{}/{}", &sha256_hex(b"p")[..2], sha256_hex(b"p")), b"p"),
            ],
        ),
        (
            "a file that is not a fieldsync store",
            vec![
                plain("MANIFEST.json", &{
                    let mut m = manifest_of(&entries);
                    m.db_sha256 = sha256_hex(b"SQLite format 3\0 but not really");
                    m.db_bytes = 31;
                    serde_json::to_vec(&m).unwrap()
                }),
                plain("server.db", b"SQLite format 3\0 but not really"),
            ],
        ),
    ];
    for (i, (case, crafted)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case{i}.fsbackup"));
        write_archive(&file, crafted);
        let target = dir.path().join(format!("target{i}"));
        let err = backup::restore(&file, &target, None).expect_err(case);
        assert!(matches!(err, BackupError::Damaged(_) | BackupError::Open(_)), "{case}: {err:?}");
        assert!(!err.to_string().is_empty());
        nothing_left(dir.path(), &target);
    }

    // Damaged containers: cut short, not compressed, empty.
    let bytes = std::fs::read(&good).unwrap();
    for (case, body) in
        [("cut short", &bytes[..bytes.len() / 2]), ("not zstd", &b"MANIFEST.json"[..]), ("empty", &[][..])]
    {
        let file = dir.path().join("damaged.fsbackup");
        std::fs::write(&file, body).unwrap();
        let target = dir.path().join("damaged-target");
        let err = backup::restore(&file, &target, None).expect_err(case);
        assert!(matches!(err, BackupError::Damaged(_)), "{case}: {err:?}");
        nothing_left(dir.path(), &target);
    }

    // The real file restores (the cases above fail for their damage, not for the test's way of
    // writing archives: the same writer makes a good copy).
    let rewritten = dir.path().join("rewritten.fsbackup");
    let whole: Vec<Crafted> = entries.iter().map(|(n, b)| plain(n, b)).collect();
    write_archive(&rewritten, &whole);
    let report = backup::restore(&rewritten, &dir.path().join("restored"), None).unwrap();
    assert_eq!(report.photos, manifest.photos.len());
    assert!(Db::open(&dir.path().join("restored")).is_ok());
}

//! The first opening of a customer received whole in a sync (stored as the server's bytes and
//! rows, parsed on first use) is killed at every fsync it makes, and every list is still correct
//! afterwards; uninterrupted, it costs one fsync.
//!
//! This test binary defines `fsync` and `fdatasync` itself: the SQLite linked into it calls them,
//! they count each call and pass it on to the C library. A child process (this binary again,
//! `child_first_open`) opens the customer with `FIELDSYNC_FSYNC_KILL_AT=n` and sends itself
//! SIGKILL on its n-th fsync, before that fsync runs; the parent then checks the database.
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use fieldsync_core::document::CustomerDoc;
use fieldsync_core::domain::*;
use fieldsync_core::store::{CustomerFilter, Rows, Store, SyncBatch};
use fieldsync_core::sync::protocol::{Snapshot, SyncResponse};

const ENV_DB: &str = "FIELDSYNC_FIRST_OPEN_DB";
const ENV_ID: &str = "FIELDSYNC_FIRST_OPEN_ID";
const ENV_KILL_AT: &str = "FIELDSYNC_FSYNC_KILL_AT";
/// Set: the child makes one small commit instead (what one durable commit costs in fsyncs).
const ENV_BASELINE: &str = "FIELDSYNC_FIRST_OPEN_BASELINE";

/// Counting starts when the child begins the first opening.
static ARMED: AtomicBool = AtomicBool::new(false);
static FSYNCS: AtomicUsize = AtomicUsize::new(0);
static KILL_AT: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn getpid() -> c_int;
}

/// glibc's `RTLD_NEXT`: the next definition after this binary's, i.e. the C library's.
const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

fn before_sync() {
    if !ARMED.load(Ordering::SeqCst) {
        return;
    }
    let n = FSYNCS.fetch_add(1, Ordering::SeqCst) + 1;
    if n == KILL_AT.load(Ordering::SeqCst) {
        // SAFETY: plain libc calls; SIGKILL ends the process before the fsync runs.
        unsafe {
            kill(getpid(), 9);
        }
        loop {
            std::thread::park();
        }
    }
}

fn real(name: &'static [u8]) -> unsafe extern "C" fn(c_int) -> c_int {
    // SAFETY: `name` is NUL-terminated and names a libc function with this signature.
    unsafe {
        let f = dlsym(RTLD_NEXT, name.as_ptr().cast());
        assert!(!f.is_null(), "no C library {name:?}");
        std::mem::transmute::<*mut c_void, unsafe extern "C" fn(c_int) -> c_int>(f)
    }
}

/// # Safety
/// Called by SQLite (and std) as the C library's `fsync`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    before_sync();
    // SAFETY: forwards to the C library's fsync.
    unsafe { real(b"fsync\0")(fd) }
}

/// # Safety
/// Called by SQLite as the C library's `fdatasync`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    before_sync();
    // SAFETY: forwards to the C library's fdatasync.
    unsafe { real(b"fdatasync\0")(fd) }
}

/// The child: opens the received customer for the first time, then reports how many fsyncs it
/// took (unless killed on one of them).
#[test]
#[ignore = "the child process of first_open_survives_a_kill_at_every_fsync; does nothing on its own"]
fn child_first_open() {
    let Some(db) = std::env::var_os(ENV_DB) else { return };
    let id = std::env::var(ENV_ID).unwrap();
    KILL_AT.store(std::env::var(ENV_KILL_AT).map_or(0, |n| n.parse().unwrap()), Ordering::SeqCst);
    let mut store = Store::open(&db, None).unwrap();
    ARMED.store(true, Ordering::SeqCst);
    if std::env::var_os(ENV_BASELINE).is_some() {
        store.set_setting("baseline", "1").unwrap();
    } else {
        let file = store.customer_file(&id).unwrap();
        assert_eq!(file.id, id);
    }
    ARMED.store(false, Ordering::SeqCst);
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nFSYNCS {}", FSYNCS.load(Ordering::SeqCst)).unwrap();
    out.flush().unwrap();
}

/// Two customers received in a first sync: their bytes and the server's rows, unparsed.
fn received(db: &Path) -> (String, Vec<String>) {
    let (_dir, mut author) = store("M1");
    let mut ids = Vec::new();
    for (name, village) in [("杨桂敏", "韩桥村"), ("李四", "张坪村")] {
        let id = author.create_customer(profile(name, village), NOW).unwrap();
        complete_visit(&mut author, &id, NOW - DAY, "走访");
        let lead = NewLead {
            id: fieldsync_core::ids::new_id(),
            product: Product::Loan,
            amount_fen: 5_000_000,
            source: LeadSource::Visit,
            expected_close: Some(NOW + 30 * DAY),
            probability: None,
            visit_id: None,
            notes: String::new(),
            catalog_id: None,
        };
        author.apply(&id, &Action::AddLead { lead }, NOW).unwrap();
        let reminder = Reminder {
            id: fieldsync_core::ids::new_id(),
            kind: ReminderKind::Maturity,
            due_at: NOW + 3 * DAY,
            note: String::new(),
            done_at: None,
        };
        author.apply(&id, &Action::AddReminder { reminder }, NOW).unwrap();
        ids.push(id);
    }
    let snapshots = ids
        .iter()
        .map(|id| {
            let mut doc = CustomerDoc::load(id, &author.document_changes(id).unwrap(), author.actor()).unwrap();
            Snapshot { customer_id: id.clone(), document: doc.save_uncompressed(), rows: Rows::of(doc.file()) }
        })
        .collect();
    let mut tablet = Store::open(db, None).unwrap();
    tablet.sign_in(manager("M1")).unwrap();
    let response = SyncResponse { cursor: 7, snapshots, ..Default::default() };
    tablet.apply_sync_response(&SyncBatch::default(), response, &mut HashMap::new(), NOW).unwrap();
    (ids[0].clone(), ids)
}

/// What every list shows.
fn lists(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let customers = store.customers(&CustomerFilter::default(), 100, None).expect("the customer list works");
    out.extend(customers.items.iter().map(|c| format!("{c:?}")));
    for village in ["韩桥村", "张坪村"] {
        let filter = CustomerFilter { village: Some(village.into()), ..Default::default() };
        let page = store.customers(&filter, 100, None).expect("a village's list works");
        out.extend(page.items.iter().map(|c| format!("{village}: {c:?}")));
    }
    let leads = store.open_leads(None, 100, None).expect("the leads list works");
    out.extend(leads.items.iter().map(|l| format!("{l:?}")));
    let reminders = store.upcoming_reminders(NOW + 30 * DAY, 100, None).expect("the reminders list works");
    out.extend(reminders.items.iter().map(|r| format!("{r:?}")));
    let overdue = store.overdue_follow_ups(NOW + 30 * DAY, 100, None).expect("the follow-ups list works");
    out.extend(overdue.items.iter().map(|c| format!("overdue {c:?}")));
    out.extend(store.funnel().expect("the funnel works").iter().map(|f| format!("{f:?}")));
    out.extend(store.todays_plan(NOW - 2 * DAY, NOW + DAY).expect("the plan works").iter().map(|v| format!("{v:?}")));
    out
}

#[test]
fn first_open_survives_a_kill_at_every_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.db");
    let (id, ids) = received(&template);
    let (expected_lists, expected_dump) = {
        let store = Store::open(&template, None).unwrap();
        (lists(&store), store.projection_dump().unwrap())
    };
    assert_eq!(store_ids(&template), {
        let mut ids = ids.clone();
        ids.sort();
        ids
    });
    assert!(expected_lists.len() > 8, "{expected_lists:?}");

    let exe = std::env::current_exe().unwrap();
    // One durable commit on the same database, as a measure: creating the WAL and committing
    // to it may take more than one fsync call.
    let baseline = {
        let db = dir.path().join("baseline.db");
        std::fs::copy(&template, &db).unwrap();
        let output = Command::new(&exe)
            .args(["--exact", "child_first_open", "--ignored", "--nocapture", "-q"])
            .env(ENV_DB, &db)
            .env(ENV_ID, &id)
            .env(ENV_BASELINE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout.lines().find_map(|l| l.strip_prefix("FSYNCS ")).map(|n| n.parse::<usize>().unwrap()).unwrap()
    };
    assert!(baseline >= 1);
    let mut killed = 0;
    for kill_at in 1.. {
        let db = dir.path().join(format!("round-{kill_at}.db"));
        std::fs::copy(&template, &db).unwrap();
        let output = Command::new(&exe)
            .args(["--exact", "child_first_open", "--ignored", "--nocapture", "-q"])
            .env(ENV_DB, &db)
            .env(ENV_ID, &id)
            .env(ENV_KILL_AT, kill_at.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let finished = stdout.lines().find_map(|l| l.strip_prefix("FSYNCS ")).map(|n| n.parse::<usize>().unwrap());
        match (output.status.signal(), finished) {
            (Some(9), None) => killed += 1,
            (None, Some(fsyncs)) => {
                assert!(output.status.success());
                assert_eq!(kill_at, fsyncs + 1, "the child ran past a kill point");
                // The whole first opening is one durable commit.
                assert_eq!(fsyncs, baseline, "the first opening costs more fsyncs than one commit");
                eprintln!("first opening: {fsyncs} fsync call(s), as one commit ({baseline})");
                check_after(&db, &id, &expected_lists, &expected_dump, kill_at);
                break;
            }
            other => panic!(
                "kill at fsync {kill_at}: unexpected end {other:?}\nstdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
        check_after(&db, &id, &expected_lists, &expected_dump, kill_at);
        assert!(kill_at < 100, "the first opening never finished");
    }
    eprintln!("first opening killed at each of its {killed} fsync(s); every list was correct afterwards");
    assert!(killed >= 1);
}

fn store_ids(db: &Path) -> Vec<String> {
    Store::open(db, None).unwrap().customer_ids().unwrap()
}

/// After the kill (or the end): every list shows what the server's rows showed, the file is
/// intact, the customer opens, and the rows then still match a rebuild from the documents.
fn check_after(db: &Path, id: &str, expected_lists: &[String], expected_dump: &[String], kill_at: usize) {
    let mut store = Store::open(db, None).unwrap();
    let integrity: String = store.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "kill at fsync {kill_at}");
    assert_eq!(lists(&store), expected_lists, "kill at fsync {kill_at}: the lists changed");
    assert_eq!(store.projection_dump().unwrap(), expected_dump, "kill at fsync {kill_at}: the rows changed");
    assert_eq!(store.customer_file(id).unwrap().id, id);
    assert_eq!(lists(&store), expected_lists, "kill at fsync {kill_at}: after opening");
    let dump = store.projection_dump().unwrap();
    store.rebuild_projections().unwrap();
    assert_eq!(store.projection_dump().unwrap(), dump, "kill at fsync {kill_at}");
    // Once opened, the document is stored compacted and no longer waits for a first parse.
    let unchecked: i64 = store
        .connection()
        .query_row("SELECT unchecked FROM documents WHERE customer_id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(unchecked, 0, "kill at fsync {kill_at}");
}

//! Crash safety of the device store: a writer in a child process is killed with SIGKILL at random
//! moments, round after round on the same (encrypted) database, and every write it acknowledged
//! must be there afterwards, in the documents and in the projections, with an intact file.
//!
//! The test binary re-runs itself as the writer: `child_writer` is an ignored test that returns at
//! once unless `FIELDSYNC_CRASH_CHILD_DB` is set, so it does nothing when run normally (even with
//! `--ignored`). The parent prints its seed; `FIELDSYNC_CRASH_SEED=<seed>` replays the same
//! choices (kill modes and delays, the child's workload), though not the operating system's timing.
#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use fieldsync_core::domain::*;
use fieldsync_core::store::{Key, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::types::Value;

const ENV_DB: &str = "FIELDSYNC_CRASH_CHILD_DB";
const ENV_ROUND: &str = "FIELDSYNC_CRASH_CHILD_ROUND";
const ENV_SEED: &str = "FIELDSYNC_CRASH_CHILD_SEED";
const ENV_REPLAY: &str = "FIELDSYNC_CRASH_SEED";

const ROUNDS: u64 = 32;
/// Customers written to by every round, so their documents grow past the auto-compaction
/// threshold and get compacted while the writer may be killed.
const HOT_CUSTOMERS: usize = 3;
/// The writer stops on its own after this many turns of its loop; the parent kills it long before.
const CHILD_MAX_TURNS: u64 = 100_000;
const SIGKILL: i32 = 9;

/// The tablet always runs with a key, so this is the configuration that must survive a kill.
fn key() -> Key {
    Key([0x5a; 32])
}

// ---------------------------------------------------------------------------------------------
// The child: writes until killed, acknowledging each write on stdout after the store returned.
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "the writer process of acknowledged_writes_survive_sigkill; does nothing on its own"]
fn child_writer() {
    let Some(db) = std::env::var_os(ENV_DB) else { return };
    let round: i64 = std::env::var(ENV_ROUND).unwrap().parse().unwrap();
    let seed: u64 = std::env::var(ENV_SEED).unwrap().parse().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    // Straight to the process's stdout (not the test harness's capture); the leading newline
    // keeps our lines apart from anything the harness printed without one.
    let mut out = std::io::stdout().lock();
    let mut ack = |line: String| {
        writeln!(out, "\n{line}").unwrap();
        out.flush().unwrap();
    };

    let mut store = Store::open(&db, Some(&key())).expect("the writer opens the store");
    // A manager per round: a visit left in progress by a killed round does not block the next.
    store.sign_in(manager(&format!("M{round}"))).unwrap();
    let mut hot: Vec<String> = store.customer_ids().unwrap().into_iter().take(HOT_CUSTOMERS).collect();
    ack("READY".into());

    let mut now = NOW + round * DAY;
    for n in 0..CHILD_MAX_TURNS {
        now += 60_000;
        let name = format!("客户{round}号{n}");
        let village = ["韩桥村", "张坪村", "石门村"][rng.random_range(0..3)];
        let customer = store.create_customer(profile(&name, village), now).unwrap();
        ack(format!("ACK customer {customer} {name}"));
        if hot.len() < HOT_CUSTOMERS {
            hot.push(customer.clone());
        }

        let reminder = Reminder {
            id: fieldsync_core::ids::new_id(),
            kind: ReminderKind::Maturity,
            due_at: now + 30 * DAY,
            note: "定期存款到期".into(),
            done_at: None,
        };
        let reminder_id = reminder.id.clone();
        store.apply(&customer, &Action::AddReminder { reminder }, now).unwrap();
        ack(format!("ACK reminder {customer} {reminder_id}"));

        let target = if rng.random_bool(0.7) { hot[rng.random_range(0..hot.len())].clone() } else { customer };
        let visit_id = fieldsync_core::ids::new_id();
        let start = Action::StartVisit {
            visit_id: visit_id.clone(),
            purpose: VisitPurpose::FollowUp,
            channel: Channel::InPerson,
            check_in: here(now),
        };
        store.apply(&target, &start, now).unwrap();
        ack(format!("ACK visit {target} {visit_id}"));
        let check_out = Action::CheckOut {
            visit_id: visit_id.clone(),
            check_out: here(now + 1_000),
            details: details(&notes(&visit_id)),
        };
        store.apply(&target, &check_out, now + 1_000).unwrap();
        ack(format!("ACK checkout {target} {visit_id}"));

        if rng.random_bool(0.5) {
            let lead = NewLead {
                id: fieldsync_core::ids::new_id(),
                product: Product::Deposit,
                amount_fen: rng.random_range(1..10_000_000),
                source: LeadSource::Visit,
                expected_close: Some(now + 60 * DAY),
                probability: None,
                visit_id: Some(visit_id),
                notes: String::new(),
                catalog_id: None,
            };
            let lead_id = lead.id.clone();
            store.apply(&target, &Action::AddLead { lead }, now).unwrap();
            ack(format!("ACK lead {target} {lead_id}"));
        }
        if rng.random_ratio(1, 10) {
            let compacted = store.compact(8).unwrap();
            ack(format!("ACK compact {compacted}"));
        }
    }
}

fn notes(visit_id: &str) -> String {
    format!("走访记录 {visit_id}")
}

// ---------------------------------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------------------------------

/// What the writers acknowledged, per customer, over all rounds.
#[derive(Default)]
struct Acked {
    customers: BTreeMap<String, Expected>,
    writes: usize,
}

#[derive(Default)]
struct Expected {
    name: Option<String>,
    reminders: BTreeSet<String>,
    /// Visit ID → whether its check-out was acknowledged.
    visits: BTreeMap<String, bool>,
    leads: BTreeSet<String>,
}

impl Acked {
    fn record(&mut self, line: &str) {
        let mut words = line.split(' ');
        assert_eq!(words.next(), Some("ACK"), "{line}");
        let (kind, customer, item) = (words.next().unwrap(), words.next().unwrap(), words.next());
        self.writes += 1;
        if kind == "compact" {
            return;
        }
        let e = self.customers.entry(customer.to_string()).or_default();
        let item = item.unwrap().to_string();
        match kind {
            "customer" => e.name = Some(item),
            "reminder" => _ = e.reminders.insert(item),
            "visit" => _ = e.visits.entry(item).or_insert(false),
            "checkout" => _ = e.visits.insert(item, true),
            "lead" => _ = e.leads.insert(item),
            other => panic!("unknown acknowledgement {other}"),
        }
    }
}

/// Kills the writer if the parent fails half-way, so no orphan keeps writing.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the process started: often while it opens the store (and recovers the
    /// WAL the previous writer left).
    AfterSpawn(Duration),
    /// This long after it reported the store open and signed in: during the writes.
    AfterReady(Duration),
}

/// Runs one writer, kills it, and returns the complete lines it printed.
fn run_writer(db: &Path, round: u64, child_seed: u64, kill_at: KillAt, log: &Path) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let stderr = std::fs::File::create(log).unwrap();
    let child = Command::new(exe)
        .args(["--exact", "child_writer", "--ignored", "--nocapture", "-q"])
        .env(ENV_DB, db)
        .env(ENV_ROUND, round.to_string())
        .env(ENV_SEED, child_seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let spawned = Instant::now();
    let mut writer = Writer(child);
    let stdout = writer.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stdout.read_until(b'\n', &mut buf) {
                // A line without its newline was cut by the kill: it acknowledges nothing.
                Ok(0) | Err(_) => break,
                Ok(_) if !buf.ends_with(b"\n") => break,
                Ok(_) => {
                    if tx.send(String::from_utf8(buf.clone()).unwrap().trim_end().to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });

    let mut lines = Vec::new();
    match kill_at {
        KillAt::AfterSpawn(delay) => std::thread::sleep(delay.saturating_sub(spawned.elapsed())),
        KillAt::AfterReady(delay) => {
            for line in rx.iter() {
                let ready = line == "READY";
                lines.push(line);
                if ready {
                    break;
                }
            }
            std::thread::sleep(delay);
        }
    }
    writer.0.kill().unwrap();
    let status = writer.0.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    if status.signal() != Some(SIGKILL) {
        let stderr = std::fs::read_to_string(log).unwrap_or_default();
        panic!(
            "round {round}: the writer ended on its own ({status}) instead of being killed\n\
             stdout:\n{}\nstderr:\n{stderr}",
            lines.join("\n")
        );
    }
    lines
}

/// Everything the writers acknowledged is in the documents and in the projections, the
/// projections match the documents, and the file is intact.
fn verify(store: &mut Store, acked: &Acked, round: u64) {
    let integrity: String = store.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "round {round}");
    for (customer, expected) in &acked.customers {
        let view = store
            .customer_360(customer)
            .unwrap_or_else(|e| panic!("round {round}: acknowledged customer {customer} is gone: {e}"));
        let file = &view.file;
        if let Some(name) = &expected.name {
            assert_eq!(&file.profile.name, name, "round {round}, customer {customer}");
        }
        for id in &expected.reminders {
            assert!(file.reminders.contains_key(id), "round {round}: reminder {id} of {customer} lost");
        }
        for id in &expected.leads {
            assert!(file.leads.contains_key(id), "round {round}: lead {id} of {customer} lost");
        }
        for (id, checked_out) in &expected.visits {
            let visit = view.visits.iter().find(|v| &v.id == id);
            let visit = visit.unwrap_or_else(|| panic!("round {round}: visit {id} of {customer} lost"));
            if *checked_out {
                assert_eq!(visit.status, VisitStatus::Completed, "round {round}: check-out of {id} lost");
                assert_eq!(visit.notes, notes(id));
            } else {
                // The check-out may have committed just before the kill, unacknowledged.
                assert!(matches!(visit.status, VisitStatus::InProgress | VisitStatus::Completed));
            }
        }

        // The projection rows are exactly the document's: written in the same transaction.
        let conn = store.connection();
        let name: String = conn
            .query_row("SELECT name FROM customers WHERE customer_id = ?1", [customer], |r| r.get(0))
            .unwrap_or_else(|e| panic!("round {round}: customer {customer} missing from the projection: {e}"));
        assert_eq!(name, file.profile.name);
        let rows = |sql: &str| -> BTreeMap<String, Value> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([customer], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        };
        let text = |s: &str| Value::Text(s.to_string());
        let doc_visits = file.visits.values().map(|v| (v.id.clone(), text(v.status.code()))).collect();
        assert_eq!(
            rows("SELECT visit_id, status FROM visits WHERE customer_id = ?1"),
            doc_visits,
            "round {round}: visits projection of {customer}"
        );
        let doc_leads = file.leads.values().map(|l| (l.id.clone(), text(l.stage.code()))).collect();
        assert_eq!(
            rows("SELECT lead_id, stage FROM leads WHERE customer_id = ?1"),
            doc_leads,
            "round {round}: leads projection of {customer}"
        );
        let doc_reminders =
            file.reminders.values().map(|r| (r.id.clone(), Value::Integer(r.done_at.is_some().into()))).collect();
        assert_eq!(
            rows("SELECT reminder_id, done FROM reminders WHERE customer_id = ?1"),
            doc_reminders,
            "round {round}: reminders projection of {customer}"
        );
    }
}

fn wal_in_use(db: &Path) -> bool {
    std::fs::metadata(sidecar(db, "-wal")).is_ok_and(|m| m.len() > 0)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed: u64 = match std::env::var(ENV_REPLAY) {
        Ok(s) => s.parse().expect("FIELDSYNC_CRASH_SEED is a u64"),
        Err(_) => rand::random(),
    };
    eprintln!("crash_safety seed {seed}; replay with {ENV_REPLAY}={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("device.db");
    let log = dir.path().join("writer.stderr");
    let mut acked = Acked::default();
    let mut hot_wal_reopens = 0;
    let mut writer_recoveries = 0;
    let mut compacted: i64 = 0;
    let started = Instant::now();

    for round in 0..ROUNDS {
        // A writer that finds the previous writer's WAL has to recover it, and may be killed then.
        writer_recoveries += usize::from(wal_in_use(&db));
        let kill_at = if rng.random_ratio(1, 4) {
            KillAt::AfterSpawn(Duration::from_millis(rng.random_range(0..120)))
        } else {
            KillAt::AfterReady(Duration::from_millis(rng.random_range(0..1_000)))
        };
        let lines = run_writer(&db, round, rng.random(), kill_at, &log);
        let before = acked.writes;
        for line in lines.iter().filter(|l| l.starts_with("ACK ")) {
            acked.record(line);
        }
        let acknowledged = acked.writes - before;

        // Every other round the parent checks a copy of the database and its WAL (without the
        // shared-memory index, as after a reboot) and leaves the hot WAL for the next writer;
        // otherwise it opens the database itself, recovering the WAL, and closes it cleanly.
        let hot = wal_in_use(&db);
        hot_wal_reopens += usize::from(hot);
        let check = if round % 2 == 1 {
            let copy = dir.path().join(format!("copy-{round}.db"));
            std::fs::copy(&db, &copy).unwrap();
            if hot {
                std::fs::copy(sidecar(&db, "-wal"), sidecar(&copy, "-wal")).unwrap();
            }
            copy
        } else {
            db.clone()
        };
        let verifying = Instant::now();
        let mut store = Store::open(&check, Some(&key())).unwrap();
        verify(&mut store, &acked, round);
        eprintln!(
            "round {round}: killed {kill_at:?}, {acknowledged} writes acknowledged, all {} checked in {:?}",
            acked.writes,
            verifying.elapsed()
        );
        if round == ROUNDS - 1 {
            // The projections equal a rebuild from the documents alone.
            let dump = store.projection_dump().unwrap();
            store.rebuild_projections().unwrap();
            assert_eq!(store.projection_dump().unwrap(), dump);
            compacted = store
                .connection()
                .query_row("SELECT count(*) FROM documents WHERE next_seq > chunks", [], |r| r.get(0))
                .unwrap();
        }
        drop(store);
        if check != db {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(sidecar(&check, suffix));
            }
        }
    }

    eprintln!(
        "{ROUNDS} rounds in {:?}: {} writes acknowledged, {} customers; {hot_wal_reopens} reopened with a hot WAL, \
         {writer_recoveries} writers started on one; {compacted} documents compacted",
        started.elapsed(),
        acked.writes,
        acked.customers.len()
    );
    assert!(acked.writes > 0, "no writer got as far as one write");
    assert!(hot_wal_reopens > 0, "no round left a WAL to recover");
}

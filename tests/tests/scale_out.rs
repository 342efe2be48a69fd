//! Several server instances on one PostgreSQL database, behind a load balancer that sends each
//! connection to the next instance: tablets push through one and pull through another, tokens
//! issued by one work on all, and at the end every tablet holds exactly the server's documents,
//! no change missing and none stored twice (the cursor never skips: docs/cursor.md). Also an
//! instance killed in the middle of the traffic, and the database restarted under load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use automerge::ChangeHash;
use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_core::sync::SyncError;
use fieldsync_ffi::{Device, DeviceError};
use fieldsync_tests::proxy::Proxy;
use fieldsync_tests::{Setup, TestServer, device, new_pg_database, now_ms, record_visit, sync};

/// Each tablet's sync rounds (a new customer or a visit, then a sync).
const ROUNDS: usize = 8;

/// The server's heads of each customer it stores, sorted.
fn server_documents(server: &TestServer, ids: &[String]) -> BTreeMap<String, Vec<ChangeHash>> {
    let actor = automerge::ActorId::random();
    server.write(|s| {
        ids.iter()
            .filter_map(|id| {
                let mut doc = fieldsync_server::customers::load(s, id, &actor).unwrap()?;
                let mut heads = doc.heads();
                heads.sort();
                Some((id.clone(), heads))
            })
            .collect()
    })
}

fn held(tablet: &mut Device) -> BTreeMap<String, Vec<ChangeHash>> {
    let ids = tablet.store().customer_ids().unwrap();
    ids.into_iter()
        .map(|id| {
            let mut heads = tablet.store().heads(&id).unwrap();
            heads.sort();
            (id, heads)
        })
        .collect()
}

/// Whether a failed sync failed the way a tablet retries (the network, or the server saying "busy
/// / unavailable: try again"), never with a wrong or refused answer.
fn retryable(e: &DeviceError) -> bool {
    match e {
        DeviceError::Sync(e) => matches!(
            &**e,
            SyncError::Transport(_) | SyncError::Rejected { kind: fieldsync_core::sync::RejectionKind::Busy, .. }
        ),
        _ => false,
    }
}

/// Tablets of `users`, signed in through the balancer at `url` (one after the other), then
/// working at once for [`ROUNDS`] rounds each; `started` is set when the work begins. Failures a
/// tablet retries are counted; any other fails the test. Returns the tablets.
fn work(dir: &std::path::Path, url: &str, users: &[&str], failures: &AtomicUsize, started: &AtomicBool) -> Vec<Device> {
    let signed_in: Vec<Device> =
        users.iter().enumerate().map(|(t, user)| device(dir, &format!("t{t}"), url, user)).collect();
    let tablets = Mutex::new(Vec::new());
    started.store(true, Ordering::SeqCst);
    std::thread::scope(|scope| {
        for (t, mut tablet) in signed_in.into_iter().enumerate() {
            let tablets = &tablets;
            scope.spawn(move || {
                let mut mine: Vec<String> = Vec::new();
                for round in 0..ROUNDS {
                    if round % 3 == 0 || mine.is_empty() {
                        let profile = Profile::new(CustomerKind::Individual, format!("客户{t}-{round}"), "韩桥村");
                        mine.push(tablet.store().create_customer(profile, now_ms()).unwrap());
                    } else {
                        let customer = mine[round % mine.len()].clone();
                        let notes = format!("第{round}次");
                        record_visit(&mut tablet, &customer, VisitDetails { notes, ..Default::default() });
                    }
                    if let Err(e) = sync(&mut tablet) {
                        assert!(retryable(&e), "tablet {t}: {e:?}");
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tablets.lock().unwrap().push(tablet);
            });
        }
    });
    tablets.into_inner().unwrap()
}

/// Waits until `started` is set, then `ms` more.
fn after_start(started: &AtomicBool, ms: u64) {
    while !started.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// Every tablet syncs until it has nothing left (a few rounds through the balancer), then holds
/// exactly what the server holds for it; the supervisors' tablets hold the whole branch; no change
/// is stored twice.
fn converged(server: &TestServer, tablets: &mut [Device]) {
    for _ in 0..3 {
        for tablet in tablets.iter_mut() {
            let _ = sync(tablet);
        }
    }
    for tablet in tablets.iter_mut() {
        sync(tablet).unwrap();
        assert!(tablet.store().unpushed().unwrap().is_empty(), "everything pushed");
        assert!(tablet.store().quarantined().unwrap().is_empty(), "nothing refused");
    }
    let mut all: Vec<String> = Vec::new();
    for tablet in tablets.iter_mut() {
        all.extend(held(tablet).into_keys());
    }
    all.sort();
    all.dedup();
    let on_server = server_documents(server, &all);
    assert_eq!(on_server.len(), all.len(), "every customer a tablet holds is on the server");
    for tablet in tablets.iter_mut() {
        let holds = held(tablet);
        let user = tablet.store().user().unwrap().clone();
        for (id, heads) in &holds {
            assert_eq!(Some(heads), on_server.get(id), "{} holds {id} as the server does", user.name);
        }
        if user.role == fieldsync_core::domain::Role::Supervisor {
            assert_eq!(holds.len(), on_server.len(), "a supervisor holds the whole branch");
        }
    }
    let (rows, distinct) = server.change_counts();
    assert_eq!(rows, distinct, "no change stored twice");
}

#[test]
fn tablets_through_three_instances_converge_with_nothing_missing_or_doubled() {
    let setup = Setup { database: Some(new_pg_database()), ..Setup::default() };
    let (first, _branch) = TestServer::start_with(setup);
    let instances = [first.instance(), first.instance()];
    let balancer = Proxy::balance(vec![first.addr, instances[0].addr, instances[1].addr]);
    let dir = tempfile::tempdir().unwrap();
    let failures = AtomicUsize::new(0);
    let users = ["m1", "m1", "m2", "m2", "m1", "m2", "sup", "sup"];
    let mut tablets = work(dir.path(), &balancer.url(), &users, &failures, &AtomicBool::new(false));
    assert_eq!(failures.load(Ordering::SeqCst), 0, "nothing fails with every instance up");
    assert!(balancer.counts().connections >= (users.len() * ROUNDS) as u64, "{:?}", balancer.counts());
    converged(&first, &mut tablets);
    // Each instance served: the balancer spread the connections over all three.
    drop(instances);
}

/// An instance killed (its process gone: no graceful stop) while tablets push through it: the
/// tablets' syncs that were on it fail as network errors, the next ones go to the others, and
/// nothing is lost or stored twice.
#[test]
fn an_instance_killed_mid_traffic_loses_nothing() {
    let url = new_pg_database();
    let setup = Setup { database: Some(url.clone()), ..Setup::default() };
    let (first, _branch) = TestServer::start_with(setup);
    let mut doomed = Killable::start(&url, first.data.path());
    let second = first.instance();
    let balancer = Proxy::balance(vec![doomed.addr, first.addr, second.addr]);
    let dir = tempfile::tempdir().unwrap();
    let failures = AtomicUsize::new(0);
    let users = ["m1", "m2", "m1", "m2", "sup"];
    let started = AtomicBool::new(false);
    let killed = std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            after_start(&started, 300);
            doomed.kill();
        });
        let tablets = work(dir.path(), &balancer.url(), &users, &failures, &started);
        killer.join().unwrap();
        tablets
    });
    let mut tablets = killed;
    converged(&first, &mut tablets);
}

/// The database restarted while tablets sync: requests in flight get a retryable error (503
/// "store unavailable", or the connection cut), never a wrong answer; the instances reconnect by
/// themselves, and everything converges.
#[test]
fn the_database_restarted_under_load_loses_nothing() {
    let mut cluster = fieldsync_server::store::postgres::cluster::Cluster::start().unwrap();
    let url = {
        let name = format!("r{}", std::process::id());
        cluster.create_database(&name).unwrap()
    };
    let setup = Setup { database: Some(url), ..Setup::default() };
    let (first, _branch) = TestServer::start_with(setup);
    let second = first.instance();
    let balancer = Proxy::balance(vec![first.addr, second.addr]);
    let dir = tempfile::tempdir().unwrap();
    let failures = AtomicUsize::new(0);
    let users = ["m1", "m2", "m1", "sup"];
    let restarted = Arc::new(AtomicBool::new(false));
    let started = AtomicBool::new(false);
    let cluster = Mutex::new(&mut cluster);
    let mut tablets = std::thread::scope(|scope| {
        let (r, cluster, started) = (restarted.clone(), &cluster, &started);
        scope.spawn(move || {
            after_start(started, 300);
            cluster.lock().unwrap().restart().unwrap();
            r.store(true, Ordering::SeqCst);
        });
        work(dir.path(), &balancer.url(), &users, &failures, started)
    });
    assert!(restarted.load(Ordering::SeqCst));
    // The instances serve again without being restarted.
    assert_eq!(fieldsync_tests::attack::healthz(&first.url()), 200);
    assert_eq!(fieldsync_tests::attack::healthz(&second.url()), 200);
    converged(&first, &mut tablets);
}

/// The real server binary on a PostgreSQL database, to be killed with SIGKILL.
struct Killable {
    child: Option<std::process::Child>,
    addr: std::net::SocketAddr,
}

impl Killable {
    fn start(url: &str, data: &std::path::Path) -> Killable {
        use std::io::BufRead;
        // Built by `cargo test --workspace` (and by `cargo build`), next to the test binaries.
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(|d| d.parent()).unwrap().join("fieldsync-server");
        assert!(bin.is_file(), "{} is not built: cargo build -p fieldsync-server", bin.display());
        let mut child = std::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--pool-sweep-s", "0", "--data"])
            .arg(data)
            .env("FIELDSYNC_DATABASE_URL", url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "the server exited");
            if let Some(addr) = line.trim().strip_prefix("fieldsync-server listening on http://") {
                break addr.parse().unwrap();
            }
        };
        Killable { child: Some(child), addr }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.kill();
    }
}

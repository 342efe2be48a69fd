//! The sync benchmark, on the reference workload (`../shared/workload`, or `$FIELDSYNC_WORKLOAD`):
//! the real server in this process on loopback, a real device store, and a proxy that counts every
//! byte on the wire (HTTP headers included). It prints each figure beside its DESIGN.md target and,
//! for bytes, as a ratio to the floor: the zstd-19 size of what has to cross (the documents' saved
//! bytes for a first sync, the day's new changes for a day's sync).
//!
//! ```text
//! cargo run --release -p fieldsync-tests --bin sync-bench            # the full reference run
//! cargo run --release -p fieldsync-tests --bin sync-bench -- --quick # a small smoke run
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fieldsync_core::document::CustomerDoc;
use fieldsync_core::domain::{Action, Ctx, CustomerKind, Profile, Role};
use fieldsync_core::sync::protocol::{self, DocChanges, SyncRequest};
use fieldsync_core::sync::{Reply, SyncOptions, SyncSession, Transport};
use fieldsync_core::workload::{self, Book};
use fieldsync_ffi::{Device, HttpTransport};
use fieldsync_server::accounts::{self, NewUser};
use fieldsync_server::store::{Database, Db};
use fieldsync_tests::proxy::Proxy;
use fieldsync_tests::{PASSWORD, Setup, TestServer, now_ms};
use http_body_util::{BodyExt, Full};

/// The allocator of the `fieldsync-server` binary, whose server runs in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EDGE as DESIGN.md describes it.
const EDGE_BYTES_PER_S: f64 = 240_000.0 / 8.0;
const EDGE_RTT_S: f64 = 0.84;

struct Args {
    customers: usize,
    devices: usize,
    /// Devices syncing with nothing new while one device sends the heaviest request allowed.
    fairness_devices: usize,
    /// New customers in that heavy request (the limits allow `MAX_ITEMS`; `--quick` sends fewer).
    heavy_customers: usize,
    /// `--no-fairness`: stop after the many-device figures (to profile them alone).
    fairness: bool,
    /// `--mark-apply`: say on stderr when the many-device push starts and ends, with a pause
    /// before and after, for a profiler to measure that phase alone (`scripts/profile-apply.sh`).
    mark_apply: bool,
    /// `--database URL` (or `local`: a throwaway cluster): the server on PostgreSQL.
    database: Option<String>,
    /// `--instances N`: server instances on that database, behind a load balancer.
    instances: usize,
}

fn args() -> Args {
    let mut a = Args {
        customers: usize::MAX,
        devices: 1000,
        fairness_devices: 200,
        heavy_customers: usize::MAX,
        fairness: true,
        mark_apply: false,
        database: None,
        instances: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => {
                a.customers = 100;
                a.devices = 50;
                a.fairness_devices = 20;
                a.heavy_customers = 100;
            }
            "--customers" => a.customers = it.next().and_then(|v| v.parse().ok()).expect("--customers N"),
            "--devices" => a.devices = it.next().and_then(|v| v.parse().ok()).expect("--devices N"),
            "--no-fairness" => a.fairness = false,
            "--mark-apply" => a.mark_apply = true,
            "--database" => a.database = Some(it.next().expect("--database postgres://… or local")),
            "--instances" => a.instances = it.next().and_then(|v| v.parse().ok()).expect("--instances N"),
            other => {
                eprintln!(
                    "unknown argument {other}; use --quick, --customers N, --devices N, --no-fairness, --mark-apply, \
                     --database postgres://…|local, --instances N"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

fn zstd19(bytes: &[u8]) -> usize {
    zstd::bulk::compress(bytes, 19).expect("zstd").len()
}

fn line(figure: &str, measured: String, target: &str) {
    println!("| {figure} | {measured} | {target} |");
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args = args();
    let (branch, days) = match workload::workload_dir() {
        Ok(dir) => {
            let mut branch = workload::load_branch(&dir).expect("branch.jsonl");
            branch.truncate(args.customers);
            let days: Vec<Vec<workload::DayRecord>> = (1..=2)
                .map(|d| {
                    let day = workload::load_day(&dir, d).expect("day file");
                    day.into_iter().filter(|r| r.index < branch.len()).collect()
                })
                .collect();
            (branch, days)
        }
        // A smoke run works without the reference files, on a generated branch of the same shape.
        Err(e) if args.customers != usize::MAX => {
            eprintln!("reference workload not found ({e}); using a generated branch");
            let branch = workload::generate_branch(args.customers, 7);
            let days = (1..=2).map(|d| workload::generate_day(&branch, d, args.customers / 10, 7)).collect();
            (branch, days)
        }
        Err(e) => {
            eprintln!("sync-bench: the reference workload is needed: {e}");
            std::process::exit(2);
        }
    };

    // The server: one branch and the reference manager (the many-device runs add their own).
    let data = tempfile::tempdir().unwrap();
    // A throwaway cluster lives as long as the run.
    let (_cluster, url) = match args.database.as_deref() {
        Some("local") => {
            let cluster = fieldsync_server::store::postgres::cluster::Cluster::start().expect("a local PostgreSQL");
            let url = cluster.create_database("bench").unwrap();
            (Some(cluster), Some(url))
        }
        Some(url) => (None, Some(url.to_string())),
        None => (None, None),
    };
    let setup = Setup { database: url.clone(), sqlite: url.is_none(), ..Setup::default() };
    let (db, _runtime) = open_store(data.path(), url.as_deref());
    let (branch_id, manager) = db
        .write_blocking(|conn| {
            let b = accounts::create_branch(conn, "基准支行", 0, "bench").unwrap();
            let new = NewUser {
                branch_id: &b,
                outlet_id: None,
                username: "bench-m1",
                display_name: "客户经理01",
                role: accounts::Role::Manager,
                password: PASSWORD,
            };
            let m = accounts::create_user(conn, &new, 0, "bench").unwrap();
            Ok::<_, fieldsync_server::store::StoreError>((b, m))
        })
        .unwrap();
    let book = Book { manager_id: manager.clone(), manager_name: "客户经理01".into(), namespace: 0 };
    let started = Instant::now();
    let prepared = workload::build_all(&branch, &book).expect("documents");
    let actor = book.server_actor();
    let mut saved = Vec::new();
    for p in &prepared {
        let mut doc = CustomerDoc::load(&p.customer_id, &p.bytes, &actor).unwrap();
        saved.extend_from_slice(&doc.save());
        db.write_blocking(|store| {
            fieldsync_server::customers::store_server_changes(store, &branch_id, &p.customer_id, &p.bytes)
        })
        .unwrap();
    }
    let first_floor = zstd19(&saved);
    eprintln!(
        "seeded {} customers ({} changes) in {:.1} s",
        prepared.len(),
        prepared.iter().map(|p| p.changes).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    drop(db);
    drop(_runtime);
    let server = TestServer::start_on(data, "127.0.0.1:0".parse().unwrap(), setup);
    let instances: Vec<TestServer> = (1..args.instances.max(1)).map(|_| server.instance()).collect();
    let addrs: Vec<std::net::SocketAddr> =
        std::iter::once(server.addr).chain(instances.iter().map(|i| i.addr)).collect();
    let store_name = match &url {
        Some(_) => format!("PostgreSQL, {} instance(s)", addrs.len()),
        None => "SQLite".to_string(),
    };
    eprintln!("store: {store_name}");
    let proxy = Proxy::balance(addrs.clone());
    let work = tempfile::tempdir().unwrap();

    println!("| figure | measured | target |");
    println!("|---|---|---|");

    // A new tablet's first sync.
    let mut tablet = Device::open(work.path().join("tablet.db"), None).unwrap();
    tablet.login(&proxy.url(), "bench-m1", PASSWORD).unwrap();
    proxy.reset_counts();
    let mut transport = tablet.transport().unwrap();
    let mut session = SyncSession::new(SyncOptions { now: now_ms(), ..Default::default() });
    let (mut network, mut apply) = (Duration::ZERO, Duration::ZERO);
    let mut first_page: Option<(u64, Duration)> = None;
    let wall = Instant::now();
    while let Some(frame) = session.next_request(tablet.store()).unwrap() {
        let t0 = Instant::now();
        let reply = transport.exchange(frame).unwrap();
        let t1 = Instant::now();
        session.handle_reply(tablet.store(), reply).unwrap();
        network += t1 - t0;
        apply += t1.elapsed();
        if first_page.is_none() {
            let c = proxy.counts();
            first_page = Some((c.up + c.down, wall.elapsed()));
        }
    }
    let wall = wall.elapsed();
    let progress = session.progress().clone();
    let counts = proxy.counts();
    let rows: i64 = tablet
        .store()
        .connection()
        .query_row(
            "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM visits) + (SELECT count(*) FROM leads)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    line(
        "first sync: round trips",
        format!("{} ({} documents)", progress.round_trips, progress.documents_received),
        "—",
    );
    line(
        "first sync: bytes down / up (wire, with HTTP headers)",
        format!(
            "{} / {}; floor {} → **{:.3} × floor**",
            kb(counts.down),
            kb(counts.up),
            kb(first_floor as u64),
            (counts.down + counts.up) as f64 / first_floor as f64
        ),
        "≤ 1.1 × floor",
    );
    line(
        "first sync: rows applied on the tablet (decode + store, excluding network)",
        format!("{rows} rows in {:.2} s = **{:.0} rows/s**", apply.as_secs_f64(), rows as f64 / apply.as_secs_f64()),
        "≥ 50,000 rows/s",
    );
    line(
        "first sync: wall time on loopback (server work + transfer + apply)",
        format!("{:.2} s ({:.2} s waiting for the server)", wall.as_secs_f64(), network.as_secs_f64()),
        "—",
    );
    let (page_bytes, page_time) = first_page.unwrap();
    let edge_whole = (counts.down + counts.up) as f64 / EDGE_BYTES_PER_S + f64::from(progress.round_trips) * EDGE_RTT_S;
    line(
        "first sync over EDGE (computed: bytes ÷ 30 KB/s + round trips × 840 ms): first page usable",
        format!(
            "{:.1} s (first page {}; loopback {:.2} s); whole book {:.0} s",
            page_bytes as f64 / EDGE_BYTES_PER_S + 2.0 * EDGE_RTT_S,
            kb(page_bytes),
            page_time.as_secs_f64(),
            edge_whole
        ),
        "today's customers ≤ 12 s",
    );
    let checked = Instant::now();
    let n = tablet.store().check_received(u32::MAX).unwrap();
    line(
        "deferred check of received documents (parse + rows rewritten), after the sync",
        format!("{n} documents in {:.2} s", checked.elapsed().as_secs_f64()),
        "—",
    );

    // A sync with nothing new.
    proxy.reset_counts();
    let report = tablet.sync(SyncOptions { now: now_ms(), ..Default::default() }, &mut |_| {}, &|| false).unwrap();
    let c = proxy.counts();
    line(
        "no-op sync",
        format!(
            "{} round trip, **{} bytes** on the wire ({} up, {} down)",
            report.round_trips,
            c.up + c.down,
            c.up,
            c.down
        ),
        "1 round trip, ≤ 600 bytes",
    );

    // Two days of offline work.
    for (d, records) in days.iter().enumerate() {
        let mut new_changes = Vec::new();
        let mut actions = 0;
        for r in records {
            let id = book.customer_id(&branch[r.index]);
            let heads = tablet.store().heads(&id).unwrap();
            let profile = tablet.store().customer_file(&id).unwrap().profile;
            for (action, at) in workload::day_actions(r, &profile).unwrap() {
                tablet.store().apply(&id, &action, at).unwrap();
                actions += 1;
            }
            let bytes = tablet.store().document_changes(&id).unwrap();
            let mut doc = CustomerDoc::load(&id, &bytes, &actor).unwrap();
            new_changes.extend_from_slice(&doc.changes_since(&heads));
        }
        let floor = zstd19(&new_changes);
        proxy.reset_counts();
        let t = Instant::now();
        let report = tablet.sync(SyncOptions { now: now_ms(), ..Default::default() }, &mut |_| {}, &|| false).unwrap();
        let elapsed = t.elapsed();
        let c = proxy.counts();
        let total = c.up + c.down;
        line(
            &format!("day {} sync: {} changes over {} customers", d + 1, report.changes_pushed, records.len()),
            format!(
                "{} round trip(s), {} ({} up, {} down) in {:.2} s; floor {} ({} actions) → **{:.3} × floor**; target bound {}",
                report.round_trips,
                kb(total),
                kb(c.up),
                kb(c.down),
                elapsed.as_secs_f64(),
                kb(floor as u64),
                actions,
                total as f64 / floor as f64,
                kb((1.25 * floor as f64) as u64 + 1000)
            ),
            "≤ 2 round trips; ≤ 1.25 × floor + 1 KB",
        );
    }

    // Many devices at once, as DESIGN.md's reference: branches of 20 managers, one tablet each.
    // Each tablet pushes a new customer with 4 visits; then all sync with nothing new.
    // The balancer spreads the tablets' connections over the instances (one: straight through).
    let url = proxy_url(&proxy, &server, addrs.len());
    let mut sql = String::new();
    let managers: Vec<String> = (0..args.devices)
        .map(|k| {
            let branch = format!("load-branch-{:03}", k / 20);
            let id = fieldsync_core::ids::new_id();
            sql.push_str(&format!(
                "INSERT INTO branches (id, name) VALUES ('{branch}', '{branch}') ON CONFLICT DO NOTHING;
                 INSERT INTO users (id, branch_id, outlet_id, username, display_name, role, password_hash)
                 VALUES ('{id}', '{branch}', NULL, 'load-{k}', '{}', 'manager', 'x');",
                load_manager_name(k)
            ));
            id
        })
        .collect();
    server.exec(&sql);
    let store = server.store();
    let cursor: i64 = store.write_blocking(|s| s.log_head()).unwrap();
    let (mut clients, mut tablets, mut frames) = (Vec::new(), Vec::new(), Vec::new());
    let mut pushed_changes = 0;
    for (i, manager) in managers.iter().enumerate() {
        let device_id = format!("bench-device-{i:05}");
        let actor = fieldsync_core::ids::new_actor();
        let token = store
            .write_blocking(|s| {
                let user = accounts::user_by_id(s, manager)?.expect("the manager");
                accounts::register_device(s, &user, &device_id, &actor, now_ms())
            })
            .unwrap();
        let (frame, changes) = new_customer_frame(manager, cursor as u64, i, &actor);
        pushed_changes += changes;
        clients.push(HttpTransport::new(&url, &Default::default(), &token, &device_id));
        tablets.push(Tablet { token, device_id });
        frames.push(frame);
    }
    // The tablets are other machines: their side of the load runs on one thread (async HTTP),
    // so the server has the cores.
    let load = Load::new(&url);
    let mark = |what: &str| {
        if args.mark_apply {
            eprintln!("apply phase: {what}");
            std::thread::sleep(Duration::from_millis(1500));
        }
    };
    load.connect(tablets.len());
    mark("start");
    let database_before = database_cpu();
    let held_before = lock_held();
    let trips_before = fieldsync_server::store::postgres::writer_round_trips();
    let (wall, cpu, latencies) = load.run(tablets.iter().cloned().zip(frames).collect());
    let held = lock_held() - held_before;
    let trips = fieldsync_server::store::postgres::writer_round_trips() - trips_before;
    let database = database_cpu().saturating_sub(database_before);
    mark("end");
    line(
        &format!(
            "server apply: {} tablets ({} branches × 20 managers) push at once over open connections ({pushed_changes} changes)",
            args.devices,
            args.devices.div_ceil(20)
        ),
        format!(
            "**{:.0} changes/s** ({:.2} s; CPU: server {:.2} s = {:.2} ms a request, the tablets' client {:.2} s, \
             stolen by the host {:.2} s; the server's CPU alone would allow {:.0} changes/s on 2 cores); \
             latency p50 {:.0} ms, p99 {:.0} ms",
            pushed_changes as f64 / wall.as_secs_f64(),
            wall.as_secs_f64(),
            cpu.server().as_secs_f64(),
            cpu.server().as_secs_f64() * 1000.0 / args.devices as f64,
            cpu.client.as_secs_f64(),
            cpu.stolen.as_secs_f64(),
            pushed_changes as f64 / (cpu.server().as_secs_f64() / 2.0),
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0
        ),
        "≥ 10,000 changes/s on 2 cores",
    );
    // The scaling model's inputs, per change: the server's CPU (shared out over instances and
    // cores), the database's CPU (over the database machine's cores) and the time under the
    // store's write lock (shared by nobody: the store's ceiling however many instances and cores).
    let per_change = |seconds: f64| seconds * 1000.0 / pushed_changes as f64;
    let on_postgres = url_is_postgres(&setup_database(&server));
    if let Some(url) = setup_database(&server) {
        // The lock's time is mostly round trips: how many, and what one costs on an idle
        // connection here, to carry the figure over to a database across a network.
        line(
            &format!("  of which under the write lock ({store_name})"),
            format!(
                "{:.1} round trips a change ({:.1} a request), idle round trip here {:.0} µs",
                trips as f64 / pushed_changes as f64,
                trips as f64 / args.devices as f64,
                idle_round_trip(&url).as_secs_f64() * 1e6
            ),
            "(for the scaling model)",
        );
    }
    line(
        &format!("  scaling model inputs ({store_name})"),
        format!(
            "per change: server CPU {:.3} ms, database CPU {}, under the write lock {:.3} ms (its ceiling: {:.0} \
             changes/s at any number of instances and cores)",
            per_change(cpu.server().as_secs_f64()),
            if on_postgres {
                format!("{:.3} ms", per_change(database.as_secs_f64()))
            } else {
                "(in the server's)".into()
            },
            per_change(held),
            pushed_changes as f64 / held.max(f64::EPSILON)
        ),
        "(for the scaling model)",
    );
    let head: i64 = store.write_blocking(|s| s.log_head()).unwrap();
    let noop = protocol::encode(&SyncRequest { cursor: head as u64, ..Default::default() });
    load.connect(tablets.len());
    let (wall, cpu, latencies) = load.run(tablets.iter().map(|t| (t.clone(), noop.clone())).collect());
    line(
        &format!("{} devices sync at once (nothing new)", args.devices),
        format!(
            "p50 {:.0} ms, **p99 {:.0} ms** ({:.2} s in all; server CPU {:.2} ms a request)",
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            wall.as_secs_f64(),
            cpu.server().as_secs_f64() * 1000.0 / args.devices as f64
        ),
        "1,000 devices, p99 ≤ 1 s",
    );

    drop(store);
    if args.fairness {
        fairness(&server, &url, &managers, &clients, args.fairness_devices, args.heavy_customers);
    }
    drop(instances);
}

/// The median time of a `SELECT 1` on an idle connection to `url`.
fn idle_round_trip(url: &str) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        let driver = tokio::spawn(connection);
        let statement = client.prepare("SELECT 1").await.unwrap();
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            client.query_one(&statement, &[]).await.unwrap();
            times.push(t.elapsed());
        }
        drop(client);
        let _ = driver.await;
        times.sort();
        times[times.len() / 2]
    })
}

/// Seconds the store's write lock has been held in this process so far (every instance here).
fn lock_held() -> f64 {
    fieldsync_server::metrics::histogram_sum(fieldsync_server::metrics::LOCK_HELD_SECONDS).unwrap_or(0.0)
}

/// The URL the many-device runs use: the balancer in front of several instances, else the
/// server itself (no proxy in the way of a single one, as before).
fn proxy_url(proxy: &Proxy, server: &TestServer, instances: usize) -> String {
    if instances > 1 { proxy.url() } else { server.url() }
}

fn setup_database(server: &TestServer) -> Option<String> {
    server.setup.database.clone()
}

fn url_is_postgres(url: &Option<String>) -> bool {
    url.is_some()
}

/// The store the benchmark seeds: SQLite in `data`, or the PostgreSQL database at `url` (with the
/// runtime its connections live on).
fn open_store(data: &std::path::Path, url: Option<&str>) -> (Database, Option<tokio::runtime::Runtime>) {
    match url {
        None => (Database::Sqlite(Db::open(data).unwrap()), None),
        Some(url) => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let db = rt.block_on(fieldsync_server::store::postgres::db::PgDb::open(url)).expect("the database");
            (Database::Postgres(db), Some(rt))
        }
    }
}

/// The CPU time used so far by PostgreSQL's processes on this machine (their `comm` is
/// `postgres`): the database's side of a run.
fn database_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Duration::ZERO };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| cpu_of(&e.path().join("stat").to_string_lossy()))
        .sum()
}

/// A tablet of the load: what its requests are signed with.
#[derive(Clone)]
struct Tablet {
    token: String,
    device_id: String,
}

/// The tablets' side of the many-device runs: one thread with an async HTTP client keeping one
/// connection per tablet between runs (as each tablet's own client would), so the server's cores
/// are left to the server.
struct Load {
    runtime: tokio::runtime::Runtime,
    client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    health: String,
    uri: String,
}

impl Load {
    fn new(url: &str) -> Load {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = {
            let _entered = runtime.enter();
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(usize::MAX)
                .build_http()
        };
        Load { runtime, client, health: format!("{url}/healthz"), uri: format!("{url}/api/v1/sync") }
    }

    /// Opens `n` connections to the server (one per tablet), left idle in the client's pool for
    /// the next run: a tablet's connect is the tablet's own work, and on this machine the simulated
    /// tablets share the server's two cores (one thread opening a thousand sockets held a core for
    /// the first ~100 ms of a run while the server waited for requests).
    fn connect(&self, n: usize) {
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let (client, uri) = (self.client.clone(), self.health.clone());
                    tokio::spawn(async move {
                        let request = hyper::Request::get(&uri).body(Full::new(Bytes::new())).unwrap();
                        let response = client.request(request).await.expect("the server takes a connection");
                        response.into_body().collect().await.unwrap();
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    }

    /// Every tablet sends its frame at once, over the connections [`Load::connect`] opened; the
    /// wall time, the CPU time used meanwhile, and each request's latency, sorted. A tablet
    /// retries a connection the server could not take; its latency counts the retries.
    fn run(&self, requests: Vec<(Tablet, Vec<u8>)>) -> (Duration, Cpu, Vec<Duration>) {
        self.runtime.block_on(async {
            let cpu = process_cpu();
            let client_cpu = cpu_of("/proc/thread-self/stat");
            let stolen = machine_steal();
            let start = Instant::now();
            let tasks: Vec<_> = requests
                .into_iter()
                .map(|(tablet, frame)| {
                    let (client, uri) = (self.client.clone(), self.uri.clone());
                    let frame = Bytes::from(frame);
                    tokio::spawn(async move {
                        let start = Instant::now();
                        for attempt in 1u64.. {
                            let request = hyper::Request::post(&uri)
                                .header("authorization", format!("Bearer {}", tablet.token))
                                .header("x-device-id", &tablet.device_id)
                                .header("content-type", protocol::CONTENT_TYPE)
                                .body(Full::new(frame.clone()))
                                .unwrap();
                            match client.request(request).await {
                                Ok(response) => {
                                    let status = response.status();
                                    let body = response.into_body().collect().await.unwrap().to_bytes();
                                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                                    protocol::decode::<protocol::SyncResponse>(&body).unwrap();
                                    break;
                                }
                                Err(e) if attempt < 5 => {
                                    eprintln!("retrying after: {e}");
                                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                                }
                                Err(e) => panic!("no reply after {attempt} attempts: {e}"),
                            }
                        }
                        start.elapsed()
                    })
                })
                .collect();
            let mut latencies = Vec::with_capacity(tasks.len());
            for task in tasks {
                latencies.push(task.await.unwrap());
            }
            let (wall, cpu) = (start.elapsed(), process_cpu() - cpu);
            let client_cpu = cpu_of("/proc/thread-self/stat") - client_cpu;
            let stolen = machine_steal().saturating_sub(stolen);
            latencies.sort();
            (wall, Cpu { all: cpu, client: client_cpu, stolen }, latencies)
        })
    }
}

/// CPU time of a run: the whole process's, the tablets' client's (this thread) within it, and
/// the time the machine's hypervisor gave its CPUs to others meanwhile (steal; on a shared VM the
/// wall-clock figures swing with it).
struct Cpu {
    all: Duration,
    client: Duration,
    stolen: Duration,
}

impl Cpu {
    /// The server's share: everything but the client thread.
    fn server(&self) -> Duration {
        self.all.saturating_sub(self.client)
    }
}

/// The steal time of all the machine's CPUs so far (the 8th figure of `/proc/stat`'s `cpu` line).
fn machine_steal() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let steal = stat.lines().next().and_then(|l| l.split_whitespace().nth(8)).and_then(|v| v.parse::<u64>().ok());
    Duration::from_millis(steal.unwrap_or(0) * 10)
}

/// The CPU time this process has used (user and system).
fn process_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

/// The CPU time (user and system) in a `/proc` stat file: the process's or a thread's.
fn cpu_of(stat_file: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_file).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or("", |(_, rest)| rest).split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime, fields 14 and 15 of the line: 11 and 12 after the name. Clock ticks are
    // 1/100 s on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// While one device sends, in a loop, the most expensive request the limits allow (as many new
/// customers as a request may carry, each with a visit: every one parsed, merged, checked and
/// appended), `others` devices keep syncing with nothing new; their latencies are the figure.
fn fairness(
    server: &TestServer,
    url: &str,
    managers: &[String],
    clients: &[HttpTransport],
    others: usize,
    heavy_customers: usize,
) {
    let others = others.min(clients.len());
    let store = server.store();
    let actor = fieldsync_core::ids::new_actor();
    let (attacker, token, head) = store
        .write_blocking(|s| {
            let attacker = accounts::user_by_id(s, &managers[0])?.expect("the manager");
            let token = accounts::register_device(s, &attacker, "bench-heavy-device", &actor, now_ms())?;
            Ok::<_, fieldsync_server::accounts::AccountError>((attacker, token, s.log_head()?))
        })
        .unwrap();
    drop(store);
    // Fresh customers every time, so no request is a cheap repeat of a known one.
    let per_request =
        fieldsync_server::limits::MAX_ITEMS.min(fieldsync_server::limits::MAX_CHANGES / 2).min(heavy_customers);
    let started = Instant::now();
    let heavy: Vec<Vec<u8>> = (0..3)
        .map(|round| {
            let push = (0..per_request)
                .map(|i| heavy_customer(&attacker.id, &actor, (round * per_request + i) as u64))
                .collect();
            protocol::encode(&SyncRequest { cursor: head as u64, max_bytes: 64 * 1024, push, ..Default::default() })
        })
        .collect();
    eprintln!(
        "fairness: {} heavy requests of {per_request} new customers ({:.0} KB each on the wire) built in {:.1} s",
        heavy.len(),
        heavy[0].len() as f64 / 1000.0,
        started.elapsed().as_secs_f64()
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heavy_thread = {
        let stop = stop.clone();
        let mut transport = HttpTransport::new(url, &Default::default(), &token, "bench-heavy-device");
        std::thread::spawn(move || {
            let (mut sent, mut slowest) = (0usize, Duration::ZERO);
            for frame in heavy.iter().cycle() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                let reply = transport.exchange(frame.clone());
                assert!(matches!(reply, Ok(Reply::Frame(_))), "the heavy request was refused: {reply:?}");
                slowest = slowest.max(t.elapsed());
                sent += 1;
            }
            (sent, slowest)
        })
    };
    // Let the first heavy request get going, then the others sync five times each.
    std::thread::sleep(Duration::from_millis(200));
    let noop = protocol::encode(&SyncRequest { cursor: head as u64, ..Default::default() });
    let handles: Vec<_> = clients[..others]
        .iter()
        .map(|t| {
            let (mut t, frame) = (t.clone(), noop.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    (0..5)
                        .map(|_| {
                            let start = Instant::now();
                            let reply = t.exchange(frame.clone());
                            assert!(matches!(reply, Ok(Reply::Frame(_))), "{reply:?}");
                            start.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap()
        })
        .collect();
    let mut latencies: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, slowest) = heavy_thread.join().unwrap();
    latencies.sort();
    line(
        &format!("fairness: {others} devices' no-op syncs while one device loops the most expensive request"),
        format!(
            "p50 {:.0} ms, **p99 {:.0} ms** ({} syncs; {sent} heavy requests of {per_request} new customers, \
             slowest {:.1} s)",
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.len(),
            slowest.as_secs_f64()
        ),
        "p99 ≤ 1 s",
    );
}

/// A new customer of the load's first manager with one logged visit, under `actor`: two changes.
fn heavy_customer(manager: &str, actor: &automerge::ActorId, i: u64) -> DocChanges {
    let ctx = Ctx { user_id: manager.to_string(), user_name: load_manager_name(0), role: Role::Manager, now: now_ms() };
    let id = fieldsync_core::ids::new_id();
    let profile = Profile::new(CustomerKind::Individual, format!("批量客户{i}"), "基准村");
    let (mut doc, _) = CustomerDoc::create(actor, &Action::CreateCustomer { id: id.clone(), profile }, &ctx).unwrap();
    let mut rng = workload::SplitMix64::new(i);
    let visit_id = fieldsync_core::ids::new_id();
    let record = workload::recorded_visit(&mut rng, &visit_id, ctx.now - 7_200_000, 30.5, 114.3);
    doc.apply(&record, &ctx).unwrap();
    DocChanges { customer_id: id, changes: doc.changes_since(&[]) }
}

/// The display name of the load's manager `k`.
fn load_manager_name(k: usize) -> String {
    format!("客户经理{k:04}")
}

/// A sync request from a device of manager `i` pushing a new customer with four logged visits.
fn new_customer_frame(manager: &str, cursor: u64, i: usize, actor: &automerge::ActorId) -> (Vec<u8>, usize) {
    let ctx = Ctx { user_id: manager.to_string(), user_name: load_manager_name(i), role: Role::Manager, now: now_ms() };
    let id = fieldsync_core::ids::new_id();
    let profile = Profile::new(CustomerKind::Individual, format!("新客户{i}"), "基准村");
    let (mut doc, _) = CustomerDoc::create(actor, &Action::CreateCustomer { id: id.clone(), profile }, &ctx).unwrap();
    let mut rng = workload::SplitMix64::new(i as u64);
    for _ in 0..4 {
        let visit_id = fieldsync_core::ids::new_id();
        let record = workload::recorded_visit(&mut rng, &visit_id, ctx.now - 7_200_000, 30.5, 114.3);
        doc.apply(&record, &ctx).unwrap();
    }
    let changes = doc.changes_since(&[]);
    let request = SyncRequest {
        cursor,
        max_bytes: 64 * 1024,
        push: vec![DocChanges { customer_id: id, changes }],
        ..Default::default()
    };
    (protocol::encode(&request), 5)
}

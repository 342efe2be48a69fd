//! The device store on the reference workload, against DESIGN.md's performance targets.
//!
//! Run: `CARGO_TARGET_DIR=target-bench cargo bench -p fieldsync-core --bench store`.
//!
//! Fixtures are built once per run into `<target dir>/fixtures/` (the 2,000 reference customers, and
//! 5,000 generated ones, each a store file written through `Store::merge_batch`); each benchmark
//! works on a copy. Besides criterion's figures, some benchmarks print their own lines, starting
//! with `[fieldsync]`: percentiles of durable visit writes and the process's memory.
//!
//! Under `cargo test --benches` (no `--bench` flag) everything runs once on a few customers, as a
//! smoke test.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use fieldsync_core::domain::{Ctx, Role};
use fieldsync_core::store::{CustomerFilter, Key, Store, schema};
use fieldsync_core::workload::{
    self, Book, BranchRecord, COMMITS_PER_CUSTOMER, PreparedDoc, SplitMix64, Template, copy_store,
};

/// Set in the child process that measures memory: the store file to open.
const RSS_PROBE_ENV: &str = "FIELDSYNC_BENCH_RSS_PROBE";
const RSS_VILLAGE_ENV: &str = "FIELDSYNC_BENCH_RSS_VILLAGE";
const RSS_KEY_ENV: &str = "FIELDSYNC_BENCH_RSS_ENCRYPTED";
/// The SQLCipher key of the encrypted fixture (a benchmark key, not a secret).
const BENCH_KEY: [u8; 32] = [0x5a; 32];
const GENERATED_SEED: u64 = 20_250_721;
/// 2025-07-21 08:00 China time: the benchmark's "today".
const TODAY: i64 = 1_753_056_000_000;
const MINUTE: i64 = 60_000;

/// Full sizes under `cargo bench`; a smoke run under `cargo test --benches`.
struct Sizes {
    full: bool,
    reference: usize,
    generated: usize,
    writes: usize,
    foreign_docs: usize,
    foreign_visits_per_doc: usize,
}

fn sizes() -> &'static Sizes {
    static SIZES: OnceLock<Sizes> = OnceLock::new();
    SIZES.get_or_init(|| {
        if std::env::args().any(|a| a == "--bench") {
            Sizes {
                full: true,
                reference: 2_000,
                generated: 5_000,
                writes: 2_000,
                foreign_docs: 1_000,
                foreign_visits_per_doc: 5,
            }
        } else {
            Sizes { full: false, reference: 30, generated: 40, writes: 20, foreign_docs: 10, foreign_visits_per_doc: 5 }
        }
    })
}

fn say(line: impl AsRef<str>) {
    println!("[fieldsync] {}", line.as_ref());
}

/// `<target dir>/fixtures`: the bench binary lives in `<target dir>/<profile>/deps/`.
fn fixtures_dir() -> PathBuf {
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(|target| target.join("fixtures")));
    let dir = from_exe.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target-bench/fixtures"));
    std::fs::create_dir_all(dir.join("run")).expect("create the fixtures folder");
    dir
}

/// A working copy of a template, for one benchmark.
fn working_copy(template: &Path, name: &str) -> PathBuf {
    let path = fixtures_dir().join("run").join(name);
    copy_store(template, &path).expect("copy the template store");
    path
}

struct Fixture {
    records: Vec<BranchRecord>,
    template: Template,
    label: String,
}

/// The reference book (2,000 customers) as a store; a generated stand-in if the files are missing.
fn reference() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let n = sizes().reference;
        let (records, label) = match workload::reference_branch() {
            Ok(mut r) => {
                r.truncate(n);
                (r, format!("{n} reference customers"))
            }
            Err(e) => {
                say(format!("WARNING: {e}; using {n} generated customers instead"));
                (workload::generate_branch(n, GENERATED_SEED), format!("{n} generated customers (stand-in)"))
            }
        };
        build_fixture(records, label, &format!("reference-{n}.db"))
    })
}

/// 5,000 generated customers as a store.
fn generated() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let n = sizes().generated;
        let records = workload::generate_branch(n, GENERATED_SEED);
        build_fixture(records, format!("{n} generated customers"), &format!("generated-{n}.db"))
    })
}

fn build_fixture(records: Vec<BranchRecord>, label: String, file: &str) -> Fixture {
    let path = fixtures_dir().join(file);
    let template = workload::build_template(&path, &records, &Book::reference()).expect("build the fixture store");
    let l = &template.load;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    say(format!(
        "fixture {label}: documents built in {:.1} s, merged in {:.1} s ({} changes, {:.1} MB of changes, {:.0} changes/s \
         through merge_batch); store file {:.1} MB",
        template.build_time.as_secs_f64(),
        l.elapsed.as_secs_f64(),
        l.changes,
        l.bytes as f64 / 1e6,
        l.changes as f64 / l.elapsed.as_secs_f64(),
        size as f64 / 1e6,
    ));
    Fixture { records, template, label }
}

/// The generated store, encrypted with SQLCipher.
fn generated_encrypted() -> &'static PathBuf {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| encrypted_template(generated(), "generated"))
}

/// The reference store, encrypted with SQLCipher.
fn reference_encrypted() -> &'static PathBuf {
    static F: OnceLock<PathBuf> = OnceLock::new();
    F.get_or_init(|| encrypted_template(reference(), "reference"))
}

/// An encrypted copy of a fixture's store (`sqlcipher_export`, with [`BENCH_KEY`]).
fn encrypted_template(f: &Fixture, name: &str) -> PathBuf {
    let path = fixtures_dir().join(format!("{name}-{}-encrypted.db", f.records.len()));
    workload::remove_store(&path).expect("remove the old encrypted fixture");
    let store = Store::open(&f.template.path, None).expect("open the plain fixture");
    let hex: String = BENCH_KEY.iter().map(|b| format!("{b:02x}")).collect();
    let target = path.to_str().expect("a UTF-8 path").replace('\'', "''");
    store
        .connection()
        .execute_batch(&format!(
            "ATTACH DATABASE '{target}' AS enc KEY \"x'{hex}'\";
             SELECT sqlcipher_export('enc');
             PRAGMA enc.user_version = {};
             PRAGMA enc.application_id = {};
             DETACH DATABASE enc;",
            schema::LATEST,
            schema::APPLICATION_ID
        ))
        .expect("export the encrypted fixture");
    path
}

// -------------------------------------------------------------------------------------------------
// Durable visit writes
// -------------------------------------------------------------------------------------------------

/// Records complete visits on random customers the way a manager does: a `StartVisit` (check-in)
/// on a random customer, then the `CheckOut` on that customer. Each call is one user action, one
/// durable commit. The customer is usually not among the 64 cached documents at check-in, and is
/// at check-out.
struct VisitWriter {
    rng: SplitMix64,
    ids: Vec<String>,
    positions: Vec<(f64, f64)>,
    pending: Option<(usize, fieldsync_core::domain::Action, i64)>,
    clock: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Start,
    CheckOut,
}

impl VisitWriter {
    fn new(f: &Fixture, seed: u64) -> Self {
        VisitWriter {
            rng: SplitMix64::new(seed),
            ids: f.template.customer_ids.clone(),
            positions: f.records.iter().map(|r| (r.profile.lat, r.profile.lng)).collect(),
            pending: None,
            clock: TODAY,
        }
    }

    fn write(&mut self, store: &mut Store) -> Kind {
        if let Some((customer, out, at)) = self.pending.take() {
            store.apply(&self.ids[customer], &out, at).expect("check out");
            return Kind::CheckOut;
        }
        let customer = self.rng.below(self.ids.len() as u64) as usize;
        let (lat, lng) = self.positions[customer];
        self.clock += 90 * MINUTE;
        let visit_id = fieldsync_core::ids::new_id();
        let (start, out) = workload::visit_actions(&mut self.rng, &visit_id, self.clock, lat, lng);
        store.apply(&self.ids[customer], &start, self.clock).expect("start a visit");
        self.pending = Some((customer, out, self.clock + 60 * MINUTE));
        Kind::Start
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn summary(label: &str, mut samples: Vec<Duration>) -> String {
    samples.sort_unstable();
    format!(
        "{label}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    )
}

fn visit_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.sample_size(20).measurement_time(Duration::from_secs(6));
    let mut state: Option<(Store, VisitWriter)> = None;
    group.bench_function("visit_write_durable_2000", |b| {
        let (store, writer) = state.get_or_insert_with(|| {
            let f = reference();
            measure_visit_percentiles(f);
            let path = working_copy(&f.template.path, "visit-writes-criterion.db");
            (Store::open(&path, None).expect("open"), VisitWriter::new(f, 2))
        });
        b.iter(|| writer.write(store));
    });
    group.finish();
}

/// p50/p99 of single durable writes on a fresh copy of the reference store, timed one by one,
/// unencrypted and with SQLCipher.
fn measure_visit_percentiles(f: &Fixture) {
    say(format!(
        "durable visit writes on {} (WAL, synchronous=FULL; actions alternate StartVisit on a random customer / \
         CheckOut of that visit, one Store::apply each; the StartVisit usually loads the document, the CheckOut \
         finds it cached):",
        f.label
    ));
    let key = Key(BENCH_KEY);
    for (label, template, key) in
        [("unencrypted", &f.template.path, None), ("SQLCipher", reference_encrypted(), Some(&key))]
    {
        let path = working_copy(template, &format!("visit-writes-{label}.db"));
        let mut store = Store::open(&path, key).expect("open");
        let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
        let sync: i64 = store.connection().query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma");
        assert_eq!((mode.as_str(), sync), ("wal", 2), "the store must run WAL + synchronous=FULL");
        let mut writer = VisitWriter::new(f, 1);
        let (mut all, mut starts, mut outs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..sizes().writes {
            let t = Instant::now();
            let kind = writer.write(&mut store);
            let d = t.elapsed();
            all.push(d);
            if kind == Kind::Start { starts.push(d) } else { outs.push(d) }
        }
        say(format!("  {label:<11} {}   <- target p99 <= 2 ms", summary("all writes           ", all)));
        say(format!("  {label:<11} {}", summary("StartVisit (doc load)", starts)));
        say(format!("  {label:<11} {}", summary("CheckOut (cached doc) ", outs)));
    }
}

// -------------------------------------------------------------------------------------------------
// Opening the store and listing a village; memory
// -------------------------------------------------------------------------------------------------

fn largest_village(f: &Fixture) -> (String, usize) {
    workload::villages_by_size(&f.records).into_iter().next().expect("a village")
}

fn open_and_list(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.sample_size(20).measurement_time(Duration::from_secs(4));
    let mut plain: Option<(PathBuf, CustomerFilter)> = None;
    group.bench_function("open_list_village_5000_cold", |b| {
        let (path, filter) = plain.get_or_insert_with(|| {
            let f = generated();
            let (village, n) = largest_village(f);
            let path = working_copy(&f.template.path, "open-list.db");
            say(format!(
                "open + first village list: new Store::open each iteration, then customers(village={village}, 50, None) \
                 -> {n} customers; target <= 150 ms"
            ));
            memory_probe(&path, &village, false);
            (path, CustomerFilter { village: Some(village), ..Default::default() })
        });
        // One iteration per batch, so each store is closed (untimed) before the next opens.
        b.iter_batched(
            || (),
            |()| {
                let store = Store::open(&*path, None).expect("open");
                let page = store.customers(filter, 50, None).expect("list");
                (store, page)
            },
            BatchSize::PerIteration,
        );
    });
    let mut encrypted: Option<(PathBuf, CustomerFilter)> = None;
    group.bench_function("open_list_village_5000_cold_sqlcipher", |b| {
        let (path, filter) = encrypted.get_or_insert_with(|| {
            let f = generated();
            let (village, _) = largest_village(f);
            let path = working_copy(generated_encrypted(), "open-list-encrypted.db");
            memory_probe(&path, &village, true);
            (path, CustomerFilter { village: Some(village), ..Default::default() })
        });
        let key = Key(BENCH_KEY);
        // One iteration per batch, so each store is closed (untimed) before the next opens.
        b.iter_batched(
            || (),
            |()| {
                let store = Store::open(&*path, Some(&key)).expect("open");
                let page = store.customers(filter, 50, None).expect("list");
                (store, page)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// Measures memory in a fresh process (this one holds the fixtures): the bench binary re-runs
/// itself with [`RSS_PROBE_ENV`] set and reports VmRSS/VmHWM.
fn memory_probe(path: &Path, village: &str, encrypted: bool) {
    if !sizes().full {
        return;
    }
    let exe = std::env::current_exe().expect("the bench binary");
    let mut cmd = Command::new(exe);
    cmd.env(RSS_PROBE_ENV, path).env(RSS_VILLAGE_ENV, village);
    if encrypted {
        cmd.env(RSS_KEY_ENV, "1");
    }
    match cmd.output() {
        Ok(out) if out.status.success() => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                say(line);
            }
        }
        Ok(out) => say(format!("memory probe failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => say(format!("memory probe could not start: {e}")),
    }
}

fn proc_status(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn memory_line(what: &str) -> String {
    format!("  {what:<58} VmRSS {:6.1} MB   VmHWM {:6.1} MB", proc_status("VmRSS:"), proc_status("VmHWM:"))
}

/// The child side of [`memory_probe`].
fn run_memory_probe(path: &str) {
    let village = std::env::var(RSS_VILLAGE_ENV).unwrap_or_default();
    let encrypted = std::env::var_os(RSS_KEY_ENV).is_some();
    let key = Key(BENCH_KEY);
    let key = encrypted.then_some(&key);
    println!(
        "memory of a fresh process, {} store of 5,000 customers (target <= 40 MB steady):",
        if encrypted { "SQLCipher-encrypted" } else { "unencrypted" }
    );
    println!("{}", memory_line("process start (bench binary, nothing opened)"));
    let mut store = Store::open(path, key).expect("open");
    let filter = CustomerFilter { village: Some(village), ..Default::default() };
    let page = store.customers(&filter, 50, None).expect("list");
    println!("{}", memory_line(&format!("after Store::open + village list ({} rows)", page.items.len())));
    // Scroll the whole customer list, then open 64 customers (the store's document cache size).
    let mut cursor = None;
    let mut ids = Vec::new();
    loop {
        let page = store.customers(&CustomerFilter::default(), 50, cursor.as_deref()).expect("list");
        ids.extend(page.items.into_iter().map(|c| c.customer_id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    println!("{}", memory_line(&format!("after scrolling the full list ({} customers)", ids.len())));
    for id in ids.iter().step_by((ids.len() / 64).max(1)).take(64) {
        black_box(store.customer_360(id).expect("360"));
    }
    println!("{}", memory_line("after opening 64 customers' 360 views (doc cache full)"));
}

// -------------------------------------------------------------------------------------------------
// Search and the 360 view
// -------------------------------------------------------------------------------------------------

fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("store/search_5000");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    let mut state: Option<(Store, Vec<(&'static str, String)>)> = None;
    let setup = || {
        let f = generated();
        let path = working_copy(&f.template.path, "search.db");
        let store = Store::open(&path, None).expect("open");
        let sample = &f.records[17.min(f.records.len() - 1)].profile;
        let initials = fieldsync_core::search::name_initials(&sample.name);
        let initials = initials.split(' ').next().unwrap_or("zs").to_string();
        let fragment: String = sample.name.chars().skip(1).collect();
        let suffix = sample.phone[sample.phone.len() - 4..].to_string();
        let queries = vec![("pinyin_initials", initials), ("name_fragment", fragment), ("phone_suffix", suffix)];
        for (what, q) in &queries {
            let filter = CustomerFilter { search: Some(q.clone()), ..Default::default() };
            let page = store.customers(&filter, 50, None).expect("search");
            say(format!(
                "search {what} {q:?} on {}: {} on the first page{}",
                f.label,
                page.items.len(),
                if page.next.is_some() { " (more pages)" } else { "" }
            ));
        }
        (store, queries)
    };
    for i in 0..3 {
        let name = ["pinyin_initials", "name_fragment", "phone_suffix"][i];
        group.bench_function(name, |b| {
            let (store, queries) = state.get_or_insert_with(&setup);
            let filter = CustomerFilter { search: Some(queries[i].1.clone()), ..Default::default() };
            b.iter(|| store.customers(&filter, 50, None).expect("search"));
        });
    }
    group.finish();
}

fn view_360(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.sample_size(20).measurement_time(Duration::from_secs(4));
    let mut state: Option<(PathBuf, Vec<String>, usize)> = None;
    group.bench_function("customer_360_fresh_store", |b| {
        let (path, ids, next) = state.get_or_insert_with(|| {
            let f = reference();
            say(format!(
                "360 view: customer_360 of one customer right after Store::open (open not timed; document not cached) \
                 on {}",
                f.label
            ));
            (working_copy(&f.template.path, "view-360.db"), f.template.customer_ids.clone(), 0)
        });
        b.iter_batched(
            || Store::open(&*path, None).expect("open"),
            |mut store| {
                *next = (*next + 7) % ids.len();
                let view = store.customer_360(&ids[*next]).expect("360");
                (store, view)
            },
            BatchSize::PerIteration,
        );
    });
    let mut cached: Option<(Store, String)> = None;
    group.bench_function("customer_360_cached", |b| {
        let (store, id) = cached.get_or_insert_with(|| {
            let f = reference();
            let mut store = Store::open(working_copy(&f.template.path, "view-360-cached.db"), None).expect("open");
            let id = f.template.customer_ids[0].clone();
            store.customer_360(&id).expect("360");
            (store, id)
        });
        b.iter(|| store.customer_360(id).expect("360"));
    });
    group.finish();
}

// -------------------------------------------------------------------------------------------------
// Merging foreign changes
// -------------------------------------------------------------------------------------------------

/// Another replica's work on the reference customers: the same manager on another tablet records
/// `visits` complete visits (StartVisit + CheckOut, two changes each) on each of the first `docs`
/// customers.
fn foreign_changes(f: &Fixture, docs: usize, visits: usize) -> Vec<PreparedDoc> {
    let book = Book::reference();
    let server = book.server_actor();
    let tablet = fieldsync_core::ids::new_actor();
    let mut rng = SplitMix64::new(99);
    f.records
        .iter()
        .take(docs)
        .map(|record| {
            let prepared = workload::build_changes(record, &book, &server).expect("build");
            let customer_id = prepared.customer_id;
            let mut doc =
                fieldsync_core::document::CustomerDoc::load(&customer_id, &prepared.bytes, &tablet).expect("fork");
            let before = doc.heads();
            let mut changes = 0;
            for v in 0..visits {
                let at = TODAY + v as i64 * 120 * MINUTE;
                let id = format!("{}-{v}", fieldsync_core::ids::new_id());
                let (start, out) = workload::visit_actions(&mut rng, &id, at, record.profile.lat, record.profile.lng);
                for (action, now) in [(start, at), (out, at + 60 * MINUTE)] {
                    let ctx = Ctx {
                        user_id: book.manager_id.clone(),
                        user_name: book.manager_name.clone(),
                        role: Role::Manager,
                        now,
                    };
                    doc.apply(&action, &ctx).expect("visit action").expect("a change");
                    changes += 1;
                }
            }
            PreparedDoc { customer_id, bytes: doc.changes_since(&before), changes }
        })
        .collect()
}

fn merges(c: &mut Criterion) {
    let s = sizes();
    let mut group = c.benchmark_group("store");
    // A sample takes seconds: one iteration per sample, ten samples.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(60));
    let foreign_total = s.foreign_docs * s.foreign_visits_per_doc * 2;
    group.throughput(Throughput::Elements(foreign_total as u64));
    let mut foreign: Option<(Vec<PreparedDoc>, PathBuf)> = None;
    group.bench_function(format!("merge_batch_{foreign_total}_foreign_changes"), |b| {
        let (docs, path) = foreign.get_or_insert_with(|| {
            let f = reference();
            let docs = foreign_changes(f, s.foreign_docs, s.foreign_visits_per_doc);
            say(format!(
                "merge_batch of another tablet's changes: {} customers x {} changes ({} visits as StartVisit+CheckOut) \
                 = {} changes, {:.0} KB, into the store of {}, batches of {}; throughput below is changes/s",
                docs.len(),
                s.foreign_visits_per_doc * 2,
                s.foreign_visits_per_doc,
                foreign_total,
                docs.iter().map(|d| d.bytes.len()).sum::<usize>() as f64 / 1e3,
                f.label,
                workload::LOAD_BATCH
            ));
            (docs, fixtures_dir().join("run").join("merge.db"))
        });
        b.iter_batched(
            || {
                copy_store(&reference().template.path, path).expect("copy");
                Store::open(&*path, None).expect("open")
            },
            |mut store| {
                let stats = workload::load_into_store(&mut store, docs, workload::LOAD_BATCH).expect("merge");
                (store, stats)
            },
            BatchSize::PerIteration,
        );
    });

    let reference_rows = s.reference * COMMITS_PER_CUSTOMER;
    group.throughput(Throughput::Elements(reference_rows as u64));
    let mut bulk: Option<(Vec<PreparedDoc>, PathBuf)> = None;
    group.bench_function(format!("bulk_load_{}_customers_empty_store", s.reference), |b| {
        let (docs, path) = bulk.get_or_insert_with(|| {
            let f = reference();
            let docs = workload::build_all(&f.records, &Book::reference()).expect("build");
            say(format!(
                "bulk load (first-sync shape): {} whole documents ({} changes = {} projection rows: customers, visits, \
                 leads) merged into an empty store; throughput below is changes (= rows)/s; target >= 50,000 rows/s",
                f.label, reference_rows, reference_rows
            ));
            (docs, fixtures_dir().join("run").join("bulk.db"))
        });
        b.iter_batched(
            || {
                workload::remove_store(path).expect("remove");
                let mut store = Store::open(&*path, None).expect("open");
                store.sign_in(Book::reference().user()).expect("sign in");
                store
            },
            |mut store| {
                let stats = workload::load_into_store(&mut store, docs, workload::LOAD_BATCH).expect("merge");
                (store, stats)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn main() {
    if let Some(path) = std::env::var_os(RSS_PROBE_ENV) {
        run_memory_probe(&path.to_string_lossy());
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    visit_writes(&mut c);
    open_and_list(&mut c);
    search(&mut c);
    view_360(&mut c);
    merges(&mut c);
    c.final_summary();
}

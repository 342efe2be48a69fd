//! Pure automerge (no store): the cost of small commits, in the shape of automerge issue #1387
//! (automerge 0.12 commits small map edits far slower than 0.6 did: ~4k single-field commits/s
//! against ~67k). Kept so that a regression or an upstream fix shows.
//!
//! Run: `CARGO_TARGET_DIR=target-bench cargo bench -p fieldsync-core --bench automerge_commits`.
//! Criterion's throughput line gives commits/s; a `[fieldsync]` line per benchmark repeats it from
//! one timed run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const SINGLE_FIELD_COMMITS: usize = 1_000;
const RECORDS: usize = 500;
const FIELDS_PER_RECORD: usize = 13;

fn actor() -> ActorId {
    ActorId::from([7u8; 16].as_slice())
}

fn commit(doc: &mut AutoCommit, i: usize) {
    doc.commit_with(CommitOptions::default().with_message("bench".to_string()).with_time(1_753_056_000 + i as i64));
}

/// One map at the root, then `n` commits of one `put` each (a new key every time, as a document
/// grows field by field).
fn single_field_commits(n: usize) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(actor());
    let map = doc.put_object(ROOT, "meta", ObjType::Map).expect("put_object");
    commit(&mut doc, 0);
    for i in 0..n {
        doc.put(&map, format!("field_{i}"), i as i64).expect("put");
        commit(&mut doc, i + 1);
    }
    doc
}

/// `n` records of 13 fields each (a visit-sized record: strings, integers, a float, a boolean), one
/// commit per record, all under one map.
fn record_commits(n: usize) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(actor());
    let records = doc.put_object(ROOT, "records", ObjType::Map).expect("put_object");
    commit(&mut doc, 0);
    for i in 0..n {
        let rec = doc.put_object(&records, format!("rec_{i:06}"), ObjType::Map).expect("put_object");
        doc.put(&rec, "id", format!("v_{i:016x}")).expect("put");
        doc.put(&rec, "manager", "郭华霞").expect("put");
        doc.put(&rec, "manager_id", "M82676").expect("put");
        doc.put(&rec, "purpose", "follow_up").expect("put");
        doc.put(&rec, "started_at", 1_736_731_223_000_i64 + i as i64).expect("put");
        doc.put(&rec, "ended_at", 1_736_734_874_000_i64 + i as i64).expect("put");
        doc.put(&rec, "lat", 31.690_171_097_480_086).expect("put");
        doc.put(&rec, "lng", 105.425_433_572_503_85).expect("put");
        doc.put(&rec, "accuracy_m", 27_i64).expect("put");
        doc.put(&rec, "notes", "收入主要来自柑橘种植，上次贷款已按时还清，村委推荐的优质农户，配偶在县城务工。")
            .expect("put");
        doc.put(&rec, "outcome", "有意向").expect("put");
        doc.put(&rec, "cost_fen", 224_i64).expect("put");
        doc.put(&rec, "completed", true).expect("put");
        commit(&mut doc, i + 1);
    }
    doc
}

fn report(what: &str, commits: usize, f: impl Fn() -> AutoCommit) {
    let t = Instant::now();
    black_box(f());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "[fieldsync] automerge 0.12, {what}: {commits} commits in {:.1} ms = {:.0} commits/s ({:.3} ms/commit)",
        secs * 1e3,
        commits as f64 / secs,
        secs * 1e3 / commits as f64
    );
}

fn benches(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let (singles, records) = if full { (SINGLE_FIELD_COMMITS, RECORDS) } else { (20, 10) };

    let mut group = c.benchmark_group("automerge");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(8));

    group.throughput(Throughput::Elements(singles as u64));
    let mut reported = false;
    group.bench_function(format!("single_field_put_commit_x{singles}"), |b| {
        if !std::mem::replace(&mut reported, true) {
            report("single-field put + commit on one map", singles, || single_field_commits(singles));
        }
        b.iter(|| single_field_commits(singles));
    });

    group.throughput(Throughput::Elements(records as u64));
    let mut reported = false;
    group.bench_function(format!("record_{FIELDS_PER_RECORD}_fields_per_commit_x{records}"), |b| {
        if !std::mem::replace(&mut reported, true) {
            report("13-field record per commit", records, || record_commits(records));
        }
        b.iter(|| record_commits(records));
    });

    // One more single-field commit on a document that already holds 1,000 (and, as the benchmark
    // runs, more): does the cost of one small commit grow with history?
    group.throughput(Throughput::Elements(1));
    let mut grown: Option<(AutoCommit, automerge::ObjId, usize)> = None;
    group.bench_function(format!("one_single_field_commit_after_{singles}"), |b| {
        let (doc, map, i) = grown.get_or_insert_with(|| {
            let doc = single_field_commits(singles);
            let map = doc.get(ROOT, "meta").expect("get").expect("meta").1;
            (doc, map, singles)
        });
        b.iter(|| {
            *i += 1;
            doc.put(&*map, format!("late_{}", *i), 1_i64).expect("put");
            commit(doc, *i);
        });
    });
    group.finish();
}

criterion_group!(automerge_commits, benches);
criterion_main!(automerge_commits);

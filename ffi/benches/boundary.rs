//! What the apps' object costs over the core: the same calls on `Store` directly and on
//! `FieldsyncDevice` (the object the bindings wrap), on a store of 500 customers. The same calls
//! through the generated bindings are timed by `mobile-bindings/python/bench_boundary.py` (and
//! the Kotlin suite's figures in the note); the difference is the foreign boundary.
//!
//! `cargo bench -p fieldsync-ffi --bench boundary`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fieldsync_core::domain::{Action, Channel, CustomerKind, Profile, Role, VisitDetails, VisitPurpose};
use fieldsync_core::store::{CustomerFilter, Store, User};
use fieldsync_ffi::FieldsyncDevice;
use fieldsync_ffi::records::{CustomerQuery, OwnerFilter};

pub const CUSTOMERS: usize = 500;
const PAGE: u32 = 50;
const NOW: i64 = 1_753_056_000_000;

/// A signed-in store of [`CUSTOMERS`] customers in five villages, each with one completed visit;
/// returns a customer and its visit.
fn fixture(path: &std::path::Path) -> (String, String) {
    let mut store = Store::open(path, None).unwrap();
    store.sign_in(User { id: "bench-manager".into(), name: "客户经理".into(), role: Role::Manager }).unwrap();
    let mut last = (String::new(), String::new());
    for i in 0..CUSTOMERS {
        let mut profile = Profile::new(CustomerKind::Individual, format!("客户{i:03}"), format!("村{}", i % 5));
        profile.phone = Some(format!("138{:08}", i));
        let id = store.create_customer(profile, NOW).unwrap();
        let visit = fieldsync_core::ids::new_id();
        let at = |offset| fieldsync_core::domain::CheckPoint {
            at: NOW + offset,
            position: fieldsync_core::domain::GeoPoint { lat: 30.5, lng: 114.3, accuracy_m: 10.0 },
            provider: fieldsync_core::domain::LocationProvider::Gps,
            mock_location: false,
        };
        let record = Action::RecordVisit {
            visit_id: visit.clone(),
            purpose: VisitPurpose::Marketing,
            channel: Channel::InPerson,
            check_in: at(0),
            check_out: at(1_800_000),
            details: VisitDetails::default(),
        };
        store.apply(&id, &record, NOW + 1_800_000).unwrap();
        last = (id, visit);
    }
    last
}

fn boundary(c: &mut Criterion) {
    // Kept after the run for the Python side (mobile-bindings/python/bench_boundary.py).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/boundary-fixture");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tablet.db");
    let (customer, visit) = fixture(&path);
    println!("[fieldsync] fixture: {} ({CUSTOMERS} customers)", path.display());
    let mut store = Store::open(&path, None).unwrap();
    let filter = CustomerFilter::default();
    c.bench_function("list 50 customers: Store::customers (Rust)", |b| {
        b.iter(|| black_box(store.customers(&filter, PAGE, None).unwrap()))
    });
    let mut n = 0u64;
    c.bench_function("visit write (notes edited, one durable commit): Store::apply (Rust)", |b| {
        b.iter(|| {
            n += 1;
            let details = VisitDetails { notes: format!("第{n}次修改"), ..Default::default() };
            store.apply(&customer, &Action::UpdateVisit { visit_id: visit.clone(), details }, NOW + 3_600_000).unwrap()
        })
    });
    drop(store);

    let device = FieldsyncDevice::open(path.to_string_lossy().into_owned(), None).unwrap();
    let query = CustomerQuery {
        village: None,
        villages: Vec::new(),
        tag: None,
        tier: None,
        lifecycle: None,
        owner: OwnerFilter::Anyone,
        search: None,
    };
    c.bench_function("list 50 customers: FieldsyncDevice::customers (the bindings' object)", |b| {
        b.iter(|| black_box(device.customers(query.clone(), PAGE, None).unwrap()))
    });
    c.bench_function("visit write: FieldsyncDevice::update_visit (the bindings' object)", |b| {
        b.iter(|| {
            n += 1;
            let details = VisitDetails { notes: format!("第{n}次修改"), ..Default::default() };
            device.update_visit(customer.clone(), visit.clone(), details).unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = boundary
}
criterion_main!(benches);

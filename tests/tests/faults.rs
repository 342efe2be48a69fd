//! Syncs cut at many points, in both directions, through a proxy on loopback: each attempt keeps
//! what it completed, the last one finishes, nothing is duplicated on the server, and the devices
//! converge.

use fieldsync_core::domain::{CustomerKind, Profile};
use fieldsync_core::sync::SyncOptions;
use fieldsync_ffi::Device;
use fieldsync_tests::proxy::Proxy;
use fieldsync_tests::{PASSWORD, TestServer, now_ms};

fn small_pages() -> SyncOptions {
    SyncOptions { now: now_ms(), first_page_bytes: 4 * 1024, max_page_bytes: 16 * 1024, ..Default::default() }
}

fn try_sync(device: &mut Device) -> bool {
    device.sync(small_pages(), &mut |_| {}, &|| false).is_ok()
}

fn change_rows(server: &TestServer) -> (i64, i64) {
    server.change_counts()
}

#[test]
fn pushes_cut_at_many_points_resume_without_duplicates() {
    let (server, _branch) = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = Device::open(dir.path().join("m1.db"), None).unwrap();
    m1.login(&proxy.url(), "m1", PASSWORD).unwrap();
    let mut ids = Vec::new();
    for i in 0..30u32 {
        let mut profile = Profile::new(CustomerKind::Individual, format!("客户{i}"), "韩桥村");
        // Notes that do not compress, so the request is long enough to cut in many places.
        let mut seed = 0x9e37_79b9_u32.wrapping_mul(i + 1);
        profile.notes = (0..300)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                char::from_u32(0x4e00 + (seed >> 16) % 0x5000).unwrap()
            })
            .collect();
        ids.push(m1.store().create_customer(profile, now_ms()).unwrap());
    }
    // Cut the upload at growing offsets; every attempt fails, none may leave a partial state.
    let mut failures = 0;
    for cut in [10u64, 200, 700, 1500, 3000, 6000] {
        proxy.cut_up_after(cut);
        if !try_sync(&mut m1) {
            failures += 1;
        }
    }
    assert!(failures >= 5, "the cuts interrupted the syncs ({failures})");
    assert!(proxy.cuts() >= 5);
    // Then responses are cut after the server stored the push: the device does not know, and
    // pushes again; the server takes nothing twice.
    for cut in [5u64, 100, 400] {
        proxy.cut_down_after(cut);
        try_sync(&mut m1);
    }
    assert!(try_sync(&mut m1), "a clean sync finishes");
    assert!(m1.store().unpushed().unwrap().is_empty());
    let (rows, distinct) = change_rows(&server);
    assert_eq!(rows, distinct);
    assert_eq!(rows, 30, "30 customers, each the manager's own from its creation");

    // Another tablet of the same manager, first sync cut many times on the way down.
    let mut other = Device::open(dir.path().join("m1b.db"), None).unwrap();
    other.login(&proxy.url(), "m1", PASSWORD).unwrap();
    let mut held = 0;
    let mut attempts = 0;
    for cut in [1u64, 50, 300, 1000, 2500, 4000, 6000, 9000] {
        proxy.cut_down_after(cut);
        attempts += 1;
        let done = try_sync(&mut other);
        let now_held = other.store().customer_ids().unwrap().len();
        assert!(now_held >= held, "a cut never loses what was applied");
        held = now_held;
        if done {
            break;
        }
    }
    assert!(attempts > 3);
    assert!(try_sync(&mut other));
    assert_eq!(other.store().pending_fetches().unwrap(), 0);
    let mut mine = ids.clone();
    mine.sort();
    assert_eq!(other.store().customer_ids().unwrap(), mine);
    for id in &ids {
        assert_eq!(other.store().customer_file(id).unwrap(), m1.store().customer_file(id).unwrap());
        assert_eq!(other.store().heads(id).unwrap(), m1.store().heads(id).unwrap());
    }
    // Documents that arrived as snapshots are checked, and their rows equal rows computed here.
    other.store().check_received(1000).unwrap();
    assert_eq!(other.store().projection_dump().unwrap(), m1.store().projection_dump().unwrap());
    let before = other.store().projection_dump().unwrap();
    other.store().rebuild_projections().unwrap();
    assert_eq!(other.store().projection_dump().unwrap(), before);
}

//! The branch's product catalog with real tablets and the real server: what an admin puts in
//! reaches every tablet of the branch with the next sync, brochure included, and stays usable
//! offline; a lead refers to a catalog product; a withdrawn product leaves the tablets; another
//! branch never sees the brochure; bad products are refused and change nothing.

use fieldsync_core::domain::{CatalogProduct, LeadSource, Product};
use fieldsync_tests::attack::Client;
use fieldsync_tests::{TestServer, device, now_ms, sync};

fn product(id: &str) -> CatalogProduct {
    CatalogProduct {
        id: id.into(),
        kind: Product::Deposit,
        name: "三年期整存整取".into(),
        term: "3 年".into(),
        rate_bp: Some(275),
        description: "保本保息，到期自动转存。".into(),
        brochure: None,
    }
}

#[test]
fn the_catalog_reaches_every_tablet_of_the_branch_and_works_offline() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup2 = device(dir.path(), "sup2", &server.url(), "sup2");
    let brochure = b"%PDF-1.4 brochure of the three-year deposit".to_vec();
    let admin = server.store();
    admin
        .write_blocking(|s| fieldsync_server::catalog::put(s, &branch.id, product("dep-3y"), Some(&brochure), now_ms()))
        .unwrap();
    // Refused products change nothing: an empty name, a brochure too large.
    let mut nameless = product("bad");
    nameless.name = String::new();
    assert!(admin.write_blocking(|s| fieldsync_server::catalog::put(s, &branch.id, nameless, None, now_ms())).is_err());
    let huge = vec![0u8; fieldsync_core::domain::catalog::MAX_BROCHURE + 1];
    assert!(
        admin
            .write_blocking(|s| fieldsync_server::catalog::put(s, &branch.id, product("big"), Some(&huge), now_ms()))
            .is_err()
    );

    sync(&mut m1).unwrap();
    let catalog = m1.store().catalog().unwrap();
    assert_eq!(catalog.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["dep-3y"]);
    let hash = catalog[0].brochure.clone().expect("the brochure is named by its hash");
    assert_eq!(m1.store().brochure(&hash).unwrap(), Some(brochure.clone()), "fetched with the sync, kept offline");
    // Another branch's users never get it.
    assert_eq!(Client::of_device(&mut sup2).get(&format!("/api/v1/catalog/files/{hash}")).0, 404);
    assert_eq!(Client::of_device(&mut m1).get("/api/v1/catalog/files/..%2F..%2Fserver.db").0, 404);

    // A lead for the catalog product, made offline.
    let customer = m1
        .store()
        .create_customer(
            fieldsync_core::domain::Profile::new(fieldsync_core::domain::CustomerKind::Individual, "张三", "韩桥村"),
            now_ms(),
        )
        .unwrap();
    let lead = fieldsync_core::domain::NewLead {
        id: "l1".into(),
        product: Product::Deposit,
        amount_fen: 5_000_000,
        source: LeadSource::Visit,
        expected_close: None,
        probability: None,
        visit_id: None,
        notes: String::new(),
        catalog_id: Some("dep-3y".into()),
    };
    m1.store().apply(&customer, &fieldsync_core::domain::Action::AddLead { lead }, now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let stored = admin
        .write_blocking(|s| fieldsync_server::customers::load(s, &customer, &automerge::ActorId::random()))
        .unwrap()
        .unwrap();
    assert_eq!(stored.file().leads["l1"].catalog_id.as_deref(), Some("dep-3y"));

    // Withdrawn: gone from the tablet at its next sync, brochure too.
    admin.write_blocking(|s| fieldsync_server::catalog::remove(s, &branch.id, "dep-3y", now_ms())).unwrap();
    sync(&mut m1).unwrap();
    assert!(m1.store().catalog().unwrap().is_empty());
    assert_eq!(m1.store().brochure(&hash).unwrap(), None);
}

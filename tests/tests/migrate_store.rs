//! `migrate-store`: a branch moves from its embedded SQLite store to PostgreSQL with nothing lost.
//! Every document's heads are the same afterwards, the tablets carry on against the new store at
//! the same address without fetching anything again (the log's numbers and the epoch moved with
//! it), photos are served from the same folder, and a database that holds anything is refused.

use std::collections::BTreeMap;

use fieldsync_core::domain::{CustomerKind, Profile, VisitDetails};
use fieldsync_tests::{Setup, TestServer, device, new_pg_database, now_ms, post_json, record_visit, sync};

fn documents(server: &TestServer, ids: &[String]) -> BTreeMap<String, Vec<automerge::ChangeHash>> {
    let actor = automerge::ActorId::random();
    server.write(|s| {
        ids.iter()
            .map(|id| {
                let mut doc = fieldsync_server::customers::load(s, id, &actor).unwrap().expect("stored");
                let mut heads = doc.heads();
                heads.sort();
                (id.clone(), heads)
            })
            .collect()
    })
}

#[test]
fn a_branch_moves_to_postgres_with_nothing_lost_and_its_tablets_carry_on() {
    let (server, _branch) = TestServer::start_with(Setup { sqlite: true, ..Setup::default() });
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let photo = vec![0xffu8, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5];
    let hash = m1.store().add_photo(&photo).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let profile = Profile::new(CustomerKind::Individual, format!("迁移{i}"), "韩桥村");
        let id = m1.store().create_customer(profile, now_ms()).unwrap();
        let photos = if i == 0 { vec![hash.clone()] } else { Vec::new() };
        record_visit(&mut m1, &id, VisitDetails { notes: format!("第{i}次"), photos, ..Default::default() });
        ids.push(id);
    }
    sync(&mut m1).unwrap();
    sync(&mut sup).unwrap();
    let visit = sup.store().customer_file(&ids[1]).unwrap().visits.keys().next().unwrap().clone();
    let reviewed = post_json(
        &mut sup,
        &format!("/api/v1/customers/{}/reviews/{visit}", ids[1]),
        serde_json::json!({"decision": "approved", "comment": "好"}),
    );
    assert_eq!(reviewed, 204);
    sync(&mut m1).unwrap();
    sync(&mut sup).unwrap();
    let before = documents(&server, &ids);
    let (changes_before, _) = server.change_counts();

    let (data, addr) = server.stop();
    let url = new_pg_database();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt.block_on(fieldsync_server::migrate_store::migrate_store(data.path(), None, &url, None)).unwrap();
    assert_eq!(report.documents, ids.len() as u64);
    assert_eq!(report.changes, changes_before as u64);

    // Into a database that holds anything: refused, and nothing changes.
    let again = rt.block_on(fieldsync_server::migrate_store::migrate_store(data.path(), None, &url, None)).unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
    drop(rt);

    let server = TestServer::start_on(data, addr, Setup { database: Some(url), ..Setup::default() });
    assert_eq!(documents(&server, &ids), before, "every document's heads are the same");
    assert_eq!(server.change_counts().0, changes_before);
    // The tablets carry on: nothing to fetch again, one round trip.
    for tablet in [&mut m1, &mut sup] {
        let report = sync(tablet).unwrap();
        assert_eq!((report.round_trips, report.documents_received), (1, 0), "{report:?}");
    }
    // And keep working: a new visit reaches the supervisor; the photo is served.
    record_visit(&mut m1, &ids[2], VisitDetails { notes: "迁移之后".into(), ..Default::default() });
    sync(&mut m1).unwrap();
    sync(&mut sup).unwrap();
    assert_eq!(sup.store().heads(&ids[2]).unwrap().len(), m1.store().heads(&ids[2]).unwrap().len());
    assert_eq!(sup.store().customer_file(&ids[2]).unwrap().visits.len(), 2);
    let mut fresh = device(dir.path(), "fresh", &server.url(), "sup");
    sync(&mut fresh).unwrap();
    assert_eq!(fresh.photo(&hash).unwrap(), photo);
}

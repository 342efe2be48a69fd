//! Several devices edit the same customers offline, then sync in turn through the real server:
//! every device that holds a customer ends with the same document, heads and projection rows.

use fieldsync_core::domain::{Action, Contact, CustomerKind, Profile, Relation, VisitDetails};
use fieldsync_core::ids::new_id;
use fieldsync_ffi::Device;
use fieldsync_tests::{TestServer, device, now_ms, record_visit, sync};

fn rows_of(device: &mut Device, customer: &str) -> Vec<String> {
    device.store().projection_dump().unwrap().into_iter().filter(|r| r.contains(customer)).collect()
}

#[test]
fn two_managers_and_a_supervisor_edit_offline_and_converge() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let mut m1_tablet = device(dir.path(), "m1a", &url, "m1");
    let mut m1_phone = device(dir.path(), "m1b", &url, "m1");
    let mut m2 = device(dir.path(), "m2", &url, "m2");
    let mut sup = device(dir.path(), "sup", &url, "sup");

    let c1 =
        m1_tablet.store().create_customer(Profile::new(CustomerKind::Individual, "周一", "韩桥村"), now_ms()).unwrap();
    let c2 = m2.store().create_customer(Profile::new(CustomerKind::Household, "吴二", "张坪村"), now_ms()).unwrap();
    for d in [&mut m1_tablet, &mut m2, &mut m1_phone, &mut sup] {
        sync(d).unwrap();
    }
    assert_eq!(m1_phone.store().customer_ids().unwrap(), vec![c1.clone()]);

    // Offline, concurrently: both of m1's devices and the supervisor edit c1; m2 and the
    // supervisor edit c2.
    let now = now_ms();
    let mut profile = m1_tablet.store().customer_file(&c1).unwrap().profile;
    profile.occupation = "养殖户".into();
    m1_tablet.store().apply(&c1, &Action::UpdateProfile { profile }, now).unwrap();
    let mut profile = m1_phone.store().customer_file(&c1).unwrap().profile;
    profile.phone = Some("13900001111".into());
    m1_phone.store().apply(&c1, &Action::UpdateProfile { profile }, now + 1).unwrap();
    let contact = |name: &str| Action::UpsertContact {
        contact: Contact {
            id: new_id(),
            name: name.into(),
            role: String::new(),
            phone: None,
            relation: Relation::Parent,
            influence: 2,
            key_decision_maker: false,
            preferences: String::new(),
            notes: String::new(),
        },
    };
    // The supervisor accompanies both managers (陪访): their own visits, the only edits a
    // supervisor makes over sync besides decisions.
    let sup_c1 = record_visit(&mut sup, &c1, VisitDetails { notes: "陪访".into(), ..Default::default() });
    let sup_c2 = record_visit(&mut sup, &c2, VisitDetails { notes: "陪访".into(), ..Default::default() });
    m2.store().apply(&c2, &contact("吴妻"), now + 2).unwrap();

    // Two rounds of syncs in turn.
    for _ in 0..2 {
        for d in [&mut m1_phone, &mut sup, &mut m2, &mut m1_tablet] {
            let report = sync(d).unwrap();
            assert_eq!(report.quarantined, 0);
        }
    }
    let file = sup.store().customer_file(&c1).unwrap();
    assert_eq!(file.profile.occupation, "养殖户", "both profile edits survive: different fields");
    assert_eq!(file.profile.phone.as_deref(), Some("13900001111"));
    assert!(file.visits.contains_key(&sup_c1));
    let c2_file = sup.store().customer_file(&c2).unwrap();
    assert!(c2_file.visits.contains_key(&sup_c2));
    assert_eq!(c2_file.contacts.len(), 1);
    for c in [&c1, &c2] {
        let holders: Vec<&mut Device> =
            if c == &c1 { vec![&mut m1_tablet, &mut m1_phone, &mut sup] } else { vec![&mut m2, &mut sup] };
        let mut seen = Vec::new();
        for d in holders {
            seen.push((d.store().heads(c).unwrap(), d.store().customer_file(c).unwrap(), rows_of(d, c)));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "replicas of {c} differ");
    }
    // m2 never received m1's customer.
    assert_eq!(m2.store().customer_ids().unwrap(), vec![c2]);
}

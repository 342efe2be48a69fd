//! Fixtures shared by the integration tests: signed-in stores in temporary folders and valid
//! sample values to modify.
#![allow(dead_code)]

use fieldsync_core::domain::*;
use fieldsync_core::store::{Store, User};

/// 2025-07-21 08:00 China time, in UTC ms.
pub const NOW: i64 = 1_753_056_000_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

pub fn manager(id: &str) -> User {
    User { id: id.into(), name: format!("经理{id}"), role: Role::Manager }
}

/// A signed-in manager's store in a fresh temporary folder (kept alive by the returned guard).
pub fn store(manager_id: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("device.db"), None).unwrap();
    store.sign_in(manager(manager_id)).unwrap();
    (dir, store)
}

pub fn profile(name: &str, village: &str) -> Profile {
    let mut p = Profile::new(CustomerKind::Individual, name, village);
    p.phone = Some("13812341234".into());
    p.id_number = Some("422822196408275665".into());
    p.gender = Some(Gender::Female);
    p.birthday = Some(Birthday { year: Some(1964), month: 8, day: 27, lunar: false, leap_month: false });
    p.location = Some(GeoPoint { lat: 31.689, lng: 105.424, accuracy_m: 12.0 });
    p.address = "江西省永平县山兴镇韩桥村7组64号".into();
    p.occupation = "农机手".into();
    p
}

pub fn here(at: i64) -> CheckPoint {
    CheckPoint {
        at,
        position: GeoPoint { lat: 31.6895, lng: 105.4251, accuracy_m: 15.0 },
        provider: LocationProvider::Gps,
        mock_location: false,
    }
}

pub fn details(notes: &str) -> VisitDetails {
    VisitDetails {
        notes: notes.into(),
        outcome: "有意向".into(),
        products: vec![Product::Loan],
        next_contact_at: Some(NOW + 7 * DAY),
        costs: Costs { transport_fen: 1_500, gift_fen: 0, other_fen: 0 },
        ..Default::default()
    }
}

/// Records a complete visit (start, check-out) and returns its ID.
pub fn complete_visit(store: &mut Store, customer: &str, at: i64, notes: &str) -> String {
    let visit_id = fieldsync_core::ids::new_id();
    let start = Action::StartVisit {
        visit_id: visit_id.clone(),
        purpose: VisitPurpose::Marketing,
        channel: Channel::InPerson,
        check_in: here(at),
    };
    store.apply(customer, &start, at).unwrap();
    let out = Action::CheckOut { visit_id: visit_id.clone(), check_out: here(at + HOUR), details: details(notes) };
    store.apply(customer, &out, at + HOUR).unwrap();
    visit_id
}

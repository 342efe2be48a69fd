//! What the server's integration tests share: managers with real tablet stores pushing through
//! the server's sync path, and the fixed clock.
#![allow(dead_code)]

use fieldsync_core::domain::{
    self, Action, Channel, CheckPoint, CustomerKind, GeoPoint, LocationProvider, Profile, VisitDetails, VisitPurpose,
};
use fieldsync_core::store::{Store as Tablet, User as DeviceUser};
use fieldsync_core::sync::protocol::{DocChanges, PushOutcome, SyncRequest};
use fieldsync_server::accounts::{Device, Role, User};
use fieldsync_server::store::Db;

pub mod pg;

/// Every test customer's phone and ID number (valid; never to be seen whole in a list).
pub const PHONE: &str = "13812345678";
pub const ID_NUMBER: &str = "11010519491231002X";

pub const NOW: i64 = 1_753_056_000_000;
pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
/// The village's well, where the customers live.
pub const HOME: (f64, f64) = (30.5928, 114.3055);

pub fn user(id: &str, role: Role, branch: &str) -> User {
    User {
        id: id.into(),
        branch_id: branch.into(),
        outlet_id: None,
        username: id.into(),
        display_name: id.into(),
        role,
    }
}

pub fn at(lat: f64, lng: f64, t: i64) -> CheckPoint {
    CheckPoint {
        at: t,
        position: GeoPoint { lat, lng, accuracy_m: 10.0 },
        provider: LocationProvider::Gps,
        mock_location: false,
    }
}

/// A manager's tablet, and the device the server knows it as.
pub struct Manager {
    pub tablet: Tablet,
    pub user: User,
    pub device: Device,
}

impl Manager {
    pub fn new(dir: &tempfile::TempDir, id: &str, branch: &str) -> Manager {
        let mut tablet = Tablet::open(dir.path().join(format!("{id}.db")), None).unwrap();
        tablet.sign_in(DeviceUser { id: id.into(), name: id.into(), role: domain::Role::Manager }).unwrap();
        let device = Device {
            id: format!("tablet-{id}"),
            actors: vec![tablet.actor().clone()],
            clock_offset_ms: None,
            app_version: None,
        };
        Manager { tablet, user: user(id, Role::Manager, branch), device }
    }

    pub fn customer(&mut self, name: &str, location: Option<(f64, f64)>) -> String {
        let mut profile = Profile::new(CustomerKind::Individual, name, "韩桥村");
        profile.location = location.map(|(lat, lng)| GeoPoint { lat, lng, accuracy_m: 5.0 });
        profile.phone = Some(PHONE.to_string());
        profile.id_number = Some(ID_NUMBER.to_string());
        self.tablet.create_customer(profile, NOW - 1000 * MIN).unwrap()
    }

    /// A visit in person from `start` to `end` at `place`, entered at `entered` (`end` when live).
    pub fn visit(
        &mut self,
        customer: &str,
        place: (f64, f64),
        start: i64,
        end: i64,
        entered: i64,
        photos: &[&str],
    ) -> String {
        let visit_id = fieldsync_core::ids::new_id();
        let details = VisitDetails {
            notes: "了解存款需求".into(),
            photos: photos.iter().map(|p| p.repeat(64 / p.len())).collect(),
            ..VisitDetails::default()
        };
        let action = Action::RecordVisit {
            visit_id: visit_id.clone(),
            purpose: VisitPurpose::Marketing,
            channel: Channel::InPerson,
            check_in: at(place.0, place.1, start),
            check_out: at(place.0, place.1, end),
            details,
        };
        self.tablet.apply(customer, &action, entered).unwrap();
        visit_id
    }

    /// Pushes these customers' documents through the server's sync path.
    pub fn sync(&mut self, db: &Db, customers: &[&str]) {
        let push = customers
            .iter()
            .map(|id| DocChanges { customer_id: id.to_string(), changes: self.tablet.document_changes(id).unwrap() })
            .collect();
        let request = SyncRequest { cursor: 1, push, ..SyncRequest::default() };
        let answer = db.sync_blocking(&self.user, &self.device, request, NOW).unwrap().0;
        for pushed in answer.pushed {
            assert!(matches!(pushed.outcome, PushOutcome::Accepted { .. }), "{pushed:?}");
        }
    }
}

/// Branch `b1` with managers `M1` and `M2` (named as their IDs), written straight to the store.
pub fn branch_with_managers(db: &Db) {
    db.with(|c| {
        c.execute("INSERT OR IGNORE INTO branches (id, name) VALUES ('b1', 'b1')", []).unwrap();
        for id in ["M1", "M2"] {
            c.execute(
                "INSERT INTO users (id, branch_id, username, display_name, role, password_hash)
                 VALUES (?1, 'b1', ?1, ?1, 'manager', 'x')",
                [id],
            )
            .unwrap();
        }
    });
}

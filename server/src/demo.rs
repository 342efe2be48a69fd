//! A demo branch for newcomers: a branch with an outlet, two managers with generated customers
//! (visits, leads), a supervisor and an admin. Seeding is idempotent: a second start finds the
//! branch and only prints the logins again. The passwords are fixed and printed: demo only.
//!
//! The customers come from the reference workload's generator, placed around one town and
//! brought to the present: each manager visits six customers a working day, in order, up to
//! yesterday, with three visits planned for today. Most older visits are already reviewed. A few
//! visits are made to trip each evidence flag (far from the customer, too short, impossible
//! travel, a photo used twice, a mock location, a tablet's clock off, entered after the fact), so
//! the supervisor pages show what each looks like. A few customers change hands (to the public
//! pool, to the other manager, claimed back), so their pages show the owner history.

use std::collections::BTreeSet;

use fieldsync_core::domain::{Channel, CustomerFile, GeoPoint, Review, ReviewDecision, Visit, VisitStatus};
use fieldsync_core::workload::{self, Book};

use crate::accounts::{self, NewUser, Role, User};
use crate::read_model::{self, Arrival};
use crate::store::{Store, WriteBlocking};

pub const BRANCH_NAME: &str = "示范支行（演示）";

pub struct DemoLogin {
    pub username: &'static str,
    pub password: &'static str,
    pub display_name: &'static str,
    pub role: Role,
}

pub const LOGINS: [DemoLogin; 4] = [
    DemoLogin { username: "manager1", password: "demo-manager-1", display_name: "王建国", role: Role::Manager },
    DemoLogin { username: "manager2", password: "demo-manager-2", display_name: "李秀英", role: Role::Manager },
    DemoLogin {
        username: "supervisor", password: "demo-supervisor", display_name: "张主任", role: Role::Supervisor
    },
    DemoLogin { username: "admin", password: "demo-admin-pass", display_name: "系统管理员", role: Role::Admin },
];

/// Why the demo branch could not be seeded.
pub type SeedError = Box<dyn std::error::Error + Send + Sync>;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;
/// The branch's town (the customers live within about 15 km of it).
const TOWN: (f64, f64) = (30.5928, 114.3055);
/// China's UTC offset: the demo's working days are Beijing's.
const UTC8: i64 = 8 * 60 * MINUTE;
/// A manager's working day: visits start every 90 minutes from 08:00, six a day.
const VISITS_PER_DAY: i64 = 6;
const SLOT: i64 = 90 * MINUTE;
const DAY_STARTS: i64 = 8 * 60 * MINUTE;

/// Seeds the demo branch unless it exists, in one transaction (one fsync, and a crash leaves no
/// half-seeded branch); returns how many customers were written.
pub fn seed(db: &impl WriteBlocking, customers_per_manager: usize, now: i64) -> Result<usize, SeedError> {
    db.write_blocking(|store| seed_in(store, customers_per_manager, now))
}

fn seed_in(store: &dyn Store, customers_per_manager: usize, now: i64) -> Result<usize, SeedError> {
    if store.branch_named(BRANCH_NAME)? {
        return Ok(0);
    }
    let branch = accounts::create_branch(store, BRANCH_NAME, now, "demo")?;
    let outlet = accounts::create_outlet(store, &branch, "韩桥网点", now, "demo")?;
    let mut users = Vec::new();
    for login in &LOGINS {
        let new = NewUser {
            branch_id: &branch,
            outlet_id: Some(&outlet),
            username: login.username,
            display_name: login.display_name,
            role: login.role,
            password: login.password,
        };
        let id = accounts::create_user(store, &new, now, "demo")?;
        users.push(accounts::user_by_id(store, &id)?.ok_or("a demo user vanished")?);
    }
    let supervisor = users.iter().find(|u| u.role == Role::Supervisor).ok_or("no demo supervisor")?.clone();
    let mut written = 0;
    let mut arrivals = Vec::new();
    let mut ids_by_manager: Vec<Vec<String>> = Vec::new();
    for (k, manager) in users.iter().filter(|u| u.role == Role::Manager).enumerate() {
        let book =
            Book { manager_id: manager.id.clone(), manager_name: manager.display_name.clone(), namespace: k as u64 };
        let actor = book.server_actor();
        let mut files = Vec::new();
        for record in workload::generate_branch(customers_per_manager, 1000 + k as u64) {
            files.push(workload::to_file(&record, &book)?);
        }
        let tricks = schedule(&mut files, manager, &supervisor, now);
        for file in &files {
            let prepared = workload::file_changes(file, &actor)?;
            crate::customers::store_server_changes(store, &branch, &prepared.customer_id, &prepared.bytes)?;
            written += 1;
        }
        arrivals.extend(tricks.clock_off);
        ids_by_manager.push(files.iter().map(|f| f.id.clone()).collect());
    }
    hand_over(store, &users, &supervisor, &ids_by_manager, now)?;
    catalog(store, &branch, now)?;
    // A tablet whose clock ran 25 minutes fast synced these visits.
    for (customer_id, visit_id) in &arrivals {
        let arrival = Arrival { device_id: "demo-tablet", received_at: now, clock_offset_ms: Some(25 * MINUTE) };
        store.rm_record_arrival(customer_id, visit_id, arrival)?;
    }
    read_model::refresh_visits(store, &arrivals.into_iter().collect::<BTreeSet<_>>())?;
    Ok(written)
}

/// A few changes of hands, so customer pages show their owner history and the public pool is not
/// empty: the supervisor returns three of the second manager's customers to the pool and gives
/// another of them to the first manager, and the second claims one back from the pool.
fn hand_over(
    store: &dyn Store,
    users: &[User],
    supervisor: &User,
    ids_by_manager: &[Vec<String>],
    now: i64,
) -> Result<(), SeedError> {
    use fieldsync_core::domain::{Action, Owner, OwnerChangeReason};
    let managers: Vec<&User> = users.iter().filter(|u| u.role == Role::Manager).collect();
    let Some(second) = ids_by_manager.get(1) else { return Ok(()) };
    let to_pool: Vec<String> = second.iter().rev().take(3).cloned().collect();
    crate::pool::reassign(store, supervisor, &to_pool, &Owner::default(), now - 20 * DAY)?;
    if let Some(given) = second.first() {
        let owner =
            Owner { manager_id: Some(managers[0].id.clone()), manager_name: Some(managers[0].display_name.clone()) };
        crate::pool::reassign(store, supervisor, std::slice::from_ref(given), &owner, now - 10 * DAY)?;
    }
    // The second manager takes one back from the pool, as a claim from the tablet would.
    if let Some(claimed) = to_pool.first() {
        let actor = store.server_actor()?;
        let meta = store.document(claimed)?.ok_or("a demo customer vanished")?;
        let mut doc = crate::customers::load(store, claimed, &actor)?.ok_or("a demo customer vanished")?;
        let owner =
            Owner { manager_id: Some(managers[1].id.clone()), manager_name: Some(managers[1].display_name.clone()) };
        let action = Action::AssignOwner { owner, reason: OwnerChangeReason::Claimed };
        let changes = crate::customers::server_change(&mut doc, &action, &managers[1].id, now - 5 * DAY)?;
        crate::customers::commit_server_changes(store, &meta.branch_id, &doc, &meta.scope, &changes)?;
    }
    Ok(())
}

/// A few products in the branch's catalog, one with a brochure, so tablets show it offline.
fn catalog(store: &dyn Store, branch: &str, now: i64) -> Result<(), SeedError> {
    use fieldsync_core::domain::{CatalogProduct, Product};
    let product = |id: &str, kind, name: &str, term: &str, rate_bp, description: &str| CatalogProduct {
        id: id.into(),
        kind,
        name: name.into(),
        term: term.into(),
        rate_bp,
        description: description.into(),
        brochure: None,
    };
    let brochure = "三年期整存整取：起存 50 元，到期一次支取本息，可办理自动转存。".as_bytes();
    for (p, file) in [
        (
            product("dep-3y", Product::Deposit, "三年期整存整取", "3 年", Some(175), "保本保息，到期自动转存。"),
            Some(brochure),
        ),
        (
            product(
                "loan-farm",
                Product::Loan,
                "农户小额信用贷款",
                "1 年",
                Some(435),
                "凭信用，随借随还，用于种养殖。",
            ),
            None,
        ),
        (product("card-social", Product::Card, "社保卡（金融功能）", "", None, "领取养老金、医保结算。"), None),
    ] {
        crate::catalog::put(store, branch, p, file, now)?;
    }
    Ok(())
}

/// The visits made to trip the flags that no document holds (the clock of the tablet that synced).
struct Tricks {
    clock_off: Vec<read_model::VisitRef>,
}

/// Places a manager's customers around the town and their visits in the manager's working days up
/// to yesterday (three planned for today), reviews most older ones, and makes a few trip each
/// evidence flag.
fn schedule(files: &mut [CustomerFile], manager: &User, supervisor: &User, now: i64) -> Tricks {
    // Around the town: the generator spreads villages over central China; squeeze them to ±15 km.
    for file in files.iter_mut() {
        if let Some(at) = file.profile.location.as_mut() {
            let (lat, lng) = squeeze(at.lat, at.lng);
            for visit in file.visits.values_mut() {
                for point in [visit.check_in.as_mut(), visit.check_out.as_mut()].into_iter().flatten() {
                    point.position.lat = lat + (point.position.lat - at.lat);
                    point.position.lng = lng + (point.position.lng - at.lng);
                }
            }
            at.lat = lat;
            at.lng = lng;
        }
    }
    // Every visit of the manager, oldest first, one per slot of their working days.
    let mut order: Vec<(i64, usize, String)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.visits.values().map(move |v| (v.when(), i, v.id.clone())))
        .collect();
    order.sort();
    let today = (now + UTC8).div_euclid(DAY);
    let mut days = working_days_before(today, order.len().div_ceil(VISITS_PER_DAY as usize));
    days.reverse();
    let mut latest: Vec<Option<String>> = vec![None; files.len()];
    for (n, (_, i, visit_id)) in order.iter().enumerate() {
        let day = days[n / VISITS_PER_DAY as usize];
        let start = day * DAY - UTC8 + DAY_STARTS + (n as i64 % VISITS_PER_DAY) * SLOT;
        let file = &mut files[*i];
        let Some(visit) = file.visits.get_mut(visit_id) else { continue };
        let minutes = 10 + (visit_id.len() as i64 * 7 + n as i64 * 13) % 45;
        retime(visit, start, start + minutes * MINUTE);
        visit.manager_id = manager.id.clone();
        visit.manager_name = manager.display_name.clone();
        latest[*i] = Some(visit_id.clone());
        // Older than a week: reviewed, mostly approved.
        if start < now - 7 * DAY {
            let decision = match n % 23 {
                0 => ReviewDecision::Returned,
                1 => ReviewDecision::Flagged,
                _ => ReviewDecision::Approved,
            };
            let comment = match decision {
                ReviewDecision::Approved => String::new(),
                ReviewDecision::Returned => "请补充客户家庭情况".to_string(),
                ReviewDecision::Flagged => "签到位置与客户地址不符，请说明".to_string(),
            };
            let review = Review {
                decision,
                comment,
                reviewer_id: supervisor.id.clone(),
                reviewer_name: supervisor.display_name.clone(),
                at: start + DAY,
            };
            file.reviews.insert(visit_id.clone(), review);
        }
    }
    // Customers were taken on before their first visit; leads came in over the last five months.
    let first_start = days.first().map_or(now, |d| d * DAY - UTC8);
    let last_lead = files.iter().flat_map(|f| f.leads.values().map(|l| l.created_at)).max().unwrap_or(now);
    let lead_shift = (now - DAY) - last_lead;
    for (i, file) in files.iter_mut().enumerate() {
        file.created_at = first_start - DAY - i as i64 * 7 * MINUTE;
        for lead in file.leads.values_mut() {
            lead.created_at += lead_shift;
            for change in &mut lead.stage_history {
                change.at += lead_shift;
            }
        }
    }
    // Three visits planned for today, at the first customers.
    for (slot, file) in files.iter_mut().take(3).enumerate() {
        let id = format!("demo-plan-{}-{slot}", &manager.id[manager.id.len().saturating_sub(6)..]);
        let at = today * DAY - UTC8 + DAY_STARTS + 60 * MINUTE + slot as i64 * 2 * SLOT;
        let template = file.visits.values().next().cloned();
        if let Some(mut plan) = template {
            plan.id = id.clone();
            plan.status = VisitStatus::Planned;
            plan.planned_at = Some(at);
            plan.check_in = None;
            plan.check_out = None;
            plan.notes = String::new();
            plan.outcome = String::new();
            plan.next_contact_at = None;
            plan.created_at = now - DAY;
            file.visits.insert(id, plan);
        }
    }
    trick(files, &latest)
}

/// The last visits of a few customers, each made to trip one flag.
fn trick(files: &mut [CustomerFile], latest: &[Option<String>]) -> Tricks {
    let mut clock_off = Vec::new();
    let pick = |files: &mut [CustomerFile], i: usize| -> Option<(usize, String)> {
        let i = i % files.len().max(1);
        latest.get(i)?.clone().map(|v| (i, v))
    };
    let mut each = |i: usize, f: &mut dyn FnMut(&mut Visit, &GeoPoint)| {
        if let Some((i, visit_id)) = pick(files, i) {
            let home = files[i].profile.location.clone();
            if let (Some(visit), Some(home)) = (files[i].visits.get_mut(&visit_id), home) {
                f(visit, &home);
            }
        }
    };
    // Checked in 2 km north of the customer's house.
    each(3, &mut |v, _| move_visit(v, 0.018, 0.0));
    each(17, &mut |v, _| move_visit(v, -0.02, 0.01));
    // Four minutes at the door.
    each(5, &mut |v, _| shorten(v, 4));
    each(29, &mut |v, _| shorten(v, 2));
    // 120 km away, between two visits in town.
    each(7, &mut |v, _| move_visit(v, 1.1, 0.0));
    // The tablet reported a mock-location app.
    each(9, &mut |v, _| {
        if let Some(c) = v.check_in.as_mut() {
            c.mock_location = true;
        }
    });
    // Entered two days after the visit.
    each(13, &mut |v, _| v.created_at = v.check_out.as_ref().map_or(v.created_at, |c| c.at) + 2 * DAY);
    // One photo, two visits (two customers).
    let photo = "d".repeat(64);
    each(19, &mut |v, _| v.photos = vec![photo.clone()]);
    each(23, &mut |v, _| v.photos = vec![photo.clone()]);
    // Synced by a tablet whose clock ran fast.
    if let Some((i, visit_id)) = pick(files, 11) {
        clock_off.push((files[i].id.clone(), visit_id));
    }
    Tricks { clock_off }
}

/// The customers' places squeezed from the generator's spread (24–35°N, 103–118°E) to ±15 km
/// around the town.
fn squeeze(lat: f64, lng: f64) -> (f64, f64) {
    let f = |v: f64, lo: f64, span: f64| ((v - lo) / span).clamp(0.0, 1.0) - 0.5;
    (TOWN.0 + f(lat, 24.0, 11.0) * 0.27, TOWN.1 + f(lng, 103.0, 15.0) * 0.31)
}

fn retime(visit: &mut Visit, start: i64, end: i64) {
    if let Some(c) = visit.check_in.as_mut() {
        c.at = start;
    }
    if let Some(c) = visit.check_out.as_mut() {
        c.at = end;
    }
    let gap = visit.next_contact_at.zip(visit.check_out.as_ref()).map(|(next, _)| next - visit.created_at);
    visit.created_at = start;
    visit.next_contact_at = gap.map(|g| end + g.clamp(DAY, 30 * DAY));
}

fn move_visit(visit: &mut Visit, dlat: f64, dlng: f64) {
    visit.channel = Channel::InPerson;
    for point in [visit.check_in.as_mut(), visit.check_out.as_mut()].into_iter().flatten() {
        point.position.lat += dlat;
        point.position.lng += dlng;
    }
}

fn shorten(visit: &mut Visit, minutes: i64) {
    visit.channel = Channel::InPerson;
    let start = visit.check_in.as_ref().map(|c| c.at);
    if let (Some(start), Some(out)) = (start, visit.check_out.as_mut()) {
        out.at = start + minutes * MINUTE;
    }
}

/// The `count` working days (Monday to Friday) before `today`, newest first, as day numbers.
fn working_days_before(today: i64, count: usize) -> Vec<i64> {
    let mut days = Vec::with_capacity(count);
    let mut day = today - 1;
    while days.len() < count {
        // Day 0 (1970-01-01) was a Thursday: (day + 3) mod 7 is 0 on Mondays.
        if (day + 3).rem_euclid(7) < 5 {
            days.push(day);
        }
        day -= 1;
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_skip_weekends() {
        // 2026-11-30 is a Monday: the five days before it are Mon 23rd to Fri 27th.
        let monday = 20_787;
        assert_eq!((monday + 3) % 7, 0);
        assert_eq!(working_days_before(monday, 5), vec![monday - 3, monday - 4, monday - 5, monday - 6, monday - 7]);
    }

    #[test]
    fn customers_land_near_the_town() {
        for (lat, lng) in [(24.0, 103.0), (35.0, 118.0), (29.5, 110.0), (90.0, -180.0)] {
            let (a, b) = squeeze(lat, lng);
            let d = GeoPoint { lat: a, lng: b, accuracy_m: 0.0 }.distance_m(&GeoPoint {
                lat: TOWN.0,
                lng: TOWN.1,
                accuracy_m: 0.0,
            });
            assert!(d < 22_000.0, "{d}");
        }
    }
}

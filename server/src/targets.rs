//! Monthly targets (目标): a branch's target for a month, decomposed evenly to its active managers
//! (`admin set-target`; a manager's own can be set after), and the progress counted from the
//! read models: on the overview for every manager, and to each manager's tablet with their sync.

use fieldsync_core::domain::{Measures, MonthProgress};
use jiff::civil::Date;

use crate::accounts::User;
use crate::customers::PushError;
use crate::policy::Refusal;
use crate::store::{Store, StoreResult};

/// `2026-12` as the first day of that month.
pub fn parse_month(month: &str) -> Option<Date> {
    let (y, m) = month.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, 1).ok()
}

/// The month `[start, end)` in UTC ms in the branch's time zone.
pub fn month_bounds(store: &dyn Store, branch_id: &str, first: Date) -> StoreResult<(i64, i64)> {
    let tz = crate::read_model::days::branch_zone(store, branch_id)?;
    let at = |d: Date| d.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).unwrap_or(0);
    let next = first.checked_add(jiff::Span::new().months(1)).unwrap_or(first);
    Ok((at(first), at(next)))
}

/// Sets the branch's target for `month` and splits it evenly among its active managers, in the
/// caller's transaction. Returns how many managers got a part.
pub fn set_branch_target(
    store: &dyn Store,
    branch_id: &str,
    month: &str,
    target: &Measures,
) -> Result<usize, PushError> {
    parse_month(month).ok_or(PushError::Refused(Refusal::Invalid("month".into())))?;
    target.validate().map_err(|f| PushError::Refused(Refusal::Invalid(f.into())))?;
    store.set_target(branch_id, month, "", target)?;
    let managers = store.branch_managers(branch_id)?;
    for ((id, _), part) in managers.iter().zip(target.split(managers.len().max(1))) {
        store.set_target(branch_id, month, id, &part)?;
    }
    Ok(managers.len())
}

/// Sets one manager's target for `month` (after the split, to adjust it).
pub fn set_manager_target(
    store: &dyn Store,
    branch_id: &str,
    month: &str,
    manager_id: &str,
    target: &Measures,
) -> Result<(), PushError> {
    parse_month(month).ok_or(PushError::Refused(Refusal::Invalid("month".into())))?;
    target.validate().map_err(|f| PushError::Refused(Refusal::Invalid(f.into())))?;
    if !store.branch_managers(branch_id)?.iter().any(|(id, _)| id == manager_id) {
        return Err(PushError::Refused(Refusal::UnknownOwner));
    }
    store.set_target(branch_id, month, manager_id, target)?;
    Ok(())
}

/// A manager's month at `now` (in their branch's time zone): `None` when no target is set.
pub fn progress(store: &dyn Store, manager: &User, now: i64) -> StoreResult<Option<MonthProgress>> {
    let tz = crate::read_model::days::branch_zone(store, &manager.branch_id)?;
    let Ok(today) = jiff::Timestamp::from_millisecond(now).map(|t| t.to_zoned(tz).date()) else { return Ok(None) };
    let first = today.first_of_month();
    let month = first.strftime("%Y-%m").to_string();
    let Some(target) = store.targets(&manager.branch_id, &month)?.into_iter().find(|(m, _)| *m == manager.id) else {
        return Ok(None);
    };
    let (from, to) = month_bounds(store, &manager.branch_id, first)?;
    let done = store.done_by(&manager.id, from, to)?;
    Ok(Some(MonthProgress { month, as_of: now, target: target.1, done }))
}

/// One line of a month's targets: who (a manager, an outlet, the branch), the target and what was
/// done.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthLine {
    pub name: String,
    pub target: Measures,
    pub done: Measures,
}

/// A branch's month for the overview, decomposed: each manager, each outlet (the sum of its
/// managers), and the branch's own target (when set) with the sum of what was done.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchMonth {
    pub managers: Vec<MonthLine>,
    pub outlets: Vec<MonthLine>,
    pub branch: Option<MonthLine>,
}

pub fn branch_month(store: &dyn Store, branch_id: &str, first: Date) -> StoreResult<BranchMonth> {
    let month = first.strftime("%Y-%m").to_string();
    let targets = store.targets(branch_id, &month)?;
    let (from, to) = month_bounds(store, branch_id, first)?;
    let done = store.done(branch_id, from, to)?;
    let of = |list: &[(String, Measures)], id: &str| list.iter().find(|(m, _)| m == id).map(|(_, d)| *d);
    let managers: Vec<(String, MonthLine)> = store
        .branch_managers(branch_id)?
        .into_iter()
        .map(|(id, name)| {
            let line = MonthLine {
                name,
                target: of(&targets, &id).unwrap_or_default(),
                done: of(&done, &id).unwrap_or_default(),
            };
            (id, line)
        })
        .collect();
    let works_at = store.manager_outlets(branch_id)?;
    let outlets = store
        .branch_outlets(branch_id)?
        .into_iter()
        .map(|(outlet, name)| {
            let mine = managers.iter().filter(|(id, _)| works_at.iter().any(|(m, o)| m == id && *o == outlet));
            let (target, done) = mine
                .fold((Measures::default(), Measures::default()), |(t, d), (_, l)| (t.add(&l.target), d.add(&l.done)));
            MonthLine { name, target, done }
        })
        .collect();
    let total = managers.iter().fold(Measures::default(), |a, (_, l)| a.add(&l.done));
    let branch = of(&targets, "").map(|target| MonthLine { name: String::new(), target, done: total });
    Ok(BranchMonth { managers: managers.into_iter().map(|(_, l)| l).collect(), outlets, branch })
}

/// One manager's month on the scorecard (绩效考核).
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    pub manager_id: String,
    pub manager_name: String,
    pub target: Measures,
    pub done: Measures,
    /// Customers of the manager's villages (their territory), and how many were visited this month.
    pub village_customers: i64,
    pub village_visited: i64,
    /// Their visits a reviewer returned.
    pub reviews_returned: i64,
    /// Complaints recorded this month on the customers they serve: received, handled within the
    /// branch's limit, and late (handled after it, or still open past it).
    pub complaints: i64,
    pub complaints_in_time: i64,
    pub complaints_late: i64,
}

/// Every manager's scorecard for the month starting `first`, as of `now`, comparable side by side.
pub fn scorecards(store: &dyn Store, branch_id: &str, first: Date, now: i64) -> StoreResult<Vec<Scorecard>> {
    let month = first.strftime("%Y-%m").to_string();
    let targets = store.targets(branch_id, &month)?;
    let (from, to) = month_bounds(store, branch_id, first)?;
    let done = store.done(branch_id, from, to)?;
    let returned = store.returned_reviews(branch_id, from, to)?;
    let villages = store.village_visits(branch_id, from, to)?;
    let territories = store.territories(branch_id)?;
    let limit_ms =
        i64::from(crate::stages::rules(store, branch_id)?.complaint_days) * fieldsync_core::domain::pool::DAY_MS;
    let complaints = store.complaints(branch_id, from, to, limit_ms, now)?;
    Ok(store
        .branch_managers(branch_id)?
        .into_iter()
        .map(|(id, name)| {
            let mine: Vec<&str> =
                territories.iter().filter(|t| t.manager_ids.contains(&id)).map(|t| t.village.as_str()).collect();
            let (customers, visited) = villages
                .iter()
                .filter(|(v, _, _)| mine.contains(&v.as_str()))
                .fold((0, 0), |(c, v), (_, n, seen)| (c + n, v + seen));
            let (received, in_time, late) =
                complaints.iter().find(|(m, ..)| *m == id).map_or((0, 0, 0), |c| (c.1, c.2, c.3));
            Scorecard {
                target: targets.iter().find(|(m, _)| *m == id).map(|(_, t)| *t).unwrap_or_default(),
                done: done.iter().find(|(m, _)| *m == id).map(|(_, d)| *d).unwrap_or_default(),
                village_customers: customers,
                village_visited: visited,
                reviews_returned: returned.iter().find(|(m, _)| *m == id).map_or(0, |(_, n)| *n),
                complaints: received,
                complaints_in_time: in_time,
                complaints_late: late,
                manager_id: id,
                manager_name: name,
            }
        })
        .collect())
}

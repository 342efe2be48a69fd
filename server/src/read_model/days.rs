//! Visits per manager per local day, kept as counts, so the overview reads a few thousand rows
//! instead of scanning months of visits. A write recounts the (manager, day) pairs of the visits
//! it changed (before and after the change) from `rm_visits` by the `(manager_id, at)` index; the
//! rebuild recounts every pair. Days are the branch's, in its time zone.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::store::{Store, StoreResult};

const DAY_MS: i64 = 86_400_000;

/// A manager's day: (manager, local day number since 1970-01-01).
pub type ManagerDay = (String, i64);

/// The branch's time zone (China's when it names none this build knows).
pub fn branch_zone(store: &dyn Store, branch_id: &str) -> StoreResult<TimeZone> {
    let name = store.branch(branch_id)?.map(|(_, tz)| tz).unwrap_or_default();
    Ok(TimeZone::get(&name).unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(8))))
}

/// The local day of `at` in `tz`, and that day's bounds in UTC ms.
pub fn local_day(at: i64, tz: &TimeZone) -> (i64, i64, i64) {
    let Ok(ts) = Timestamp::from_millisecond(at) else { return (at.div_euclid(DAY_MS), at, at + 1) };
    let date = ts.to_zoned(tz.clone()).date();
    let day = date.to_zoned(TimeZone::UTC).map_or(at, |z| z.timestamp().as_millisecond()).div_euclid(DAY_MS);
    let start = date.to_zoned(tz.clone()).map_or(at, |z| z.timestamp().as_millisecond());
    let end = date
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(tz.clone()).ok())
        .map_or(start + DAY_MS, |z| z.timestamp().as_millisecond());
    (day, start, end)
}

/// Recounts the days of a branch's managers that hold these times: (manager, a time in the day).
pub fn recount(store: &dyn Store, branch_id: &str, times: &BTreeSet<(String, i64)>) -> StoreResult<()> {
    if times.is_empty() {
        return Ok(());
    }
    let tz = branch_zone(store, branch_id)?;
    let mut done: BTreeSet<ManagerDay> = BTreeSet::new();
    for (manager_id, at) in times {
        let (day, start, end) = local_day(*at, &tz);
        if !done.insert((manager_id.clone(), day)) {
            continue;
        }
        let (visits, name) = store.rm_count_day(branch_id, manager_id, start, end)?;
        store.rm_set_day(branch_id, manager_id, day, &name, visits)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_branch_day() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        // 2025-07-20 23:30 UTC is 2025-07-21 07:30 in Shanghai.
        let at = 1_753_054_200_000;
        let (day, start, end) = local_day(at, &shanghai);
        assert_eq!(day, 20_290);
        assert_eq!((start, end - start), (1_753_027_200_000, DAY_MS));
        assert!((start..end).contains(&at));
        assert_eq!(local_day(at, &TimeZone::UTC).0, 20_289);
    }
}

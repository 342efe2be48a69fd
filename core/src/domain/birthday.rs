//! Birthdays on the calendar: the next day a customer's birthday falls on, whether they keep it by
//! the Gregorian calendar or the Chinese lunisolar one (农历), which the well-kept `tyme4rs`
//! converts (6tail's Tyme: leap months, months of 29 or 30 days), never a hand-written table.
//!
//! A birthday kept in a leap month (闰月) falls in that leap month in the years that have it, and
//! in the ordinary month of the same number otherwise; a 30th day in a month of 29 days falls on
//! the month's last day; 29 February falls on 28 February outside leap years.

use jiff::civil::Date;
use tyme4rs::tyme::lunar::{LunarDay, LunarMonth, LunarYear};
use tyme4rs::tyme::solar::SolarDay;

use super::customer::Birthday;

/// The Gregorian date the birthday falls on in `year` (a lunar year for a lunar birthday).
pub fn in_year(birthday: &Birthday, year: i16) -> Option<Date> {
    if birthday.lunar {
        // The library's conversions are fallible, and its inner steps assume valid input: a
        // fault in it fails this birthday, not the caller.
        std::panic::catch_unwind(|| lunar_in_year(birthday, isize::from(year))).ok().flatten()
    } else {
        let month = i8::try_from(birthday.month).ok()?;
        let first = Date::new(year, month, 1).ok()?;
        let day = i8::try_from(birthday.day).ok()?.min(first.days_in_month());
        Date::new(year, month, day).ok()
    }
}

fn lunar_in_year(birthday: &Birthday, year: isize) -> Option<Date> {
    let m = isize::from(birthday.month);
    let has_leap = LunarYear::new(year).ok()?.get_leap_month() == usize::from(birthday.month);
    let month = if birthday.leap_month && has_leap { -m } else { m };
    let days = LunarMonth::new(year, month).ok()?.get_day_count();
    let day = usize::from(birthday.day).min(days);
    let solar: SolarDay = LunarDay::new(year, month, day).ok()?.get_solar_day();
    Date::new(
        i16::try_from(solar.get_year()).ok()?,
        i8::try_from(solar.get_month()).ok()?,
        i8::try_from(solar.get_day()).ok()?,
    )
    .ok()
}

/// The first day on or after `from` that the birthday falls on.
pub fn next_on_or_after(birthday: &Birthday, from: Date) -> Option<Date> {
    // A lunar year starts between 21 January and 20 February: the birthday of the lunar year
    // before `from`'s Gregorian year can still be ahead.
    let first = if birthday.lunar { from.year() - 1 } else { from.year() };
    (first..=from.year() + 1).filter_map(|y| in_year(birthday, y)).find(|d| *d >= from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn lunar(month: u8, day: u8, leap_month: bool) -> Birthday {
        Birthday { year: Some(1964), month, day, lunar: true, leap_month }
    }

    #[test]
    fn a_lunar_birthday_falls_on_the_right_solar_day_year_after_year() {
        // 八月十五 (the Mid-Autumn day).
        let b = lunar(8, 15, false);
        for (year, want) in [(2024, date(2024, 9, 17)), (2025, date(2025, 10, 6)), (2026, date(2026, 9, 25))] {
            assert_eq!(in_year(&b, year), Some(want), "{year}");
        }
        assert_eq!(next_on_or_after(&b, date(2025, 10, 7)), Some(date(2026, 9, 25)));
        assert_eq!(next_on_or_after(&b, date(2025, 10, 6)), Some(date(2025, 10, 6)));
        // 正月初一 of the lunar year that began in the previous Gregorian year's count.
        let new_year = lunar(1, 1, false);
        assert_eq!(next_on_or_after(&new_year, date(2026, 1, 1)), Some(date(2026, 2, 17)));
        // 腊月廿九: late in the Gregorian year after, found from the start of that year.
        assert_eq!(next_on_or_after(&lunar(12, 29, false), date(2026, 1, 2)), Some(date(2026, 2, 16)));
    }

    #[test]
    fn a_leap_month_birthday_falls_in_the_leap_month_when_there_is_one() {
        // Born in 闰二月 (2023 had one; 2024 has none).
        let b = lunar(2, 1, true);
        assert_eq!(in_year(&b, 2023), Some(date(2023, 3, 22)), "the leap month itself");
        let ordinary = in_year(&lunar(2, 1, false), 2023).unwrap();
        assert!(ordinary < date(2023, 3, 22), "the ordinary second month comes first");
        assert_eq!(in_year(&b, 2024), in_year(&lunar(2, 1, false), 2024), "no leap month: the ordinary one");
        // 闰六月 of 2025.
        assert_eq!(in_year(&lunar(6, 1, true), 2025), Some(date(2025, 7, 25)));
    }

    #[test]
    fn a_thirtieth_day_in_a_month_of_29_falls_on_its_last_day() {
        // The first month of 2024 has 29 days, the second 30.
        let b = lunar(1, 30, false);
        let last = in_year(&lunar(1, 29, false), 2024).unwrap();
        assert_eq!(in_year(&b, 2024), Some(last));
        assert_ne!(in_year(&lunar(2, 30, false), 2024), in_year(&lunar(2, 29, false), 2024));
    }

    #[test]
    fn gregorian_birthdays_and_29_february() {
        let b = Birthday { year: None, month: 2, day: 29, lunar: false, leap_month: false };
        assert_eq!(in_year(&b, 2024), Some(date(2024, 2, 29)));
        assert_eq!(in_year(&b, 2025), Some(date(2025, 2, 28)));
        assert_eq!(next_on_or_after(&b, date(2025, 3, 1)), Some(date(2026, 2, 28)));
        // Out of range input gives nothing, never a panic.
        assert_eq!(in_year(&Birthday { year: None, month: 13, day: 1, lunar: false, leap_month: false }, 2025), None);
        assert_eq!(in_year(&lunar(13, 1, false), 2025), None);
        assert_eq!(in_year(&lunar(0, 1, false), 2025), None);
        assert_eq!(in_year(&lunar(3, 0, false), 2025), None);
        assert_eq!(in_year(&lunar(1, 1, false), i16::MAX), None);
    }
}

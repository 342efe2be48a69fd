//! How the pages write times (in the branch's time zone), durations, distances and money, and
//! read the dates of the filters.

use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::Date};

/// `2026-11-30 14:05` in `tz`; empty for a time out of range.
pub fn datetime(ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// `14:05` in `tz`.
pub fn time(ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_zoned(tz.clone()).strftime("%H:%M").to_string()).unwrap_or_default()
}

/// `2026-11-30` in `tz`.
pub fn date(ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The start of a day written `YYYY-MM-DD` in `tz`, UTC ms; `None` for anything else.
pub fn day_start(text: &str, tz: &TimeZone) -> Option<i64> {
    if text.len() != 10 {
        return None;
    }
    let day: Date = text.parse().ok()?;
    Some(day.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond())
}

/// The start of the day after `text`.
pub fn day_end(text: &str, tz: &TimeZone) -> Option<i64> {
    if text.len() != 10 {
        return None;
    }
    let day: Date = text.parse().ok()?;
    Some(day.tomorrow().ok()?.to_zoned(tz.clone()).ok()?.timestamp().as_millisecond())
}

/// `45 min` / `1 h 05 min` (units in the page's language).
pub fn duration(seconds: Option<i64>, minutes: &str) -> String {
    match seconds {
        None => String::new(),
        Some(s) if s < 3600 => format!("{} {minutes}", s / 60),
        Some(s) => format!("{}:{:02}", s / 3600, s % 3600 / 60),
    }
}

/// `350 m` / `2.2 km`.
pub fn distance(metres: Option<f64>) -> String {
    match metres {
        None => String::new(),
        Some(m) if m < 1000.0 => format!("{m:.0} m"),
        Some(m) => format!("{:.1} km", m / 1000.0),
    }
}

/// Fen as yuan: `1,234.50`.
pub fn money(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let yuan = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in yuan.chars().enumerate() {
        if i > 0 && (yuan.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_the_branch_time_zone() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        // 2025-07-21 00:00 UTC is 08:00 in Shanghai.
        assert_eq!(datetime(1_753_056_000_000, &shanghai), "2025-07-21 08:00");
        assert_eq!(datetime(1_753_056_000_000, &TimeZone::UTC), "2025-07-21 00:00");
        assert_eq!(datetime(i64::MAX, &shanghai), "");
    }

    #[test]
    fn filter_days_are_the_branch_days() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        let start = day_start("2025-07-21", &shanghai).unwrap();
        assert_eq!(datetime(start, &shanghai), "2025-07-21 00:00");
        assert_eq!(day_end("2025-07-21", &shanghai).unwrap() - start, 24 * 3600 * 1000);
        for bad in ["", "2025-7-21", "2025-02-30", "tomorrow!!", "2025-07-21T00"] {
            assert_eq!(day_start(bad, &shanghai), None, "{bad}");
        }
    }

    #[test]
    fn money_and_measures() {
        assert_eq!(money(123_450), "1,234.50");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-100_000_000), "-1,000,000.00");
        assert_eq!(distance(Some(349.6)), "350 m");
        assert_eq!(distance(Some(2_240.0)), "2.2 km");
        assert_eq!(duration(Some(45 * 60), "分钟"), "45 分钟");
        assert_eq!(duration(Some(3900), "min"), "1:05");
    }
}

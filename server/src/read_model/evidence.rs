//! Evidence flags: signs that a visit may not have happened as recorded. The server computes them
//! when visits arrive, from measures it keeps on each visit's row, against its branch's
//! thresholds; each flag explains itself in Chinese and English with the measure that tripped it.

use serde::{Deserialize, Serialize};

/// One branch's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Check-in farther than this from the customer's recorded location.
    pub far_m: i64,
    /// A completed visit shorter than this.
    pub short_s: i64,
    /// Travel from the manager's previous visit faster than this.
    pub max_kmh: i64,
    /// A device clock farther than this from the server's when it synced the visit.
    pub clock_s: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { far_m: 500, short_s: 5 * 60, max_kmh: 120, clock_s: 10 * 60 }
    }
}

impl Rules {
    /// Thresholds a supervisor may set: each within what could make sense in the field.
    pub fn validate(&self) -> Result<(), &'static str> {
        let within = |v: i64, lo: i64, hi: i64| (lo..=hi).contains(&v);
        if !within(self.far_m, 50, 50_000) {
            return Err("far_m");
        }
        if !within(self.short_s, 0, 4 * 3600) {
            return Err("short_s");
        }
        if !within(self.max_kmh, 10, 1000) {
            return Err("max_kmh");
        }
        if !within(self.clock_s, 30, 7 * 24 * 3600) {
            return Err("clock_s");
        }
        Ok(())
    }
}

/// Travel shorter than this between two visits is not judged (GPS noise, one village).
pub const TRAVEL_MIN_M: f64 = 1_000.0;

/// Time between two visits is counted as at least this (two visits at once are not infinitely
/// fast, only very).
pub const TRAVEL_MIN_S: f64 = 60.0;

/// A visit is recorded after the fact when it was created this long after its check-out (a
/// tablet's clock and a form's submit take some seconds).
pub const AFTER_THE_FACT_MS: i64 = 60_000;

macro_rules! flags {
    ($($flag:ident = ($bit:expr, $code:literal, $zh:literal, $en:literal),)*) => {
        /// One evidence flag: its bit in a visit row's `flags`, its code, and its label.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Flag { $($flag,)* }

        impl Flag {
            pub const ALL: &[Flag] = &[$(Flag::$flag,)*];

            pub fn bit(self) -> i64 {
                match self { $(Flag::$flag => $bit,)* }
            }

            pub fn code(self) -> &'static str {
                match self { $(Flag::$flag => $code,)* }
            }

            pub fn label_zh(self) -> &'static str {
                match self { $(Flag::$flag => $zh,)* }
            }

            pub fn label_en(self) -> &'static str {
                match self { $(Flag::$flag => $en,)* }
            }
        }
    };
}

flags! {
    Far = (1, "far", "签到位置远离客户", "check-in far from the customer"),
    Short = (2, "short", "拜访时间过短", "visit too short"),
    Travel = (4, "travel", "行程快得不可能", "impossibly fast travel"),
    PhotoReused = (8, "photo_reused", "照片与其他拜访重复", "photo reused from another visit"),
    Mock = (16, "mock", "模拟定位", "mock location"),
    Clock = (32, "clock", "设备时间与服务器相差过大", "device clock far from the server's"),
    AfterTheFact = (64, "after_the_fact", "事后补录", "recorded after the fact"),
}

impl Flag {
    pub fn from_code(code: &str) -> Option<Flag> {
        Flag::ALL.iter().copied().find(|f| f.code() == code)
    }

    /// The flags set in `bits`.
    pub fn in_bits(bits: i64) -> impl Iterator<Item = Flag> {
        Flag::ALL.iter().copied().filter(move |f| bits & f.bit() != 0)
    }
}

/// What the flags are judged from: a visit row's measures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measures {
    pub in_person: bool,
    pub completed: bool,
    pub distance_m: Option<f64>,
    pub duration_s: Option<i64>,
    pub travel_kmh: Option<f64>,
    pub photo_reused: bool,
    pub mock_location: bool,
    pub clock_offset_ms: Option<i64>,
    pub after_the_fact: bool,
}

impl Measures {
    /// The flags these measures trip under `rules`, as bits.
    pub fn flags(&self, rules: &Rules) -> i64 {
        let mut bits = 0;
        let mut set = |flag: Flag, on: bool| {
            if on {
                bits |= flag.bit();
            }
        };
        set(Flag::Far, self.in_person && self.distance_m.is_some_and(|d| d > rules.far_m as f64));
        set(Flag::Short, self.completed && self.in_person && self.duration_s.is_some_and(|s| s < rules.short_s));
        set(Flag::Travel, self.in_person && self.travel_kmh.is_some_and(|k| k > rules.max_kmh as f64));
        set(Flag::PhotoReused, self.photo_reused);
        set(Flag::Mock, self.mock_location);
        set(Flag::Clock, self.clock_offset_ms.is_some_and(|ms| ms.unsigned_abs() > rules.clock_s as u64 * 1000));
        set(Flag::AfterTheFact, self.after_the_fact);
        bits
    }

    /// Why each flag in `bits` is set, with its measure: (flag, Chinese, English).
    pub fn reasons(&self, bits: i64, rules: &Rules) -> Vec<(Flag, String, String)> {
        Flag::in_bits(bits)
            .map(|flag| {
                let (zh, en) = match flag {
                    Flag::Far => {
                        let d = self.distance_m.unwrap_or_default();
                        (
                            format!("签到位置距客户登记位置 {}（阈值 {}）", metres(d), metres(rules.far_m as f64)),
                            format!(
                                "checked in {} from the customer's recorded location (threshold {})",
                                metres(d),
                                metres(rules.far_m as f64)
                            ),
                        )
                    }
                    Flag::Short => {
                        let s = self.duration_s.unwrap_or_default();
                        (
                            format!("拜访仅 {}（阈值 {}）", duration_zh(s), duration_zh(rules.short_s)),
                            format!("the visit lasted {} (threshold {})", duration_en(s), duration_en(rules.short_s)),
                        )
                    }
                    Flag::Travel => {
                        let k = self.travel_kmh.unwrap_or_default();
                        (
                            format!("从上一次拜访赶到这里需时速 {k:.0} 公里（阈值 {} 公里）", rules.max_kmh),
                            format!(
                                "reaching here from the previous visit took {k:.0} km/h (threshold {})",
                                rules.max_kmh
                            ),
                        )
                    }
                    Flag::PhotoReused => {
                        ("有照片也出现在另一次拜访中".to_string(), "a photo also appears in another visit".to_string())
                    }
                    Flag::Mock => {
                        ("设备报告使用了模拟定位".to_string(), "the device reported a mock location".to_string())
                    }
                    Flag::Clock => {
                        let s = self.clock_offset_ms.unwrap_or_default() / 1000;
                        let (ahead_zh, ahead_en) = if s >= 0 { ("快", "ahead") } else { ("慢", "behind") };
                        (
                            format!("同步时设备时间比服务器{ahead_zh} {}", duration_zh(s.abs())),
                            format!("when it synced, the device clock was {} {ahead_en}", duration_en(s.abs())),
                        )
                    }
                    Flag::AfterTheFact => {
                        ("拜访在签退之后才录入".to_string(), "the visit was entered after its check-out".to_string())
                    }
                };
                (flag, zh, en)
            })
            .collect()
    }
}

/// Speed between two points `metres` apart, `seconds` apart, in km/h; `None` below
/// [`TRAVEL_MIN_M`].
pub fn travel_kmh(metres: f64, seconds: f64) -> Option<f64> {
    (metres >= TRAVEL_MIN_M).then(|| metres / 1000.0 / (seconds.max(TRAVEL_MIN_S) / 3600.0))
}

fn metres(m: f64) -> String {
    if m >= 1000.0 { format!("{:.1} km", m / 1000.0) } else { format!("{m:.0} m") }
}

fn duration_zh(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s} 秒"),
        s if s < 3600 => format!("{} 分钟", s / 60),
        s => format!("{} 小时 {} 分钟", s / 3600, s % 3600 / 60),
    }
}

fn duration_en(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit() -> Measures {
        Measures { in_person: true, completed: true, duration_s: Some(1800), ..Measures::default() }
    }

    #[test]
    fn each_measure_trips_its_flag_only_past_its_threshold() {
        let rules = Rules::default();
        assert_eq!(visit().flags(&rules), 0);
        let cases: Vec<(Measures, Measures, Flag)> = vec![
            (
                Measures { distance_m: Some(500.0), ..visit() },
                Measures { distance_m: Some(501.0), ..visit() },
                Flag::Far,
            ),
            (Measures { duration_s: Some(300), ..visit() }, Measures { duration_s: Some(299), ..visit() }, Flag::Short),
            (
                Measures { travel_kmh: Some(120.0), ..visit() },
                Measures { travel_kmh: Some(121.0), ..visit() },
                Flag::Travel,
            ),
            (visit(), Measures { photo_reused: true, ..visit() }, Flag::PhotoReused),
            (visit(), Measures { mock_location: true, ..visit() }, Flag::Mock),
            (
                Measures { clock_offset_ms: Some(-600_000), ..visit() },
                Measures { clock_offset_ms: Some(-600_001), ..visit() },
                Flag::Clock,
            ),
            (visit(), Measures { after_the_fact: true, ..visit() }, Flag::AfterTheFact),
        ];
        for (at, past, flag) in cases {
            assert_eq!(at.flags(&rules), 0, "{flag:?} at its threshold");
            assert_eq!(past.flags(&rules), flag.bit(), "{flag:?} past its threshold");
            let reasons = past.reasons(past.flags(&rules), &rules);
            assert_eq!(reasons.len(), 1);
            assert!(reasons[0].1.chars().any(|c| c > '\u{2E80}') && reasons[0].2.is_ascii(), "{reasons:?}");
        }
    }

    #[test]
    fn location_flags_are_for_visits_in_person_only() {
        let phone = Measures {
            in_person: false,
            distance_m: Some(9e6),
            travel_kmh: Some(9e3),
            duration_s: Some(10),
            ..visit()
        };
        assert_eq!(phone.flags(&Rules::default()), 0);
        // A visit still in progress is not too short yet.
        let open = Measures { completed: false, duration_s: Some(10), ..visit() };
        assert_eq!(open.flags(&Rules::default()), 0);
    }

    #[test]
    fn travel_is_judged_beyond_a_kilometre_and_a_minute() {
        assert_eq!(travel_kmh(999.0, 1.0), None);
        assert_eq!(travel_kmh(10_000.0, 3600.0), Some(10.0));
        // Two visits at once, 2 km apart: as if a minute apart.
        assert_eq!(travel_kmh(2_000.0, -50.0), Some(120.0));
    }

    #[test]
    fn thresholds_outside_sense_are_refused() {
        assert!(Rules::default().validate().is_ok());
        assert_eq!(Rules { far_m: 10, ..Rules::default() }.validate(), Err("far_m"));
        assert_eq!(Rules { short_s: -1, ..Rules::default() }.validate(), Err("short_s"));
        assert_eq!(Rules { max_kmh: 5000, ..Rules::default() }.validate(), Err("max_kmh"));
        assert_eq!(Rules { clock_s: 0, ..Rules::default() }.validate(), Err("clock_s"));
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut bits = 0;
        for &flag in Flag::ALL {
            assert_eq!(Flag::from_code(flag.code()), Some(flag));
            assert_eq!(bits & flag.bit(), 0);
            bits |= flag.bit();
        }
        assert_eq!(Flag::in_bits(bits).count(), Flag::ALL.len());
    }
}

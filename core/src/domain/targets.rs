//! Monthly targets (目标) and their progress: visits, new customers, leads won and the amount
//! won. A branch's target is decomposed to its managers on the server; each manager's progress,
//! as of their last sync, reaches their tablet, which adds the visits it has made since.

use serde::{Deserialize, Serialize};

/// What a target counts, and what was done against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Measures {
    pub visits: i64,
    pub new_customers: i64,
    pub leads_won: i64,
    pub amount_won_fen: i64,
}

impl Measures {
    /// `self` split evenly among `n` (the first ones take the remainder), for decomposing a
    /// branch's target to its managers.
    pub fn split(&self, n: usize) -> Vec<Measures> {
        let part = |total: i64, i: usize| {
            let n = n as i64;
            total / n + i64::from((i as i64) < total % n)
        };
        (0..n)
            .map(|i| Measures {
                visits: part(self.visits, i),
                new_customers: part(self.new_customers, i),
                leads_won: part(self.leads_won, i),
                amount_won_fen: part(self.amount_won_fen, i),
            })
            .collect()
    }

    pub fn add(&self, other: &Measures) -> Measures {
        Measures {
            visits: self.visits + other.visits,
            new_customers: self.new_customers + other.new_customers,
            leads_won: self.leads_won + other.leads_won,
            amount_won_fen: self.amount_won_fen.saturating_add(other.amount_won_fen),
        }
    }

    /// The rule out of bounds, if any: no negative figure.
    pub fn validate(&self) -> Result<(), &'static str> {
        for (field, v) in [
            ("visits", self.visits),
            ("new_customers", self.new_customers),
            ("leads_won", self.leads_won),
            ("amount_won_fen", self.amount_won_fen),
        ] {
            if !(0..=1_000_000_000_000_000).contains(&v) {
                return Err(field);
            }
        }
        Ok(())
    }
}

/// A manager's month: the target and what the server had counted when the tablet last synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MonthProgress {
    /// `2026-12`.
    pub month: String,
    /// When the server counted `done`.
    pub as_of: i64,
    pub target: Measures,
    pub done: Measures,
}

/// The month of `now` in China (`2026-12`) and its first instant, UTC ms.
pub fn china_month(now: i64) -> (String, i64) {
    let first = super::customer::china_today(now).first_of_month();
    let start = first
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now);
    (first.strftime("%Y-%m").to_string(), start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_target_splits_evenly_and_adds_back_up() {
        let t = Measures { visits: 100, new_customers: 7, leads_won: 2, amount_won_fen: 1_000_001 };
        let parts = t.split(3);
        assert_eq!(parts[0], Measures { visits: 34, new_customers: 3, leads_won: 1, amount_won_fen: 333_334 });
        assert_eq!(parts[2], Measures { visits: 33, new_customers: 2, leads_won: 0, amount_won_fen: 333_333 });
        assert_eq!(parts.iter().fold(Measures::default(), |a, p| a.add(p)), t);
        assert_eq!(Measures { visits: -1, ..t }.validate(), Err("visits"));
    }

    #[test]
    fn the_month_is_chinas() {
        // 2026-11-30 16:00 UTC is already 1 December in China.
        assert_eq!(china_month(1_796_054_400_000).0, "2026-12");
        let (month, start) = china_month(1_795_924_800_000);
        assert_eq!((month.as_str(), start), ("2026-11", 1_793_462_400_000));
    }
}

//! What the server computes about a customer and writes into the file: the value tier (from the
//! financial assets the core banking system reports) and the lifecycle stage (from the visits,
//! interactions and leads the file holds). The tablet shows both with their "as of" date and
//! filters by them.

use serde::{Deserialize, Serialize};

use super::file::CustomerFile;
use super::lead::LeadStage;
use super::pool::DAY_MS;
use super::server::{Lifecycle, ValueTier};
use super::visit::VisitStatus;

/// Private banking (私人银行) from 6,000,000 RMB of financial assets.
pub const PRIVATE_BANKING_FEN: i64 = 6_000_000 * 100;
/// High net worth (高净值) from 1,000,000 RMB.
pub const HIGH_NET_WORTH_FEN: i64 = 1_000_000 * 100;

/// A branch's rules for tiers below high net worth, for dormancy, and for how long its managers
/// have to handle a complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CustomerRules {
    /// High value (高价值) from this many fen of assets.
    pub high_fen: i64,
    /// Medium value (中价值) from this many fen; below it, low value.
    pub medium_fen: i64,
    /// A customer of the bank with no visit, interaction or lead moving for this many days is
    /// dormant (休眠).
    pub dormant_after_days: u32,
    /// A complaint is handled in time within this many days of being recorded.
    #[serde(default = "default_complaint_days")]
    pub complaint_days: u32,
}

fn default_complaint_days() -> u32 {
    super::activity::DEFAULT_COMPLAINT_DAYS
}

impl Default for CustomerRules {
    /// 300,000 RMB for high value, 50,000 RMB for medium; dormant after 180 days; complaints
    /// handled within the regulator's 15 days.
    fn default() -> Self {
        CustomerRules {
            high_fen: 300_000 * 100,
            medium_fen: 50_000 * 100,
            dormant_after_days: 180,
            complaint_days: default_complaint_days(),
        }
    }
}

impl CustomerRules {
    /// The rule out of bounds, if any: 0 < medium < high < high net worth; dormancy 30 days to
    /// 10 years; complaints 1 to 30 days (the regulator's longest, with an extension).
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(1..HIGH_NET_WORTH_FEN).contains(&self.high_fen) {
            return Err("high_fen");
        }
        if !(1..self.high_fen).contains(&self.medium_fen) {
            return Err("medium_fen");
        }
        if !(30..=3650).contains(&self.dormant_after_days) {
            return Err("dormant_after_days");
        }
        if !(1..=30).contains(&self.complaint_days) {
            return Err("complaint_days");
        }
        Ok(())
    }

    /// The tier of a customer holding `assets_fen` of financial assets.
    pub fn tier_of(&self, assets_fen: i64) -> ValueTier {
        match assets_fen {
            a if a >= PRIVATE_BANKING_FEN => ValueTier::PrivateBanking,
            a if a >= HIGH_NET_WORTH_FEN => ValueTier::HighNetWorth,
            a if a >= self.high_fen => ValueTier::High,
            a if a >= self.medium_fen => ValueTier::Medium,
            _ => ValueTier::Low,
        }
    }
}

/// The lifecycle stage of `file` at `now`, given whether the bank reports it holding assets:
///
/// - non-customer (非客户): nothing yet: no completed visit or interaction, no lead, no assets;
/// - possible (潜在客户): met (a completed visit or an interaction) or with an early lead;
/// - qualified prospect (合格潜客): an open lead at the qualified stage or later;
/// - first-time (首次客户): holds assets or won one lead;
/// - repeat (重复客户): won two leads;
/// - advocate (忠诚客户): won three or more;
/// - dormant (休眠客户): a customer of the bank (first-time or later) with no visit, interaction
///   or lead moving for the branch's `dormant_after_days`;
/// - closed stays closed: only a supervisor reopens it (`None` is returned for it).
pub fn lifecycle_of(file: &CustomerFile, holds_assets: bool, rules: &CustomerRules, now: i64) -> Option<Lifecycle> {
    if file.server.lifecycle == Some(Lifecycle::Closed) {
        return None;
    }
    let won = file.leads.values().filter(|l| l.stage == LeadStage::Won).count();
    let customer = match won {
        0 if holds_assets => Some(Lifecycle::FirstTime),
        0 => None,
        1 => Some(Lifecycle::FirstTime),
        2 => Some(Lifecycle::Repeat),
        _ => Some(Lifecycle::Advocate),
    };
    if let Some(stage) = customer {
        let dormant_from = last_activity(file).saturating_add(i64::from(rules.dormant_after_days) * DAY_MS);
        return Some(if now >= dormant_from { Lifecycle::Dormant } else { stage });
    }
    let open = file.leads.values().filter(|l| l.stage.is_open());
    if open.clone().any(|l| l.stage >= LeadStage::Qualified) {
        return Some(Lifecycle::QualifiedProspect);
    }
    let met = file.visits.values().any(|v| v.status == VisitStatus::Completed) || !file.interactions.is_empty();
    Some(if met || open.count() > 0 { Lifecycle::Possible } else { Lifecycle::NonCustomer })
}

/// The tags the server's rules give a customer, as labels a manager reads and filters by: its
/// tier and stage, its age band by decade of birth (`60后`), and each product it holds (a lead
/// won: `持有存款`).
pub fn auto_tags(file: &CustomerFile, tier: Option<ValueTier>, stage: Option<Lifecycle>) -> super::customer::Tags {
    let mut tags = std::collections::BTreeSet::new();
    if let Some(t) = tier {
        tags.insert(t.label_zh().to_string());
    }
    if let Some(s) = stage {
        tags.insert(s.label_zh().to_string());
    }
    let born = file
        .profile
        .id_number
        .as_deref()
        .and_then(super::idcard::birth_date)
        .map(|(y, _, _)| i64::from(y))
        .or_else(|| file.profile.birthday.as_ref().and_then(|b| b.year));
    if let Some(year) = born.filter(|y| (1900..2100).contains(y)) {
        tags.insert(format!("{:02}后", (year % 100) / 10 * 10));
    }
    for lead in file.leads.values().filter(|l| l.stage == LeadStage::Won) {
        tags.insert(format!("持有{}", lead.product.label_zh()));
    }
    super::customer::Tags(tags)
}

/// When a customer of the bank turns dormant if nothing happens first (`None`: not one yet).
pub fn dormant_at(file: &CustomerFile, holds_assets: bool, rules: &CustomerRules) -> Option<i64> {
    let won = file.leads.values().any(|l| l.stage == LeadStage::Won);
    ((won || holds_assets) && file.server.lifecycle != Some(Lifecycle::Closed))
        .then(|| last_activity(file).saturating_add(i64::from(rules.dormant_after_days) * DAY_MS))
}

/// The latest completed visit, interaction or lead movement (or the file's creation).
pub fn last_activity(file: &CustomerFile) -> i64 {
    let visits = file.visits.values().filter(|v| v.status == VisitStatus::Completed).map(|v| v.when());
    let talks = file.interactions.values().map(|i| i.at);
    let moves = file.leads.values().flat_map(|l| l.stage_history.iter().map(|c| c.at));
    visits.chain(talks).chain(moves).fold(file.created_at, i64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, Ctx, CustomerKind, LeadSource, NewLead, Product, Profile, Role};

    const T0: i64 = 1_780_000_000_000;

    fn file() -> CustomerFile {
        let mut f =
            CustomerFile::new(String::new(), Profile::new(CustomerKind::Individual, "张三", "韩桥村"), "M1".into(), T0);
        let ctx = Ctx { user_id: "M1".into(), user_name: String::new(), role: Role::Manager, now: T0 };
        Action::CreateCustomer { id: "c1".into(), profile: f.profile.clone() }.apply(&mut f, &ctx).unwrap();
        f
    }

    fn lead(f: &mut CustomerFile, id: &str, stage: LeadStage, at: i64) {
        let ctx = Ctx { user_id: "M1".into(), user_name: String::new(), role: Role::Manager, now: at };
        let new = NewLead {
            id: id.into(),
            product: Product::Deposit,
            amount_fen: 1_000_000,
            source: LeadSource::Visit,
            expected_close: None,
            probability: None,
            visit_id: None,
            notes: String::new(),
            catalog_id: None,
        };
        Action::AddLead { lead: new }.apply(f, &ctx).unwrap();
        if stage != LeadStage::New {
            Action::MoveLead { lead_id: id.into(), stage, lost_reason: None }.apply(f, &ctx).unwrap();
        }
    }

    #[test]
    fn tiers_follow_the_assets_and_the_branchs_thresholds() {
        let r = CustomerRules::default();
        for (yuan, tier) in [
            (6_000_000, ValueTier::PrivateBanking),
            (5_999_999, ValueTier::HighNetWorth),
            (1_000_000, ValueTier::HighNetWorth),
            (300_000, ValueTier::High),
            (299_999, ValueTier::Medium),
            (50_000, ValueTier::Medium),
            (49_999, ValueTier::Low),
            (0, ValueTier::Low),
        ] {
            assert_eq!(r.tier_of(yuan * 100), tier, "{yuan}");
        }
        assert_eq!(CustomerRules { medium_fen: 0, ..r.clone() }.validate(), Err("medium_fen"));
        assert_eq!(CustomerRules { high_fen: HIGH_NET_WORTH_FEN, ..r.clone() }.validate(), Err("high_fen"));
        assert_eq!(CustomerRules { medium_fen: r.high_fen, ..r.clone() }.validate(), Err("medium_fen"));
        assert_eq!(CustomerRules { dormant_after_days: 1, ..r.clone() }.validate(), Err("dormant_after_days"));
        assert_eq!(CustomerRules { complaint_days: 0, ..r.clone() }.validate(), Err("complaint_days"));
        assert_eq!(CustomerRules { complaint_days: 31, ..r.clone() }.validate(), Err("complaint_days"));
        // Rules stored before complaints had a limit read with the regulator's 15 days.
        let old: CustomerRules =
            serde_json::from_str(r#"{"high_fen":1,"medium_fen":0,"dormant_after_days":90}"#).unwrap();
        assert_eq!(old.complaint_days, 15);
    }

    #[test]
    fn stages_follow_the_file_and_a_quiet_customer_turns_dormant() {
        let r = CustomerRules::default();
        let mut f = file();
        assert_eq!(lifecycle_of(&f, false, &r, T0), Some(Lifecycle::NonCustomer));
        assert_eq!(lifecycle_of(&f, true, &r, T0), Some(Lifecycle::FirstTime), "holds assets");
        lead(&mut f, "l1", LeadStage::New, T0);
        assert_eq!(lifecycle_of(&f, false, &r, T0), Some(Lifecycle::Possible));
        lead(&mut f, "l2", LeadStage::Qualified, T0);
        assert_eq!(lifecycle_of(&f, false, &r, T0), Some(Lifecycle::QualifiedProspect));
        lead(&mut f, "l3", LeadStage::Won, T0 + DAY_MS);
        assert_eq!(lifecycle_of(&f, false, &r, T0 + DAY_MS), Some(Lifecycle::FirstTime));
        lead(&mut f, "l4", LeadStage::Won, T0 + 2 * DAY_MS);
        assert_eq!(lifecycle_of(&f, false, &r, T0 + 2 * DAY_MS), Some(Lifecycle::Repeat));
        lead(&mut f, "l5", LeadStage::Won, T0 + 3 * DAY_MS);
        assert_eq!(lifecycle_of(&f, false, &r, T0 + 3 * DAY_MS), Some(Lifecycle::Advocate));
        let quiet_from = T0 + 3 * DAY_MS + 180 * DAY_MS;
        assert_eq!(dormant_at(&f, false, &r), Some(quiet_from));
        assert_eq!(lifecycle_of(&f, false, &r, quiet_from - 1), Some(Lifecycle::Advocate));
        assert_eq!(lifecycle_of(&f, false, &r, quiet_from), Some(Lifecycle::Dormant));
        let tags = auto_tags(&f, Some(ValueTier::High), Some(Lifecycle::Advocate));
        assert!(["高价值", "忠诚客户", "持有存款"].iter().all(|t| tags.0.contains(*t)), "{tags:?}");
        f.profile.id_number = Some("11010519491231002X".into());
        assert!(auto_tags(&f, None, None).0.contains("40后"));
        f.server.lifecycle = Some(Lifecycle::Closed);
        assert_eq!(lifecycle_of(&f, false, &r, quiet_from), None, "closed stays closed");
        assert_eq!(dormant_at(&f, false, &r), None);
    }
}

//! The branch's public pool (公海池) rules: when a neglected customer returns to the pool, and how
//! many customers a manager may take from it. The server decides by them; the tablet shows the
//! same countdown offline, computed by the same function from the rules its last sync brought.

use serde::{Deserialize, Serialize};

use super::codes::code_enum;
use super::file::CustomerFile;
use super::lead::LeadStage;
use super::server::Lifecycle;
use super::visit::VisitStatus;

pub const DAY_MS: i64 = 86_400_000;

/// A branch's pool rules. `None` turns a rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PoolRules {
    /// A customer returns to the pool after this many days without a completed visit or a
    /// recorded interaction (a follow-up call, a consultation).
    pub recycle_after_days: Option<u32>,
    /// A customer with open leads returns after this many days without any lead moving on.
    pub recycle_without_lead_progress_days: Option<u32>,
    /// The tablet warns this many days before.
    pub warn_days: u32,
    /// An open lead at this stage or later keeps the customer with its manager.
    pub exempt_lead_stage: Option<LeadStage>,
    /// Claims from the pool a manager may win per day (their branch's local day).
    pub daily_claim_cap: Option<u32>,
    /// Customers a manager may own; a claim beyond it is refused.
    pub max_owned: Option<u32>,
    /// Days before a former owner may claim the same customer again.
    pub claim_cooldown_days: Option<u32>,
}

impl Default for PoolRules {
    /// What a new branch starts with: 90 days without a visit, 60 without lead progress, a
    /// week's warning; leads at the proposal stage exempt; 5 claims a day, 500 customers, 30
    /// days' cooldown.
    fn default() -> Self {
        PoolRules {
            recycle_after_days: Some(90),
            recycle_without_lead_progress_days: Some(60),
            warn_days: 7,
            exempt_lead_stage: Some(LeadStage::Proposal),
            daily_claim_cap: Some(5),
            max_owned: Some(500),
            claim_cooldown_days: Some(30),
        }
    }
}

impl PoolRules {
    /// The rule that is out of bounds, if any: periods of 1 day to 10 years, a warning shorter
    /// than the shortest period, caps of 1 to 100,000.
    pub fn validate(&self) -> Result<(), &'static str> {
        let period = |d: Option<u32>| d.is_none_or(|d| (1..=3650).contains(&d));
        if !period(self.recycle_after_days) {
            return Err("recycle_after_days");
        }
        if !period(self.recycle_without_lead_progress_days) {
            return Err("recycle_without_lead_progress_days");
        }
        let shortest = [self.recycle_after_days, self.recycle_without_lead_progress_days].into_iter().flatten().min();
        if self.warn_days > 365 || shortest.is_some_and(|s| self.warn_days >= s) {
            return Err("warn_days");
        }
        let cap = |c: Option<u32>| c.is_none_or(|c| (1..=100_000).contains(&c));
        if !cap(self.daily_claim_cap) {
            return Err("daily_claim_cap");
        }
        if !cap(self.max_owned) {
            return Err("max_owned");
        }
        if !period(self.claim_cooldown_days) {
            return Err("claim_cooldown_days");
        }
        Ok(())
    }
}

code_enum! {
    /// Why a customer is due back in the pool.
    pub enum RecycleCause {
        NoVisit = ("no_visit", "超期未走访"),
        NoLeadProgress = ("no_lead_progress", "商机超期未推进"),
    }
}

/// When an owned customer returns to the pool if nothing happens first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RecycleDue {
    pub at: i64,
    /// From when the tablet shows the countdown.
    pub warn_from: i64,
    pub cause: RecycleCause,
}

impl RecycleDue {
    /// Whole days left at `now` (0 on the last day, negative once overdue).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.at - now).div_euclid(DAY_MS)
    }
}

/// What a customer's due date is computed from, whatever the rules: kept in the tablet's
/// projection rows, so the countdown list reads rows, not documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecycleBasis {
    /// The latest of: the current owner getting the customer (or its creation), a completed
    /// visit, an interaction.
    pub last_activity_at: i64,
    /// The latest move of an open lead (or the owner getting the customer); `None` without open
    /// leads.
    pub last_lead_progress_at: Option<i64>,
    /// The furthest stage of the open leads.
    pub top_open_stage: Option<LeadStage>,
}

impl RecycleBasis {
    /// `None` for a customer no rule returns: in the pool already, closed, or locked by a
    /// supervisor.
    pub fn of(file: &CustomerFile) -> Option<RecycleBasis> {
        let server = &file.server;
        if server.owner.manager_id.is_none() || server.lifecycle == Some(Lifecycle::Closed) || server.locked {
            return None;
        }
        // Nothing counts from before the current owner got the customer.
        let since = server.owned_since().unwrap_or(file.created_at).max(file.created_at);
        let visited = file.visits.values().filter(|v| v.status == VisitStatus::Completed).map(|v| v.when());
        let talked = file.interactions.values().map(|i| i.at);
        let open: Vec<_> = file.leads.values().filter(|l| l.stage.is_open()).collect();
        let moved = open.iter().flat_map(|l| l.stage_history.iter().map(|c| c.at));
        Some(RecycleBasis {
            last_activity_at: visited.chain(talked).fold(since, i64::max),
            last_lead_progress_at: (!open.is_empty()).then(|| moved.fold(since, i64::max)),
            top_open_stage: open.iter().map(|l| l.stage).max(),
        })
    }

    /// When the customer returns to the pool under `rules`; `None` when no rule applies (an open
    /// lead at the exempt stage, every rule off).
    pub fn due(&self, rules: &PoolRules) -> Option<RecycleDue> {
        if rules.exempt_lead_stage.is_some_and(|exempt| self.top_open_stage.is_some_and(|top| top >= exempt)) {
            return None;
        }
        let days = |d: u32| i64::from(d) * DAY_MS;
        let no_visit =
            rules.recycle_after_days.map(|d| (self.last_activity_at.saturating_add(days(d)), RecycleCause::NoVisit));
        let no_progress = rules
            .recycle_without_lead_progress_days
            .zip(self.last_lead_progress_at)
            .map(|(d, last)| (last.saturating_add(days(d)), RecycleCause::NoLeadProgress));
        let (at, cause) = [no_visit, no_progress].into_iter().flatten().min_by_key(|(at, _)| *at)?;
        Some(RecycleDue { at, warn_from: at.saturating_sub(days(rules.warn_days)), cause })
    }
}

/// When `file` returns to the pool under `rules` (see [`RecycleBasis`]).
pub fn recycle_due(file: &CustomerFile, rules: &PoolRules) -> Option<RecycleDue> {
    RecycleBasis::of(file)?.due(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Action, Channel, CheckPoint, Ctx, CustomerKind, GeoPoint, LeadSource, LocationProvider, NewLead, Owner,
        OwnerChangeReason, Product, Profile, Role, VisitDetails, VisitPurpose,
    };

    const T0: i64 = 1_780_000_000_000;

    fn ctx(role: Role, now: i64) -> Ctx {
        Ctx {
            user_id: if role == Role::Server { "S1".into() } else { "M1".into() },
            user_name: String::new(),
            role,
            now,
        }
    }

    fn owned() -> CustomerFile {
        let mut f =
            CustomerFile::new(String::new(), Profile::new(CustomerKind::Individual, "张三", "韩桥村"), "M1".into(), T0);
        Action::CreateCustomer { id: "c1".into(), profile: f.profile.clone() }
            .apply(&mut f, &ctx(Role::Manager, T0))
            .unwrap();
        f
    }

    fn visit(f: &mut CustomerFile, id: &str, at: i64) {
        let point = |at| CheckPoint {
            at,
            position: GeoPoint { lat: 30.6, lng: 114.3, accuracy_m: 10.0 },
            provider: LocationProvider::Gps,
            mock_location: false,
        };
        let action = Action::RecordVisit {
            visit_id: id.into(),
            purpose: VisitPurpose::FollowUp,
            channel: Channel::InPerson,
            check_in: point(at),
            check_out: point(at + 600_000),
            details: VisitDetails::default(),
        };
        action.apply(f, &ctx(Role::Manager, at + 600_000)).unwrap();
    }

    #[test]
    fn a_neglected_customer_is_due_n_days_after_the_last_visit() {
        let rules = PoolRules { recycle_without_lead_progress_days: None, ..PoolRules::default() };
        let mut f = owned();
        let due = recycle_due(&f, &rules).unwrap();
        assert_eq!((due.at, due.cause), (T0 + 90 * DAY_MS, RecycleCause::NoVisit));
        assert_eq!(due.warn_from, T0 + 83 * DAY_MS);
        assert_eq!(due.days_left(T0 + 83 * DAY_MS), 7);
        visit(&mut f, "v1", T0 + 10 * DAY_MS);
        assert_eq!(recycle_due(&f, &rules).unwrap().at, T0 + 100 * DAY_MS);
        // Locked, closed or in the pool: never due.
        let mut locked = f.clone();
        locked.server.locked = true;
        assert_eq!(recycle_due(&locked, &rules), None);
        let mut pooled = f.clone();
        pooled.server.change_owner(Owner::default(), OwnerChangeReason::Recycled, "S1", T0);
        assert_eq!(recycle_due(&pooled, &rules), None);
        // A new owner's clock starts when they got the customer.
        let mut claimed = pooled.clone();
        let m2 = Owner { manager_id: Some("M2".into()), manager_name: None };
        claimed.server.change_owner(m2, OwnerChangeReason::Claimed, "M2", T0 + 200 * DAY_MS);
        assert_eq!(recycle_due(&claimed, &rules).unwrap().at, T0 + 290 * DAY_MS);
    }

    #[test]
    fn open_leads_must_progress_and_late_stages_are_exempt() {
        let rules = PoolRules::default();
        let mut f = owned();
        let lead = NewLead {
            id: "l1".into(),
            product: Product::Loan,
            amount_fen: 5_000_000,
            source: LeadSource::Visit,
            expected_close: None,
            probability: None,
            visit_id: None,
            notes: String::new(),
            catalog_id: None,
        };
        Action::AddLead { lead }.apply(&mut f, &ctx(Role::Manager, T0 + DAY_MS)).unwrap();
        let due = recycle_due(&f, &rules).unwrap();
        assert_eq!((due.at, due.cause), (T0 + 61 * DAY_MS, RecycleCause::NoLeadProgress));
        let mv = |stage| Action::MoveLead { lead_id: "l1".into(), stage, lost_reason: None };
        mv(LeadStage::Contacted).apply(&mut f, &ctx(Role::Manager, T0 + 5 * DAY_MS)).unwrap();
        assert_eq!(recycle_due(&f, &rules).unwrap().at, T0 + 65 * DAY_MS);
        mv(LeadStage::Proposal).apply(&mut f, &ctx(Role::Manager, T0 + 6 * DAY_MS)).unwrap();
        assert_eq!(recycle_due(&f, &rules), None);
        // A lead won is no longer open: back to the visit rule.
        mv(LeadStage::Won).apply(&mut f, &ctx(Role::Manager, T0 + 7 * DAY_MS)).unwrap();
        assert_eq!(recycle_due(&f, &rules).unwrap().cause, RecycleCause::NoVisit);
    }

    #[test]
    fn rules_out_of_bounds_are_named() {
        assert_eq!(PoolRules::default().validate(), Ok(()));
        let bad = |f: fn(&mut PoolRules)| {
            let mut r = PoolRules::default();
            f(&mut r);
            r.validate().unwrap_err()
        };
        assert_eq!(bad(|r| r.recycle_after_days = Some(0)), "recycle_after_days");
        assert_eq!(bad(|r| r.warn_days = 60), "warn_days");
        assert_eq!(bad(|r| r.daily_claim_cap = Some(0)), "daily_claim_cap");
        assert_eq!(bad(|r| r.claim_cooldown_days = Some(100_000)), "claim_cooldown_days");
        let off = PoolRules {
            recycle_after_days: None,
            recycle_without_lead_progress_days: None,
            warn_days: 0,
            exempt_lead_stage: None,
            daily_claim_cap: None,
            max_owned: None,
            claim_cooldown_days: None,
        };
        assert_eq!(off.validate(), Ok(()));
        assert_eq!(recycle_due(&owned(), &off), None);
    }
}

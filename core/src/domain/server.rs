//! What only the branch server decides (owner, tiers, lifecycle, reviews, intent outcomes), and the
//! intents a tablet writes to ask for such a decision.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};

use super::codes::code_enum;
use super::error::{Checked, check};
use super::text;

code_enum! {
    /// Value tier by financial assets held with the bank.
    pub enum ValueTier {
        PrivateBanking = ("private_banking", "私人银行"),
        HighNetWorth = ("hnw", "高净值"),
        High = ("high", "高价值"),
        Medium = ("medium", "中价值"),
        Low = ("low", "低价值"),
    }
}

code_enum! {
    pub enum Lifecycle {
        NonCustomer = ("non_customer", "非客户"),
        Possible = ("possible", "潜在客户"),
        QualifiedProspect = ("qualified_prospect", "合格潜客"),
        FirstTime = ("first_time", "首次客户"),
        Repeat = ("repeat", "重复客户"),
        Advocate = ("advocate", "忠诚客户"),
        Dormant = ("dormant", "休眠客户"),
        /// The relationship ended: the customer leaves managers' tablets (supervisors keep it).
        Closed = ("closed", "已关闭"),
    }
}

code_enum! {
    /// Why a customer changed hands (recorded on the customer, see [`OwnerChange`]).
    pub enum OwnerChangeReason {
        /// A new customer given to its creator (not recorded in the history: the file's
        /// `created_by` and `created_at` say it).
        Created = ("created", "新建客户"),
        /// Taken from the branch's public pool by a manager's claim.
        Claimed = ("claimed", "公海领取"),
        /// Assigned or reassigned by a supervisor (one customer, or in bulk).
        Assigned = ("assigned", "主管分配"),
        /// Returned to the pool by the branch's recycle rules (no visit, no lead progress).
        Recycled = ("recycled", "超期未跟进退回公海"),
        /// Given back to the pool by a supervisor or the manager's request.
        Released = ("released", "退回公海"),
        /// Two files of one customer merged into this one.
        Merged = ("merged", "合并客户"),
    }
}

code_enum! {
    pub enum ReviewDecision {
        Approved = ("approved", "通过"),
        Returned = ("returned", "退回"),
        Flagged = ("flagged", "存疑"),
    }
}

code_enum! {
    pub enum IntentKind {
        /// Claim this customer from the branch's public pool (公海池).
        ClaimFromPool = ("claim_from_pool", "从公海领取"),
    }
}

/// Who serves the customer. `manager_id == None` means the branch's public pool.
#[derive(Debug, Clone, PartialEq, Default, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Owner {
    pub manager_id: Option<String>,
    pub manager_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct IntentOutcome {
    pub accepted: bool,
    pub reason: String,
    pub at: i64,
}

/// One change of hands: from whom to whom (`None`: the pool), why, by whom and when.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct OwnerChange {
    pub from: Owner,
    pub to: Owner,
    pub reason: OwnerChangeReason,
    /// The user who decided it (the claiming manager, the supervisor; the server for recycling).
    pub by: String,
    pub at: i64,
}

impl OwnerChange {
    pub fn validate(&self) -> Checked {
        for name in [&self.from.manager_name, &self.to.manager_name].into_iter().flatten() {
            check::line("server.owner_history.name", name, check::MAX_SHORT)?;
        }
        check::required("server.owner_history.by", &self.by, check::MAX_SHORT)?;
        check::time_ms("server.owner_history.at", self.at)
    }

    fn normalize(&mut self) {
        for name in [&mut self.from.manager_name, &mut self.to.manager_name].into_iter().flatten() {
            text::normalize_line(name);
        }
    }
}

/// Fields a tablet may read and never write.
#[derive(Debug, Clone, PartialEq, Default, Reconcile, Hydrate)]
pub struct ServerFields {
    pub owner: Owner,
    pub value_tier: Option<ValueTier>,
    /// The date of the asset snapshot the tier was computed from.
    #[autosurgeon(missing = "Option::default")]
    pub tier_as_of: Option<i64>,
    /// When the server last computed the lifecycle stage.
    #[autosurgeon(missing = "Option::default")]
    pub lifecycle_as_of: Option<i64>,
    pub lifecycle: Option<Lifecycle>,
    pub intent_outcomes: BTreeMap<String, IntentOutcome>,
    /// Every change of owner, keyed so that they sort by time (see [`OwnerChange::key`]).
    #[autosurgeon(missing = "BTreeMap::new")]
    pub owner_history: BTreeMap<String, OwnerChange>,
    /// Kept by its manager whatever the recycle rules say (a supervisor's decision).
    #[autosurgeon(missing = "bool::default")]
    pub locked: bool,
    /// Tags the server's rules give (tier, stage, age band, products held; see `stage.rs`),
    /// beside the ones a manager gives by hand in the profile.
    #[autosurgeon(missing = "super::customer::Tags::default")]
    pub auto_tags: super::customer::Tags,
}

impl ServerFields {
    /// The owner's name is shown on every list and page; outcome reasons reach the tablet.
    pub fn normalize(&mut self) {
        if let Some(name) = &mut self.owner.manager_name {
            text::normalize_line(name);
        }
        self.intent_outcomes.values_mut().for_each(|o| text::normalize_text(&mut o.reason));
        self.owner_history.values_mut().for_each(OwnerChange::normalize);
    }

    /// Records `to` as the owner, and the change in the history when the manager changes (except
    /// at creation).
    pub fn change_owner(&mut self, to: Owner, reason: OwnerChangeReason, by: &str, at: i64) {
        if to.manager_id != self.owner.manager_id && reason != OwnerChangeReason::Created {
            let key = format!("{at:013}-{:04}", self.owner_history.len());
            let from = std::mem::take(&mut self.owner);
            self.owner_history.insert(key, OwnerChange { from, to: to.clone(), reason, by: by.to_string(), at });
        }
        self.owner = to;
    }

    /// When the current owner got the customer (`None`: since its creation, or in the pool).
    pub fn owned_since(&self) -> Option<i64> {
        self.owner_history.values().rev().find(|c| c.to.manager_id == self.owner.manager_id).map(|c| c.at)
    }

    pub fn validate(&self) -> Checked {
        if let Some(name) = &self.owner.manager_name {
            check::line("server.owner.manager_name", name, check::MAX_SHORT)?;
        }
        self.intent_outcomes
            .values()
            .try_for_each(|o| check::text("server.intent_outcomes.reason", &o.reason, check::MAX_TEXT))?;
        self.auto_tags.validate("server.auto_tags")?;
        for at in [self.tier_as_of, self.lifecycle_as_of].into_iter().flatten() {
            check::time_ms("server.as_of", at)?;
        }
        self.owner_history.values().try_for_each(OwnerChange::validate)
    }
}

/// A supervisor's decision on one visit, keyed by the visit's ID.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Review {
    pub decision: ReviewDecision,
    pub comment: String,
    pub reviewer_id: String,
    pub reviewer_name: String,
    pub at: i64,
}

impl Review {
    /// Stores what the supervisor typed in NFC (see `text.rs`).
    pub fn normalize(&mut self) {
        text::normalize_line(&mut self.reviewer_name);
        text::normalize_text(&mut self.comment);
    }

    pub fn validate(&self) -> Checked {
        check::required("review.reviewer_id", &self.reviewer_id, check::MAX_SHORT)?;
        check::line("review.reviewer_name", &self.reviewer_name, check::MAX_SHORT)?;
        check::text("review.comment", &self.comment, check::MAX_TEXT)?;
        check::time_ms("review.at", self.at)
    }
}

/// A request the server resolves deterministically at sync.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Intent {
    pub id: String,
    pub kind: IntentKind,
    pub by: String,
    pub at: i64,
}

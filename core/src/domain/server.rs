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

/// Fields a tablet may read and never write.
#[derive(Debug, Clone, PartialEq, Default, Reconcile, Hydrate)]
pub struct ServerFields {
    pub owner: Owner,
    pub value_tier: Option<ValueTier>,
    pub lifecycle: Option<Lifecycle>,
    pub intent_outcomes: BTreeMap<String, IntentOutcome>,
}

impl ServerFields {
    /// The owner's name is shown on every list and page; outcome reasons reach the tablet.
    pub fn normalize(&mut self) {
        if let Some(name) = &mut self.owner.manager_name {
            text::normalize_line(name);
        }
        self.intent_outcomes.values_mut().for_each(|o| text::normalize_text(&mut o.reason));
    }

    pub fn validate(&self) -> Checked {
        if let Some(name) = &self.owner.manager_name {
            check::line("server.owner.manager_name", name, check::MAX_SHORT)?;
        }
        self.intent_outcomes
            .values()
            .try_for_each(|o| check::text("server.intent_outcomes.reason", &o.reason, check::MAX_TEXT))
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

//! Leads (线索/商机) and their stage machine: new → contacted → qualified → proposal → won / lost.

use autosurgeon::{Hydrate, Reconcile};

use super::codes::code_enum;
use super::error::{Checked, Problem, ValidationError, check};
use super::text;

code_enum! {
    /// The bank products a customer can be interested in.
    pub enum Product {
        Deposit = ("deposit", "存款"),
        Loan = ("loan", "贷款"),
        Wealth = ("wealth", "理财"),
        Card = ("card", "银行卡"),
        Insurance = ("insurance", "保险"),
        Payment = ("payment", "收单/支付"),
        Other = ("other", "其他"),
    }
}

code_enum! {
    pub enum LeadStage {
        New = ("new", "新线索"),
        Contacted = ("contacted", "已接触"),
        Qualified = ("qualified", "已确认需求"),
        Proposal = ("proposal", "方案中"),
        Won = ("won", "已成交"),
        Lost = ("lost", "已流失"),
    }
}

code_enum! {
    pub enum LeadSource {
        Visit = ("visit", "走访"),
        Referral = ("referral", "转介"),
        Campaign = ("campaign", "活动"),
        Outlet = ("outlet", "网点"),
    }
}

impl LeadStage {
    pub fn is_open(self) -> bool {
        !matches!(self, LeadStage::Won | LeadStage::Lost)
    }

    /// Open stages move forward (skipping is allowed: a deposit can be agreed at the first
    /// contact); any open stage can end as won or lost; won and lost are final.
    pub fn can_move_to(self, next: LeadStage) -> bool {
        self.is_open() && next != self && (!next.is_open() || next > self)
    }
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StageChange {
    pub stage: LeadStage,
    pub at: i64,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Lead {
    pub id: String,
    pub product: Product,
    pub amount_fen: i64,
    pub stage: LeadStage,
    /// Every stage the lead entered, oldest first, the first being its creation.
    pub stage_history: Vec<StageChange>,
    pub lost_reason: Option<String>,
    pub expected_close: Option<i64>,
    pub source: LeadSource,
    /// 0–100, defaulting to the stage's usual odds.
    pub probability: u8,
    pub visit_id: Option<String>,
    pub notes: String,
    pub created_by: String,
    pub created_at: i64,
    /// The branch catalog's product this lead is for (see `catalog.rs`).
    #[autosurgeon(missing = "Option::default")]
    pub catalog_id: Option<String>,
}

impl Lead {
    /// Stores what the user typed in NFC (see `text.rs`).
    pub fn normalize(&mut self) {
        text::normalize_opt_text(&mut self.lost_reason);
        text::normalize_text(&mut self.notes);
    }

    pub fn validate(&self) -> Checked {
        check::id("lead.id", &self.id)?;
        check::money("lead.amount_fen", self.amount_fen)?;
        check::time_ms("lead.created_at", self.created_at)?;
        if let Some(t) = self.expected_close {
            check::time_ms("lead.expected_close", t)?;
        }
        if self.probability > 100 {
            return Err(ValidationError::new("lead.probability", Problem::OutOfRange));
        }
        if let Some(v) = &self.visit_id {
            check::id("lead.visit_id", v)?;
        }
        if let Some(c) = &self.catalog_id {
            check::id("lead.catalog_id", c)?;
        }
        match &self.lost_reason {
            Some(r) if self.stage == LeadStage::Lost => check::required_text("lead.lost_reason", r, check::MAX_TEXT)?,
            Some(r) => check::text("lead.lost_reason", r, check::MAX_TEXT)?,
            None if self.stage == LeadStage::Lost => {
                return Err(ValidationError::new("lead.lost_reason", Problem::Required));
            }
            None => {}
        }
        check::text("lead.notes", &self.notes, check::MAX_TEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::LeadStage::*;

    #[test]
    fn stage_machine() {
        assert!(New.can_move_to(Contacted));
        assert!(New.can_move_to(Proposal));
        assert!(Contacted.can_move_to(Lost));
        assert!(Proposal.can_move_to(Won));
        assert!(!Won.can_move_to(New));
        assert!(!Lost.can_move_to(Contacted));
        assert!(!Qualified.can_move_to(Contacted));
        assert!(!New.can_move_to(New));
    }
}

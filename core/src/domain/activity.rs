//! Reminders (提醒) and interactions (咨询、投诉、关怀) of a customer.

use autosurgeon::{Hydrate, Reconcile};

use super::codes::code_enum;
use super::error::{Checked, check};
use super::pool::DAY_MS;
use super::text;

code_enum! {
    pub enum ReminderKind {
        Maturity = ("maturity", "产品到期"),
        Dividend = ("dividend", "分红"),
        Repayment = ("repayment", "还款"),
        Birthday = ("birthday", "生日"),
        FollowUp = ("follow_up", "跟进"),
        Custom = ("custom", "自定义"),
        /// A marketing campaign's task, written by the server for each member customer.
        Campaign = ("campaign", "营销活动"),
    }
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reminder {
    pub id: String,
    pub kind: ReminderKind,
    pub due_at: i64,
    pub note: String,
    pub done_at: Option<i64>,
}

impl Reminder {
    /// Stores what the user typed in NFC (see `text.rs`).
    pub fn normalize(&mut self) {
        text::normalize_text(&mut self.note);
    }

    pub fn validate(&self) -> Checked {
        check::id("reminder.id", &self.id)?;
        check::time_ms("reminder.due_at", self.due_at)?;
        if let Some(t) = self.done_at {
            check::time_ms("reminder.done_at", t)?;
        }
        check::text("reminder.note", &self.note, check::MAX_TEXT)
    }
}

/// How many days a branch gives its managers to handle a complaint unless it sets its own: the
/// 15 days of the regulator's rules on consumer complaints (银行业保险业消费投诉处理管理办法).
pub const DEFAULT_COMPLAINT_DAYS: u32 = 15;

code_enum! {
    pub enum InteractionKind {
        Consultation = ("consultation", "咨询"),
        Complaint = ("complaint", "投诉"),
        Care = ("care", "关怀"),
    }
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Interaction {
    pub id: String,
    pub kind: InteractionKind,
    pub summary: String,
    /// When it happened.
    pub at: i64,
    /// When the manager recorded it on the tablet: a complaint's service clock starts here,
    /// not when the tablet next syncs.
    pub captured_at: i64,
    pub visit_id: Option<String>,
    /// When the manager recorded it handled (a complaint's service clock stops here).
    #[autosurgeon(missing = "Option::default")]
    pub resolved_at: Option<i64>,
    /// How it was handled, in the manager's words.
    #[autosurgeon(missing = "Option::default")]
    pub resolution: Option<String>,
}

impl Interaction {
    /// Stores what the user typed in NFC (see `text.rs`).
    pub fn normalize(&mut self) {
        text::normalize_text(&mut self.summary);
        if let Some(r) = &mut self.resolution {
            text::normalize_text(r);
        }
    }

    /// A complaint not yet handled: its service clock runs.
    pub fn is_open_complaint(&self) -> bool {
        self.kind == InteractionKind::Complaint && self.resolved_at.is_none()
    }

    /// When a complaint must be handled by: `limit_days` after it was recorded.
    pub fn complaint_due(&self, limit_days: u32) -> i64 {
        self.captured_at.saturating_add(i64::from(limit_days) * DAY_MS)
    }

    pub fn validate(&self) -> Checked {
        check::id("interaction.id", &self.id)?;
        check::required_text("interaction.summary", &self.summary, check::MAX_TEXT)?;
        check::time_ms("interaction.at", self.at)?;
        check::time_ms("interaction.captured_at", self.captured_at)?;
        if let Some(v) = &self.visit_id {
            check::id("interaction.visit_id", v)?;
        }
        if let Some(t) = self.resolved_at {
            check::time_ms("interaction.resolved_at", t)?;
        }
        if let Some(r) = &self.resolution {
            check::required_text("interaction.resolution", r, check::MAX_TEXT)?;
        }
        Ok(())
    }
}

//! Visits (走访): planned → in progress (check-in) → completed (check-out), or abandoned.

use autosurgeon::{Hydrate, Reconcile};

use super::codes::code_enum;
use super::customer::GeoPoint;
use super::error::{Checked, Problem, ValidationError, check};
use super::lead::Product;
use super::text;

code_enum! {
    pub enum VisitPurpose {
        Marketing = ("marketing", "营销"),
        FollowUp = ("follow_up", "回访"),
        PostLoanCheck = ("post_loan_check", "贷后检查"),
        Collection = ("collection", "催收"),
        Care = ("care", "关怀"),
        Complaint = ("complaint", "投诉处理"),
        Publicity = ("publicity", "宣传"),
    }
}

code_enum! {
    pub enum Channel {
        InPerson = ("in_person", "上门"),
        Phone = ("phone", "电话"),
        WeChat = ("wechat", "微信"),
    }
}

code_enum! {
    pub enum VisitStatus {
        Planned = ("planned", "计划中"),
        InProgress = ("in_progress", "进行中"),
        Completed = ("completed", "已完成"),
        Abandoned = ("abandoned", "已取消"),
    }
}

code_enum! {
    /// Where the device's position came from.
    pub enum LocationProvider {
        Gps = ("gps", "卫星定位"),
        Network = ("network", "网络定位"),
        Fused = ("fused", "混合定位"),
        Manual = ("manual", "手动"),
    }
}

/// A check-in or check-out: when and where, and how trustworthy the position is. Stored as one
/// scalar (see `packed.rs`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CheckPoint {
    pub at: i64,
    pub position: GeoPoint,
    pub provider: LocationProvider,
    /// The OS reported a mock-location app; the supervisor sees a flag, the visit is still saved.
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub mock_location: bool,
}

impl CheckPoint {
    fn validate(&self, field: &str) -> Checked {
        check::time_ms(&format!("{field}.at"), self.at)?;
        self.position.validate(&format!("{field}.position"))
    }
}

/// Costs of a visit in integer fen. Stored as one scalar (see `packed.rs`).
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Costs {
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub transport_fen: i64,
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub gift_fen: i64,
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub other_fen: i64,
}

impl Costs {
    pub fn total_fen(&self) -> i64 {
        self.transport_fen.saturating_add(self.gift_fen).saturating_add(self.other_fen)
    }

    fn validate(&self) -> Checked {
        check::money("visit.costs.transport_fen", self.transport_fen)?;
        check::money("visit.costs.gift_fen", self.gift_fen)?;
        check::money("visit.costs.other_fen", self.other_fen)
    }
}

/// What a manager can edit on a visit at any time before it is abandoned.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VisitDetails {
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub participants: Vec<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub notes: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub outcome: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub products: Vec<Product>,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub next_step: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub next_contact_at: Option<i64>,
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub costs: Costs,
    /// SHA-256 of each photo, lowercase hex; the blobs travel separately.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub photos: Vec<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub linked_leads: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Visit {
    pub id: String,
    pub manager_id: String,
    pub manager_name: String,
    pub purpose: VisitPurpose,
    pub channel: Channel,
    pub status: VisitStatus,
    pub planned_at: Option<i64>,
    pub check_in: Option<CheckPoint>,
    pub check_out: Option<CheckPoint>,
    pub participants: Vec<String>,
    pub notes: String,
    pub outcome: String,
    pub products: Vec<Product>,
    pub next_step: String,
    pub next_contact_at: Option<i64>,
    pub costs: Costs,
    pub photos: Vec<String>,
    pub linked_leads: Vec<String>,
    pub created_at: i64,
}

impl Visit {
    pub fn details(&self) -> VisitDetails {
        VisitDetails {
            participants: self.participants.clone(),
            notes: self.notes.clone(),
            outcome: self.outcome.clone(),
            products: self.products.clone(),
            next_step: self.next_step.clone(),
            next_contact_at: self.next_contact_at,
            costs: self.costs.clone(),
            photos: self.photos.clone(),
            linked_leads: self.linked_leads.clone(),
        }
    }

    pub fn set_details(&mut self, d: VisitDetails) {
        self.participants = d.participants;
        self.notes = d.notes;
        self.outcome = d.outcome;
        self.products = d.products;
        self.next_step = d.next_step;
        self.next_contact_at = d.next_contact_at;
        self.costs = d.costs;
        self.photos = d.photos;
        self.linked_leads = d.linked_leads;
    }

    /// When the visit happened or is planned to happen, for sorting newest first.
    pub fn when(&self) -> i64 {
        self.check_in.as_ref().map(|c| c.at).or(self.planned_at).unwrap_or(self.created_at)
    }

    /// Stores what the user typed in NFC (see `text.rs`).
    pub fn normalize(&mut self) {
        text::normalize_line(&mut self.manager_name);
        self.participants.iter_mut().for_each(text::normalize_line);
        text::normalize_text(&mut self.notes);
        text::normalize_text(&mut self.outcome);
        text::normalize_text(&mut self.next_step);
    }

    pub fn validate(&self) -> Checked {
        check::id("visit.id", &self.id)?;
        check::required("visit.manager_id", &self.manager_id, check::MAX_SHORT)?;
        check::line("visit.manager_name", &self.manager_name, check::MAX_SHORT)?;
        check::time_ms("visit.created_at", self.created_at)?;
        if let Some(t) = self.planned_at {
            check::time_ms("visit.planned_at", t)?;
        }
        if let Some(c) = &self.check_in {
            c.validate("visit.check_in")?;
        }
        if let Some(c) = &self.check_out {
            c.validate("visit.check_out")?;
            let start =
                self.check_in.as_ref().ok_or_else(|| ValidationError::new("visit.check_in", Problem::Required))?;
            if c.at < start.at {
                return Err(ValidationError::new("visit.check_out.at", Problem::BeforeStart));
            }
        }
        let needs_check_in = matches!(self.status, VisitStatus::InProgress | VisitStatus::Completed);
        if needs_check_in && self.check_in.is_none() {
            return Err(ValidationError::new("visit.check_in", Problem::Required));
        }
        if self.status == VisitStatus::Completed && self.check_out.is_none() {
            return Err(ValidationError::new("visit.check_out", Problem::Required));
        }
        if self.participants.len() > 50 {
            return Err(ValidationError::new("visit.participants", Problem::OutOfRange));
        }
        for p in &self.participants {
            check::name("visit.participants", p, check::MAX_SHORT)?;
        }
        check::text("visit.notes", &self.notes, check::MAX_TEXT)?;
        check::text("visit.outcome", &self.outcome, check::MAX_SHORT)?;
        check::text("visit.next_step", &self.next_step, check::MAX_TEXT)?;
        if let Some(t) = self.next_contact_at {
            check::time_ms("visit.next_contact_at", t)?;
        }
        self.costs.validate()?;
        unique("visit.products", &self.products)?;
        if self.photos.len() > 100 {
            return Err(ValidationError::new("visit.photos", Problem::OutOfRange));
        }
        for hash in &self.photos {
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(ValidationError::new("visit.photos", Problem::BadFormat));
            }
        }
        unique("visit.photos", &self.photos)?;
        for id in &self.linked_leads {
            check::id("visit.linked_leads", id)?;
        }
        unique("visit.linked_leads", &self.linked_leads)
    }
}

fn unique<T: Ord>(field: &str, items: &[T]) -> Checked {
    let mut seen: Vec<&T> = items.iter().collect();
    seen.sort();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(ValidationError::new(field, Problem::Duplicate));
    }
    Ok(())
}

//! What a customer document's read-model rows are: a pure function of the typed file, its branch
//! and its scope. Personal data is masked here: the pages' lists never hold a whole phone or ID
//! number (the customer page reveals one from the document, audited).

use std::collections::BTreeMap;

use fieldsync_core::domain::{
    Channel, CustomerFile, GeoPoint, InteractionKind, LeadStage, Visit, VisitStatus, idcard, phone,
};

use super::evidence::{AFTER_THE_FACT_MS, Measures};
use crate::policy::Scope;

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRm {
    pub customer_id: String,
    pub branch_id: String,
    pub scope: String,
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub name: String,
    pub kind: String,
    pub phone_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub village: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub tier: Option<String>,
    pub lifecycle: Option<String>,
    pub last_visit_at: Option<i64>,
    pub next_follow_up_at: Option<i64>,
    pub open_leads: i64,
    pub created_at: i64,
    /// The tags given by hand and by the server's rules, as a JSON list.
    pub tags: String,
}

/// A visit's row, without the measures that depend on other documents (see
/// [`super::refresh_visits`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VisitRm {
    pub visit_id: String,
    pub customer_id: String,
    pub branch_id: String,
    pub manager_id: String,
    pub manager_name: String,
    pub village: String,
    pub status: String,
    pub purpose: String,
    pub channel: String,
    /// When it happened (check-in) or is planned, else when it was created.
    pub at: i64,
    pub planned_at: Option<i64>,
    pub check_in_at: Option<i64>,
    pub check_out_at: Option<i64>,
    pub in_lat: Option<f64>,
    pub in_lng: Option<f64>,
    pub in_accuracy_m: Option<f64>,
    pub out_lat: Option<f64>,
    pub out_lng: Option<f64>,
    /// Check-in to the customer's recorded location.
    pub distance_m: Option<f64>,
    pub duration_s: Option<i64>,
    pub mock_location: bool,
    pub after_the_fact: bool,
    pub created_at: i64,
    pub cost_fen: i64,
    pub photos: i64,
    pub notes: String,
    pub outcome: String,
    pub next_contact_at: Option<i64>,
    pub linked_leads: i64,
    /// `pending` until a supervisor decides, then the decision's code.
    pub review: String,
    pub reviewed_at: Option<i64>,
    pub reviewer_name: Option<String>,
    pub review_comment: Option<String>,
}

impl VisitRm {
    /// The measures this row holds (the cross-document ones left empty).
    pub fn measures(&self) -> Measures {
        Measures {
            in_person: self.channel == Channel::InPerson.code(),
            completed: self.status == VisitStatus::Completed.code(),
            distance_m: self.distance_m,
            duration_s: self.duration_s,
            mock_location: self.mock_location,
            after_the_fact: self.after_the_fact,
            ..Measures::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadRm {
    pub lead_id: String,
    pub customer_id: String,
    pub branch_id: String,
    pub owner_id: Option<String>,
    pub product: String,
    pub stage: String,
    pub amount_fen: i64,
    pub probability: i64,
    pub expected_close: Option<i64>,
    pub visit_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    /// When it was won (its latest move to won).
    pub won_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReminderRm {
    pub reminder_id: String,
    pub customer_id: String,
    pub branch_id: String,
    pub owner_id: Option<String>,
    pub kind: String,
    pub due_at: i64,
    pub done_at: Option<i64>,
}

/// A complaint (an interaction of that kind) and when it was handled: the scorecard counts those
/// handled within the branch's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintRm {
    pub interaction_id: String,
    pub customer_id: String,
    pub branch_id: String,
    pub owner_id: Option<String>,
    pub captured_at: i64,
    pub resolved_at: Option<i64>,
}

/// Every read-model row of one customer, and its visits' photos (by visit).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRows {
    pub customer: CustomerRm,
    pub visits: Vec<VisitRm>,
    pub leads: Vec<LeadRm>,
    pub reminders: Vec<ReminderRm>,
    pub complaints: Vec<ComplaintRm>,
    pub photos: BTreeMap<String, Vec<String>>,
}

/// A visit as the read models name it: (customer, visit). A visit's ID is unique within its
/// customer's document only (a tablet chooses it).
pub type VisitRef = (String, String);

/// What a visit's neighbours depend on: its manager, its place in their day, its photos.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitKey {
    pub customer_id: String,
    pub visit_id: String,
    pub manager_id: String,
    pub at: i64,
    pub photos: Vec<String>,
}

impl VisitKey {
    pub fn of(visit: &VisitRm, photos: &[String]) -> VisitKey {
        VisitKey {
            customer_id: visit.customer_id.clone(),
            visit_id: visit.visit_id.clone(),
            manager_id: visit.manager_id.clone(),
            at: visit.at,
            photos: photos.to_vec(),
        }
    }
}

impl ReadRows {
    pub fn of(file: &CustomerFile, branch_id: &str, scope: &Scope) -> ReadRows {
        let customer = customer_row(file, branch_id, scope);
        let visits = file.visits.values().map(|v| visit_row(file, v, branch_id)).collect();
        let owner = file.server.owner.manager_id.clone();
        let leads = file
            .leads
            .values()
            .map(|l| LeadRm {
                lead_id: l.id.clone(),
                customer_id: file.id.clone(),
                branch_id: branch_id.to_string(),
                owner_id: owner.clone(),
                product: l.product.code().to_string(),
                stage: l.stage.code().to_string(),
                amount_fen: l.amount_fen,
                probability: i64::from(l.probability),
                expected_close: l.expected_close,
                visit_id: l.visit_id.clone(),
                created_by: l.created_by.clone(),
                created_at: l.created_at,
                won_at: (l.stage == LeadStage::Won)
                    .then(|| l.stage_history.iter().rev().find(|c| c.stage == LeadStage::Won).map(|c| c.at))
                    .flatten(),
            })
            .collect();
        let reminders = file
            .reminders
            .values()
            .map(|r| ReminderRm {
                reminder_id: r.id.clone(),
                customer_id: file.id.clone(),
                branch_id: branch_id.to_string(),
                owner_id: owner.clone(),
                kind: r.kind.code().to_string(),
                due_at: r.due_at,
                done_at: r.done_at,
            })
            .collect();
        let complaints = file
            .interactions
            .values()
            .filter(|i| i.kind == InteractionKind::Complaint)
            .map(|i| ComplaintRm {
                interaction_id: i.id.clone(),
                customer_id: file.id.clone(),
                branch_id: branch_id.to_string(),
                owner_id: owner.clone(),
                captured_at: i.captured_at,
                resolved_at: i.resolved_at,
            })
            .collect();
        let photos = file
            .visits
            .values()
            .map(|v| {
                let mut hashes = v.photos.clone();
                hashes.sort();
                hashes.dedup();
                (v.id.clone(), hashes)
            })
            .collect();
        ReadRows { customer, visits, leads, reminders, complaints, photos }
    }

    /// The photos of one visit, sorted, each once.
    pub fn photos_of(&self, visit_id: &str) -> &[String] {
        self.photos.get(visit_id).map_or(&[], Vec::as_slice)
    }
}

fn customer_row(file: &CustomerFile, branch_id: &str, scope: &Scope) -> CustomerRm {
    let p = &file.profile;
    let s = &file.server;
    let last = file.last_completed_visit();
    CustomerRm {
        customer_id: file.id.clone(),
        branch_id: branch_id.to_string(),
        scope: scope.to_string(),
        owner_id: s.owner.manager_id.clone(),
        owner_name: s.owner.manager_name.clone(),
        name: p.name.clone(),
        kind: p.kind.code().to_string(),
        phone_masked: p.phone.as_deref().map(phone::mask),
        id_number_masked: p.id_number.as_deref().map(idcard::mask),
        village: p.village.clone(),
        lat: p.location.as_ref().map(|l| l.lat),
        lng: p.location.as_ref().map(|l| l.lng),
        tier: s.value_tier.map(|t| t.code().to_string()),
        lifecycle: s.lifecycle.map(|l| l.code().to_string()),
        last_visit_at: last.map(|v| v.when()),
        next_follow_up_at: last.and_then(|v| v.next_contact_at),
        open_leads: file.leads.values().filter(|l| l.stage.is_open()).count() as i64,
        created_at: file.created_at,
        tags: {
            let all: std::collections::BTreeSet<&String> =
                file.profile.tags.0.iter().chain(&file.server.auto_tags.0).collect();
            serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
        },
    }
}

fn visit_row(file: &CustomerFile, v: &Visit, branch_id: &str) -> VisitRm {
    let review = file.reviews.get(&v.id);
    let position = |c: &Option<fieldsync_core::domain::CheckPoint>| c.as_ref().map(|c| c.position.clone());
    let (check_in, check_out): (Option<GeoPoint>, Option<GeoPoint>) = (position(&v.check_in), position(&v.check_out));
    let check_in_at = v.check_in.as_ref().map(|c| c.at);
    let check_out_at = v.check_out.as_ref().map(|c| c.at);
    VisitRm {
        visit_id: v.id.clone(),
        customer_id: file.id.clone(),
        branch_id: branch_id.to_string(),
        manager_id: v.manager_id.clone(),
        manager_name: v.manager_name.clone(),
        village: file.profile.village.clone(),
        status: v.status.code().to_string(),
        purpose: v.purpose.code().to_string(),
        channel: v.channel.code().to_string(),
        at: v.when(),
        planned_at: v.planned_at,
        check_in_at,
        check_out_at,
        in_lat: check_in.as_ref().map(|p| p.lat),
        in_lng: check_in.as_ref().map(|p| p.lng),
        in_accuracy_m: check_in.as_ref().map(|p| p.accuracy_m),
        out_lat: check_out.as_ref().map(|p| p.lat),
        out_lng: check_out.as_ref().map(|p| p.lng),
        distance_m: check_in.as_ref().zip(file.profile.location.as_ref()).map(|(a, b)| a.distance_m(b)),
        duration_s: check_in_at.zip(check_out_at).map(|(a, b)| (b - a) / 1000),
        mock_location: v.check_in.as_ref().is_some_and(|c| c.mock_location)
            || v.check_out.as_ref().is_some_and(|c| c.mock_location),
        after_the_fact: v.status == VisitStatus::Completed
            && check_out_at.is_some_and(|out| v.created_at > out + AFTER_THE_FACT_MS),
        created_at: v.created_at,
        cost_fen: v.costs.total_fen(),
        photos: v.photos.len() as i64,
        notes: v.notes.clone(),
        outcome: v.outcome.clone(),
        next_contact_at: v.next_contact_at,
        linked_leads: v.linked_leads.len() as i64,
        review: review.map_or("pending", |r| r.decision.code()).to_string(),
        reviewed_at: review.map(|r| r.at),
        reviewer_name: review.map(|r| r.reviewer_name.clone()),
        review_comment: review.map(|r| r.comment.clone()),
    }
}

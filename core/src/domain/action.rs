//! User actions. Each action is one automerge commit: it is applied to the typed customer file
//! here (pure rules, no storage), then the touched part is written into the document.
//!
//! The server uses the same rules with `Role::Server`; a tablet (`Role::Manager`) is refused
//! everything only the server may decide.

use crate::error::{Error, Result};

use super::activity::{Interaction, Reminder};
use super::contact::Contact;
use super::customer::Profile;
use super::error::{Problem, ValidationError, check};
use super::file::CustomerFile;
use super::lead::{Lead, LeadSource, LeadStage, Product, StageChange};
use super::server::{Intent, IntentKind, IntentOutcome, Lifecycle, Owner, OwnerChangeReason, Review, ValueTier};
use super::visit::{Channel, CheckPoint, Visit, VisitDetails, VisitPurpose, VisitStatus};

/// Who is acting. Managers and supervisors act on tablets; only the server writes server fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Role {
    Manager,
    Supervisor,
    Server,
}

/// The acting user and the time of the action (UTC ms, from the device clock).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    pub now: i64,
}

/// Details of a new lead.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NewLead {
    pub id: String,
    pub product: Product,
    pub amount_fen: i64,
    pub source: LeadSource,
    pub expected_close: Option<i64>,
    pub probability: Option<u8>,
    pub visit_id: Option<String>,
    pub notes: String,
    /// The branch catalog's product this lead is for (see `catalog.rs`), when there is one.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub catalog_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateCustomer {
        id: String,
        profile: Profile,
    },
    UpdateProfile {
        profile: Profile,
    },
    UpsertContact {
        contact: Contact,
    },
    RemoveContact {
        contact_id: String,
    },
    PlanVisit {
        visit_id: String,
        purpose: VisitPurpose,
        channel: Channel,
        planned_at: i64,
    },
    /// Start an unplanned visit on the spot: created and checked in in one step.
    StartVisit {
        visit_id: String,
        purpose: VisitPurpose,
        channel: Channel,
        check_in: CheckPoint,
    },
    CheckIn {
        visit_id: String,
        check_in: CheckPoint,
    },
    /// Log a visit that is already over (补录): created completed, with check-in and check-out, in
    /// one commit.
    RecordVisit {
        visit_id: String,
        purpose: VisitPurpose,
        channel: Channel,
        check_in: CheckPoint,
        check_out: CheckPoint,
        details: VisitDetails,
    },
    CheckOut {
        visit_id: String,
        check_out: CheckPoint,
        details: VisitDetails,
    },
    UpdateVisit {
        visit_id: String,
        details: VisitDetails,
    },
    AbandonVisit {
        visit_id: String,
    },
    AddLead {
        lead: NewLead,
    },
    UpdateLead {
        lead_id: String,
        amount_fen: i64,
        expected_close: Option<i64>,
        probability: u8,
        notes: String,
    },
    MoveLead {
        lead_id: String,
        stage: LeadStage,
        lost_reason: Option<String>,
    },
    AddReminder {
        reminder: Reminder,
    },
    CompleteReminder {
        reminder_id: String,
    },
    AddInteraction {
        interaction: Interaction,
    },
    /// Records an interaction (a complaint above all) handled, now, with how.
    ResolveInteraction {
        interaction_id: String,
        resolution: String,
    },
    RequestClaim {
        intent_id: String,
    },
    // Server-decided: refused on tablets.
    AssignOwner {
        owner: Owner,
        reason: OwnerChangeReason,
    },
    /// Keep the customer with its manager whatever the recycle rules say (or stop keeping it).
    SetLocked {
        locked: bool,
    },
    /// Take in a second file of the same customer (a duplicate): every visit, lead, contact,
    /// reminder, interaction, claim, review and change of owner it holds, and the profile fields
    /// this file lacks. The other file is then deleted by the server.
    MergeFrom {
        other: Box<CustomerFile>,
    },
    /// The tier from the customer's financial assets, and the date of the asset snapshot it
    /// was computed from (shown beside it: "as of").
    SetValueTier {
        tier: Option<ValueTier>,
        as_of: Option<i64>,
    },
    SetLifecycle {
        lifecycle: Option<Lifecycle>,
    },
    /// The stage the server computed from the file (see `stage.rs`), dated now.
    ComputeLifecycle {
        lifecycle: Lifecycle,
    },
    /// The tags the server's rules give (see `stage.rs`).
    SetAutoTags {
        tags: super::customer::Tags,
    },
    WriteReview {
        visit_id: String,
        review: Review,
    },
    ResolveIntent {
        intent_id: String,
        outcome: IntentOutcome,
    },
}

/// The part of the document an action changed, so only that part is reconciled.
#[derive(Debug, Clone, PartialEq)]
pub enum Touched {
    Everything,
    Profile,
    Contact(String),
    Visit(String),
    Lead(String),
    Reminder(String),
    Interaction(String),
    Intent(String),
    Review(String),
    Server,
}

impl Action {
    /// A supervisor's assignment of `owner` (a manager, or the pool).
    pub fn assign(owner: Owner) -> Action {
        Action::AssignOwner { owner, reason: OwnerChangeReason::Assigned }
    }

    /// A short name, stored as the commit message (useful in audits; carries no personal data).
    pub fn name(&self) -> &'static str {
        match self {
            Action::CreateCustomer { .. } => "customer.create",
            Action::UpdateProfile { .. } => "customer.update_profile",
            Action::UpsertContact { .. } => "contact.upsert",
            Action::RemoveContact { .. } => "contact.remove",
            Action::PlanVisit { .. } => "visit.plan",
            Action::StartVisit { .. } => "visit.start",
            Action::CheckIn { .. } => "visit.check_in",
            Action::RecordVisit { .. } => "visit.record",
            Action::CheckOut { .. } => "visit.check_out",
            Action::UpdateVisit { .. } => "visit.update",
            Action::AbandonVisit { .. } => "visit.abandon",
            Action::AddLead { .. } => "lead.add",
            Action::UpdateLead { .. } => "lead.update",
            Action::MoveLead { .. } => "lead.move",
            Action::AddReminder { .. } => "reminder.add",
            Action::CompleteReminder { .. } => "reminder.complete",
            Action::AddInteraction { .. } => "interaction.add",
            Action::ResolveInteraction { .. } => "interaction.resolve",
            Action::RequestClaim { .. } => "intent.claim",
            Action::AssignOwner { .. } => "server.assign_owner",
            Action::SetLocked { .. } => "server.locked",
            Action::MergeFrom { .. } => "server.merge",
            Action::SetValueTier { .. } => "server.value_tier",
            Action::SetLifecycle { .. } => "server.lifecycle",
            Action::ComputeLifecycle { .. } => "server.compute_lifecycle",
            Action::SetAutoTags { .. } => "server.auto_tags",
            Action::WriteReview { .. } => "server.review",
            Action::ResolveIntent { .. } => "server.resolve_intent",
        }
    }

    /// The server-decided field this action writes, if any.
    pub fn server_field(&self) -> Option<&'static str> {
        match self {
            Action::AssignOwner { .. } => Some("owner"),
            Action::SetLocked { .. } => Some("locked"),
            Action::MergeFrom { .. } => Some("merge"),
            Action::SetValueTier { .. } => Some("value_tier"),
            Action::SetLifecycle { .. } | Action::ComputeLifecycle { .. } => Some("lifecycle"),
            Action::SetAutoTags { .. } => Some("auto_tags"),
            Action::WriteReview { .. } => Some("reviews"),
            Action::ResolveIntent { .. } => Some("intent_outcomes"),
            _ => None,
        }
    }

    /// The visit an action starts or resumes, for the one-visit-in-progress rule.
    pub fn starts_visit(&self) -> Option<&str> {
        match self {
            Action::StartVisit { visit_id, .. } | Action::CheckIn { visit_id, .. } => Some(visit_id),
            _ => None,
        }
    }

    /// Applies the action to `file`. On error `file` may be partly changed: callers apply to a copy.
    pub fn apply(&self, file: &mut CustomerFile, ctx: &Ctx) -> Result<Touched> {
        if let Some(field) = self.server_field()
            && ctx.role != Role::Server
        {
            return Err(Error::ServerDecided { field });
        }
        let touched = match self {
            Action::CreateCustomer { id, profile } => {
                check::id("customer.id", id)?;
                *file = CustomerFile::new(id.clone(), profile.clone(), ctx.user_id.clone(), ctx.now);
                // A manager's new customer is theirs from the start, offline too; the server
                // confirms it (with the name it shows) when the customer arrives.
                if ctx.role == Role::Manager {
                    file.server.owner = Owner {
                        manager_id: Some(ctx.user_id.clone()),
                        manager_name: (!ctx.user_name.is_empty()).then(|| ctx.user_name.clone()),
                    };
                }
                Touched::Everything
            }
            Action::UpdateProfile { profile } => {
                file.profile = profile.clone();
                Touched::Profile
            }
            Action::UpsertContact { contact } => {
                file.contacts.insert(contact.id.clone(), contact.clone());
                Touched::Contact(contact.id.clone())
            }
            Action::RemoveContact { contact_id } => {
                file.contacts.remove(contact_id).ok_or_else(|| not_found("contact", contact_id))?;
                Touched::Contact(contact_id.clone())
            }
            Action::PlanVisit { visit_id, purpose, channel, planned_at } => {
                check::time_ms("visit.planned_at", *planned_at)?;
                let visit = new_visit(file, ctx, visit_id, *purpose, *channel, VisitStatus::Planned)?;
                visit.planned_at = Some(*planned_at);
                Touched::Visit(visit_id.clone())
            }
            Action::StartVisit { visit_id, purpose, channel, check_in } => {
                let visit = new_visit(file, ctx, visit_id, *purpose, *channel, VisitStatus::InProgress)?;
                visit.check_in = Some(check_in.clone());
                Touched::Visit(visit_id.clone())
            }
            Action::CheckIn { visit_id, check_in } => {
                let visit = own_visit(file, ctx, visit_id)?;
                transition(visit, VisitStatus::InProgress)?;
                visit.check_in = Some(check_in.clone());
                Touched::Visit(visit_id.clone())
            }
            Action::RecordVisit { visit_id, purpose, channel, check_in, check_out, details } => {
                let visit = new_visit(file, ctx, visit_id, *purpose, *channel, VisitStatus::InProgress)?;
                visit.check_in = Some(check_in.clone());
                transition(visit, VisitStatus::Completed)?;
                visit.check_out = Some(check_out.clone());
                visit.set_details(details.clone());
                Touched::Visit(visit_id.clone())
            }
            Action::CheckOut { visit_id, check_out, details } => {
                let visit = own_visit(file, ctx, visit_id)?;
                transition(visit, VisitStatus::Completed)?;
                visit.check_out = Some(check_out.clone());
                visit.set_details(details.clone());
                Touched::Visit(visit_id.clone())
            }
            Action::UpdateVisit { visit_id, details } => {
                let approved = file.reviews.get(visit_id).map(|r| r.decision) == Some(super::ReviewDecision::Approved);
                let visit = own_visit(file, ctx, visit_id)?;
                if visit.status == VisitStatus::Abandoned || approved {
                    let from = if approved { "approved" } else { visit.status.code() };
                    return Err(Error::Transition { entity: "visit", from, to: "edited" });
                }
                visit.set_details(details.clone());
                Touched::Visit(visit_id.clone())
            }
            Action::AbandonVisit { visit_id } => {
                let visit = own_visit(file, ctx, visit_id)?;
                transition(visit, VisitStatus::Abandoned)?;
                Touched::Visit(visit_id.clone())
            }
            Action::AddLead { lead } => {
                if file.leads.contains_key(&lead.id) {
                    return Err(Error::AlreadyExists { what: "lead", id: lead.id.clone() });
                }
                if let Some(v) = &lead.visit_id
                    && !file.visits.contains_key(v)
                {
                    return Err(ValidationError::new("lead.visit_id", Problem::Unknown).into());
                }
                let new = Lead {
                    id: lead.id.clone(),
                    product: lead.product,
                    amount_fen: lead.amount_fen,
                    stage: LeadStage::New,
                    stage_history: vec![StageChange { stage: LeadStage::New, at: ctx.now, by: ctx.user_id.clone() }],
                    lost_reason: None,
                    expected_close: lead.expected_close,
                    source: lead.source,
                    probability: lead.probability.unwrap_or_else(|| default_probability(LeadStage::New)),
                    visit_id: lead.visit_id.clone(),
                    notes: lead.notes.clone(),
                    catalog_id: lead.catalog_id.clone(),
                    created_by: ctx.user_id.clone(),
                    created_at: ctx.now,
                };
                file.leads.insert(lead.id.clone(), new);
                Touched::Lead(lead.id.clone())
            }
            Action::UpdateLead { lead_id, amount_fen, expected_close, probability, notes } => {
                let lead = file.leads.get_mut(lead_id).ok_or_else(|| not_found("lead", lead_id))?;
                lead.amount_fen = *amount_fen;
                lead.expected_close = *expected_close;
                lead.probability = *probability;
                lead.notes = notes.clone();
                Touched::Lead(lead_id.clone())
            }
            Action::MoveLead { lead_id, stage, lost_reason } => {
                let lead = file.leads.get_mut(lead_id).ok_or_else(|| not_found("lead", lead_id))?;
                if !lead.stage.can_move_to(*stage) {
                    return Err(Error::Transition { entity: "lead", from: lead.stage.code(), to: stage.code() });
                }
                lead.stage = *stage;
                lead.probability = default_probability(*stage);
                lead.lost_reason = if *stage == LeadStage::Lost { lost_reason.clone() } else { None };
                lead.stage_history.push(StageChange { stage: *stage, at: ctx.now, by: ctx.user_id.clone() });
                Touched::Lead(lead_id.clone())
            }
            Action::AddReminder { reminder } => {
                if file.reminders.contains_key(&reminder.id) {
                    return Err(Error::AlreadyExists { what: "reminder", id: reminder.id.clone() });
                }
                file.reminders.insert(reminder.id.clone(), reminder.clone());
                Touched::Reminder(reminder.id.clone())
            }
            Action::CompleteReminder { reminder_id } => {
                let r = file.reminders.get_mut(reminder_id).ok_or_else(|| not_found("reminder", reminder_id))?;
                if r.done_at.is_some() {
                    return Err(Error::Transition { entity: "reminder", from: "done", to: "done" });
                }
                r.done_at = Some(ctx.now);
                Touched::Reminder(reminder_id.clone())
            }
            Action::AddInteraction { interaction } => {
                if file.interactions.contains_key(&interaction.id) {
                    return Err(Error::AlreadyExists { what: "interaction", id: interaction.id.clone() });
                }
                file.interactions.insert(interaction.id.clone(), interaction.clone());
                Touched::Interaction(interaction.id.clone())
            }
            Action::ResolveInteraction { interaction_id, resolution } => {
                let i = file
                    .interactions
                    .get_mut(interaction_id)
                    .ok_or_else(|| not_found("interaction", interaction_id))?;
                if i.resolved_at.is_some() {
                    return Err(Error::Transition { entity: "interaction", from: "resolved", to: "resolved" });
                }
                i.resolved_at = Some(ctx.now);
                i.resolution = Some(resolution.clone());
                Touched::Interaction(interaction_id.clone())
            }
            Action::RequestClaim { intent_id } => {
                check::id("intent.id", intent_id)?;
                if file.server.owner.manager_id.is_some() {
                    return Err(Error::Transition { entity: "customer", from: "owned", to: "claimed" });
                }
                let intent = Intent {
                    id: intent_id.clone(),
                    kind: IntentKind::ClaimFromPool,
                    by: ctx.user_id.clone(),
                    at: ctx.now,
                };
                file.intents.insert(intent_id.clone(), intent);
                Touched::Intent(intent_id.clone())
            }
            Action::AssignOwner { owner, reason } => {
                file.server.change_owner(owner.clone(), *reason, &ctx.user_id, ctx.now);
                Touched::Server
            }
            Action::SetLocked { locked } => {
                file.server.locked = *locked;
                Touched::Server
            }
            Action::MergeFrom { other } => {
                if other.id == file.id {
                    return Err(Error::Transition { entity: "customer", from: "one file", to: "merged with itself" });
                }
                file.take_in(other);
                Touched::Everything
            }
            Action::SetValueTier { tier, as_of } => {
                file.server.value_tier = *tier;
                file.server.tier_as_of = *as_of;
                Touched::Server
            }
            Action::SetLifecycle { lifecycle } => {
                file.server.lifecycle = *lifecycle;
                Touched::Server
            }
            Action::ComputeLifecycle { lifecycle } => {
                file.server.lifecycle = Some(*lifecycle);
                file.server.lifecycle_as_of = Some(ctx.now);
                Touched::Server
            }
            Action::SetAutoTags { tags } => {
                file.server.auto_tags = tags.clone();
                Touched::Server
            }
            Action::WriteReview { visit_id, review } => {
                if !file.visits.contains_key(visit_id) {
                    return Err(not_found("visit", visit_id));
                }
                file.reviews.insert(visit_id.clone(), review.clone());
                Touched::Review(visit_id.clone())
            }
            Action::ResolveIntent { intent_id, outcome } => {
                if !file.intents.contains_key(intent_id) {
                    return Err(not_found("intent", intent_id));
                }
                file.server.intent_outcomes.insert(intent_id.clone(), outcome.clone());
                Touched::Server
            }
        };
        // Normalised before validation: a device always commits NFC, and validation (which the
        // server also runs on pushed documents) refuses anything else.
        file.normalize_touched(&touched);
        file.validate_touched(&touched)?;
        if matches!(touched, Touched::Profile | Touched::Everything) {
            file.profile.check_dates(super::customer::china_today(ctx.now))?;
        }
        Ok(touched)
    }
}

fn not_found(what: &'static str, id: &str) -> Error {
    Error::NotFound { what, id: id.to_string() }
}

fn new_visit<'f>(
    file: &'f mut CustomerFile,
    ctx: &Ctx,
    visit_id: &str,
    purpose: VisitPurpose,
    channel: Channel,
    status: VisitStatus,
) -> Result<&'f mut Visit> {
    check::id("visit.id", visit_id)?;
    if file.visits.contains_key(visit_id) {
        return Err(Error::AlreadyExists { what: "visit", id: visit_id.to_string() });
    }
    let visit = Visit {
        id: visit_id.to_string(),
        manager_id: ctx.user_id.clone(),
        manager_name: ctx.user_name.clone(),
        purpose,
        channel,
        status,
        planned_at: None,
        check_in: None,
        check_out: None,
        participants: Vec::new(),
        notes: String::new(),
        outcome: String::new(),
        products: Vec::new(),
        next_step: String::new(),
        next_contact_at: None,
        costs: Default::default(),
        photos: Vec::new(),
        linked_leads: Vec::new(),
        created_at: ctx.now,
    };
    Ok(file.visits.entry(visit_id.to_string()).or_insert(visit))
}

/// A manager edits only their own visits; supervisors and the server may edit any.
fn own_visit<'f>(file: &'f mut CustomerFile, ctx: &Ctx, visit_id: &str) -> Result<&'f mut Visit> {
    let visit = file.visits.get_mut(visit_id).ok_or_else(|| not_found("visit", visit_id))?;
    if ctx.role == Role::Manager && visit.manager_id != ctx.user_id {
        return Err(Error::NotYours { what: "visit" });
    }
    Ok(visit)
}

fn transition(visit: &mut Visit, to: VisitStatus) -> Result<()> {
    use VisitStatus::*;
    let ok = matches!(
        (visit.status, to),
        (Planned, InProgress) | (InProgress, Completed) | (Planned | InProgress, Abandoned)
    );
    if !ok {
        return Err(Error::Transition { entity: "visit", from: visit.status.code(), to: to.code() });
    }
    visit.status = to;
    Ok(())
}

/// The usual odds of a lead at each stage, in percent.
pub fn default_probability(stage: LeadStage) -> u8 {
    match stage {
        LeadStage::New => 10,
        LeadStage::Contacted => 20,
        LeadStage::Qualified => 40,
        LeadStage::Proposal => 60,
        LeadStage::Won => 100,
        LeadStage::Lost => 0,
    }
}

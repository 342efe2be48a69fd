//! Who may write what: one table of (writer's role, their relation to the customer, entity,
//! operation), applied to the typed customer file before and after each change, whether the change
//! arrives by sync or is a decision made through a JSON endpoint or a page.
//!
//! The whole table, in words:
//! - nobody changes a customer's identity (ID, schema, creator, creation time) after creation, or
//!   deletes anything but a contact; value tiers and intent outcomes are the server's alone;
//! - a manager creates customers as their own (naming themselves as owner, or leaving it to the
//!   server); on a customer they serve they edit the profile,
//!   contacts, leads, reminders and interactions, and add and edit their own visits until a
//!   supervisor approves them; on a pool customer they only add their own claim; on anyone
//!   else's, or a closed one, nothing;
//! - a supervisor or admin of the branch assigns owners (active managers of the branch, or the
//!   pool; each change recorded in the owner history as theirs), locks a customer against the
//!   recycle rules, sets the lifecycle, signs reviews as themselves, and adds and edits their own visits
//!   (accompanied visits, 陪访) on customers that are not closed; they never edit a manager's visit;
//!   a customer they create starts in the pool or with a manager of the branch.

use std::collections::BTreeMap;

use fieldsync_core::domain::{CustomerFile, IntentKind, Lifecycle, Owner, ReviewDecision};

use super::refusal::Refusal;
use crate::accounts::{Role, User};

/// The parts of a customer file the table speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Identity,
    Profile,
    Contact,
    Visit,
    Lead,
    Reminder,
    Interaction,
    Intent,
    Review,
    Owner,
    /// The record of changes of owner.
    OwnerHistory,
    /// Kept by its manager whatever the recycle rules say.
    Locked,
    Lifecycle,
    ValueTier,
    /// Tags the server's rules give.
    AutoTags,
    IntentOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Edit,
    Delete,
}

/// The writer's relation to the customer, from the file before the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    New,
    Own,
    Others,
    Pool,
    Closed,
}

/// What the table says of one edit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Allow,
    /// The record added or edited must be signed by the writer (visit manager, lead creator,
    /// intent author, reviewer), and an edited one must have been theirs.
    IfWriters,
    /// An owner among the branch's active managers, or the pool.
    IfBranchManager,
    Deny(Refusal),
}

/// The active managers of the writer's branch, for owner assignments.
pub trait Directory {
    /// The display name of an active manager of the branch, or `None`.
    fn manager_name(&self, user_id: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Directory for F {
    fn manager_name(&self, user_id: &str) -> Option<String> {
        self(user_id)
    }
}

/// The table.
fn rule(role: Role, relation: Relation, entity: Entity, op: Op) -> Rule {
    use Entity as E;
    use Op::*;
    use Relation as R;
    use Rule::*;
    match (role, relation, entity, op) {
        (_, _, E::ValueTier | E::AutoTags | E::IntentOutcome, _) => Deny(Refusal::ServerDecided(entity.field())),
        (_, R::New, E::Identity, _) => Allow,
        (_, _, E::Identity, _) => Deny(Refusal::ForgedAuthor),
        (_, _, e, Delete) if e != E::Contact => Deny(Refusal::NotAllowed { entity, op }),

        (Role::Manager, R::New, E::Owner | E::OwnerHistory, Add) => IfWriters,
        (Role::Manager, _, E::Owner | E::OwnerHistory | E::Locked | E::Lifecycle | E::Review, _) => {
            Deny(Refusal::ServerDecided(entity.field()))
        }
        (Role::Manager, R::New | R::Own, E::Profile | E::Contact | E::Reminder | E::Interaction, _) => Allow,
        (Role::Manager, R::New | R::Own, E::Visit | E::Lead, Add | Edit) => IfWriters,
        (Role::Manager, R::Pool, E::Intent, Add) => IfWriters,
        (Role::Manager, R::Closed, _, _) => Deny(Refusal::Closed),
        (Role::Manager, R::Others | R::Pool, _, _) => Deny(Refusal::NotYourCustomer),
        (Role::Manager, _, _, _) => Deny(Refusal::NotAllowed { entity, op }),

        (Role::Supervisor | Role::Admin, _, E::Owner, Edit) => IfBranchManager,
        (Role::Supervisor | Role::Admin, R::New, E::Owner, Add) => IfBranchManager,
        (Role::Supervisor | Role::Admin, _, E::OwnerHistory, Add) => IfWriters,
        (Role::Supervisor | Role::Admin, _, E::Lifecycle | E::Locked, _) => Allow,
        (Role::Supervisor | Role::Admin, R::Own | R::Others | R::Pool | R::Closed, E::Review, Add | Edit) => IfWriters,
        (Role::Supervisor | Role::Admin, R::Closed, _, _) => Deny(Refusal::Closed),
        (Role::Supervisor | Role::Admin, R::New, E::Profile | E::Contact | E::Reminder | E::Interaction, _) => Allow,
        (Role::Supervisor | Role::Admin, _, E::Visit, Add | Edit) => IfWriters,
        (Role::Supervisor | Role::Admin, _, _, _) => Deny(Refusal::NotAllowed { entity, op }),
    }
}

impl Entity {
    /// The document field, for refusal texts.
    pub fn field(self) -> &'static str {
        match self {
            Entity::Identity => "id",
            Entity::Profile => "profile",
            Entity::Contact => "contacts",
            Entity::Visit => "visits",
            Entity::Lead => "leads",
            Entity::Reminder => "reminders",
            Entity::Interaction => "interactions",
            Entity::Intent => "intents",
            Entity::Review => "reviews",
            Entity::Owner => "owner",
            Entity::OwnerHistory => "owner_history",
            Entity::Locked => "locked",
            Entity::Lifecycle => "lifecycle",
            Entity::ValueTier => "value_tier",
            Entity::AutoTags => "auto_tags",
            Entity::IntentOutcome => "intent_outcomes",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Entity::Identity => "客户标识",
            Entity::Profile => "客户资料",
            Entity::Contact => "联系人",
            Entity::Visit => "走访记录",
            Entity::Lead => "商机",
            Entity::Reminder => "提醒",
            Entity::Interaction => "互动记录",
            Entity::Intent => "领取申请",
            Entity::Review => "审核意见",
            Entity::Owner => "负责人",
            Entity::OwnerHistory => "负责人变更记录",
            Entity::Locked => "锁定",
            Entity::Lifecycle => "生命周期",
            Entity::ValueTier => "价值分层",
            Entity::AutoTags => "系统标签",
            Entity::IntentOutcome => "申请结果",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Entity::Identity => "the customer's identity",
            Entity::Profile => "the profile",
            Entity::Contact => "contacts",
            Entity::Visit => "visits",
            Entity::Lead => "leads",
            Entity::Reminder => "reminders",
            Entity::Interaction => "interactions",
            Entity::Intent => "claims",
            Entity::Review => "reviews",
            Entity::Owner => "the owner",
            Entity::OwnerHistory => "the owner history",
            Entity::Locked => "the lock",
            Entity::Lifecycle => "the lifecycle",
            Entity::ValueTier => "the value tier",
            Entity::AutoTags => "the server's tags",
            Entity::IntentOutcome => "claim outcomes",
        }
    }
}

impl Op {
    pub fn zh(self) -> &'static str {
        match self {
            Op::Add => "添加",
            Op::Edit => "修改",
            Op::Delete => "删除",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Edit => "change",
            Op::Delete => "delete",
        }
    }
}

/// The writer's relation to a customer as it was before the change.
pub fn relation(before: Option<&CustomerFile>, writer: &User) -> Relation {
    let Some(b) = before else { return Relation::New };
    if b.server.lifecycle == Some(Lifecycle::Closed) {
        return Relation::Closed;
    }
    match b.server.owner.manager_id.as_deref() {
        None => Relation::Pool,
        Some(m) if m == writer.id => Relation::Own,
        Some(_) => Relation::Others,
    }
}

/// One edit found by comparing the file before and after: the entity, the operation and, for
/// entities in collections, the record's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub entity: Entity,
    pub op: Op,
    pub key: Option<String>,
}

/// Every edit between `before` (`None` for a new customer) and `after`.
pub fn edits(before: Option<&CustomerFile>, after: &CustomerFile) -> Vec<Edit> {
    let mut out = Vec::new();
    let whole = |entity: Entity, changed: bool, out: &mut Vec<Edit>| {
        if changed {
            let op = if before.is_some() { Op::Edit } else { Op::Add };
            out.push(Edit { entity, op, key: None });
        }
    };
    let identity_changed = before.is_none_or(|b| {
        b.schema != after.schema
            || b.id != after.id
            || b.created_by != after.created_by
            || b.created_at != after.created_at
    });
    whole(Entity::Identity, identity_changed, &mut out);
    whole(Entity::Profile, before.is_none_or(|b| b.profile != after.profile), &mut out);
    let empty = CustomerFile::new(String::new(), after.profile.clone(), String::new(), 0);
    let b = before.unwrap_or(&empty);
    map_edits(Entity::Contact, &b.contacts, &after.contacts, &mut out);
    map_edits(Entity::Visit, &b.visits, &after.visits, &mut out);
    map_edits(Entity::Lead, &b.leads, &after.leads, &mut out);
    map_edits(Entity::Reminder, &b.reminders, &after.reminders, &mut out);
    map_edits(Entity::Interaction, &b.interactions, &after.interactions, &mut out);
    map_edits(Entity::Intent, &b.intents, &after.intents, &mut out);
    map_edits(Entity::Review, &b.reviews, &after.reviews, &mut out);
    map_edits(Entity::IntentOutcome, &b.server.intent_outcomes, &after.server.intent_outcomes, &mut out);
    let server_edit = |entity: Entity, changed: bool, out: &mut Vec<Edit>| {
        if changed {
            out.push(Edit { entity, op: if before.is_some() { Op::Edit } else { Op::Add }, key: None });
        }
    };
    server_edit(Entity::Owner, b.server.owner != after.server.owner, &mut out);
    let lifecycle = |f: &CustomerFile| (f.server.lifecycle, f.server.lifecycle_as_of);
    server_edit(Entity::Lifecycle, lifecycle(b) != lifecycle(after), &mut out);
    server_edit(Entity::Locked, b.server.locked != after.server.locked, &mut out);
    map_edits(Entity::OwnerHistory, &b.server.owner_history, &after.server.owner_history, &mut out);
    let tier = |f: &CustomerFile| (f.server.value_tier, f.server.tier_as_of);
    server_edit(Entity::ValueTier, tier(b) != tier(after), &mut out);
    server_edit(Entity::AutoTags, b.server.auto_tags != after.server.auto_tags, &mut out);
    out
}

fn map_edits<V: PartialEq>(
    entity: Entity,
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
    out: &mut Vec<Edit>,
) {
    for (key, new) in after {
        match before.get(key) {
            None => out.push(Edit { entity, op: Op::Add, key: Some(key.clone()) }),
            Some(old) if old != new => out.push(Edit { entity, op: Op::Edit, key: Some(key.clone()) }),
            Some(_) => {}
        }
    }
    for key in before.keys().filter(|k| !after.contains_key(*k)) {
        out.push(Edit { entity, op: Op::Delete, key: Some(key.clone()) });
    }
}

/// Checks a write: `before` is `None` for a customer new to the server. The file after must be
/// valid, every record must sit under its own ID, and every edit must be allowed by the table.
pub fn check(
    before: Option<&CustomerFile>,
    after: &CustomerFile,
    writer: &User,
    directory: &dyn Directory,
) -> Result<(), Refusal> {
    if let Err(e) = after.validate() {
        return Err(Refusal::Invalid(e.field));
    }
    keys_match_ids(after)?;
    let relation = relation(before, writer);
    if relation == Relation::New && after.created_by != writer.id {
        return Err(Refusal::ForgedAuthor);
    }
    for edit in edits(before, after) {
        match rule(writer.role, relation, edit.entity, edit.op) {
            Rule::Allow => {}
            Rule::Deny(refusal) => return Err(refusal),
            Rule::IfBranchManager => branch_owner(&after.server.owner, directory)?,
            Rule::IfWriters => writers_record(before, after, &edit, writer)?,
        }
    }
    Ok(())
}

fn branch_owner(owner: &Owner, directory: &dyn Directory) -> Result<(), Refusal> {
    match &owner.manager_id {
        None if owner.manager_name.is_none() => Ok(()),
        None => Err(Refusal::UnknownOwner),
        Some(id) => match directory.manager_name(id) {
            Some(name) if owner.manager_name.as_deref() == Some(name.as_str()) => Ok(()),
            _ => Err(Refusal::UnknownOwner),
        },
    }
}

/// The record an edit adds or changes is signed by the writer, and was theirs before.
fn writers_record(
    before: Option<&CustomerFile>,
    after: &CustomerFile,
    edit: &Edit,
    writer: &User,
) -> Result<(), Refusal> {
    let key = edit.key.as_deref().unwrap_or_default();
    let me = writer.id.as_str();
    match edit.entity {
        Entity::Visit => {
            let new = &after.visits[key];
            let old = before.and_then(|b| b.visits.get(key));
            if new.manager_id != me || old.is_some_and(|o| o.manager_id != me) {
                return Err(Refusal::OthersVisit);
            }
            let approved =
                before.and_then(|b| b.reviews.get(key)).is_some_and(|r| r.decision == ReviewDecision::Approved);
            if old.is_some() && approved {
                return Err(Refusal::ApprovedVisit);
            }
            Ok(())
        }
        Entity::Lead => {
            let new = &after.leads[key];
            match before.and_then(|b| b.leads.get(key)) {
                // A lead passes to the customer's next manager with the customer.
                Some(old) if old.created_by == new.created_by => Ok(()),
                None if new.created_by == me => Ok(()),
                _ => Err(Refusal::ForgedAuthor),
            }
        }
        Entity::Intent => {
            let new = &after.intents[key];
            if new.by != me || new.kind != IntentKind::ClaimFromPool {
                return Err(Refusal::ForgedAuthor);
            }
            Ok(())
        }
        // A change of owner is recorded as the writer's, to the owner they set (a supervisor's
        // decision; a manager's only on a customer they create).
        Entity::OwnerHistory => {
            let new = &after.server.owner_history[key];
            if new.by != me || new.to != after.server.owner {
                return Err(Refusal::ForgedAuthor);
            }
            Ok(())
        }
        // A manager's new customer may name its creator as owner (the server sets the name).
        Entity::Owner if after.server.owner.manager_id.as_deref() == Some(me) => Ok(()),
        Entity::Owner => Err(Refusal::ServerDecided(Entity::Owner.field())),
        Entity::Review => {
            let new = &after.reviews[key];
            if new.reviewer_id != me || new.reviewer_name != writer.display_name {
                return Err(Refusal::ForgedAuthor);
            }
            if !after.visits.contains_key(key) {
                return Err(Refusal::Invalid("review.visit_id".into()));
            }
            Ok(())
        }
        entity => Err(Refusal::NotAllowed { entity, op: edit.op }),
    }
}

/// Every record sits under its own ID (a tampered file could file one record under another's key).
fn keys_match_ids(file: &CustomerFile) -> Result<(), Refusal> {
    let bad = |field: &str| Err(Refusal::Invalid(field.to_string()));
    if file.contacts.iter().any(|(k, v)| *k != v.id) {
        return bad("contact.id");
    }
    if file.visits.iter().any(|(k, v)| *k != v.id) {
        return bad("visit.id");
    }
    if file.leads.iter().any(|(k, v)| *k != v.id) {
        return bad("lead.id");
    }
    if file.reminders.iter().any(|(k, v)| *k != v.id) {
        return bad("reminder.id");
    }
    if file.interactions.iter().any(|(k, v)| *k != v.id) {
        return bad("interaction.id");
    }
    if file.intents.iter().any(|(k, v)| *k != v.id) {
        return bad("intent.id");
    }
    Ok(())
}

//! Server-side validation of a pushed change: the document before and after the change are
//! compared as typed customer files, and the writer's permissions decide.
//!
//! - a manager may create customers (as their own, with no server decisions in them), edit the
//!   customers they own, edit only their own visits, and add claim intents on pool customers;
//! - a manager never writes reviews, owners, tiers, lifecycle or intent outcomes;
//! - a supervisor may also write reviews and reassign owners, never tiers, lifecycle or outcomes;
//! - every entity must pass the core's field validation.
//!
//! Scope by branch is checked by the caller before this (a customer of another branch is answered
//! as not found).

use fieldsync_core::domain::{CustomerFile, ServerFields};

use crate::accounts::{Role, User};

/// Why a change was refused: a stable code and messages for the device's quarantine list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotYourCustomer,
    ServerDecided(&'static str),
    OthersVisit,
    ForgedAuthor,
    Invalid(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotYourCustomer => "not_your_customer",
            Refusal::ServerDecided(_) => "server_decided",
            Refusal::OthersVisit => "others_visit",
            Refusal::ForgedAuthor => "forged_author",
            Refusal::Invalid(_) => "invalid",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            Refusal::NotYourCustomer => "该客户不属于您，无法修改".into(),
            Refusal::ServerDecided(field) => format!("{field} 只能由网点服务器决定"),
            Refusal::OthersVisit => "不能修改其他客户经理的走访记录".into(),
            Refusal::ForgedAuthor => "记录的创建人与登录用户不符".into(),
            Refusal::Invalid(field) => format!("{field} 不符合要求"),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Refusal::NotYourCustomer => "this customer is not yours to change".into(),
            Refusal::ServerDecided(field) => format!("{field} is decided by the branch server"),
            Refusal::OthersVisit => "another manager's visit cannot be changed".into(),
            Refusal::ForgedAuthor => "the record's author is not the signed-in user".into(),
            Refusal::Invalid(field) => format!("{field} is invalid"),
        }
    }
}

/// Checks the effect of a pushed change. `before` is `None` for a customer new to the server.
pub fn check(before: Option<&CustomerFile>, after: &CustomerFile, writer: &User) -> Result<(), Refusal> {
    if let Err(e) = after.validate() {
        return Err(Refusal::Invalid(e.field));
    }
    let supervisor = matches!(writer.role, Role::Supervisor | Role::Admin);
    let empty_server = ServerFields::default();
    let (before_server, before_reviews) = match before {
        Some(b) => (&b.server, Some(&b.reviews)),
        None => (&empty_server, None),
    };
    // Server decisions.
    if after.server.value_tier != before_server.value_tier {
        return Err(Refusal::ServerDecided("value_tier"));
    }
    if after.server.lifecycle != before_server.lifecycle {
        return Err(Refusal::ServerDecided("lifecycle"));
    }
    if after.server.intent_outcomes != before_server.intent_outcomes {
        return Err(Refusal::ServerDecided("intent_outcomes"));
    }
    if after.server.owner != before_server.owner && !supervisor {
        return Err(Refusal::ServerDecided("owner"));
    }
    let reviews_changed = match before_reviews {
        Some(r) => *r != after.reviews,
        None => !after.reviews.is_empty(),
    };
    if reviews_changed && !supervisor {
        return Err(Refusal::ServerDecided("reviews"));
    }
    match before {
        None => {
            if after.created_by != writer.id {
                return Err(Refusal::ForgedAuthor);
            }
        }
        Some(b) => {
            let owner = b.server.owner.manager_id.as_deref();
            let owns = owner == Some(writer.id.as_str()) || b.created_by == writer.id && owner.is_none();
            if !owns && !supervisor {
                // A pool customer may only receive the writer's claim intents.
                let only_claims = owner.is_none() && same_except_intents(b, after);
                if !only_claims {
                    return Err(Refusal::NotYourCustomer);
                }
            }
            if b.created_by != after.created_by || b.id != after.id {
                return Err(Refusal::ForgedAuthor);
            }
        }
    }
    // Visits: a manager adds and edits only their own.
    if !supervisor {
        for (id, visit) in &after.visits {
            let old = before.and_then(|b| b.visits.get(id));
            if old != Some(visit) && (visit.manager_id != writer.id || old.is_some_and(|o| o.manager_id != writer.id)) {
                return Err(Refusal::OthersVisit);
            }
        }
    }
    // Intents carry their author.
    for (id, intent) in &after.intents {
        let old = before.and_then(|b| b.intents.get(id));
        if old != Some(intent) && intent.by != writer.id {
            return Err(Refusal::ForgedAuthor);
        }
    }
    Ok(())
}

fn same_except_intents(before: &CustomerFile, after: &CustomerFile) -> bool {
    let mut a = after.clone();
    a.intents = before.intents.clone();
    &a == before
}

//! Duplicate customers across a branch (查重): two files with the same ID number or phone, found
//! from each customer's keys (written with every state of the document), and merged by a
//! supervisor into one that keeps both histories.
//!
//! A tablet flags a duplicate among the customers it holds when one is entered
//! (`fieldsync_core::store::Store::possible_duplicates`); the server sees the whole branch.

use fieldsync_core::domain::{Action, CustomerFile, idcard};

use crate::accounts::{Role, User};
use crate::customers::{self, PushError};
use crate::policy::{Refusal, Scope};
use crate::store::duplicates::DuplicatePair;
use crate::store::{Store, StoreResult};

/// Records a customer's keys, in the caller's transaction (a deleted one's are forgotten).
pub fn record(store: &dyn Store, branch_id: &str, file: &CustomerFile, scope: &Scope) -> StoreResult<()> {
    if *scope == Scope::Deleted {
        return store.forget_customer_keys(&file.id);
    }
    let p = &file.profile;
    let id_key = p.id_number.as_deref().map(idcard::match_key);
    store.save_customer_keys(&file.id, branch_id, p.phone.as_deref(), id_key.as_deref())
}

/// The most pairs a page lists.
pub const MAX_PAIRS: u32 = 200;

/// The branch's pairs of customers sharing an ID number or a phone, ID matches first.
pub fn pairs(store: &dyn Store, branch_id: &str) -> StoreResult<Vec<DuplicatePair>> {
    store.duplicate_pairs(branch_id, MAX_PAIRS)
}

/// Merges `merged` into `kept`, both live customers of `by`'s branch, as `by`'s decision (a
/// supervisor's or an admin's), in the caller's transaction: `kept` takes in every record of
/// `merged` and the profile fields it lacks; `merged` is deleted (it leaves every tablet; the log
/// keeps its history). Both are written to the audit trail.
pub fn merge(store: &dyn Store, by: &User, kept: &str, merged: &str, now: i64) -> Result<(), PushError> {
    if by.role == Role::Manager {
        return Err(PushError::Refused(Refusal::NotAllowed {
            entity: crate::policy::write::Entity::Identity,
            op: crate::policy::write::Op::Delete,
        }));
    }
    if kept == merged || !customers::valid_id(kept) || !customers::valid_id(merged) {
        return Err(PushError::NotFound);
    }
    let branch_id = by.branch_id.as_str();
    let live = |id: &str| -> Result<customers::DocMeta, PushError> {
        store.document(id)?.filter(|m| m.branch_id == branch_id && m.scope != Scope::Deleted).ok_or(PushError::NotFound)
    };
    let (kept_meta, _) = (live(kept)?, live(merged)?);
    // The merged file must stay within what one document may weigh (every later push of it is
    // checked against that).
    if store.stored_size(kept)? + store.stored_size(merged)? > crate::limits::MAX_DOCUMENT {
        return Err(PushError::TooLarge(crate::limits::Limit::Document));
    }
    let actor = store.server_actor()?;
    let mut doc = customers::load(store, kept, &actor)?.ok_or(PushError::NotFound)?;
    let other = customers::load(store, merged, &actor)?.ok_or(PushError::NotFound)?;
    let action = Action::MergeFrom { other: Box::new(other.file().clone()) };
    let changes = customers::server_change(&mut doc, &action, &by.id, now)?;
    customers::commit_server_changes(store, branch_id, &doc, &kept_meta.scope, &changes)?;
    customers::delete_customer(store, branch_id, merged, &by.id, now)?;
    crate::accounts::audit(store, now, &by.id, "customer.merge", kept)?;
    Ok(())
}

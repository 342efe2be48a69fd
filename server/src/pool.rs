//! The public pool (公海池), decided by the server: each branch's rules, the caps and cooldown a
//! claim must pass, the record of every change of owner, and the sweep that returns neglected
//! customers to the pool.
//!
//! When a customer is due is [`fieldsync_core::domain::recycle_due`]'s to say: the same function
//! shows the countdown on a tablet offline, from the rules its last sync brought. The server
//! keeps its answer per owned customer (`pool_state`), written with every state of the document
//! (`record`, from `customers::save_state`), so the sweep reads the customers due, never every
//! document.

use fieldsync_core::domain::{
    Action, CustomerFile, Owner, OwnerChangeReason, PoolRules, RecycleDue, pool::DAY_MS, recycle_due,
};

use crate::accounts::User;
use crate::customers::{self, PushError};
use crate::policy::Scope;
use crate::store::{Store, StoreResult};

/// The user recorded as having decided what the rules decide (a recycle).
pub const RULES: &str = "pool-rules";

/// A branch's rules and their version (what tablets compare). A branch that never set any has
/// the defaults, at version 1.
pub fn rules(store: &dyn Store, branch_id: &str) -> StoreResult<(PoolRules, i64)> {
    Ok(store.pool_rules(branch_id)?.unwrap_or_else(|| (PoolRules::default(), 1)))
}

/// Sets a branch's rules (checked by the caller) and brings every customer's due date to them.
pub fn set_rules(store: &dyn Store, branch_id: &str, rules: &PoolRules, now: i64) -> Result<(), PushError> {
    let version = crate::catalog::next_version(store, branch_id, now)?;
    store.set_pool_rules(branch_id, rules, version)?;
    let actor = store.server_actor()?;
    for (customer_id, branch) in store.live_documents()? {
        if branch != branch_id {
            continue;
        }
        let Some(doc) = customers::load(store, &customer_id, &actor)? else { continue };
        let file = doc.file();
        store.set_pool_state(
            &customer_id,
            branch_id,
            file.server.locked,
            due(file, &customers::scope_of(file), rules).as_ref(),
        )?;
    }
    Ok(())
}

fn due(file: &CustomerFile, scope: &Scope, rules: &PoolRules) -> Option<RecycleDue> {
    matches!(scope, Scope::Owned(_)).then(|| recycle_due(file, rules)).flatten()
}

/// Records a customer's state for the pool, in the caller's transaction: changes of owner not yet
/// recorded, and when it is due back in the pool.
pub fn record(store: &dyn Store, branch_id: &str, file: &CustomerFile, scope: &Scope) -> StoreResult<()> {
    if *scope == Scope::Deleted {
        return store.pool_forget(&file.id);
    }
    let changes: Vec<(&str, &_)> = file.server.owner_history.iter().map(|(k, c)| (k.as_str(), c)).collect();
    store.save_owner_changes(&file.id, branch_id, &changes)?;
    let (rules, _) = rules(store, branch_id)?;
    store.set_pool_state(&file.id, branch_id, file.server.locked, due(file, scope, &rules).as_ref())
}

/// Why the rules refuse a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    DailyCap(u32),
    MaxOwned(u32),
    Cooldown(u32),
}

impl ClaimRefusal {
    /// The reason the tablet shows (Chinese, then English).
    pub fn reason(self) -> String {
        match self {
            ClaimRefusal::DailyCap(n) => format!("今日领取已达上限（{n} 个）/ the daily claim limit ({n}) is reached"),
            ClaimRefusal::MaxOwned(n) => {
                format!("名下客户已达上限（{n} 个）/ you already serve the most customers allowed ({n})")
            }
            ClaimRefusal::Cooldown(d) => {
                format!("退出后 {d} 天内不能再次领取 / a former owner may claim again only after {d} days")
            }
        }
    }
}

/// Whether `manager` may take `customer_id` from the pool now, under the branch's rules.
pub fn check_claim(
    store: &dyn Store,
    manager: &User,
    customer_id: &str,
    now: i64,
) -> StoreResult<Result<(), ClaimRefusal>> {
    let (rules, _) = rules(store, &manager.branch_id)?;
    if let Some(days) = rules.claim_cooldown_days
        && store
            .last_lost(&manager.id, customer_id)?
            .is_some_and(|at| now < at.saturating_add(i64::from(days) * DAY_MS))
    {
        return Ok(Err(ClaimRefusal::Cooldown(days)));
    }
    if let Some(cap) = rules.daily_claim_cap {
        let tz = crate::read_model::days::branch_zone(store, &manager.branch_id)?;
        let (_, day_start, _) = crate::read_model::days::local_day(now, &tz);
        if store.claims_won_since(&manager.id, day_start)? >= i64::from(cap) {
            return Ok(Err(ClaimRefusal::DailyCap(cap)));
        }
    }
    if let Some(max) = rules.max_owned
        && store.owned_count(&manager.branch_id, &manager.id)? >= i64::from(max)
    {
        return Ok(Err(ClaimRefusal::MaxOwned(max)));
    }
    Ok(Ok(()))
}

/// The most customers one sweep returns per branch (the next sweep takes the rest).
pub const SWEEP_BATCH: u32 = 500;

/// Returns a branch's customers due at `now` to the pool, in the caller's transaction: each is
/// loaded and checked again against the rules (a visit synced since may have moved its date).
/// Their managers' tablets lose them at their next sync. Returns how many went back.
pub fn sweep(store: &dyn Store, branch_id: &str, now: i64) -> Result<usize, PushError> {
    let (rules, _) = rules(store, branch_id)?;
    let actor = store.server_actor()?;
    let mut returned = 0;
    for customer_id in store.pool_due_by(branch_id, now, SWEEP_BATCH)? {
        let Some(meta) = store.document(&customer_id)?.filter(|m| m.branch_id == branch_id) else { continue };
        let Some(mut doc) = customers::load(store, &customer_id, &actor)? else { continue };
        let scope = customers::scope_of(doc.file());
        match due(doc.file(), &scope, &rules) {
            Some(d) if d.at <= now => {}
            // Not due after all: the row is brought up to date.
            other => {
                store.set_pool_state(&customer_id, branch_id, doc.file().server.locked, other.as_ref())?;
                continue;
            }
        }
        let action = Action::AssignOwner { owner: Owner::default(), reason: OwnerChangeReason::Recycled };
        let changes = customers::server_change(&mut doc, &action, RULES, now)?;
        customers::commit_server_changes(store, branch_id, &doc, &meta.scope, &changes)?;
        returned += 1;
    }
    if returned > 0 {
        tracing::info!(branch_id, returned, "neglected customers returned to the pool");
    }
    Ok(returned)
}

/// Gives `customer_ids` of `by`'s branch to `to` (a manager, or the pool) as `by`'s decision,
/// each checked by the write policy and recorded on the customer, in the caller's transaction:
/// all move or none. Returns how many changed hands.
pub fn reassign(
    store: &dyn Store,
    by: &User,
    customer_ids: &[String],
    to: &Owner,
    now: i64,
) -> Result<usize, PushError> {
    let mut moved = 0;
    for customer_id in customer_ids {
        let before = store.document(customer_id)?.map(|m| m.scope);
        let action = Action::assign(to.clone());
        customers::write_decision(store, by, customer_id, &action, now)?;
        moved += usize::from(store.document(customer_id)?.map(|m| m.scope) != before);
    }
    Ok(moved)
}

/// The owner `manager_id` names in `branch_id` (`"pool"`: the pool), with the name their account
/// has; `None` for anyone who is not an active manager of the branch.
pub fn owner_named(store: &dyn Store, branch_id: &str, manager_id: &str) -> Option<Owner> {
    use crate::policy::Directory;
    if manager_id == "pool" {
        return Some(Owner::default());
    }
    let name = customers::BranchDirectory { store, branch_id }.manager_name(manager_id)?;
    Some(Owner { manager_id: Some(manager_id.to_string()), manager_name: Some(name) })
}

/// Moves every customer `from` serves in `branch_id` to `to` (a manager's ID, or `"pool"`), as
/// the administrator's decision (`admin reassign`: a manager who leaves the bank).
pub fn reassign_all(store: &dyn Store, branch_id: &str, from: &str, to: &str, now: i64) -> Result<usize, PushError> {
    let owner = owner_named(store, branch_id, to).ok_or(PushError::Refused(crate::policy::Refusal::UnknownOwner))?;
    let admin = User {
        id: "admin-cli".into(),
        branch_id: branch_id.to_string(),
        outlet_id: None,
        username: "admin-cli".into(),
        display_name: "admin-cli".into(),
        role: crate::accounts::Role::Admin,
    };
    let ids = store.owned_by(branch_id, from)?;
    reassign(store, &admin, &ids, &owner, now)
}

//! The read models of the supervisor pages: per branch, one row per customer, visit, lead and
//! reminder, so the pages never parse a document per request.
//!
//! - [`rows`]: what a document's rows are (a pure function of the typed file);
//! - [`evidence`]: the evidence flags, their thresholds and their reasons;
//! - here: keeping the rows current as each document's state is recorded ([`record`], called by
//!   `customers::save_state` in the same transaction), and rebuilding them all ([`rebuild`]).
//!
//! Three measures of a visit depend on more than its own document: the travel from the manager's
//! previous visit, a photo shared with another visit, and the clock of the device that synced it
//! (an arrival fact, kept in `visit_arrivals`, which no document holds). A write refreshes them
//! on every visit whose inputs it changed: its own changed visits, the visits that follow them
//! (before and after the change) in their manager's day, and the visits sharing their photos. The
//! rebuild refreshes every visit with the same function; a test checks the two agree.

pub mod days;
pub mod evidence;
pub mod rows;

use std::collections::BTreeSet;

use fieldsync_core::domain::CustomerFile;

use crate::policy::Scope;
use crate::store::{Store, StoreResult};
pub use rows::{ComplaintRm, CustomerRm, LeadRm, ReadRows, ReminderRm, VisitKey, VisitRef, VisitRm};

/// A device's push that carried a visit: recorded as the visit's arrival fact.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub device_id: &'a str,
    pub received_at: i64,
    /// The device's clock minus the server's when the push arrived (`None`: not told).
    pub clock_offset_ms: Option<i64>,
}

/// What the read models learn with a document's new state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Write<'a> {
    /// The device push that brought it.
    pub arrival: Option<Arrival<'a>>,
    /// The rows of the document as it was before this write, when the caller knows them (a push
    /// prepared on a reader against the version it committed on): unchanged rows are then not
    /// even compared in the store.
    pub before: Option<&'a ReadRows>,
}

/// Brings a customer's rows to `file` (or removes them, for a deleted customer), in the caller's
/// transaction, and refreshes the cross-document measures it affects.
pub fn record(store: &dyn Store, branch_id: &str, file: &CustomerFile, scope: &Scope, write: Write) -> StoreResult<()> {
    let customer_id = file.id.as_str();
    if *scope == Scope::Deleted {
        return forget(store, customer_id);
    }
    let known = write.before;
    let before = match known {
        Some(rows) => rows.visits.iter().map(|v| VisitKey::of(v, rows.photos_of(&v.visit_id))).collect(),
        None => store.rm_visit_keys(customer_id)?,
    };
    let mut refresh = BTreeSet::new();
    // The (manager, time) of every visit changed, as it was and as it is: their days are recounted.
    let mut times = BTreeSet::new();
    let rows = ReadRows::of(file, branch_id, scope);
    if known.is_none_or(|b| b.customer != rows.customer) {
        store.rm_save_customer(&rows.customer)?;
    }
    for visit in &rows.visits {
        let old = before.iter().find(|k| k.visit_id == visit.visit_id);
        let new = VisitKey::of(visit, rows.photos_of(&visit.visit_id));
        let unchanged = known.is_some_and(|b| b.visits.iter().any(|v| v == visit));
        let row_changed = !unchanged && store.rm_save_visit(visit)?;
        // The row holds the photos' count only: a photo swapped for another changes no row.
        let photos_changed = old.map(|o| &o.photos) != Some(&new.photos);
        if photos_changed {
            store.rm_set_visit_photos(customer_id, &visit.visit_id, branch_id, &new.photos)?;
        }
        if !row_changed && !photos_changed {
            continue;
        }
        if let Some(arrival) = write.arrival {
            store.rm_record_arrival(customer_id, &visit.visit_id, arrival)?;
        }
        refresh.insert((customer_id.to_string(), visit.visit_id.clone()));
        if row_changed {
            times.insert((visit.manager_id.clone(), visit.at));
            times.extend(old.map(|o| (o.manager_id.clone(), o.at)));
        }
        refresh.extend(affected_by(store, &new)?);
        if let Some(old) = old {
            refresh.extend(affected_by(store, old)?);
        }
    }
    for gone in before.iter().filter(|k| !rows.visits.iter().any(|v| v.visit_id == k.visit_id)) {
        store.rm_delete_visit(customer_id, &gone.visit_id)?;
        times.insert((gone.manager_id.clone(), gone.at));
        refresh.extend(affected_by(store, gone)?);
    }
    if known.is_none_or(|b| b.leads != rows.leads) {
        store.rm_save_leads(customer_id, &rows.leads)?;
    }
    if known.is_none_or(|b| b.reminders != rows.reminders) {
        store.rm_save_reminders(customer_id, &rows.reminders)?;
    }
    if known.is_none_or(|b| b.complaints != rows.complaints) {
        store.rm_save_complaints(customer_id, &rows.complaints)?;
    }
    days::recount(store, branch_id, &times)?;
    refresh_visits(store, &refresh)
}

/// Removes a deleted customer's rows, in the caller's transaction, and refreshes the visits that
/// depended on its visits.
pub fn forget(store: &dyn Store, customer_id: &str) -> StoreResult<()> {
    let before = store.rm_visit_keys(customer_id)?;
    let branch = store.customer_row(customer_id)?.map(|c| c.branch_id);
    store.rm_delete_customer(customer_id)?;
    let mut refresh = BTreeSet::new();
    for key in &before {
        refresh.extend(affected_by(store, key)?);
    }
    if let Some(branch) = branch {
        let times = before.iter().map(|k| (k.manager_id.clone(), k.at)).collect();
        days::recount(store, &branch, &times)?;
    }
    refresh_visits(store, &refresh)
}

/// The visits whose cross-document measures depend on the visit `key` describes (as it is or
/// was): those that follow it in its manager's day up to the next completed one, and those that
/// share a photo with it.
fn affected_by(store: &dyn Store, key: &VisitKey) -> StoreResult<Vec<VisitRef>> {
    let mut out = store.rm_followers(&key.manager_id, key.at, &key.customer_id, &key.visit_id)?;
    out.extend(store.rm_photo_sharers(&key.photos)?);
    Ok(out)
}

/// Recomputes the travel, shared-photo and clock measures and the flags of `visits` (gone ones
/// are skipped).
pub fn refresh_visits(store: &dyn Store, visits: &BTreeSet<VisitRef>) -> StoreResult<()> {
    let mut rules: Option<(String, evidence::Rules)> = None;
    for (customer_id, visit_id) in visits {
        let Some(inputs) = store.rm_cross_inputs(customer_id, visit_id)? else { continue };
        let travel = match (&inputs.check_in, &inputs.previous_check_out) {
            (Some(here), Some(before)) => {
                evidence::travel_kmh(before.0.distance_m(&here.0), (here.1 - before.1) as f64 / 1000.0)
            }
            _ => None,
        };
        let measures = evidence::Measures { travel_kmh: travel, ..inputs.measures };
        let branch_rules = match &rules {
            Some((branch, r)) if *branch == inputs.branch_id => *r,
            _ => {
                let r = store.evidence_rules(&inputs.branch_id)?;
                rules = Some((inputs.branch_id.clone(), r));
                r
            }
        };
        store.rm_set_cross(customer_id, visit_id, &measures, measures.flags(&branch_rules))?;
    }
    Ok(())
}

/// Rebuilds every read model row from the documents and the arrival facts, in the caller's
/// transaction. Returns how many customers it wrote.
pub fn rebuild(store: &dyn Store) -> Result<usize, crate::customers::PushError> {
    store.rm_clear()?;
    store.pool_clear()?;
    store.clear_customer_keys()?;
    store.clear_stage_state()?;
    store.clear_birthday_due()?;
    let actor = store.server_actor()?;
    let mut written = 0;
    for (customer_id, branch_id) in store.live_documents()? {
        let Some(doc) = crate::customers::load(store, &customer_id, &actor)? else { continue };
        let file = doc.file();
        let scope = crate::customers::scope_of(file);
        crate::pool::record(store, &branch_id, file, &scope)?;
        crate::duplicates::record(store, &branch_id, file, &scope)?;
        crate::stages::record(store, &branch_id, file, &scope)?;
        crate::reminders::record(store, &branch_id, file, &scope)?;
        let rows = ReadRows::of(file, &branch_id, &scope);
        store.rm_save_customer(&rows.customer)?;
        for visit in &rows.visits {
            store.rm_save_visit(visit)?;
            store.rm_set_visit_photos(&customer_id, &visit.visit_id, &branch_id, rows.photos_of(&visit.visit_id))?;
        }
        store.rm_save_leads(&customer_id, &rows.leads)?;
        store.rm_save_reminders(&customer_id, &rows.reminders)?;
        store.rm_save_complaints(&customer_id, &rows.complaints)?;
        written += 1;
    }
    let all: BTreeSet<VisitRef> = store.rm_all_visits()?.into_iter().collect();
    refresh_visits(store, &all)?;
    for (branch_id, times) in store.rm_visit_times()? {
        days::recount(store, &branch_id, &times.into_iter().collect())?;
    }
    Ok(written)
}

/// Builds the read models of a store written before they existed (once: the migration that added
/// them asked for it). Returns how many customers it wrote.
pub fn build_if_pending(store: &dyn Store) -> Result<usize, crate::customers::PushError> {
    const UPGRADE: &str = "rebuild_read_models";
    if !store.upgrade_pending(UPGRADE)? {
        return Ok(0);
    }
    let written = rebuild(store)?;
    store.upgrade_done(UPGRADE)?;
    Ok(written)
}

/// Sets a branch's thresholds and re-judges its visits, in the caller's transaction.
pub fn set_rules(store: &dyn Store, branch_id: &str, rules: &evidence::Rules) -> StoreResult<()> {
    store.set_evidence_rules(branch_id, rules)?;
    let visits: BTreeSet<VisitRef> = store.rm_branch_visits(branch_id)?.into_iter().collect();
    refresh_visits(store, &visits)
}

//! The read models part of the store's interface: the supervisor pages' rows of customers,
//! visits, leads and reminders per branch, the visits' photos and arrival facts, and each
//! branch's evidence thresholds. Written through [`crate::read_model`]; the pages' queries read
//! them.

use fieldsync_core::domain::GeoPoint;

use super::StoreResult;
use crate::read_model::evidence::{Measures, Rules};
use crate::read_model::{Arrival, ComplaintRm, CustomerRm, LeadRm, ReminderRm, VisitKey, VisitRef, VisitRm};

/// What a visit's cross-document measures are computed from.
#[derive(Debug, Clone)]
pub struct CrossInputs {
    pub branch_id: String,
    /// The row's own measures, with the shared photo and the clock offset filled in.
    pub measures: Measures,
    /// Where and when it checked in.
    pub check_in: Option<(GeoPoint, i64)>,
    /// Where and when the manager checked out of their previous completed visit in person.
    pub previous_check_out: Option<(GeoPoint, i64)>,
}

/// A branch and its visits as (manager, check-in time).
pub type BranchTimes = (String, Vec<(String, i64)>);

pub trait ReadModelStore {
    /// The visits a customer's rows hold now, with their photos.
    fn rm_visit_keys(&self, customer_id: &str) -> StoreResult<Vec<VisitKey>>;

    fn rm_save_customer(&self, row: &CustomerRm) -> StoreResult<()>;

    /// Writes a visit's own columns; whether anything changed (an equal row is not rewritten).
    fn rm_save_visit(&self, row: &VisitRm) -> StoreResult<bool>;

    fn rm_delete_visit(&self, customer_id: &str, visit_id: &str) -> StoreResult<()>;

    /// Replaces a visit's photos.
    fn rm_set_visit_photos(
        &self,
        customer_id: &str,
        visit_id: &str,
        branch_id: &str,
        hashes: &[String],
    ) -> StoreResult<()>;

    /// Makes a customer's leads exactly `rows`.
    fn rm_save_leads(&self, customer_id: &str, rows: &[LeadRm]) -> StoreResult<()>;

    /// Makes a customer's reminders exactly `rows`.
    fn rm_save_reminders(&self, customer_id: &str, rows: &[ReminderRm]) -> StoreResult<()>;

    /// Makes a customer's complaints exactly `rows`.
    fn rm_save_complaints(&self, customer_id: &str, rows: &[ComplaintRm]) -> StoreResult<()>;

    /// Removes every row of a customer.
    fn rm_delete_customer(&self, customer_id: &str) -> StoreResult<()>;

    /// Records that a device's push carried this visit now (replacing an earlier arrival).
    fn rm_record_arrival(&self, customer_id: &str, visit_id: &str, arrival: Arrival) -> StoreResult<()>;

    /// The manager's visits in person after `(at, customer, visit)`, in order, up to and including
    /// the first completed one: those whose previous completed visit could be that one.
    fn rm_followers(&self, manager_id: &str, at: i64, customer_id: &str, visit_id: &str) -> StoreResult<Vec<VisitRef>>;

    /// The visits holding any of `hashes`.
    fn rm_photo_sharers(&self, hashes: &[String]) -> StoreResult<Vec<VisitRef>>;

    /// `None` for a visit without a row.
    fn rm_cross_inputs(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<CrossInputs>>;

    /// Writes a visit's cross-document measures and its flags.
    fn rm_set_cross(&self, customer_id: &str, visit_id: &str, measures: &Measures, flags: i64) -> StoreResult<()>;

    fn rm_visit(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<VisitRm>>;

    /// A visit's flags (`None`: no such row).
    fn rm_flags(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<i64>>;

    /// Every visit; every visit of one branch.
    fn rm_all_visits(&self) -> StoreResult<Vec<VisitRef>>;
    fn rm_branch_visits(&self, branch_id: &str) -> StoreResult<Vec<VisitRef>>;

    /// A manager's visits (not planned) checked in within `[from, to)`, and the manager's name.
    fn rm_count_day(&self, branch_id: &str, manager_id: &str, from: i64, to: i64) -> StoreResult<(i64, String)>;

    /// Sets a manager's count of a day (removing the row at 0).
    fn rm_set_day(
        &self,
        branch_id: &str,
        manager_id: &str,
        day: i64,
        manager_name: &str,
        visits: i64,
    ) -> StoreResult<()>;

    /// Every branch's visits (not planned) as (manager, time), for the rebuild's day counts.
    fn rm_visit_times(&self) -> StoreResult<Vec<BranchTimes>>;

    /// Removes every row of every read model (the arrival facts and thresholds stay).
    fn rm_clear(&self) -> StoreResult<()>;

    /// A branch's thresholds (the defaults until set).
    fn evidence_rules(&self, branch_id: &str) -> StoreResult<Rules>;
    fn set_evidence_rules(&self, branch_id: &str, rules: &Rules) -> StoreResult<()>;
}

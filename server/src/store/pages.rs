//! The supervisor pages' queries, over the read models of one branch. Every query is bounded:
//! pages by their size, exports by the caller's consumer.

use super::StoreResult;
use crate::read_model::evidence::Measures;
use crate::read_model::{CustomerRm, LeadRm, VisitRm};

/// Which visits a list shows. Every filter is optional; they combine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitFilter {
    pub branch_id: String,
    pub manager_id: Option<String>,
    pub outlet_id: Option<String>,
    pub village: Option<String>,
    /// `at` within `[from, to)`, UTC ms.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub purpose: Option<String>,
    /// `pending`, or a decision's code.
    pub review: Option<String>,
    pub flags: FlagFilter,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlagFilter {
    #[default]
    Any,
    /// Visits with at least one flag.
    Flagged,
    /// Visits with none.
    Clean,
    /// Visits with this flag's bit.
    One(i64),
}

/// Where a newest-first batch of visits continues: the last one's `at`, customer and visit.
pub type VisitAfter = (i64, String, String);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VisitSort {
    #[default]
    Newest,
    Oldest,
    Shortest,
    Farthest,
}

/// A visit as a list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitListRow {
    pub visit_id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub manager_id: String,
    pub manager_name: String,
    pub village: String,
    pub purpose: String,
    pub channel: String,
    pub status: String,
    pub at: i64,
    pub check_out_at: Option<i64>,
    pub duration_s: Option<i64>,
    pub distance_m: Option<f64>,
    pub flags: i64,
    pub review: String,
    pub review_comment: Option<String>,
    pub photos: i64,
    pub cost_fen: i64,
    pub notes: String,
    pub in_lat: Option<f64>,
    pub in_lng: Option<f64>,
}

/// Customers of a village and how many were visited lately.
#[derive(Debug, Clone, PartialEq)]
pub struct VillageCoverage {
    pub village: String,
    pub customers: i64,
    pub visited_30: i64,
    pub visited_90: i64,
}

/// A device of the branch and its last sync.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStatus {
    pub device_id: String,
    pub user_name: String,
    pub revoked: bool,
    pub last_sync_at: Option<i64>,
    pub app_version: Option<String>,
    pub refused_last: i64,
    pub refused_total: i64,
}

/// One entry of the audit trail, with its actor's name.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub at: i64,
    pub actor_name: String,
    pub action: String,
    pub subject: String,
}

pub trait PageQueries {
    /// Up to `limit` visits of the filter after skipping `offset`, in `sort`'s order (planned
    /// visits are not logs and never listed).
    fn visit_page(
        &self,
        filter: &VisitFilter,
        sort: VisitSort,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Vec<VisitListRow>>;

    /// Up to `limit` visits of the filter, newest first, after `after` (the last one of the
    /// previous batch): an export reads the log in batches this way.
    fn visits_after(
        &self,
        filter: &VisitFilter,
        after: Option<&VisitAfter>,
        limit: usize,
    ) -> StoreResult<Vec<VisitListRow>>;

    /// One visit whole: its row, its measures (the cross-document ones included) and flags.
    fn visit_detail(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<(VisitRm, Measures, i64)>>;

    fn customer_row(&self, customer_id: &str) -> StoreResult<Option<CustomerRm>>;

    /// A visit's photos (hashes), sorted.
    fn visit_photos(&self, customer_id: &str, visit_id: &str) -> StoreResult<Vec<String>>;

    /// The leads opened at a visit.
    fn visit_leads(&self, customer_id: &str, visit_id: &str) -> StoreResult<Vec<LeadRm>>;

    /// A customer's visits (planned ones too), newest first, at most `limit`.
    fn customer_visits(&self, customer_id: &str, limit: usize) -> StoreResult<Vec<VisitListRow>>;

    /// A customer's leads, newest first.
    fn customer_leads(&self, customer_id: &str) -> StoreResult<Vec<LeadRm>>;

    /// The audit trail of a branch's users, newest first.
    fn audit_page(&self, branch_id: &str, offset: usize, limit: usize) -> StoreResult<Vec<AuditRow>>;

    /// Visits (not planned) per manager per local day from `first` to `last` (day numbers since
    /// 1970-01-01 in the branch's time): (manager name, day, count).
    fn visits_per_day(&self, branch_id: &str, first: i64, last: i64) -> StoreResult<Vec<(String, i64, i64)>>;

    /// Each village's customers (closed ones left out) and how many were visited since `since_30`
    /// and `since_90`, least covered first.
    fn village_coverage(&self, branch_id: &str, since_30: i64, since_90: i64) -> StoreResult<Vec<VillageCoverage>>;

    /// Leads per stage: (stage, count, amount in fen).
    fn lead_funnel(&self, branch_id: &str) -> StoreResult<Vec<(String, i64, i64)>>;

    /// Customers whose follow-up date passed before `now`, per manager in charge: (name, count).
    fn overdue_per_manager(&self, branch_id: &str, now: i64) -> StoreResult<Vec<(String, i64)>>;

    /// A manager's visits checked in within `[from, to)`, in order.
    fn manager_day(&self, branch_id: &str, manager_id: &str, from: i64, to: i64) -> StoreResult<Vec<VisitListRow>>;

    /// The branch's devices with their last sync, most recent first.
    fn device_status(&self, branch_id: &str) -> StoreResult<Vec<DeviceStatus>>;

    /// A branch's managers (ID, name), outlets (ID, name) and villages, for the filters.
    fn branch_managers(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>>;
    fn branch_outlets(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>>;
    fn branch_villages(&self, branch_id: &str) -> StoreResult<Vec<String>>;

    /// The outlet each of a branch's managers works from (managers of no outlet left out).
    fn manager_outlets(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>>;
}

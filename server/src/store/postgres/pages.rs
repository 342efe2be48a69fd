//! [`PageQueries`] on PostgreSQL, over the read models: the twin of `store::sqlite::pages`, with
//! the same results in the same order. Filters become bound parameters, never text in the SQL.
//!
//! Where the SQLite statements leave an order to their plan (ties of an `ORDER BY`, a `GROUP BY`
//! without one, a bare column of an aggregate), these spell out the order SQLite's plan gives:
//! its scan of the index it uses, and its sorter, which keeps ties in the order they came.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PgStore;
use crate::read_model::evidence::Measures;
use crate::read_model::{CustomerRm, LeadRm, VisitRm};
use crate::store::StoreResult;
use crate::store::pages::{
    AuditRow, DeviceStatus, FlagFilter, PageQueries, VillageCoverage, VisitAfter, VisitFilter, VisitListRow, VisitSort,
};

/// The columns of a [`VisitListRow`], from `rm_visits v LEFT JOIN rm_customers c`.
macro_rules! list_columns {
    () => {
        "v.visit_id, v.customer_id, coalesce(c.name, ''), v.manager_id, v.manager_name, v.village, \
         v.purpose, v.channel, v.status, v.at, v.check_out_at, v.duration_s, v.distance_m, v.flags, v.review, \
         v.review_comment, v.photos, v.cost_fen, v.notes, v.in_lat, v.in_lng"
    };
}

/// The columns of a [`LeadRm`].
macro_rules! lead_columns {
    () => {
        "lead_id, customer_id, branch_id, owner_id, product, stage, amount_fen, probability, expected_close, \
         visit_id, created_by, created_at, won_at"
    };
}

/// The own columns of `rm_visits` in [`VisitRm`]'s order, then the cross-document measures and
/// the flags.
const VISIT_DETAIL: &str = "SELECT customer_id, visit_id, branch_id, manager_id, manager_name, village, status, \
     purpose, channel, at, planned_at, check_in_at, check_out_at, in_lat, in_lng, in_accuracy_m, out_lat, out_lng, \
     distance_m, duration_s, mock_location, after_the_fact, created_at, cost_fen, photos, notes, outcome, \
     next_contact_at, linked_leads, review, reviewed_at, reviewer_name, review_comment, \
     travel_kmh, photo_reused, clock_offset_ms, flags
     FROM rm_visits WHERE customer_id = $1 AND visit_id = $2";

type Param<'a> = &'a (dyn ToSql + Sync);

/// SQLite's `LIMIT` of `limit as i64`: a count too large for it wraps to a negative one, which
/// SQLite reads as no limit; PostgreSQL's is `LIMIT NULL`.
fn sql_limit(limit: usize) -> Option<i64> {
    i64::try_from(limit).ok()
}

/// SQLite's `OFFSET` of `offset as i64`: a negative one (a count too large) skips nothing.
fn sql_offset(offset: usize) -> i64 {
    i64::try_from(offset).unwrap_or(0)
}

fn lead_row(r: &Row) -> StoreResult<LeadRm> {
    Ok(LeadRm {
        lead_id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        owner_id: r.try_get(3)?,
        product: r.try_get(4)?,
        stage: r.try_get(5)?,
        amount_fen: r.try_get(6)?,
        probability: r.try_get(7)?,
        expected_close: r.try_get(8)?,
        visit_id: r.try_get(9)?,
        created_by: r.try_get(10)?,
        created_at: r.try_get(11)?,
        won_at: r.try_get(12)?,
    })
}

fn list_row(r: &Row) -> StoreResult<VisitListRow> {
    Ok(VisitListRow {
        visit_id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        customer_name: r.try_get(2)?,
        manager_id: r.try_get(3)?,
        manager_name: r.try_get(4)?,
        village: r.try_get(5)?,
        purpose: r.try_get(6)?,
        channel: r.try_get(7)?,
        status: r.try_get(8)?,
        at: r.try_get(9)?,
        check_out_at: r.try_get(10)?,
        duration_s: r.try_get(11)?,
        distance_m: r.try_get(12)?,
        flags: r.try_get(13)?,
        review: r.try_get(14)?,
        review_comment: r.try_get(15)?,
        photos: r.try_get(16)?,
        cost_fen: r.try_get(17)?,
        notes: r.try_get(18)?,
        in_lat: r.try_get(19)?,
        in_lng: r.try_get(20)?,
    })
}

fn list_rows(rows: &[Row]) -> StoreResult<Vec<VisitListRow>> {
    rows.iter().map(list_row).collect()
}

/// The `FROM … WHERE … ORDER BY` of a visit list, and its parameters; `after` continues a newest
/// first list after that visit.
fn visit_query<'a>(
    filter: &'a VisitFilter,
    sort: VisitSort,
    after: Option<&'a VisitAfter>,
) -> (String, Vec<Param<'a>>) {
    let mut sql = String::from(
        " FROM rm_visits v LEFT JOIN rm_customers c ON c.customer_id = v.customer_id
          WHERE v.branch_id = $1 AND v.status <> 'planned'",
    );
    let mut values: Vec<Param<'a>> = vec![&filter.branch_id];
    let mut add = |clause: &str, value: Param<'a>| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", values.len())));
    };
    if let Some(m) = &filter.manager_id {
        add(" AND v.manager_id = ?", m);
    }
    if let Some(o) = &filter.outlet_id {
        add(" AND v.manager_id IN (SELECT id FROM users WHERE outlet_id = ?)", o);
    }
    if let Some(village) = &filter.village {
        add(" AND v.village = ?", village);
    }
    if let Some(from) = &filter.from {
        add(" AND v.at >= ?", from);
    }
    if let Some(to) = &filter.to {
        add(" AND v.at < ?", to);
    }
    if let Some(p) = &filter.purpose {
        add(" AND v.purpose = ?", p);
    }
    if let Some(r) = &filter.review {
        add(" AND v.review = ?", r);
    }
    if let FlagFilter::One(bit) = &filter.flags {
        add(" AND (v.flags & ?) <> 0", bit);
    }
    if let Some((at, customer_id, visit_id)) = after {
        add(" AND (v.at, v.customer_id, v.visit_id) < (?", at);
        add(", ?", customer_id);
        add(", ?)", visit_id);
    }
    match filter.flags {
        FlagFilter::Flagged => sql.push_str(" AND v.flags <> 0"),
        FlagFilter::Clean => sql.push_str(" AND v.flags = 0"),
        FlagFilter::Any | FlagFilter::One(_) => {}
    }
    // Every key is NOT NULL but `duration_s` and `distance_m`, whose `IS NULL` key puts NULLs last.
    sql.push_str(match sort {
        VisitSort::Newest => " ORDER BY v.at DESC, v.customer_id DESC, v.visit_id DESC",
        VisitSort::Oldest => " ORDER BY v.at, v.customer_id, v.visit_id",
        VisitSort::Shortest => " ORDER BY v.duration_s IS NULL, v.duration_s, v.at DESC, v.customer_id, v.visit_id",
        VisitSort::Farthest => {
            " ORDER BY v.distance_m IS NULL, v.distance_m DESC, v.at DESC, v.customer_id, v.visit_id"
        }
    });
    (sql, values)
}

impl PageQueries for PgStore<'_> {
    fn visit_page(
        &self,
        filter: &VisitFilter,
        sort: VisitSort,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Vec<VisitListRow>> {
        let (limit, offset) = (sql_limit(limit), sql_offset(offset));
        let (query, mut values) = visit_query(filter, sort, None);
        values.push(&limit);
        values.push(&offset);
        let sql = format!("SELECT {}{query} LIMIT ${} OFFSET ${}", list_columns!(), values.len() - 1, values.len());
        list_rows(&self.query(&sql, &values)?)
    }

    fn visits_after(
        &self,
        filter: &VisitFilter,
        after: Option<&VisitAfter>,
        limit: usize,
    ) -> StoreResult<Vec<VisitListRow>> {
        let limit = sql_limit(limit);
        let (query, mut values) = visit_query(filter, VisitSort::Newest, after);
        values.push(&limit);
        let sql = format!("SELECT {}{query} LIMIT ${}", list_columns!(), values.len());
        list_rows(&self.query(&sql, &values)?)
    }

    fn visit_detail(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<(VisitRm, Measures, i64)>> {
        // SQLite reads the row (`rm_visit`) and then its other measures; here one statement.
        let Some(r) = self.query_opt(VISIT_DETAIL, &[&customer_id, &visit_id])? else { return Ok(None) };
        let row = super::read_models::visit_from_row(&r)?;
        let travel_kmh: Option<f64> = r.try_get(33)?;
        let photo_reused = r.try_get::<_, i64>(34)? != 0;
        let clock_offset_ms: Option<i64> = r.try_get(35)?;
        let flags: i64 = r.try_get(36)?;
        let measures = Measures { travel_kmh, photo_reused, clock_offset_ms, ..row.measures() };
        Ok(Some((row, measures, flags)))
    }

    fn customer_row(&self, customer_id: &str) -> StoreResult<Option<CustomerRm>> {
        let row = self.query_opt(
            "SELECT customer_id, branch_id, scope, owner_id, owner_name, name, kind, phone_masked,
                 id_number_masked, village, lat, lng, tier, lifecycle, last_visit_at, next_follow_up_at,
                 open_leads, created_at, tags
             FROM rm_customers WHERE customer_id = $1",
            &[&customer_id],
        )?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(CustomerRm {
            customer_id: r.try_get(0)?,
            branch_id: r.try_get(1)?,
            scope: r.try_get(2)?,
            owner_id: r.try_get(3)?,
            owner_name: r.try_get(4)?,
            name: r.try_get(5)?,
            kind: r.try_get(6)?,
            phone_masked: r.try_get(7)?,
            id_number_masked: r.try_get(8)?,
            village: r.try_get(9)?,
            lat: r.try_get(10)?,
            lng: r.try_get(11)?,
            tier: r.try_get(12)?,
            lifecycle: r.try_get(13)?,
            last_visit_at: r.try_get(14)?,
            next_follow_up_at: r.try_get(15)?,
            open_leads: r.try_get(16)?,
            created_at: r.try_get(17)?,
            tags: r.try_get(18)?,
        }))
    }

    fn visit_photos(&self, customer_id: &str, visit_id: &str) -> StoreResult<Vec<String>> {
        let rows = self.query(
            "SELECT hash FROM rm_visit_photos WHERE customer_id = $1 AND visit_id = $2 ORDER BY hash",
            &[&customer_id, &visit_id],
        )?;
        Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
    }

    fn visit_leads(&self, customer_id: &str, visit_id: &str) -> StoreResult<Vec<LeadRm>> {
        let rows = self.query(
            concat!(
                "SELECT ",
                lead_columns!(),
                " FROM rm_leads WHERE customer_id = $1 AND visit_id = $2 ORDER BY created_at, lead_id"
            ),
            &[&customer_id, &visit_id],
        )?;
        rows.iter().map(lead_row).collect()
    }

    fn customer_leads(&self, customer_id: &str) -> StoreResult<Vec<LeadRm>> {
        let rows = self.query(
            concat!(
                "SELECT ",
                lead_columns!(),
                " FROM rm_leads WHERE customer_id = $1 ORDER BY created_at DESC, lead_id"
            ),
            &[&customer_id],
        )?;
        rows.iter().map(lead_row).collect()
    }

    fn audit_page(&self, branch_id: &str, offset: usize, limit: usize) -> StoreResult<Vec<AuditRow>> {
        let (limit, offset) = (sql_limit(limit), sql_offset(offset));
        let rows = self.query(
            "SELECT a.at, u.display_name, a.action, a.subject FROM audit a JOIN users u ON u.id = a.actor
             WHERE u.branch_id = $1 ORDER BY a.seq DESC LIMIT $2 OFFSET $3",
            &[&branch_id, &limit, &offset],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    at: r.try_get(0)?,
                    actor_name: r.try_get(1)?,
                    action: r.try_get(2)?,
                    subject: r.try_get(3)?,
                })
            })
            .collect()
    }

    fn customer_visits(&self, customer_id: &str, limit: usize) -> StoreResult<Vec<VisitListRow>> {
        let limit = sql_limit(limit);
        let rows = self.query(
            concat!(
                "SELECT ",
                list_columns!(),
                " FROM rm_visits v LEFT JOIN rm_customers c ON c.customer_id = v.customer_id
                 WHERE v.customer_id = $1 ORDER BY v.at DESC, v.visit_id DESC LIMIT $2"
            ),
            &[&customer_id, &limit],
        )?;
        list_rows(&rows)
    }

    fn visits_per_day(&self, branch_id: &str, first: i64, last: i64) -> StoreResult<Vec<(String, i64, i64)>> {
        // SQLite scans `rm_visit_days_branch` (branch, day, then the key's manager) and sorts:
        // managers of one name keep their IDs' order.
        let rows = self.query(
            "SELECT manager_name, day, visits FROM rm_visit_days WHERE branch_id = $1 AND day >= $2 AND day <= $3
             ORDER BY manager_name, day, manager_id",
            &[&branch_id, &first, &last],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    fn village_coverage(&self, branch_id: &str, since_30: i64, since_90: i64) -> StoreResult<Vec<VillageCoverage>> {
        // SQLite's comparisons are 0 or 1 and its `1.0 * … / count(*)` a double division: the same
        // ratio here, in DOUBLE PRECISION.
        let rows = self.query(
            "SELECT village, count(*),
                 sum(CASE WHEN coalesce(last_visit_at, 0) >= $2 THEN 1 ELSE 0 END)::BIGINT,
                 sum(CASE WHEN coalesce(last_visit_at, 0) >= $3 THEN 1 ELSE 0 END)::BIGINT
             FROM rm_customers WHERE branch_id = $1 AND scope <> 'closed'
             GROUP BY village
             ORDER BY sum(CASE WHEN coalesce(last_visit_at, 0) >= $3 THEN 1 ELSE 0 END)::DOUBLE PRECISION
                 / count(*), village",
            &[&branch_id, &since_30, &since_90],
        )?;
        rows.iter()
            .map(|r| {
                Ok(VillageCoverage {
                    village: r.try_get(0)?,
                    customers: r.try_get(1)?,
                    visited_30: r.try_get(2)?,
                    visited_90: r.try_get(3)?,
                })
            })
            .collect()
    }

    fn lead_funnel(&self, branch_id: &str) -> StoreResult<Vec<(String, i64, i64)>> {
        // SQLite groups along `rm_leads_branch` (branch, stage): stages in order. Its `total()` is
        // the exact sum as a double (read back with `as`), which this is too.
        let rows = self.query(
            "SELECT stage, count(*), coalesce(sum(amount_fen), 0)::DOUBLE PRECISION FROM rm_leads
             WHERE branch_id = $1 GROUP BY stage ORDER BY stage",
            &[&branch_id],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<_, f64>(2)? as i64))).collect()
    }

    fn overdue_per_manager(&self, branch_id: &str, now: i64) -> StoreResult<Vec<(String, i64)>> {
        // SQLite (3.53) groups in the direction of the ORDER BY's one term: owners descending, NULL
        // last, which its stable sorter keeps among equal counts. Its `owner_name` is a bare
        // column: the group's first row along `rm_customers_overdue` (follow-up date, owner,
        // name, scope, then the key).
        let rows = self.query(
            "SELECT coalesce((array_agg(owner_name ORDER BY next_follow_up_at, owner_name NULLS FIRST, scope,
                     customer_id))[1], ''),
                 count(*)
             FROM rm_customers
             WHERE branch_id = $1 AND next_follow_up_at < $2 AND scope <> 'closed'
             GROUP BY owner_id ORDER BY count(*) DESC, owner_id DESC NULLS LAST",
            &[&branch_id, &now],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn manager_day(&self, branch_id: &str, manager_id: &str, from: i64, to: i64) -> StoreResult<Vec<VisitListRow>> {
        // Ties of (at, visit) keep SQLite's scan of `rm_visits_manager_at` (manager, at, customer,
        // visit): by customer.
        let rows = self.query(
            concat!(
                "SELECT ",
                list_columns!(),
                " FROM rm_visits v LEFT JOIN rm_customers c ON c.customer_id = v.customer_id
                 WHERE v.manager_id = $1 AND v.branch_id = $2 AND v.at >= $3 AND v.at < $4 AND v.status <> 'planned'
                 ORDER BY v.at, v.visit_id, v.customer_id"
            ),
            &[&manager_id, &branch_id, &from, &to],
        )?;
        list_rows(&rows)
    }

    fn device_status(&self, branch_id: &str) -> StoreResult<Vec<DeviceStatus>> {
        let rows = self.query(
            "SELECT d.device_id, u.display_name, d.revoked_at IS NOT NULL, s.last_sync_at, s.app_version,
                 coalesce(s.refused_last, 0), coalesce(s.refused_total, 0)
             FROM devices d JOIN users u ON u.id = d.user_id LEFT JOIN device_syncs s ON s.device_id = d.device_id
             WHERE d.branch_id = $1 ORDER BY s.last_sync_at IS NULL, s.last_sync_at DESC NULLS LAST, d.device_id",
            &[&branch_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DeviceStatus {
                    device_id: r.try_get(0)?,
                    user_name: r.try_get(1)?,
                    revoked: r.try_get(2)?,
                    last_sync_at: r.try_get(3)?,
                    app_version: r.try_get(4)?,
                    refused_last: r.try_get(5)?,
                    refused_total: r.try_get(6)?,
                })
            })
            .collect()
    }

    fn branch_managers(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = self.query(
            "SELECT id, display_name FROM users WHERE branch_id = $1 AND role = 'manager' ORDER BY display_name, id",
            &[&branch_id],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn branch_outlets(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = self.query("SELECT id, name FROM outlets WHERE branch_id = $1 ORDER BY name, id", &[&branch_id])?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn manager_outlets(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>> {
        // SQLite scans `users` in rowid (insertion) order, which PostgreSQL does not keep; by ID
        // here (the one caller reads the pairs as a set).
        let rows = self.query(
            "SELECT id, outlet_id FROM users WHERE branch_id = $1 AND role = 'manager' AND outlet_id IS NOT NULL
             ORDER BY id",
            &[&branch_id],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn branch_villages(&self, branch_id: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .query("SELECT DISTINCT village FROM rm_customers WHERE branch_id = $1 ORDER BY village", &[&branch_id])?;
        Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
    }
}

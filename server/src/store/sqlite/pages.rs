//! [`PageQueries`] on SQLite, over the read models (schema v6). Filters become bound parameters,
//! never text in the SQL.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

use crate::read_model::evidence::Measures;
use crate::read_model::{CustomerRm, LeadRm, VisitRm};
use crate::store::StoreResult;
use crate::store::pages::{
    AuditRow, DeviceStatus, FlagFilter, PageQueries, VillageCoverage, VisitAfter, VisitFilter, VisitListRow, VisitSort,
};
use crate::store::read_models::ReadModelStore;

const LIST_COLUMNS: &str = "v.visit_id, v.customer_id, coalesce(c.name, ''), v.manager_id, v.manager_name, v.village, \
     v.purpose, v.channel, v.status, v.at, v.check_out_at, v.duration_s, v.distance_m, v.flags, v.review, \
     v.review_comment, v.photos, v.cost_fen, v.notes, v.in_lat, v.in_lng";

fn lead_row(r: &Row) -> rusqlite::Result<LeadRm> {
    Ok(LeadRm {
        lead_id: r.get(0)?,
        customer_id: r.get(1)?,
        branch_id: r.get(2)?,
        owner_id: r.get(3)?,
        product: r.get(4)?,
        stage: r.get(5)?,
        amount_fen: r.get(6)?,
        probability: r.get(7)?,
        expected_close: r.get(8)?,
        visit_id: r.get(9)?,
        created_by: r.get(10)?,
        created_at: r.get(11)?,
        won_at: r.get(12)?,
    })
}

fn list_row(r: &Row) -> rusqlite::Result<VisitListRow> {
    Ok(VisitListRow {
        visit_id: r.get(0)?,
        customer_id: r.get(1)?,
        customer_name: r.get(2)?,
        manager_id: r.get(3)?,
        manager_name: r.get(4)?,
        village: r.get(5)?,
        purpose: r.get(6)?,
        channel: r.get(7)?,
        status: r.get(8)?,
        at: r.get(9)?,
        check_out_at: r.get(10)?,
        duration_s: r.get(11)?,
        distance_m: r.get(12)?,
        flags: r.get(13)?,
        review: r.get(14)?,
        review_comment: r.get(15)?,
        photos: r.get(16)?,
        cost_fen: r.get(17)?,
        notes: r.get(18)?,
        in_lat: r.get(19)?,
        in_lng: r.get(20)?,
    })
}

/// The `FROM … WHERE … ORDER BY` of a visit list, and its parameters; `after` continues a newest
/// first list after that visit.
fn visit_query(filter: &VisitFilter, sort: VisitSort, after: Option<&VisitAfter>) -> (String, Vec<Value>) {
    let mut sql = String::from(
        " FROM rm_visits v LEFT JOIN rm_customers c ON c.customer_id = v.customer_id
          WHERE v.branch_id = ?1 AND v.status <> 'planned'",
    );
    let mut values = vec![Value::Text(filter.branch_id.clone())];
    let mut add = |clause: &str, value: Value| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(m) = &filter.manager_id {
        add(" AND v.manager_id = ?", Value::Text(m.clone()));
    }
    if let Some(o) = &filter.outlet_id {
        add(" AND v.manager_id IN (SELECT id FROM users WHERE outlet_id = ?)", Value::Text(o.clone()));
    }
    if let Some(village) = &filter.village {
        add(" AND v.village = ?", Value::Text(village.clone()));
    }
    if let Some(from) = filter.from {
        add(" AND v.at >= ?", Value::Integer(from));
    }
    if let Some(to) = filter.to {
        add(" AND v.at < ?", Value::Integer(to));
    }
    if let Some(p) = &filter.purpose {
        add(" AND v.purpose = ?", Value::Text(p.clone()));
    }
    if let Some(r) = &filter.review {
        add(" AND v.review = ?", Value::Text(r.clone()));
    }
    if let FlagFilter::One(bit) = filter.flags {
        add(" AND (v.flags & ?) <> 0", Value::Integer(bit));
    }
    if let Some((at, customer_id, visit_id)) = after {
        // A row value: the index on (branch, at) continues from here (it holds the key after `at`).
        add(" AND (v.at, v.customer_id, v.visit_id) < (?", Value::Integer(*at));
        add(", ?", Value::Text(customer_id.clone()));
        add(", ?)", Value::Text(visit_id.clone()));
    }
    match filter.flags {
        FlagFilter::Flagged => sql.push_str(" AND v.flags <> 0"),
        FlagFilter::Clean => sql.push_str(" AND v.flags = 0"),
        FlagFilter::Any | FlagFilter::One(_) => {}
    }
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

impl PageQueries for Connection {
    fn visit_page(
        &self,
        filter: &VisitFilter,
        sort: VisitSort,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Vec<VisitListRow>> {
        let (query, mut values) = visit_query(filter, sort, None);
        values.push(Value::Integer(limit as i64));
        values.push(Value::Integer(offset as i64));
        let sql = format!("SELECT {LIST_COLUMNS}{query} LIMIT ?{} OFFSET ?{}", values.len() - 1, values.len());
        let mut stmt = self.prepare_cached(&sql)?;
        Ok(stmt.query_map(params_from_iter(values), list_row)?.collect::<Result<_, _>>()?)
    }

    fn visits_after(
        &self,
        filter: &VisitFilter,
        after: Option<&VisitAfter>,
        limit: usize,
    ) -> StoreResult<Vec<VisitListRow>> {
        let (query, mut values) = visit_query(filter, VisitSort::Newest, after);
        values.push(Value::Integer(limit as i64));
        let sql = format!("SELECT {LIST_COLUMNS}{query} LIMIT ?{}", values.len());
        let mut stmt = self.prepare_cached(&sql)?;
        Ok(stmt.query_map(params_from_iter(values), list_row)?.collect::<Result<_, _>>()?)
    }

    fn visit_detail(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<(VisitRm, Measures, i64)>> {
        let Some(row) = self.rm_visit(customer_id, visit_id)? else { return Ok(None) };
        let (travel_kmh, photo_reused, clock_offset_ms, flags): (Option<f64>, bool, Option<i64>, i64) = self
            .prepare_cached(
                "SELECT travel_kmh, photo_reused, clock_offset_ms, flags FROM rm_visits
                 WHERE customer_id = ?1 AND visit_id = ?2",
            )?
            .query_row([customer_id, visit_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        let measures = Measures { travel_kmh, photo_reused, clock_offset_ms, ..row.measures() };
        Ok(Some((row, measures, flags)))
    }

    fn customer_row(&self, customer_id: &str) -> StoreResult<Option<CustomerRm>> {
        Ok(self
            .prepare_cached(
                "SELECT customer_id, branch_id, scope, owner_id, owner_name, name, kind, phone_masked,
                     id_number_masked, village, lat, lng, tier, lifecycle, last_visit_at, next_follow_up_at,
                     open_leads, created_at, tags
                 FROM rm_customers WHERE customer_id = ?1",
            )?
            .query_row([customer_id], |r| {
                Ok(CustomerRm {
                    customer_id: r.get(0)?,
                    branch_id: r.get(1)?,
                    scope: r.get(2)?,
                    owner_id: r.get(3)?,
                    owner_name: r.get(4)?,
                    name: r.get(5)?,
                    kind: r.get(6)?,
                    phone_masked: r.get(7)?,
                    id_number_masked: r.get(8)?,
                    village: r.get(9)?,
                    lat: r.get(10)?,
                    lng: r.get(11)?,
                    tier: r.get(12)?,
                    lifecycle: r.get(13)?,
                    last_visit_at: r.get(14)?,
                    next_follow_up_at: r.get(15)?,
                    open_leads: r.get(16)?,
                    created_at: r.get(17)?,
                    tags: r.get(18)?,
                })
            })
            .optional()?)
    }

    fn visit_photos(&self, customer_id: &str, visit_id: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .prepare_cached("SELECT hash FROM rm_visit_photos WHERE customer_id = ?1 AND visit_id = ?2 ORDER BY hash")?
            .query_map([customer_id, visit_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn visit_leads(&self, customer_id: &str, visit_id: &str) -> StoreResult<Vec<LeadRm>> {
        Ok(self
            .prepare_cached(
                "SELECT lead_id, customer_id, branch_id, owner_id, product, stage, amount_fen, probability,
                     expected_close, visit_id, created_by, created_at, won_at
                 FROM rm_leads WHERE customer_id = ?1 AND visit_id = ?2 ORDER BY created_at, lead_id",
            )?
            .query_map([customer_id, visit_id], lead_row)?
            .collect::<Result<_, _>>()?)
    }

    fn customer_leads(&self, customer_id: &str) -> StoreResult<Vec<LeadRm>> {
        Ok(self
            .prepare_cached(
                "SELECT lead_id, customer_id, branch_id, owner_id, product, stage, amount_fen, probability,
                     expected_close, visit_id, created_by, created_at, won_at
                 FROM rm_leads WHERE customer_id = ?1 ORDER BY created_at DESC, lead_id",
            )?
            .query_map([customer_id], lead_row)?
            .collect::<Result<_, _>>()?)
    }

    fn audit_page(&self, branch_id: &str, offset: usize, limit: usize) -> StoreResult<Vec<AuditRow>> {
        Ok(self
            .prepare_cached(
                "SELECT a.at, u.display_name, a.action, a.subject FROM audit a JOIN users u ON u.id = a.actor
                 WHERE u.branch_id = ?1 ORDER BY a.seq DESC LIMIT ?2 OFFSET ?3",
            )?
            .query_map(rusqlite::params![branch_id, limit as i64, offset as i64], |r| {
                Ok(AuditRow { at: r.get(0)?, actor_name: r.get(1)?, action: r.get(2)?, subject: r.get(3)? })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn customer_visits(&self, customer_id: &str, limit: usize) -> StoreResult<Vec<VisitListRow>> {
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM rm_visits v LEFT JOIN rm_customers c ON c.customer_id = v.customer_id
             WHERE v.customer_id = ?1 ORDER BY v.at DESC, v.visit_id DESC LIMIT ?2"
        );
        Ok(self
            .prepare_cached(&sql)?
            .query_map(rusqlite::params![customer_id, limit as i64], list_row)?
            .collect::<Result<_, _>>()?)
    }

    fn visits_per_day(&self, branch_id: &str, first: i64, last: i64) -> StoreResult<Vec<(String, i64, i64)>> {
        Ok(self
            .prepare_cached(
                "SELECT manager_name, day, visits FROM rm_visit_days WHERE branch_id = ?1 AND day >= ?2 AND day <= ?3
                 ORDER BY manager_name, day",
            )?
            .query_map(rusqlite::params![branch_id, first, last], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn village_coverage(&self, branch_id: &str, since_30: i64, since_90: i64) -> StoreResult<Vec<VillageCoverage>> {
        Ok(self
            .prepare_cached(
                "SELECT village, count(*), sum(coalesce(last_visit_at, 0) >= ?2), sum(coalesce(last_visit_at, 0) >= ?3)
                 FROM rm_customers WHERE branch_id = ?1 AND scope <> 'closed'
                 GROUP BY village ORDER BY 1.0 * sum(coalesce(last_visit_at, 0) >= ?3) / count(*), village",
            )?
            .query_map(rusqlite::params![branch_id, since_30, since_90], |r| {
                Ok(VillageCoverage {
                    village: r.get(0)?,
                    customers: r.get(1)?,
                    visited_30: r.get(2)?,
                    visited_90: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn lead_funnel(&self, branch_id: &str) -> StoreResult<Vec<(String, i64, i64)>> {
        Ok(self
            .prepare_cached(
                "SELECT stage, count(*), total(amount_fen) FROM rm_leads WHERE branch_id = ?1 GROUP BY stage",
            )?
            .query_map([branch_id], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as i64)))?
            .collect::<Result<_, _>>()?)
    }

    fn overdue_per_manager(&self, branch_id: &str, now: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(self
            .prepare_cached(
                "SELECT coalesce(owner_name, ''), count(*) FROM rm_customers
                 WHERE branch_id = ?1 AND next_follow_up_at < ?2 AND scope <> 'closed'
                 GROUP BY owner_id ORDER BY count(*) DESC",
            )?
            .query_map(rusqlite::params![branch_id, now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn manager_day(&self, branch_id: &str, manager_id: &str, from: i64, to: i64) -> StoreResult<Vec<VisitListRow>> {
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM rm_visits v LEFT JOIN rm_customers c ON c.customer_id = v.customer_id
             WHERE v.manager_id = ?1 AND v.branch_id = ?2 AND v.at >= ?3 AND v.at < ?4 AND v.status <> 'planned'
             ORDER BY v.at, v.visit_id"
        );
        Ok(self
            .prepare_cached(&sql)?
            .query_map(rusqlite::params![manager_id, branch_id, from, to], list_row)?
            .collect::<Result<_, _>>()?)
    }

    fn device_status(&self, branch_id: &str) -> StoreResult<Vec<DeviceStatus>> {
        Ok(self
            .prepare_cached(
                "SELECT d.device_id, u.display_name, d.revoked_at IS NOT NULL, s.last_sync_at, s.app_version,
                     coalesce(s.refused_last, 0), coalesce(s.refused_total, 0)
                 FROM devices d JOIN users u ON u.id = d.user_id LEFT JOIN device_syncs s ON s.device_id = d.device_id
                 WHERE d.branch_id = ?1 ORDER BY s.last_sync_at IS NULL, s.last_sync_at DESC, d.device_id",
            )?
            .query_map([branch_id], |r| {
                Ok(DeviceStatus {
                    device_id: r.get(0)?,
                    user_name: r.get(1)?,
                    revoked: r.get(2)?,
                    last_sync_at: r.get(3)?,
                    app_version: r.get(4)?,
                    refused_last: r.get(5)?,
                    refused_total: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn branch_managers(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(self
            .prepare_cached(
                "SELECT id, display_name FROM users WHERE branch_id = ?1 AND role = 'manager'
                 ORDER BY display_name, id",
            )?
            .query_map([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn branch_outlets(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(self
            .prepare_cached("SELECT id, name FROM outlets WHERE branch_id = ?1 ORDER BY name, id")?
            .query_map([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn manager_outlets(&self, branch_id: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(self
            .prepare_cached(
                "SELECT id, outlet_id FROM users WHERE branch_id = ?1 AND role = 'manager' AND outlet_id IS NOT NULL",
            )?
            .query_map([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn branch_villages(&self, branch_id: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .prepare_cached("SELECT DISTINCT village FROM rm_customers WHERE branch_id = ?1 ORDER BY village")?
            .query_map([branch_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }
}

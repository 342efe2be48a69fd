//! [`ReadModelStore`] on SQLite: tables `rm_customers`, `rm_visits`, `rm_visit_photos`,
//! `rm_leads`, `rm_reminders`, `visit_arrivals` and `branch_evidence_rules` (schema v6).

use fieldsync_core::domain::GeoPoint;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::read_model::evidence::{Measures, Rules};
use crate::read_model::{Arrival, ComplaintRm, CustomerRm, LeadRm, ReminderRm, VisitKey, VisitRef, VisitRm};
use crate::store::StoreResult;
use crate::store::read_models::{BranchTimes, CrossInputs, ReadModelStore};

/// The own columns of `rm_visits`, in [`VisitRm`]'s order (the key first: customer, visit).
const VISIT_COLUMNS: &str = "customer_id, visit_id, branch_id, manager_id, manager_name, village, status, purpose, \
     channel, at, planned_at, check_in_at, check_out_at, in_lat, in_lng, in_accuracy_m, out_lat, out_lng, distance_m, \
     duration_s, mock_location, after_the_fact, created_at, cost_fen, photos, notes, outcome, next_contact_at, \
     linked_leads, review, reviewed_at, reviewer_name, review_comment";

const CUSTOMER_COLUMNS: &str = "customer_id, branch_id, scope, owner_id, owner_name, name, kind, phone_masked, \
     id_number_masked, village, lat, lng, tier, lifecycle, last_visit_at, next_follow_up_at, open_leads, created_at, tags";

/// `INSERT … ON CONFLICT DO UPDATE` of `columns` (the first `key` of them are the key), rewriting
/// a row only when a value differs.
fn upsert_sql(table: &str, columns: &str, key: usize) -> String {
    let names: Vec<&str> = columns.split(',').map(str::trim).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let rest = &names[key..];
    let excluded: Vec<String> = rest.iter().map(|c| format!("excluded.{c}")).collect();
    format!(
        "INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET ({set}) = ({ex})
         WHERE ({set}) IS NOT ({ex})",
        cols = names.join(", "),
        marks = marks.join(", "),
        key = names[..key].join(", "),
        set = rest.join(", "),
        ex = excluded.join(", "),
    )
}

static VISIT_UPSERT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("rm_visits", VISIT_COLUMNS, 2));
static CUSTOMER_UPSERT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("rm_customers", CUSTOMER_COLUMNS, 1));
static LEAD_UPSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = "customer_id, lead_id, branch_id, owner_id, product, stage, amount_fen, probability, expected_close, \
                   visit_id, created_by, created_at, won_at";
    upsert_sql("rm_leads", columns, 2)
});
static REMINDER_UPSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    upsert_sql("rm_reminders", "customer_id, reminder_id, branch_id, owner_id, kind, due_at, done_at", 2)
});
static VISIT_SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {VISIT_COLUMNS} FROM rm_visits WHERE customer_id = ?1 AND visit_id = ?2")
});

fn visit_from_row(r: &Row) -> rusqlite::Result<VisitRm> {
    Ok(VisitRm {
        customer_id: r.get(0)?,
        visit_id: r.get(1)?,
        branch_id: r.get(2)?,
        manager_id: r.get(3)?,
        manager_name: r.get(4)?,
        village: r.get(5)?,
        status: r.get(6)?,
        purpose: r.get(7)?,
        channel: r.get(8)?,
        at: r.get(9)?,
        planned_at: r.get(10)?,
        check_in_at: r.get(11)?,
        check_out_at: r.get(12)?,
        in_lat: r.get(13)?,
        in_lng: r.get(14)?,
        in_accuracy_m: r.get(15)?,
        out_lat: r.get(16)?,
        out_lng: r.get(17)?,
        distance_m: r.get(18)?,
        duration_s: r.get(19)?,
        mock_location: r.get(20)?,
        after_the_fact: r.get(21)?,
        created_at: r.get(22)?,
        cost_fen: r.get(23)?,
        photos: r.get(24)?,
        notes: r.get(25)?,
        outcome: r.get(26)?,
        next_contact_at: r.get(27)?,
        linked_leads: r.get(28)?,
        review: r.get(29)?,
        reviewed_at: r.get(30)?,
        reviewer_name: r.get(31)?,
        review_comment: r.get(32)?,
    })
}

fn point(lat: Option<f64>, lng: Option<f64>) -> Option<GeoPoint> {
    Some(GeoPoint { lat: lat?, lng: lng?, accuracy_m: 0.0 })
}

impl ReadModelStore for Connection {
    fn rm_visit_keys(&self, customer_id: &str) -> StoreResult<Vec<VisitKey>> {
        let mut keys: Vec<VisitKey> = self
            .prepare_cached("SELECT visit_id, manager_id, at FROM rm_visits WHERE customer_id = ?1 ORDER BY visit_id")?
            .query_map([customer_id], |r| {
                Ok(VisitKey {
                    customer_id: customer_id.to_string(),
                    visit_id: r.get(0)?,
                    manager_id: r.get(1)?,
                    at: r.get(2)?,
                    photos: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut photos = self.prepare_cached(
            "SELECT visit_id, hash FROM rm_visit_photos WHERE customer_id = ?1 ORDER BY visit_id, hash",
        )?;
        let mut rows = photos.query([customer_id])?;
        while let Some(row) = rows.next()? {
            let visit_id = row.get_ref(0)?.as_str()?;
            if let Ok(i) = keys.binary_search_by(|k| k.visit_id.as_str().cmp(visit_id)) {
                keys[i].photos.push(row.get(1)?);
            }
        }
        Ok(keys)
    }

    fn rm_save_customer(&self, c: &CustomerRm) -> StoreResult<()> {
        self.prepare_cached(&CUSTOMER_UPSERT)?.execute(params![
            c.customer_id,
            c.branch_id,
            c.scope,
            c.owner_id,
            c.owner_name,
            c.name,
            c.kind,
            c.phone_masked,
            c.id_number_masked,
            c.village,
            c.lat,
            c.lng,
            c.tier,
            c.lifecycle,
            c.last_visit_at,
            c.next_follow_up_at,
            c.open_leads,
            c.created_at,
            c.tags,
        ])?;
        Ok(())
    }

    fn rm_save_visit(&self, v: &VisitRm) -> StoreResult<bool> {
        let changed = self.prepare_cached(&VISIT_UPSERT)?.execute(params![
            v.customer_id,
            v.visit_id,
            v.branch_id,
            v.manager_id,
            v.manager_name,
            v.village,
            v.status,
            v.purpose,
            v.channel,
            v.at,
            v.planned_at,
            v.check_in_at,
            v.check_out_at,
            v.in_lat,
            v.in_lng,
            v.in_accuracy_m,
            v.out_lat,
            v.out_lng,
            v.distance_m,
            v.duration_s,
            v.mock_location,
            v.after_the_fact,
            v.created_at,
            v.cost_fen,
            v.photos,
            v.notes,
            v.outcome,
            v.next_contact_at,
            v.linked_leads,
            v.review,
            v.reviewed_at,
            v.reviewer_name,
            v.review_comment,
        ])?;
        Ok(changed > 0)
    }

    fn rm_delete_visit(&self, customer_id: &str, visit_id: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM rm_visits WHERE customer_id = ?1 AND visit_id = ?2")?
            .execute([customer_id, visit_id])?;
        self.prepare_cached("DELETE FROM rm_visit_photos WHERE customer_id = ?1 AND visit_id = ?2")?
            .execute([customer_id, visit_id])?;
        Ok(())
    }

    fn rm_set_visit_photos(
        &self,
        customer_id: &str,
        visit_id: &str,
        branch_id: &str,
        hashes: &[String],
    ) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM rm_visit_photos WHERE customer_id = ?1 AND visit_id = ?2")?
            .execute([customer_id, visit_id])?;
        let mut insert = self.prepare_cached(
            "INSERT OR IGNORE INTO rm_visit_photos (hash, customer_id, visit_id, branch_id) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for hash in hashes {
            insert.execute(params![hash, customer_id, visit_id, branch_id])?;
        }
        Ok(())
    }

    fn rm_save_leads(&self, customer_id: &str, rows: &[LeadRm]) -> StoreResult<()> {
        let existing: Vec<String> = self
            .prepare_cached("SELECT lead_id FROM rm_leads WHERE customer_id = ?1")?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut delete = self.prepare_cached("DELETE FROM rm_leads WHERE customer_id = ?1 AND lead_id = ?2")?;
        for gone in existing.iter().filter(|id| !rows.iter().any(|r| &r.lead_id == *id)) {
            delete.execute([customer_id, gone.as_str()])?;
        }
        let mut upsert = self.prepare_cached(&LEAD_UPSERT)?;
        for l in rows {
            upsert.execute(params![
                l.customer_id,
                l.lead_id,
                l.branch_id,
                l.owner_id,
                l.product,
                l.stage,
                l.amount_fen,
                l.probability,
                l.expected_close,
                l.visit_id,
                l.created_by,
                l.created_at,
                l.won_at,
            ])?;
        }
        Ok(())
    }

    fn rm_save_reminders(&self, customer_id: &str, rows: &[ReminderRm]) -> StoreResult<()> {
        let existing: Vec<String> = self
            .prepare_cached("SELECT reminder_id FROM rm_reminders WHERE customer_id = ?1")?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut delete = self.prepare_cached("DELETE FROM rm_reminders WHERE customer_id = ?1 AND reminder_id = ?2")?;
        for gone in existing.iter().filter(|id| !rows.iter().any(|r| &r.reminder_id == *id)) {
            delete.execute([customer_id, gone.as_str()])?;
        }
        let mut upsert = self.prepare_cached(&REMINDER_UPSERT)?;
        for r in rows {
            upsert.execute(params![
                r.customer_id,
                r.reminder_id,
                r.branch_id,
                r.owner_id,
                r.kind,
                r.due_at,
                r.done_at
            ])?;
        }
        Ok(())
    }

    fn rm_save_complaints(&self, customer_id: &str, rows: &[ComplaintRm]) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM rm_complaints WHERE customer_id = ?1")?.execute([customer_id])?;
        let mut insert = self.prepare_cached(
            "INSERT INTO rm_complaints (customer_id, interaction_id, branch_id, owner_id, captured_at, resolved_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for c in rows {
            insert.execute(params![
                c.customer_id,
                c.interaction_id,
                c.branch_id,
                c.owner_id,
                c.captured_at,
                c.resolved_at
            ])?;
        }
        Ok(())
    }

    fn rm_delete_customer(&self, customer_id: &str) -> StoreResult<()> {
        for table in ["rm_visit_photos", "rm_visits", "rm_leads", "rm_reminders", "rm_complaints", "rm_customers"] {
            self.prepare_cached(&format!("DELETE FROM {table} WHERE customer_id = ?1"))?.execute([customer_id])?;
        }
        Ok(())
    }

    fn rm_record_arrival(&self, customer_id: &str, visit_id: &str, a: Arrival) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO visit_arrivals (customer_id, visit_id, device_id, received_at, clock_offset_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (customer_id, visit_id) DO UPDATE SET device_id = ?3, received_at = ?4, clock_offset_ms = ?5",
        )?
        .execute(params![customer_id, visit_id, a.device_id, a.received_at, a.clock_offset_ms])?;
        Ok(())
    }

    fn rm_followers(&self, manager_id: &str, at: i64, customer_id: &str, visit_id: &str) -> StoreResult<Vec<VisitRef>> {
        let mut stmt = self.prepare_cached(
            "SELECT customer_id, visit_id, status = 'completed' AND out_lat IS NOT NULL FROM rm_visits
             WHERE manager_id = ?1 AND (at, customer_id, visit_id) > (?2, ?3, ?4)
               AND channel = 'in_person' AND in_lat IS NOT NULL
             ORDER BY at, customer_id, visit_id",
        )?;
        let mut rows = stmt.query(params![manager_id, at, customer_id, visit_id])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push((row.get(0)?, row.get(1)?));
            if row.get::<_, bool>(2)? {
                break;
            }
        }
        Ok(out)
    }

    fn rm_photo_sharers(&self, hashes: &[String]) -> StoreResult<Vec<VisitRef>> {
        let mut stmt = self.prepare_cached("SELECT customer_id, visit_id FROM rm_visit_photos WHERE hash = ?1")?;
        let mut out = Vec::new();
        for hash in hashes {
            for id in stmt.query_map([hash], |r| Ok((r.get(0)?, r.get(1)?)))? {
                out.push(id?);
            }
        }
        Ok(out)
    }

    fn rm_cross_inputs(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<CrossInputs>> {
        let Some(row) = self.rm_visit(customer_id, visit_id)? else { return Ok(None) };
        let photo_reused: bool = self
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM rm_visit_photos a JOIN rm_visit_photos b
                     ON b.hash = a.hash AND (b.customer_id, b.visit_id) <> (a.customer_id, a.visit_id)
                        AND b.branch_id = a.branch_id
                 WHERE a.customer_id = ?1 AND a.visit_id = ?2)",
            )?
            .query_row([customer_id, visit_id], |r| r.get(0))?;
        let clock_offset_ms: Option<i64> = self
            .prepare_cached("SELECT clock_offset_ms FROM visit_arrivals WHERE customer_id = ?1 AND visit_id = ?2")?
            .query_row([customer_id, visit_id], |r| r.get(0))
            .optional()?
            .flatten();
        // Travel is judged between visits in person only (the followers' rule, `rm_followers`).
        let in_person = row.channel == fieldsync_core::domain::Channel::InPerson.code();
        let check_in = point(row.in_lat, row.in_lng).zip(row.check_in_at).filter(|_| in_person);
        let previous_check_out = if check_in.is_some() {
            self.prepare_cached(
                "SELECT out_lat, out_lng, check_out_at FROM rm_visits
                 WHERE manager_id = ?1 AND (at, customer_id, visit_id) < (?2, ?3, ?4)
                   AND channel = 'in_person' AND status = 'completed' AND out_lat IS NOT NULL
                 ORDER BY at DESC, customer_id DESC, visit_id DESC LIMIT 1",
            )?
            .query_row(params![row.manager_id, row.at, row.customer_id, row.visit_id], |r| {
                Ok(point(r.get(0)?, r.get(1)?).zip(r.get::<_, Option<i64>>(2)?))
            })
            .optional()?
            .flatten()
        } else {
            None
        };
        Ok(Some(CrossInputs {
            branch_id: row.branch_id.clone(),
            measures: Measures { photo_reused, clock_offset_ms, ..row.measures() },
            check_in,
            previous_check_out,
        }))
    }

    fn rm_set_cross(&self, customer_id: &str, visit_id: &str, m: &Measures, flags: i64) -> StoreResult<()> {
        self.prepare_cached(
            "UPDATE rm_visits SET travel_kmh = ?3, photo_reused = ?4, clock_offset_ms = ?5, flags = ?6
             WHERE customer_id = ?1 AND visit_id = ?2
               AND (travel_kmh, photo_reused, clock_offset_ms, flags) IS NOT (?3, ?4, ?5, ?6)",
        )?
        .execute(params![customer_id, visit_id, m.travel_kmh, m.photo_reused, m.clock_offset_ms, flags])?;
        Ok(())
    }

    fn rm_visit(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<VisitRm>> {
        Ok(self.prepare_cached(&VISIT_SELECT)?.query_row([customer_id, visit_id], visit_from_row).optional()?)
    }

    fn rm_flags(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .prepare_cached("SELECT flags FROM rm_visits WHERE customer_id = ?1 AND visit_id = ?2")?
            .query_row([customer_id, visit_id], |r| r.get(0))
            .optional()?)
    }

    fn rm_all_visits(&self) -> StoreResult<Vec<VisitRef>> {
        Ok(self
            .prepare("SELECT customer_id, visit_id FROM rm_visits")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn rm_branch_visits(&self, branch_id: &str) -> StoreResult<Vec<VisitRef>> {
        Ok(self
            .prepare("SELECT customer_id, visit_id FROM rm_visits WHERE branch_id = ?1")?
            .query_map([branch_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn rm_count_day(&self, branch_id: &str, manager_id: &str, from: i64, to: i64) -> StoreResult<(i64, String)> {
        Ok(self
            .prepare_cached(
                "SELECT count(*), coalesce(max(manager_name), '') FROM rm_visits
                 WHERE manager_id = ?1 AND at >= ?2 AND at < ?3 AND branch_id = ?4 AND status <> 'planned'",
            )?
            .query_row(params![manager_id, from, to, branch_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    fn rm_set_day(
        &self,
        branch_id: &str,
        manager_id: &str,
        day: i64,
        manager_name: &str,
        visits: i64,
    ) -> StoreResult<()> {
        if visits == 0 {
            self.prepare_cached("DELETE FROM rm_visit_days WHERE branch_id = ?1 AND manager_id = ?2 AND day = ?3")?
                .execute(params![branch_id, manager_id, day])?;
        } else {
            self.prepare_cached(
                "INSERT INTO rm_visit_days (branch_id, manager_id, day, manager_name, visits) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (branch_id, manager_id, day) DO UPDATE SET manager_name = ?4, visits = ?5
                 WHERE (manager_name, visits) IS NOT (?4, ?5)",
            )?
            .execute(params![branch_id, manager_id, day, manager_name, visits])?;
        }
        Ok(())
    }

    fn rm_visit_times(&self) -> StoreResult<Vec<BranchTimes>> {
        let mut stmt = self
            .prepare("SELECT branch_id, manager_id, at FROM rm_visits WHERE status <> 'planned' ORDER BY branch_id")?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<BranchTimes> = Vec::new();
        while let Some(row) = rows.next()? {
            let branch: String = row.get(0)?;
            if out.last().is_none_or(|(b, _)| *b != branch) {
                out.push((branch, Vec::new()));
            }
            if let Some((_, times)) = out.last_mut() {
                times.push((row.get(1)?, row.get(2)?));
            }
        }
        Ok(out)
    }

    fn rm_clear(&self) -> StoreResult<()> {
        self.execute_batch(
            "DELETE FROM rm_visit_photos; DELETE FROM rm_visits; DELETE FROM rm_leads; DELETE FROM rm_reminders;
             DELETE FROM rm_complaints; DELETE FROM rm_customers; DELETE FROM rm_visit_days;",
        )?;
        Ok(())
    }

    fn evidence_rules(&self, branch_id: &str) -> StoreResult<Rules> {
        Ok(self
            .prepare_cached("SELECT far_m, short_s, max_kmh, clock_s FROM branch_evidence_rules WHERE branch_id = ?1")?
            .query_row([branch_id], |r| {
                Ok(Rules { far_m: r.get(0)?, short_s: r.get(1)?, max_kmh: r.get(2)?, clock_s: r.get(3)? })
            })
            .optional()?
            .unwrap_or_default())
    }

    fn set_evidence_rules(&self, branch_id: &str, rules: &Rules) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO branch_evidence_rules (branch_id, far_m, short_s, max_kmh, clock_s) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (branch_id) DO UPDATE SET far_m = ?2, short_s = ?3, max_kmh = ?4, clock_s = ?5",
        )?
        .execute(params![branch_id, rules.far_m, rules.short_s, rules.max_kmh, rules.clock_s])?;
        Ok(())
    }
}

//! [`ReadModelStore`] on SQLite: tables `rm_customers`, `rm_visits`, `rm_visit_photos`,
//! `rm_leads`, `rm_reminders`, `visit_arrivals` and `branch_evidence_rules` (schema v6).

use fieldsync_core::domain::GeoPoint;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::read_model::evidence::{Measures, Rules};
use crate::read_model::{Arrival, CustomerRm, LeadRm, ReminderRm, VisitKey, VisitRm};
use crate::store::StoreResult;
use crate::store::read_models::{CrossInputs, ReadModelStore};

/// The own columns of `rm_visits`, in [`VisitRm`]'s order.
const VISIT_COLUMNS: &str = "visit_id, customer_id, branch_id, manager_id, manager_name, village, status, purpose, \
     channel, at, planned_at, check_in_at, check_out_at, in_lat, in_lng, in_accuracy_m, out_lat, out_lng, distance_m, \
     duration_s, mock_location, after_the_fact, created_at, cost_fen, photos, notes, outcome, next_contact_at, \
     linked_leads, review, reviewed_at, reviewer_name, review_comment";

const CUSTOMER_COLUMNS: &str = "customer_id, branch_id, scope, owner_id, owner_name, name, kind, phone_masked, \
     id_number_masked, village, lat, lng, tier, lifecycle, last_visit_at, next_follow_up_at, open_leads, created_at";

/// `INSERT … ON CONFLICT DO UPDATE` of `columns` (the first is the key), rewriting a row only
/// when a value differs.
fn upsert_sql(table: &str, columns: &str) -> String {
    let names: Vec<&str> = columns.split(',').map(str::trim).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let rest = &names[1..];
    let excluded: Vec<String> = rest.iter().map(|c| format!("excluded.{c}")).collect();
    format!(
        "INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET ({set}) = ({ex})
         WHERE ({set}) IS NOT ({ex})",
        cols = names.join(", "),
        marks = marks.join(", "),
        key = names[0],
        set = rest.join(", "),
        ex = excluded.join(", "),
    )
}

static VISIT_UPSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| upsert_sql("rm_visits", VISIT_COLUMNS));
static CUSTOMER_UPSERT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql("rm_customers", CUSTOMER_COLUMNS));
static VISIT_SELECT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {VISIT_COLUMNS} FROM rm_visits WHERE visit_id = ?1"));

fn visit_from_row(r: &Row) -> rusqlite::Result<VisitRm> {
    Ok(VisitRm {
        visit_id: r.get(0)?,
        customer_id: r.get(1)?,
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
                Ok(VisitKey { visit_id: r.get(0)?, manager_id: r.get(1)?, at: r.get(2)?, photos: Vec::new() })
            })?
            .collect::<Result<_, _>>()?;
        let mut photos = self.prepare_cached(
            "SELECT p.visit_id, p.hash FROM rm_visits v JOIN rm_visit_photos p ON p.visit_id = v.visit_id
             WHERE v.customer_id = ?1 ORDER BY p.visit_id, p.hash",
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
        ])?;
        Ok(())
    }

    fn rm_save_visit(&self, v: &VisitRm) -> StoreResult<bool> {
        let changed = self.prepare_cached(&VISIT_UPSERT)?.execute(params![
            v.visit_id,
            v.customer_id,
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

    fn rm_delete_visit(&self, visit_id: &str) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM rm_visits WHERE visit_id = ?1")?.execute([visit_id])?;
        self.prepare_cached("DELETE FROM rm_visit_photos WHERE visit_id = ?1")?.execute([visit_id])?;
        Ok(())
    }

    fn rm_set_visit_photos(&self, visit_id: &str, branch_id: &str, hashes: &[String]) -> StoreResult<()> {
        self.prepare_cached("DELETE FROM rm_visit_photos WHERE visit_id = ?1")?.execute([visit_id])?;
        let mut insert = self
            .prepare_cached("INSERT OR IGNORE INTO rm_visit_photos (hash, visit_id, branch_id) VALUES (?1, ?2, ?3)")?;
        for hash in hashes {
            insert.execute(params![hash, visit_id, branch_id])?;
        }
        Ok(())
    }

    fn rm_save_leads(&self, customer_id: &str, rows: &[LeadRm]) -> StoreResult<()> {
        let existing: Vec<String> = self
            .prepare_cached("SELECT lead_id FROM rm_leads WHERE customer_id = ?1")?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut delete = self.prepare_cached("DELETE FROM rm_leads WHERE lead_id = ?1")?;
        for gone in existing.iter().filter(|id| !rows.iter().any(|r| &r.lead_id == *id)) {
            delete.execute([gone])?;
        }
        let mut upsert = self.prepare_cached(
            "INSERT INTO rm_leads (lead_id, customer_id, branch_id, owner_id, product, stage, amount_fen, probability,
                 expected_close, visit_id, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (lead_id) DO UPDATE SET
                 (customer_id, branch_id, owner_id, product, stage, amount_fen, probability, expected_close, visit_id,
                  created_by, created_at)
               = (excluded.customer_id, excluded.branch_id, excluded.owner_id, excluded.product, excluded.stage,
                  excluded.amount_fen, excluded.probability, excluded.expected_close, excluded.visit_id,
                  excluded.created_by, excluded.created_at)
             WHERE (customer_id, branch_id, owner_id, product, stage, amount_fen, probability, expected_close,
                    visit_id, created_by, created_at)
             IS NOT (excluded.customer_id, excluded.branch_id, excluded.owner_id, excluded.product, excluded.stage,
                     excluded.amount_fen, excluded.probability, excluded.expected_close, excluded.visit_id,
                     excluded.created_by, excluded.created_at)",
        )?;
        for l in rows {
            upsert.execute(params![
                l.lead_id,
                l.customer_id,
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
            ])?;
        }
        Ok(())
    }

    fn rm_save_reminders(&self, customer_id: &str, rows: &[ReminderRm]) -> StoreResult<()> {
        let existing: Vec<String> = self
            .prepare_cached("SELECT reminder_id FROM rm_reminders WHERE customer_id = ?1")?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut delete = self.prepare_cached("DELETE FROM rm_reminders WHERE reminder_id = ?1")?;
        for gone in existing.iter().filter(|id| !rows.iter().any(|r| &r.reminder_id == *id)) {
            delete.execute([gone])?;
        }
        let mut upsert = self.prepare_cached(
            "INSERT INTO rm_reminders (reminder_id, customer_id, branch_id, owner_id, kind, due_at, done_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (reminder_id) DO UPDATE SET
                 (customer_id, branch_id, owner_id, kind, due_at, done_at)
               = (excluded.customer_id, excluded.branch_id, excluded.owner_id, excluded.kind, excluded.due_at,
                  excluded.done_at)
             WHERE (customer_id, branch_id, owner_id, kind, due_at, done_at)
             IS NOT (excluded.customer_id, excluded.branch_id, excluded.owner_id, excluded.kind, excluded.due_at,
                     excluded.done_at)",
        )?;
        for r in rows {
            upsert.execute(params![
                r.reminder_id,
                r.customer_id,
                r.branch_id,
                r.owner_id,
                r.kind,
                r.due_at,
                r.done_at
            ])?;
        }
        Ok(())
    }

    fn rm_delete_customer(&self, customer_id: &str) -> StoreResult<()> {
        self.prepare_cached(
            "DELETE FROM rm_visit_photos WHERE visit_id IN (SELECT visit_id FROM rm_visits WHERE customer_id = ?1)",
        )?
        .execute([customer_id])?;
        for table in ["rm_visits", "rm_leads", "rm_reminders", "rm_customers"] {
            self.prepare_cached(&format!("DELETE FROM {table} WHERE customer_id = ?1"))?.execute([customer_id])?;
        }
        Ok(())
    }

    fn rm_record_arrival(&self, visit_id: &str, a: Arrival) -> StoreResult<()> {
        self.prepare_cached(
            "INSERT INTO visit_arrivals (visit_id, device_id, received_at, clock_offset_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (visit_id) DO UPDATE SET device_id = ?2, received_at = ?3, clock_offset_ms = ?4",
        )?
        .execute(params![visit_id, a.device_id, a.received_at, a.clock_offset_ms])?;
        Ok(())
    }

    fn rm_followers(&self, manager_id: &str, at: i64, visit_id: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached(
            "SELECT visit_id, status = 'completed' AND out_lat IS NOT NULL FROM rm_visits
             WHERE manager_id = ?1 AND (at, visit_id) > (?2, ?3)
               AND channel = 'in_person' AND in_lat IS NOT NULL
             ORDER BY at, visit_id",
        )?;
        let mut rows = stmt.query(params![manager_id, at, visit_id])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(row.get(0)?);
            if row.get::<_, bool>(1)? {
                break;
            }
        }
        Ok(out)
    }

    fn rm_photo_sharers(&self, hashes: &[String]) -> StoreResult<Vec<String>> {
        let mut stmt = self.prepare_cached("SELECT visit_id FROM rm_visit_photos WHERE hash = ?1")?;
        let mut out = Vec::new();
        for hash in hashes {
            for id in stmt.query_map([hash], |r| r.get::<_, String>(0))? {
                out.push(id?);
            }
        }
        Ok(out)
    }

    fn rm_cross_inputs(&self, visit_id: &str) -> StoreResult<Option<CrossInputs>> {
        let Some(row) = self.rm_visit(visit_id)? else { return Ok(None) };
        let photo_reused: bool = self
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM rm_visit_photos a JOIN rm_visit_photos b
                     ON b.hash = a.hash AND b.visit_id <> a.visit_id AND b.branch_id = a.branch_id
                 WHERE a.visit_id = ?1)",
            )?
            .query_row([visit_id], |r| r.get(0))?;
        let clock_offset_ms: Option<i64> = self
            .prepare_cached("SELECT clock_offset_ms FROM visit_arrivals WHERE visit_id = ?1")?
            .query_row([visit_id], |r| r.get(0))
            .optional()?
            .flatten();
        // Travel is judged between visits in person only (the followers' rule, `rm_followers`).
        let in_person = row.channel == fieldsync_core::domain::Channel::InPerson.code();
        let check_in = point(row.in_lat, row.in_lng).zip(row.check_in_at).filter(|_| in_person);
        let previous_check_out = if check_in.is_some() {
            self.prepare_cached(
                "SELECT out_lat, out_lng, check_out_at FROM rm_visits
                 WHERE manager_id = ?1 AND (at, visit_id) < (?2, ?3)
                   AND channel = 'in_person' AND status = 'completed' AND out_lat IS NOT NULL
                 ORDER BY at DESC, visit_id DESC LIMIT 1",
            )?
            .query_row(params![row.manager_id, row.at, row.visit_id], |r| {
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

    fn rm_set_cross(&self, visit_id: &str, m: &Measures, flags: i64) -> StoreResult<()> {
        self.prepare_cached(
            "UPDATE rm_visits SET travel_kmh = ?2, photo_reused = ?3, clock_offset_ms = ?4, flags = ?5
             WHERE visit_id = ?1
               AND (travel_kmh, photo_reused, clock_offset_ms, flags) IS NOT (?2, ?3, ?4, ?5)",
        )?
        .execute(params![visit_id, m.travel_kmh, m.photo_reused, m.clock_offset_ms, flags])?;
        Ok(())
    }

    fn rm_visit(&self, visit_id: &str) -> StoreResult<Option<VisitRm>> {
        Ok(self.prepare_cached(&VISIT_SELECT)?.query_row([visit_id], visit_from_row).optional()?)
    }

    fn rm_flags(&self, visit_id: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .prepare_cached("SELECT flags FROM rm_visits WHERE visit_id = ?1")?
            .query_row([visit_id], |r| r.get(0))
            .optional()?)
    }

    fn rm_all_visits(&self) -> StoreResult<Vec<String>> {
        Ok(self.prepare("SELECT visit_id FROM rm_visits")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
    }

    fn rm_branch_visits(&self, branch_id: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .prepare("SELECT visit_id FROM rm_visits WHERE branch_id = ?1")?
            .query_map([branch_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn rm_clear(&self) -> StoreResult<()> {
        self.execute_batch(
            "DELETE FROM rm_visit_photos; DELETE FROM rm_visits; DELETE FROM rm_leads; DELETE FROM rm_reminders;
             DELETE FROM rm_customers;",
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

//! [`ReadModelStore`] on PostgreSQL, the twin of `store::sqlite::read_models`: tables
//! `rm_customers`, `rm_visits`, `rm_visit_photos`, `rm_leads`, `rm_reminders`, `rm_complaints`,
//! `rm_visit_days`, `visit_arrivals` and `branch_evidence_rules`.
//!
//! The upserts rewrite exactly the columns the SQLite store's do (a visit's own columns, never its
//! cross-document measures and flags), and only when a value differs. SQLite stores a NaN as NULL;
//! the real values written here do the same, so both stores read back what they were given alike.
//! Statements whose SQLite twin has no ORDER BY order their rows as SQLite's plan gives them.

use std::sync::LazyLock;

use fieldsync_core::domain::GeoPoint;
use tokio_postgres::Row;

use super::PgStore;
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
/// a row only when a value differs (so the count of rows changed says whether it did).
fn upsert_sql(table: &str, columns: &str, key: usize) -> String {
    let names: Vec<&str> = columns.split(',').map(str::trim).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let rest = &names[key..];
    let current: Vec<String> = rest.iter().map(|c| format!("{table}.{c}")).collect();
    let excluded: Vec<String> = rest.iter().map(|c| format!("excluded.{c}")).collect();
    format!(
        "INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET ({set}) = ROW({ex})
         WHERE ({current}) IS DISTINCT FROM ({ex})",
        cols = names.join(", "),
        marks = marks.join(", "),
        key = names[..key].join(", "),
        set = rest.join(", "),
        current = current.join(", "),
        ex = excluded.join(", "),
    )
}

static VISIT_UPSERT: LazyLock<String> = LazyLock::new(|| upsert_sql("rm_visits", VISIT_COLUMNS, 2));
static CUSTOMER_UPSERT: LazyLock<String> = LazyLock::new(|| upsert_sql("rm_customers", CUSTOMER_COLUMNS, 1));
static LEAD_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let columns = "customer_id, lead_id, branch_id, owner_id, product, stage, amount_fen, probability, expected_close, \
                   visit_id, created_by, created_at, won_at";
    upsert_sql("rm_leads", columns, 2)
});
static REMINDER_UPSERT: LazyLock<String> = LazyLock::new(|| {
    upsert_sql("rm_reminders", "customer_id, reminder_id, branch_id, owner_id, kind, due_at, done_at", 2)
});
static VISIT_SELECT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {VISIT_COLUMNS} FROM rm_visits WHERE customer_id = $1 AND visit_id = $2"));

/// A real value as SQLite stores it: NaN becomes NULL.
fn real(v: Option<f64>) -> Option<f64> {
    v.filter(|x| !x.is_nan())
}

/// A visit row as [`VISIT_COLUMNS`] lists its columns (also the pages' visit detail).
pub(super) fn visit_from_row(r: &Row) -> StoreResult<VisitRm> {
    Ok(VisitRm {
        customer_id: r.try_get(0)?,
        visit_id: r.try_get(1)?,
        branch_id: r.try_get(2)?,
        manager_id: r.try_get(3)?,
        manager_name: r.try_get(4)?,
        village: r.try_get(5)?,
        status: r.try_get(6)?,
        purpose: r.try_get(7)?,
        channel: r.try_get(8)?,
        at: r.try_get(9)?,
        planned_at: r.try_get(10)?,
        check_in_at: r.try_get(11)?,
        check_out_at: r.try_get(12)?,
        in_lat: r.try_get(13)?,
        in_lng: r.try_get(14)?,
        in_accuracy_m: r.try_get(15)?,
        out_lat: r.try_get(16)?,
        out_lng: r.try_get(17)?,
        distance_m: r.try_get(18)?,
        duration_s: r.try_get(19)?,
        mock_location: r.try_get::<_, i64>(20)? != 0,
        after_the_fact: r.try_get::<_, i64>(21)? != 0,
        created_at: r.try_get(22)?,
        cost_fen: r.try_get(23)?,
        photos: r.try_get(24)?,
        notes: r.try_get(25)?,
        outcome: r.try_get(26)?,
        next_contact_at: r.try_get(27)?,
        linked_leads: r.try_get(28)?,
        review: r.try_get(29)?,
        reviewed_at: r.try_get(30)?,
        reviewer_name: r.try_get(31)?,
        review_comment: r.try_get(32)?,
    })
}

fn point(lat: Option<f64>, lng: Option<f64>) -> Option<GeoPoint> {
    Some(GeoPoint { lat: lat?, lng: lng?, accuracy_m: 0.0 })
}

/// (customer, visit) rows.
fn visit_refs(rows: &[Row]) -> StoreResult<Vec<VisitRef>> {
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

impl ReadModelStore for PgStore<'_> {
    fn rm_visit_keys(&self, customer_id: &str) -> StoreResult<Vec<VisitKey>> {
        let mut keys = self
            .query(
                "SELECT visit_id, manager_id, at FROM rm_visits WHERE customer_id = $1 ORDER BY visit_id",
                &[&customer_id],
            )?
            .iter()
            .map(|r| {
                Ok(VisitKey {
                    customer_id: customer_id.to_string(),
                    visit_id: r.try_get(0)?,
                    manager_id: r.try_get(1)?,
                    at: r.try_get(2)?,
                    photos: Vec::new(),
                })
            })
            .collect::<StoreResult<Vec<VisitKey>>>()?;
        let photos = self.query(
            "SELECT visit_id, hash FROM rm_visit_photos WHERE customer_id = $1 ORDER BY visit_id, hash",
            &[&customer_id],
        )?;
        for row in &photos {
            let visit_id: &str = row.try_get(0)?;
            if let Ok(i) = keys.binary_search_by(|k| k.visit_id.as_str().cmp(visit_id)) {
                keys[i].photos.push(row.try_get(1)?);
            }
        }
        Ok(keys)
    }

    fn rm_save_customer(&self, c: &CustomerRm) -> StoreResult<()> {
        self.write(
            &CUSTOMER_UPSERT,
            &[
                &c.customer_id,
                &c.branch_id,
                &c.scope,
                &c.owner_id,
                &c.owner_name,
                &c.name,
                &c.kind,
                &c.phone_masked,
                &c.id_number_masked,
                &c.village,
                &real(c.lat),
                &real(c.lng),
                &c.tier,
                &c.lifecycle,
                &c.last_visit_at,
                &c.next_follow_up_at,
                &c.open_leads,
                &c.created_at,
                &c.tags,
            ],
        )?;
        Ok(())
    }

    fn rm_save_visit(&self, v: &VisitRm) -> StoreResult<bool> {
        let changed = self.execute(
            &VISIT_UPSERT,
            &[
                &v.customer_id,
                &v.visit_id,
                &v.branch_id,
                &v.manager_id,
                &v.manager_name,
                &v.village,
                &v.status,
                &v.purpose,
                &v.channel,
                &v.at,
                &v.planned_at,
                &v.check_in_at,
                &v.check_out_at,
                &real(v.in_lat),
                &real(v.in_lng),
                &real(v.in_accuracy_m),
                &real(v.out_lat),
                &real(v.out_lng),
                &real(v.distance_m),
                &v.duration_s,
                &i64::from(v.mock_location),
                &i64::from(v.after_the_fact),
                &v.created_at,
                &v.cost_fen,
                &v.photos,
                &v.notes,
                &v.outcome,
                &v.next_contact_at,
                &v.linked_leads,
                &v.review,
                &v.reviewed_at,
                &v.reviewer_name,
                &v.review_comment,
            ],
        )?;
        Ok(changed > 0)
    }

    fn rm_delete_visit(&self, customer_id: &str, visit_id: &str) -> StoreResult<()> {
        self.write("DELETE FROM rm_visits WHERE customer_id = $1 AND visit_id = $2", &[&customer_id, &visit_id])?;
        self.write("DELETE FROM rm_visit_photos WHERE customer_id = $1 AND visit_id = $2", &[&customer_id, &visit_id])?;
        Ok(())
    }

    fn rm_set_visit_photos(
        &self,
        customer_id: &str,
        visit_id: &str,
        branch_id: &str,
        hashes: &[String],
    ) -> StoreResult<()> {
        self.write("DELETE FROM rm_visit_photos WHERE customer_id = $1 AND visit_id = $2", &[&customer_id, &visit_id])?;
        for hash in hashes {
            self.write(
                "INSERT INTO rm_visit_photos (hash, customer_id, visit_id, branch_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[hash, &customer_id, &visit_id, &branch_id],
            )?;
        }
        Ok(())
    }

    fn rm_save_leads(&self, customer_id: &str, rows: &[LeadRm]) -> StoreResult<()> {
        let existing = self.query("SELECT lead_id FROM rm_leads WHERE customer_id = $1", &[&customer_id])?;
        for row in &existing {
            let id: &str = row.try_get(0)?;
            if !rows.iter().any(|r| r.lead_id == id) {
                self.write("DELETE FROM rm_leads WHERE customer_id = $1 AND lead_id = $2", &[&customer_id, &id])?;
            }
        }
        for l in rows {
            self.write(
                &LEAD_UPSERT,
                &[
                    &l.customer_id,
                    &l.lead_id,
                    &l.branch_id,
                    &l.owner_id,
                    &l.product,
                    &l.stage,
                    &l.amount_fen,
                    &l.probability,
                    &l.expected_close,
                    &l.visit_id,
                    &l.created_by,
                    &l.created_at,
                    &l.won_at,
                ],
            )?;
        }
        Ok(())
    }

    fn rm_save_reminders(&self, customer_id: &str, rows: &[ReminderRm]) -> StoreResult<()> {
        let existing = self.query("SELECT reminder_id FROM rm_reminders WHERE customer_id = $1", &[&customer_id])?;
        for row in &existing {
            let id: &str = row.try_get(0)?;
            if !rows.iter().any(|r| r.reminder_id == id) {
                self.write(
                    "DELETE FROM rm_reminders WHERE customer_id = $1 AND reminder_id = $2",
                    &[&customer_id, &id],
                )?;
            }
        }
        for r in rows {
            self.write(
                &REMINDER_UPSERT,
                &[&r.customer_id, &r.reminder_id, &r.branch_id, &r.owner_id, &r.kind, &r.due_at, &r.done_at],
            )?;
        }
        Ok(())
    }

    fn rm_save_complaints(&self, customer_id: &str, rows: &[ComplaintRm]) -> StoreResult<()> {
        self.write("DELETE FROM rm_complaints WHERE customer_id = $1", &[&customer_id])?;
        for c in rows {
            self.write(
                "INSERT INTO rm_complaints (customer_id, interaction_id, branch_id, owner_id, captured_at, resolved_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&c.customer_id, &c.interaction_id, &c.branch_id, &c.owner_id, &c.captured_at, &c.resolved_at],
            )?;
        }
        Ok(())
    }

    fn rm_delete_customer(&self, customer_id: &str) -> StoreResult<()> {
        for sql in [
            "DELETE FROM rm_visit_photos WHERE customer_id = $1",
            "DELETE FROM rm_visits WHERE customer_id = $1",
            "DELETE FROM rm_leads WHERE customer_id = $1",
            "DELETE FROM rm_reminders WHERE customer_id = $1",
            "DELETE FROM rm_complaints WHERE customer_id = $1",
            "DELETE FROM rm_customers WHERE customer_id = $1",
        ] {
            self.write(sql, &[&customer_id])?;
        }
        Ok(())
    }

    fn rm_record_arrival(&self, customer_id: &str, visit_id: &str, a: Arrival) -> StoreResult<()> {
        self.write(
            "INSERT INTO visit_arrivals (customer_id, visit_id, device_id, received_at, clock_offset_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (customer_id, visit_id) DO UPDATE SET device_id = $3, received_at = $4, clock_offset_ms = $5",
            &[&customer_id, &visit_id, &a.device_id, &a.received_at, &a.clock_offset_ms],
        )?;
        Ok(())
    }

    fn rm_followers(&self, manager_id: &str, at: i64, customer_id: &str, visit_id: &str) -> StoreResult<Vec<VisitRef>> {
        let rows = self.query(
            "SELECT customer_id, visit_id, status = 'completed' AND out_lat IS NOT NULL FROM rm_visits
             WHERE manager_id = $1 AND (at, customer_id, visit_id) > ($2, $3, $4)
               AND channel = 'in_person' AND in_lat IS NOT NULL
             ORDER BY at, customer_id, visit_id",
            &[&manager_id, &at, &customer_id, &visit_id],
        )?;
        let mut out = Vec::new();
        for row in &rows {
            out.push((row.try_get(0)?, row.try_get(1)?));
            if row.try_get::<_, bool>(2)? {
                break;
            }
        }
        Ok(out)
    }

    fn rm_photo_sharers(&self, hashes: &[String]) -> StoreResult<Vec<VisitRef>> {
        let mut out = Vec::new();
        for hash in hashes {
            // SQLite reads them along the primary key (hash, customer, visit).
            let rows = self.query(
                "SELECT customer_id, visit_id FROM rm_visit_photos WHERE hash = $1 ORDER BY customer_id, visit_id",
                &[hash],
            )?;
            out.extend(visit_refs(&rows)?);
        }
        Ok(out)
    }

    fn rm_cross_inputs(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<CrossInputs>> {
        let Some(row) = self.rm_visit(customer_id, visit_id)? else { return Ok(None) };
        let photo_reused: bool = self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM rm_visit_photos a JOIN rm_visit_photos b
                     ON b.hash = a.hash AND (b.customer_id, b.visit_id) <> (a.customer_id, a.visit_id)
                        AND b.branch_id = a.branch_id
                 WHERE a.customer_id = $1 AND a.visit_id = $2)",
                &[&customer_id, &visit_id],
            )?
            .try_get(0)?;
        let clock_offset_ms: Option<i64> = match self.query_opt(
            "SELECT clock_offset_ms FROM visit_arrivals WHERE customer_id = $1 AND visit_id = $2",
            &[&customer_id, &visit_id],
        )? {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        // Travel is judged between visits in person only (the followers' rule, `rm_followers`).
        let in_person = row.channel == fieldsync_core::domain::Channel::InPerson.code();
        let check_in = point(row.in_lat, row.in_lng).zip(row.check_in_at).filter(|_| in_person);
        let previous_check_out = if check_in.is_some() {
            let previous = self.query_opt(
                "SELECT out_lat, out_lng, check_out_at FROM rm_visits
                 WHERE manager_id = $1 AND (at, customer_id, visit_id) < ($2, $3, $4)
                   AND channel = 'in_person' AND status = 'completed' AND out_lat IS NOT NULL
                 ORDER BY at DESC, customer_id DESC, visit_id DESC LIMIT 1",
                &[&row.manager_id, &row.at, &row.customer_id, &row.visit_id],
            )?;
            match previous {
                Some(r) => point(r.try_get(0)?, r.try_get(1)?).zip(r.try_get::<_, Option<i64>>(2)?),
                None => None,
            }
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
        self.write(
            "UPDATE rm_visits SET travel_kmh = $3, photo_reused = $4, clock_offset_ms = $5, flags = $6
             WHERE customer_id = $1 AND visit_id = $2
               AND (travel_kmh, photo_reused, clock_offset_ms, flags) IS DISTINCT FROM ($3, $4, $5, $6)",
            &[&customer_id, &visit_id, &real(m.travel_kmh), &i64::from(m.photo_reused), &m.clock_offset_ms, &flags],
        )?;
        Ok(())
    }

    fn rm_visit(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<VisitRm>> {
        self.query_opt(&VISIT_SELECT, &[&customer_id, &visit_id])?.as_ref().map(visit_from_row).transpose()
    }

    fn rm_flags(&self, customer_id: &str, visit_id: &str) -> StoreResult<Option<i64>> {
        match self.query_opt(
            "SELECT flags FROM rm_visits WHERE customer_id = $1 AND visit_id = $2",
            &[&customer_id, &visit_id],
        )? {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    fn rm_all_visits(&self) -> StoreResult<Vec<VisitRef>> {
        // SQLite reads them along its covering index rm_visits_manager_at.
        let rows = self
            .query("SELECT customer_id, visit_id FROM rm_visits ORDER BY manager_id, at, customer_id, visit_id", &[])?;
        visit_refs(&rows)
    }

    fn rm_branch_visits(&self, branch_id: &str) -> StoreResult<Vec<VisitRef>> {
        // SQLite reads them along its covering index rm_visits_branch_at (then the primary key).
        let rows = self.query(
            "SELECT customer_id, visit_id FROM rm_visits WHERE branch_id = $1 ORDER BY at, customer_id, visit_id",
            &[&branch_id],
        )?;
        visit_refs(&rows)
    }

    fn rm_count_day(&self, branch_id: &str, manager_id: &str, from: i64, to: i64) -> StoreResult<(i64, String)> {
        let r = self.query_one(
            "SELECT count(*), coalesce(max(manager_name), '') FROM rm_visits
             WHERE manager_id = $1 AND at >= $2 AND at < $3 AND branch_id = $4 AND status <> 'planned'",
            &[&manager_id, &from, &to, &branch_id],
        )?;
        Ok((r.try_get(0)?, r.try_get(1)?))
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
            self.write(
                "DELETE FROM rm_visit_days WHERE branch_id = $1 AND manager_id = $2 AND day = $3",
                &[&branch_id, &manager_id, &day],
            )?;
        } else {
            self.write(
                "INSERT INTO rm_visit_days (branch_id, manager_id, day, manager_name, visits) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (branch_id, manager_id, day) DO UPDATE SET manager_name = $4, visits = $5
                 WHERE (rm_visit_days.manager_name, rm_visit_days.visits) IS DISTINCT FROM ($4, $5)",
                &[&branch_id, &manager_id, &day, &manager_name, &visits],
            )?;
        }
        Ok(())
    }

    fn rm_visit_times(&self) -> StoreResult<Vec<BranchTimes>> {
        // SQLite reads them along its covering index rm_visits_days (branch, at, manager, …).
        let rows = self.query(
            "SELECT branch_id, manager_id, at FROM rm_visits WHERE status <> 'planned'
             ORDER BY branch_id, at, manager_id",
            &[],
        )?;
        let mut out: Vec<BranchTimes> = Vec::new();
        for row in &rows {
            let branch: String = row.try_get(0)?;
            if out.last().is_none_or(|(b, _)| *b != branch) {
                out.push((branch, Vec::new()));
            }
            if let Some((_, times)) = out.last_mut() {
                times.push((row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(out)
    }

    fn rm_clear(&self) -> StoreResult<()> {
        self.batch(
            "DELETE FROM rm_visit_photos; DELETE FROM rm_visits; DELETE FROM rm_leads; DELETE FROM rm_reminders;
             DELETE FROM rm_complaints; DELETE FROM rm_customers; DELETE FROM rm_visit_days;",
        )
    }

    fn evidence_rules(&self, branch_id: &str) -> StoreResult<Rules> {
        self.remembered("branch_evidence_rules", "evidence rules", branch_id, || {
            match self.query_opt(
                "SELECT far_m, short_s, max_kmh, clock_s FROM branch_evidence_rules WHERE branch_id = $1",
                &[&branch_id],
            )? {
                Some(r) => Ok(Rules {
                    far_m: r.try_get(0)?,
                    short_s: r.try_get(1)?,
                    max_kmh: r.try_get(2)?,
                    clock_s: r.try_get(3)?,
                }),
                None => Ok(Rules::default()),
            }
        })
    }

    fn set_evidence_rules(&self, branch_id: &str, rules: &Rules) -> StoreResult<()> {
        self.execute(
            "INSERT INTO branch_evidence_rules (branch_id, far_m, short_s, max_kmh, clock_s) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (branch_id) DO UPDATE SET far_m = $2, short_s = $3, max_kmh = $4, clock_s = $5",
            &[&branch_id, &rules.far_m, &rules.short_s, &rules.max_kmh, &rules.clock_s],
        )?;
        Ok(())
    }
}

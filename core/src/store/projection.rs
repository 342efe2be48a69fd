//! Query tables derived from documents, written in the same transaction as each document write.
//!
//! [`Rows`] is a customer's projection as plain values. The device computes it from the typed
//! file; the server computes the same rows and ships them with a snapshot, so a new tablet shows
//! its customers without parsing every document first (the document is checked later, and its rows
//! rewritten from it). A local action rewrites only the rows it touched; a merge rewrites the
//! customer's rows; both must equal a rebuild from the documents alone (the property tests check).

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::domain::{CustomerFile, RecycleBasis, Touched, idcard};
use crate::error::Result;
use crate::search;

const TABLES: [&str; 4] = ["customers", "visits", "leads", "reminders"];

/// Every projection row of one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    pub customer: CustomerRow,
    pub visits: Vec<VisitRow>,
    pub leads: Vec<LeadRow>,
    pub reminders: Vec<ReminderRow>,
}

/// The customers row; the pinyin sort key and initials are derived from the name when inserted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub customer_id: String,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub id_number_masked: Option<String>,
    /// See `idcard::match_key`.
    pub id_number_key: Option<String>,
    pub village: String,
    pub tier: Option<String>,
    pub lifecycle: Option<String>,
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub created_by: String,
    pub last_visit_at: Option<i64>,
    pub next_follow_up_at: Option<i64>,
    pub open_leads: i64,
    /// What the customer's return to the pool is computed from (`None`: no rule returns it).
    pub recycle: Option<RecycleBasis>,
    /// Tags by hand and by the server's rules, sorted, each once.
    pub tags: Vec<String>,
    /// The oldest complaint not yet handled: (its ID, when it was recorded).
    #[serde(default)]
    pub open_complaint: Option<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRow {
    pub visit_id: String,
    pub manager_id: String,
    pub status: String,
    pub purpose: String,
    pub channel: String,
    pub planned_at: Option<i64>,
    pub check_in_at: Option<i64>,
    pub check_out_at: Option<i64>,
    pub next_contact_at: Option<i64>,
    pub cost_fen: i64,
    pub mock_location: bool,
    pub review: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRow {
    pub lead_id: String,
    pub stage: String,
    pub product: String,
    pub amount_fen: i64,
    pub probability: i64,
    pub expected_close: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderRow {
    pub reminder_id: String,
    pub kind: String,
    pub due_at: i64,
    pub done: bool,
}

impl Rows {
    pub fn of(file: &CustomerFile) -> Rows {
        Rows {
            customer: customer_row(file),
            visits: file.visits.keys().filter_map(|id| visit_row(file, id)).collect(),
            leads: file.leads.keys().filter_map(|id| lead_row(file, id)).collect(),
            reminders: file.reminders.keys().filter_map(|id| reminder_row(file, id)).collect(),
        }
    }
}

pub fn customer_row(file: &CustomerFile) -> CustomerRow {
    let p = &file.profile;
    let s = &file.server;
    let last = file.last_completed_visit();
    CustomerRow {
        customer_id: file.id.clone(),
        kind: p.kind.code().to_string(),
        name: p.name.clone(),
        phone: p.phone.clone(),
        id_number_masked: p.id_number.as_deref().map(idcard::mask),
        id_number_key: p.id_number.as_deref().map(idcard::match_key),
        village: p.village.clone(),
        tier: s.value_tier.map(|t| t.code().to_string()),
        lifecycle: s.lifecycle.map(|l| l.code().to_string()),
        owner_id: s.owner.manager_id.clone(),
        owner_name: s.owner.manager_name.clone(),
        created_by: file.created_by.clone(),
        last_visit_at: last.map(|v| v.when()),
        next_follow_up_at: last.and_then(|v| v.next_contact_at),
        open_leads: file.leads.values().filter(|l| l.stage.is_open()).count() as i64,
        recycle: RecycleBasis::of(file),
        tags: p
            .tags
            .0
            .iter()
            .chain(&s.auto_tags.0)
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        open_complaint: file
            .interactions
            .values()
            .filter(|i| i.is_open_complaint())
            .min_by_key(|i| (i.captured_at, i.id.as_str()))
            .map(|i| (i.id.clone(), i.captured_at)),
    }
}

fn visit_row(file: &CustomerFile, visit_id: &str) -> Option<VisitRow> {
    let v = file.visits.get(visit_id)?;
    Some(VisitRow {
        visit_id: v.id.clone(),
        manager_id: v.manager_id.clone(),
        status: v.status.code().to_string(),
        purpose: v.purpose.code().to_string(),
        channel: v.channel.code().to_string(),
        planned_at: v.planned_at,
        check_in_at: v.check_in.as_ref().map(|c| c.at),
        check_out_at: v.check_out.as_ref().map(|c| c.at),
        next_contact_at: v.next_contact_at,
        cost_fen: v.costs.total_fen(),
        mock_location: [&v.check_in, &v.check_out].iter().any(|c| c.as_ref().is_some_and(|c| c.mock_location)),
        review: file.reviews.get(&v.id).map(|r| r.decision.code().to_string()),
    })
}

fn lead_row(file: &CustomerFile, lead_id: &str) -> Option<LeadRow> {
    let l = file.leads.get(lead_id)?;
    Some(LeadRow {
        lead_id: l.id.clone(),
        stage: l.stage.code().to_string(),
        product: l.product.code().to_string(),
        amount_fen: l.amount_fen,
        probability: i64::from(l.probability),
        expected_close: l.expected_close,
        created_at: l.created_at,
    })
}

fn reminder_row(file: &CustomerFile, reminder_id: &str) -> Option<ReminderRow> {
    let r = file.reminders.get(reminder_id)?;
    Some(ReminderRow {
        reminder_id: r.id.clone(),
        kind: r.kind.code().to_string(),
        due_at: r.due_at,
        done: r.done_at.is_some(),
    })
}

/// Replaces every projection row of one customer with the rows of its file.
pub fn write(conn: &Connection, file: &CustomerFile) -> Result<()> {
    insert(conn, &Rows::of(file))
}

/// Replaces every projection row of one customer with `rows`.
pub fn insert(conn: &Connection, rows: &Rows) -> Result<()> {
    let id = &rows.customer.customer_id;
    delete(conn, id)?;
    conn.prepare_cached(
        "INSERT INTO customers (customer_id, kind, name, name_sort, name_initials, phone, id_number_masked,
             village, created_by, open_leads) VALUES (?1, '', '', '', '', NULL, NULL, '', '', 0)",
    )?
    .execute([id])?;
    let c = &rows.customer;
    update_identity(conn, c)?;
    update_server_fields(conn, c)?;
    update_summaries(conn, c)?;
    update_tags(conn, c)?;
    update_complaint(conn, c)?;
    for v in &rows.visits {
        upsert_visit(conn, id, v)?;
    }
    for l in &rows.leads {
        upsert_lead(conn, id, l)?;
    }
    for r in &rows.reminders {
        upsert_reminder(conn, id, r)?;
    }
    Ok(())
}

/// Rewrites only what one local action can have changed: fewer pages per durable write.
pub fn write_touched(conn: &Connection, file: &CustomerFile, touched: &Touched) -> Result<()> {
    match touched {
        Touched::Everything => write(conn, file)?,
        Touched::Profile => {
            let row = customer_row(file);
            update_identity(conn, &row)?;
            update_tags(conn, &row)?;
        }
        Touched::Server => {
            let row = customer_row(file);
            update_server_fields(conn, &row)?;
            update_recycle(conn, &row)?;
            update_tags(conn, &row)?;
        }
        Touched::Visit(id) | Touched::Review(id) => {
            if let Some(v) = visit_row(file, id) {
                upsert_visit(conn, &file.id, &v)?;
            }
            update_summaries(conn, &customer_row(file))?;
        }
        Touched::Lead(id) => {
            if let Some(l) = lead_row(file, id) {
                upsert_lead(conn, &file.id, &l)?;
            }
            update_summaries(conn, &customer_row(file))?;
        }
        Touched::Reminder(id) => {
            if let Some(r) = reminder_row(file, id) {
                upsert_reminder(conn, &file.id, &r)?;
            }
        }
        // An interaction resets the pool countdown; a complaint starts a service clock.
        Touched::Interaction(_) => {
            let row = customer_row(file);
            update_recycle(conn, &row)?;
            update_complaint(conn, &row)?;
        }
        // Contacts and intents are read from the document only.
        Touched::Contact(_) | Touched::Intent(_) => {}
    }
    Ok(())
}

fn update_identity(conn: &Connection, c: &CustomerRow) -> Result<()> {
    conn.prepare_cached(
        "UPDATE customers SET kind = ?2, name = ?3, name_sort = ?4, name_initials = ?5, phone = ?6,
             id_number_masked = ?7, village = ?8, created_by = ?9, id_key = ?10 WHERE customer_id = ?1",
    )?
    .execute(params![
        c.customer_id,
        c.kind,
        c.name,
        search::sort_key(&c.name),
        search::name_initials(&c.name),
        c.phone,
        c.id_number_masked,
        c.village,
        c.created_by,
        c.id_number_key,
    ])?;
    Ok(())
}

fn update_server_fields(conn: &Connection, c: &CustomerRow) -> Result<()> {
    conn.prepare_cached(
        "UPDATE customers SET tier = ?2, lifecycle = ?3, owner_id = ?4, owner_name = ?5 WHERE customer_id = ?1",
    )?
    .execute(params![c.customer_id, c.tier, c.lifecycle, c.owner_id, c.owner_name])?;
    Ok(())
}

fn update_summaries(conn: &Connection, c: &CustomerRow) -> Result<()> {
    conn.prepare_cached(
        "UPDATE customers SET last_visit_at = ?2, next_follow_up_at = ?3, open_leads = ?4 WHERE customer_id = ?1",
    )?
    .execute(params![c.customer_id, c.last_visit_at, c.next_follow_up_at, c.open_leads])?;
    update_recycle(conn, c)
}

fn update_tags(conn: &Connection, c: &CustomerRow) -> Result<()> {
    let tags = serde_json::to_string(&c.tags).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached("UPDATE customers SET tags = ?2 WHERE customer_id = ?1")?
        .execute(params![c.customer_id, tags])?;
    Ok(())
}

fn update_complaint(conn: &Connection, c: &CustomerRow) -> Result<()> {
    let (id, at) = c.open_complaint.as_ref().map(|(id, at)| (Some(id), Some(at))).unwrap_or_default();
    conn.prepare_cached("UPDATE customers SET complaint_id = ?2, complaint_at = ?3 WHERE customer_id = ?1")?
        .execute(params![c.customer_id, id, at])?;
    Ok(())
}

fn update_recycle(conn: &Connection, c: &CustomerRow) -> Result<()> {
    let r = c.recycle.as_ref();
    conn.prepare_cached(
        "UPDATE customers SET recycle_from = ?2, recycle_lead_at = ?3, recycle_stage = ?4 WHERE customer_id = ?1",
    )?
    .execute(params![
        c.customer_id,
        r.map(|r| r.last_activity_at),
        r.and_then(|r| r.last_lead_progress_at),
        r.and_then(|r| r.top_open_stage).map(|s| s.code()),
    ])?;
    Ok(())
}

fn upsert_visit(conn: &Connection, customer_id: &str, v: &VisitRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO visits (customer_id, visit_id, manager_id, status, purpose, channel, planned_at,
             check_in_at, check_out_at, next_contact_at, cost_fen, mock_location, review)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        customer_id,
        v.visit_id,
        v.manager_id,
        v.status,
        v.purpose,
        v.channel,
        v.planned_at,
        v.check_in_at,
        v.check_out_at,
        v.next_contact_at,
        v.cost_fen,
        v.mock_location,
        v.review,
    ])?;
    Ok(())
}

fn upsert_lead(conn: &Connection, customer_id: &str, l: &LeadRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO leads (customer_id, lead_id, stage, product, amount_fen, probability,
             expected_close, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        customer_id,
        l.lead_id,
        l.stage,
        l.product,
        l.amount_fen,
        l.probability,
        l.expected_close,
        l.created_at
    ])?;
    Ok(())
}

fn upsert_reminder(conn: &Connection, customer_id: &str, r: &ReminderRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO reminders (customer_id, reminder_id, kind, due_at, done) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![customer_id, r.reminder_id, r.kind, r.due_at, r.done])?;
    Ok(())
}

pub fn delete(conn: &Connection, customer_id: &str) -> Result<()> {
    for table in TABLES {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE customer_id = ?1"))?.execute([customer_id])?;
    }
    Ok(())
}

/// Empties every projection table (before a full rebuild).
pub fn clear(conn: &Connection) -> Result<()> {
    for table in TABLES {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}

//! Query tables derived from documents. They are rewritten for a customer in the same transaction
//! as each document write, and can always be rebuilt from the documents alone.

use rusqlite::{Connection, params};

use crate::domain::{CustomerFile, idcard};
use crate::error::Result;
use crate::search;

const TABLES: [&str; 4] = ["customers", "visits", "leads", "reminders"];

/// Replaces every projection row of one customer.
pub fn write(conn: &Connection, file: &CustomerFile) -> Result<()> {
    delete(conn, &file.id)?;
    let p = &file.profile;
    let last_visit = file.last_completed_visit();
    let open_leads = file.leads.values().filter(|l| l.stage.is_open()).count() as i64;
    conn.prepare_cached(
        "INSERT INTO customers (customer_id, kind, name, name_sort, name_initials, phone, id_number_masked,
             village, tier, lifecycle, owner_id, owner_name, created_by, last_visit_at, next_follow_up_at, open_leads)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        file.id,
        p.kind.code(),
        p.name,
        search::sort_key(&p.name),
        search::name_initials(&p.name),
        p.phone,
        p.id_number.as_deref().map(idcard::mask),
        p.village,
        file.server.value_tier.map(|t| t.code()),
        file.server.lifecycle.map(|l| l.code()),
        file.server.owner.manager_id,
        file.server.owner.manager_name,
        file.created_by,
        last_visit.map(|v| v.when()),
        last_visit.and_then(|v| v.next_contact_at),
        open_leads,
    ])?;
    let mut visit = conn.prepare_cached(
        "INSERT INTO visits (customer_id, visit_id, manager_id, status, purpose, channel, planned_at, check_in_at,
             check_out_at, next_contact_at, cost_fen, mock_location, review)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for v in file.visits.values() {
        let mock = [&v.check_in, &v.check_out].iter().any(|c| c.as_ref().is_some_and(|c| c.mock_location));
        visit.execute(params![
            file.id,
            v.id,
            v.manager_id,
            v.status.code(),
            v.purpose.code(),
            v.channel.code(),
            v.planned_at,
            v.check_in.as_ref().map(|c| c.at),
            v.check_out.as_ref().map(|c| c.at),
            v.next_contact_at,
            v.costs.total_fen(),
            mock,
            file.reviews.get(&v.id).map(|r| r.decision.code()),
        ])?;
    }
    let mut lead = conn.prepare_cached(
        "INSERT INTO leads (customer_id, lead_id, stage, product, amount_fen, probability, expected_close, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for l in file.leads.values() {
        lead.execute(params![
            file.id,
            l.id,
            l.stage.code(),
            l.product.code(),
            l.amount_fen,
            l.probability,
            l.expected_close,
            l.created_at
        ])?;
    }
    let mut reminder = conn.prepare_cached(
        "INSERT INTO reminders (customer_id, reminder_id, kind, due_at, done) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in file.reminders.values() {
        reminder.execute(params![file.id, r.id, r.kind.code(), r.due_at, r.done_at.is_some()])?;
    }
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

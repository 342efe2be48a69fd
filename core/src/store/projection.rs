//! Query tables derived from documents, written in the same transaction as each document write.
//! A local action rewrites only the rows it touched; a merge rewrites the customer's rows; both
//! must equal a rebuild from the documents alone (checked by the property tests).

use rusqlite::{Connection, params};

use crate::domain::{CustomerFile, Touched, idcard};
use crate::error::Result;
use crate::search;

const TABLES: [&str; 4] = ["customers", "visits", "leads", "reminders"];

/// Replaces every projection row of one customer.
pub fn write(conn: &Connection, file: &CustomerFile) -> Result<()> {
    delete(conn, &file.id)?;
    conn.prepare_cached(
        "INSERT INTO customers (customer_id, kind, name, name_sort, name_initials, phone, id_number_masked,
             village, created_by, open_leads) VALUES (?1, '', '', '', '', NULL, NULL, '', '', 0)",
    )?
    .execute([&file.id])?;
    write_identity(conn, file)?;
    write_server_fields(conn, file)?;
    write_visit_summary(conn, file)?;
    write_lead_summary(conn, file)?;
    for id in file.visits.keys() {
        write_visit(conn, file, id)?;
    }
    for id in file.leads.keys() {
        write_lead(conn, file, id)?;
    }
    for id in file.reminders.keys() {
        write_reminder(conn, file, id)?;
    }
    Ok(())
}

/// Rewrites only what one local action can have changed: fewer pages per durable write.
pub fn write_touched(conn: &Connection, file: &CustomerFile, touched: &Touched) -> Result<()> {
    match touched {
        Touched::Everything => write(conn, file)?,
        Touched::Profile => write_identity(conn, file)?,
        Touched::Server => write_server_fields(conn, file)?,
        Touched::Visit(id) | Touched::Review(id) => {
            write_visit(conn, file, id)?;
            write_visit_summary(conn, file)?;
        }
        Touched::Lead(id) => {
            write_lead(conn, file, id)?;
            write_lead_summary(conn, file)?;
        }
        Touched::Reminder(id) => write_reminder(conn, file, id)?,
        // Contacts, interactions and intents are read from the document only.
        Touched::Contact(_) | Touched::Interaction(_) | Touched::Intent(_) => {}
    }
    Ok(())
}

fn write_identity(conn: &Connection, file: &CustomerFile) -> Result<()> {
    let p = &file.profile;
    conn.prepare_cached(
        "UPDATE customers SET kind = ?2, name = ?3, name_sort = ?4, name_initials = ?5, phone = ?6,
             id_number_masked = ?7, village = ?8, created_by = ?9 WHERE customer_id = ?1",
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
        file.created_by,
    ])?;
    Ok(())
}

fn write_server_fields(conn: &Connection, file: &CustomerFile) -> Result<()> {
    let s = &file.server;
    conn.prepare_cached(
        "UPDATE customers SET tier = ?2, lifecycle = ?3, owner_id = ?4, owner_name = ?5 WHERE customer_id = ?1",
    )?
    .execute(params![
        file.id,
        s.value_tier.map(|t| t.code()),
        s.lifecycle.map(|l| l.code()),
        s.owner.manager_id,
        s.owner.manager_name,
    ])?;
    Ok(())
}

fn write_visit_summary(conn: &Connection, file: &CustomerFile) -> Result<()> {
    let last = file.last_completed_visit();
    conn.prepare_cached("UPDATE customers SET last_visit_at = ?2, next_follow_up_at = ?3 WHERE customer_id = ?1")?
        .execute(params![file.id, last.map(|v| v.when()), last.and_then(|v| v.next_contact_at)])?;
    Ok(())
}

fn write_lead_summary(conn: &Connection, file: &CustomerFile) -> Result<()> {
    let open = file.leads.values().filter(|l| l.stage.is_open()).count() as i64;
    conn.prepare_cached("UPDATE customers SET open_leads = ?2 WHERE customer_id = ?1")?
        .execute(params![file.id, open])?;
    Ok(())
}

fn write_visit(conn: &Connection, file: &CustomerFile, visit_id: &str) -> Result<()> {
    let Some(v) = file.visits.get(visit_id) else { return Ok(()) };
    let mock = [&v.check_in, &v.check_out].iter().any(|c| c.as_ref().is_some_and(|c| c.mock_location));
    conn.prepare_cached(
        "INSERT OR REPLACE INTO visits (customer_id, visit_id, manager_id, status, purpose, channel, planned_at,
             check_in_at, check_out_at, next_contact_at, cost_fen, mock_location, review)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
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
    Ok(())
}

fn write_lead(conn: &Connection, file: &CustomerFile, lead_id: &str) -> Result<()> {
    let Some(l) = file.leads.get(lead_id) else { return Ok(()) };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO leads (customer_id, lead_id, stage, product, amount_fen, probability,
             expected_close, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        file.id,
        l.id,
        l.stage.code(),
        l.product.code(),
        l.amount_fen,
        l.probability,
        l.expected_close,
        l.created_at
    ])?;
    Ok(())
}

fn write_reminder(conn: &Connection, file: &CustomerFile, reminder_id: &str) -> Result<()> {
    let Some(r) = file.reminders.get(reminder_id) else { return Ok(()) };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO reminders (customer_id, reminder_id, kind, due_at, done) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![file.id, r.id, r.kind.code(), r.due_at, r.done_at.is_some()])?;
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

//! Reminders the server writes into the documents, so they are on the tablet before the day even
//! when it is offline: each customer's next birthday (lunar ones converted by
//! `fieldsync_core::domain::birthday`), written [`AHEAD_DAYS`] ahead by a sweep, and the product
//! events the core banking system reports (a deposit maturing, a dividend, a repayment), imported
//! as CSV and written at once. The tablet's "today" list merges them with its follow-ups and
//! planned visits (`fieldsync_core::store::Store::today`).

use fieldsync_core::domain::{Action, CustomerFile, Reminder, ReminderKind, birthday, china_today, idcard};
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::customers::{self, PushError};
use crate::policy::Scope;
use crate::stages::{ImportReport, RejectedLine};
use crate::store::{Store, StoreResult};

/// Days ahead of a birthday its reminder is written.
pub const AHEAD_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
/// Reminders fall due at 09:00 local time.
const AT_HOUR: i8 = 9;

/// The user recorded as having written what the server writes on its own.
pub const SERVER: &str = "reminders";

/// A server-written birthday reminder's ID: one per day it falls on.
fn birthday_id(day: Date) -> String {
    format!("birthday-{}", day.strftime("%Y%m%d"))
}

/// 09:00 on `day` in `tz`, UTC ms.
fn morning(day: Date, tz: &TimeZone) -> Option<i64> {
    day.at(AT_HOUR, 0, 0, 0).to_zoned(tz.clone()).ok().map(|z| z.timestamp().as_millisecond())
}

/// The birthday this file's next reminder is for: the first on or after the day after the last
/// birthday reminder written (or the file's creation, or `from`, whichever is later).
fn next_birthday(file: &CustomerFile, from: Option<Date>) -> Option<Date> {
    let b = file.profile.birthday.as_ref()?;
    let last_written = file
        .reminders
        .values()
        .filter(|r| r.kind == ReminderKind::Birthday && r.id.starts_with("birthday-"))
        .map(|r| china_today(r.due_at).tomorrow().unwrap_or(Date::MAX))
        .max();
    let after = [Some(china_today(file.created_at)), last_written, from].into_iter().flatten().max()?;
    birthday::next_on_or_after(b, after)
}

/// Records when the customer's next birthday reminder is to be written, in the caller's
/// transaction (with every state).
pub fn record(store: &dyn Store, branch_id: &str, file: &CustomerFile, scope: &Scope) -> StoreResult<()> {
    let live = !matches!(scope, Scope::Deleted | Scope::Closed);
    // When to write it: China's morning of the day, 30 days ahead. The schedule needs no more
    // precision than that (the sweep computes the reminder's time in the branch's zone), so no
    // write looks the branch's zone up.
    let china = TimeZone::fixed(jiff::tz::offset(8));
    let write_at = live
        .then(|| next_birthday(file, None))
        .flatten()
        .and_then(|day| morning(day, &china))
        .map(|at| at - AHEAD_DAYS * DAY_MS);
    store.set_birthday_due(&file.id, branch_id, write_at)
}

/// The most customers one sweep writes a reminder to per branch.
pub const SWEEP_BATCH: u32 = 500;

/// Writes the birthday reminders due at `now` in a branch (a birthday already past is skipped for
/// the next one). Returns how many were written.
pub fn sweep(store: &dyn Store, branch_id: &str, now: i64) -> Result<usize, PushError> {
    let tz = crate::read_model::days::branch_zone(store, branch_id)?;
    let today = jiff::Timestamp::from_millisecond(now).map_err(|_| PushError::Internal)?.to_zoned(tz.clone()).date();
    let actor = store.server_actor()?;
    let mut written = 0;
    for customer_id in store.birthdays_due(branch_id, now, SWEEP_BATCH)? {
        let Some(meta) = store.document(&customer_id)?.filter(|m| m.branch_id == branch_id) else { continue };
        let Some(mut doc) = customers::load(store, &customer_id, &actor)? else { continue };
        let file = doc.file();
        let due = next_birthday(file, Some(today)).and_then(|day| Some((day, morning(day, &tz)?)));
        let Some((day, due_at)) = due.filter(|(_, at)| at - AHEAD_DAYS * DAY_MS <= now) else {
            // Not due after all (the birthday changed): the row is brought up to date.
            record(store, branch_id, file, &meta.scope)?;
            continue;
        };
        let b = file.profile.birthday.as_ref().ok_or(PushError::Internal)?;
        let note = if b.lunar {
            let leap = if b.leap_month { "闰" } else { "" };
            format!("生日（农历{leap}{}月{}日）/ birthday (lunar calendar)", b.month, b.day)
        } else {
            "生日 / birthday".to_string()
        };
        let reminder = Reminder { id: birthday_id(day), kind: ReminderKind::Birthday, due_at, note, done_at: None };
        let changes = customers::server_change(&mut doc, &Action::AddReminder { reminder }, SERVER, now)?;
        customers::commit_server_changes(store, branch_id, &doc, &meta.scope, &changes)?;
        written += 1;
    }
    Ok(written)
}

/// Why a product-event line is refused.
fn refused(line: u64, code: &'static str) -> RejectedLine {
    let (message_zh, message_en) = match code {
        "columns" => (
            "列数不对（应为 身份证号,类型,日期,产品,金额）",
            "wrong number of columns (id_number,kind,date,product,amount_yuan expected)",
        ),
        "id_number" => ("身份证号无效", "the ID number is not valid"),
        "kind" => {
            ("类型无效（应为 maturity、dividend 或 repayment）", "the kind is not maturity, dividend or repayment")
        }
        "date" => ("日期无效（应为 YYYY-MM-DD）", "the date is not valid (YYYY-MM-DD)"),
        "product" => ("产品名称为空或过长", "the product name is empty or too long"),
        "amount_yuan" => ("金额无效", "the amount is not valid"),
        _ => ("本支行没有该身份证号的客户", "no customer of the branch has this ID number"),
    };
    RejectedLine { line, code, message_zh, message_en }
}

/// Imports the core banking system's product events into `branch_id` (CSV, a header line
/// `id_number,kind,date,product,amount_yuan`; kind `maturity`, `dividend` or `repayment`): each
/// becomes a reminder on the customer at 09:00 that day, written now so the tablet has it ahead
/// of time. A line already imported changes nothing; a refused line is reported, the rest taken.
pub fn import_events(store: &dyn Store, branch_id: &str, csv: &[u8], now: i64) -> Result<ImportReport, PushError> {
    use sha2::{Digest, Sha256};
    let tz = crate::read_model::days::branch_zone(store, branch_id)?;
    let actor = store.server_actor()?;
    let mut report = ImportReport::default();
    for (line, record) in crate::stages::import_records(csv)? {
        let parsed = (|| {
            let record = record.ok_or("columns")?;
            if record.len() != 5 {
                return Err("columns");
            }
            let id = idcard::normalize(&record[0]);
            idcard::validate("id_number", &id).map_err(|_| "id_number")?;
            let kind = match &record[1] {
                "maturity" => ReminderKind::Maturity,
                "dividend" => ReminderKind::Dividend,
                "repayment" => ReminderKind::Repayment,
                _ => return Err("kind"),
            };
            let day: Date = record[2].parse().map_err(|_| "date")?;
            let due_at = morning(day, &tz).filter(|_| day.year() >= 2000).ok_or("date")?;
            let product = record[3].to_string();
            if product.is_empty() || product.chars().count() > 50 || product.chars().any(char::is_control) {
                return Err("product");
            }
            let amount = if record[4].is_empty() {
                None
            } else {
                Some(crate::stages::parse_yuan(&record[4]).ok_or("amount_yuan")?)
            };
            let customers =
                store.customers_with_id_key(branch_id, &idcard::match_key(&id)).map_err(|_| "no_customer")?;
            if customers.is_empty() {
                return Err("no_customer");
            }
            Ok((customers, kind, day, due_at, product, amount))
        })();
        let (customers, kind, day, due_at, product, amount) = match parsed {
            Ok(p) => p,
            Err(code) => {
                report.rejected.push(refused(line, code));
                continue;
            }
        };
        let digest: String = Sha256::digest(product.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
        let reminder_id = format!("{}-{}-{digest}", kind.code(), day.strftime("%Y%m%d"));
        let amount_text = amount.map(|fen| format!(" {}.{:02} 元", fen / 100, fen % 100)).unwrap_or_default();
        let note = format!("{product}{}{amount_text}", kind.label_zh());
        let mut changed = false;
        for customer_id in customers {
            let Some(meta) = store.document(&customer_id)?.filter(|m| m.scope != Scope::Deleted) else { continue };
            let Some(mut doc) = customers::load(store, &customer_id, &actor)? else { continue };
            if doc.file().reminders.contains_key(&reminder_id) {
                continue;
            }
            let reminder = Reminder { id: reminder_id.clone(), kind, due_at, note: note.clone(), done_at: None };
            let changes = customers::server_change(&mut doc, &Action::AddReminder { reminder }, SERVER, now)?;
            customers::commit_server_changes(store, branch_id, &doc, &meta.scope, &changes)?;
            changed = true;
        }
        if changed {
            report.imported += 1;
        } else {
            report.unchanged += 1;
        }
    }
    Ok(report)
}

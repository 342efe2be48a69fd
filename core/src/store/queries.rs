//! What a manager's screens read, served from the projection tables and paged.
//! Phone and ID numbers come back masked here; only the 360 view shows them whole.

use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use crate::domain::{
    Contact, CustomerFile, CustomerKind, Interaction, Lead, LeadStage, Lifecycle, OwnerChange, PoolRules, Problem,
    Product, RecycleBasis, RecycleDue, Reminder, ReminderKind, Review, ValidationError, ValueTier, Visit, VisitPurpose,
    VisitStatus, phone,
};
use crate::error::{Error, Result};

/// One page of results and the cursor for the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Which customers to list. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerFilter {
    pub village: Option<String>,
    /// Any of these villages (a manager's territory: `Store::my_villages`); empty: any.
    pub villages: Vec<String>,
    /// A tag, given by hand or by the server's rules (`60后`, `持有贷款`, `高净值`).
    pub tag: Option<String>,
    pub tier: Option<ValueTier>,
    pub lifecycle: Option<Lifecycle>,
    /// `Some(None)`: the public pool; `Some(Some(id))`: one manager's customers.
    pub owner: Option<Option<String>>,
    /// What a manager types: part of the name, its pinyin (full, initials, mixed: `zouyl`, `邹y`)
    /// or digits anywhere in the phone number; the best matches come first (see `search.rs`).
    pub search: Option<String>,
}

/// A customer in a list: masked personal data only.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CustomerSummary {
    pub customer_id: String,
    pub kind: CustomerKind,
    pub name: String,
    pub phone_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub village: String,
    pub tier: Option<ValueTier>,
    pub lifecycle: Option<Lifecycle>,
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub last_visit_at: Option<i64>,
    pub next_follow_up_at: Option<i64>,
    pub open_leads: i64,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VisitSummary {
    pub customer_id: String,
    pub customer_name: String,
    pub village: String,
    pub visit_id: String,
    pub status: VisitStatus,
    pub purpose: VisitPurpose,
    pub planned_at: Option<i64>,
    pub check_in_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LeadSummary {
    pub customer_id: String,
    pub customer_name: String,
    pub lead_id: String,
    pub stage: LeadStage,
    pub product: Product,
    pub amount_fen: i64,
    pub probability: u8,
    pub expected_close: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReminderSummary {
    pub customer_id: String,
    pub customer_name: String,
    pub reminder_id: String,
    pub kind: ReminderKind,
    pub due_at: i64,
}

/// One bar of the funnel: open leads at a stage (won and lost are counted too, for conversion).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FunnelStage {
    pub stage: LeadStage,
    pub count: i64,
    pub amount_fen: i64,
}

/// Everything about one customer, whole (not masked): opening it is a deliberate act.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer360 {
    pub file: CustomerFile,
    pub contacts: Vec<Contact>,
    /// Newest first.
    pub visits: Vec<Visit>,
    pub leads: Vec<Lead>,
    /// Open ones first, by due date.
    pub reminders: Vec<Reminder>,
    /// Newest first.
    pub interactions: Vec<Interaction>,
    /// Reviews with the visit they judge, newest visit first.
    pub reviews: Vec<(String, Review)>,
    /// Changes of owner, newest first.
    pub owner_history: Vec<OwnerChange>,
    /// When the customer returns to the pool if nothing happens first, under the rules the last
    /// sync brought (`None`: no rule returns it, or no rules yet).
    pub recycle: Option<RecycleDue>,
    /// Other customers on this tablet with the same ID number or phone.
    pub duplicates: Vec<DuplicateMatch>,
}

impl Customer360 {
    pub fn from_file(file: CustomerFile) -> Self {
        let contacts = file.contacts.values().cloned().collect();
        let mut visits: Vec<Visit> = file.visits.values().cloned().collect();
        visits.sort_by(|a, b| (b.when(), &b.id).cmp(&(a.when(), &a.id)));
        let mut leads: Vec<Lead> = file.leads.values().cloned().collect();
        leads.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let mut reminders: Vec<Reminder> = file.reminders.values().cloned().collect();
        reminders.sort_by_key(|r| (r.done_at.is_some(), r.due_at, r.id.clone()));
        let mut interactions: Vec<Interaction> = file.interactions.values().cloned().collect();
        interactions.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        let reviews =
            visits.iter().filter_map(|v| file.reviews.get(&v.id).map(|r| (v.id.clone(), r.clone()))).collect();
        let owner_history = file.server.owner_history.values().rev().cloned().collect();
        Customer360 {
            file,
            contacts,
            visits,
            leads,
            reminders,
            interactions,
            reviews,
            owner_history,
            recycle: None,
            duplicates: Vec::new(),
        }
    }
}

/// Page sizes are clamped to this.
pub const MAX_PAGE: u32 = 500;

fn limit(n: u32) -> i64 {
    i64::from(n.clamp(1, MAX_PAGE))
}

/// Cursors are `<sort value>\u{1}<id>`: opaque to callers, checked when given back.
fn encode_cursor(sort: &str, id: &str) -> String {
    format!("{sort}\u{1}{id}")
}

fn decode_cursor(cursor: &str) -> Result<(String, String)> {
    cursor
        .split_once('\u{1}')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| ValidationError::new("cursor", Problem::BadFormat).into())
}

/// A cursor whose sort value is a number; no cursor starts before every row.
fn decode_numeric_cursor(cursor: Option<&str>) -> Result<(i64, String)> {
    let Some(cursor) = cursor else { return Ok((i64::MIN, String::new())) };
    let (value, id) = decode_cursor(cursor)?;
    let value = value.parse().map_err(|_| Error::from(ValidationError::new("cursor", Problem::BadFormat)))?;
    Ok((value, id))
}

fn code<T>(row: &Row, idx: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| rusqlite::Error::InvalidColumnType(idx, "code".into(), rusqlite::types::Type::Text))
}

fn opt_code<T>(row: &Row, idx: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<Option<T>> {
    let s: Option<String> = row.get(idx)?;
    Ok(s.and_then(|s| parse(&s)))
}

const CUSTOMER_COLUMNS: &str = "c.customer_id, c.kind, c.name, c.phone, c.id_number_masked, c.village, c.tier,
    c.lifecycle, c.owner_id, c.owner_name, c.last_visit_at, c.next_follow_up_at, c.open_leads, c.name_sort";

fn customer_row(row: &Row) -> rusqlite::Result<(CustomerSummary, String)> {
    let phone: Option<String> = row.get(3)?;
    Ok((
        CustomerSummary {
            customer_id: row.get(0)?,
            kind: code(row, 1, CustomerKind::from_code)?,
            name: row.get(2)?,
            phone_masked: phone.as_deref().map(phone::mask),
            id_number_masked: row.get(4)?,
            village: row.get(5)?,
            tier: opt_code(row, 6, ValueTier::from_code)?,
            lifecycle: opt_code(row, 7, Lifecycle::from_code)?,
            owner_id: row.get(8)?,
            owner_name: row.get(9)?,
            last_visit_at: row.get(10)?,
            next_follow_up_at: row.get(11)?,
            open_leads: row.get(12)?,
        },
        row.get(13)?,
    ))
}

/// Customers matching `filter`, sorted by the pinyin of their names.
pub fn customers(
    conn: &Connection,
    filter: &CustomerFilter,
    page_size: u32,
    cursor: Option<&str>,
) -> Result<Page<CustomerSummary>> {
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(v) = &filter.village {
        clauses.push("c.village = ?");
        args.push(Value::Text(v.clone()));
    }
    if !filter.villages.is_empty() {
        clauses.push("c.village IN (SELECT value FROM json_each(?))");
        args.push(Value::Text(serde_json::to_string(&filter.villages).unwrap_or_default()));
    }
    if let Some(tag) = &filter.tag {
        clauses.push("EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ?)");
        args.push(Value::Text(tag.clone()));
    }
    if let Some(t) = filter.tier {
        clauses.push("c.tier = ?");
        args.push(Value::Text(t.code().into()));
    }
    if let Some(l) = filter.lifecycle {
        clauses.push("c.lifecycle = ?");
        args.push(Value::Text(l.code().into()));
    }
    match &filter.owner {
        Some(Some(owner)) => {
            clauses.push("c.owner_id = ?");
            args.push(Value::Text(owner.clone()));
        }
        Some(None) => clauses.push("c.owner_id IS NULL"),
        None => {}
    }
    // A search ranks rows by `fs_search_rank` (see `search.rs`, registered on every connection):
    // they are ordered, and paged, by rank and then name.
    let search = filter.search.as_deref().and_then(crate::search::normalize_query);
    let key = if search.is_some() { "(c.search_rank || c.name_sort)" } else { "c.name_sort" };
    if search.is_some() {
        clauses.push("c.search_rank IS NOT NULL");
    }
    if let Some(cursor) = cursor {
        let (sort, id) = decode_cursor(cursor)?;
        clauses.push(if search.is_some() {
            "((c.search_rank || c.name_sort), c.customer_id) > (?, ?)"
        } else {
            "(c.name_sort, c.customer_id) > (?, ?)"
        });
        args.push(Value::Text(sort));
        args.push(Value::Text(id));
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let n = limit(page_size);
    args.push(Value::Integer(n + 1));
    let from = match search {
        Some(q) => {
            args.insert(0, Value::Text(q));
            "(SELECT *, fs_search_rank(name, phone, ?) AS search_rank FROM customers) c"
        }
        None => "customers c",
    };
    let columns = CUSTOMER_COLUMNS.replace("c.name_sort", key);
    let sql = format!("SELECT {columns} FROM {from} {where_sql} ORDER BY {key}, c.customer_id LIMIT ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<(CustomerSummary, String)> =
        stmt.query_map(params_from_iter(args), customer_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(paged(rows, n, |(c, sort)| encode_cursor(sort, &c.customer_id), |(c, _)| c))
}

/// Keeps `n` rows and makes the next cursor from the last kept row if there were more.
fn paged<R, T>(mut rows: Vec<R>, n: i64, cursor: impl Fn(&R) -> String, item: impl Fn(R) -> T) -> Page<T> {
    let more = rows.len() as i64 > n;
    rows.truncate(n as usize);
    let next = if more { rows.last().map(&cursor) } else { None };
    Page { items: rows.into_iter().map(item).collect(), next }
}

/// Customers whose follow-up date (set at their latest completed visit) is before `now`, oldest first.
pub fn overdue_follow_ups(
    conn: &Connection,
    now: i64,
    page_size: u32,
    cursor: Option<&str>,
) -> Result<Page<CustomerSummary>> {
    let n = limit(page_size);
    let (after_due, after_id) = decode_numeric_cursor(cursor)?;
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers c
         WHERE c.next_follow_up_at IS NOT NULL AND c.next_follow_up_at < ?1
           AND (c.next_follow_up_at, c.customer_id) > (?2, ?3)
         ORDER BY c.next_follow_up_at, c.customer_id LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<(CustomerSummary, String)> = stmt
        .query_map(rusqlite::params![now, after_due, after_id, n + 1], customer_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(paged(
        rows,
        n,
        |(c, _)| encode_cursor(&c.next_follow_up_at.unwrap_or_default().to_string(), &c.customer_id),
        |(c, _)| c,
    ))
}

/// Today's plan for `manager_id`: visits planned in `[day_start, day_end)` and any visit in
/// progress, in planned order.
pub fn visits_planned(conn: &Connection, manager_id: &str, day_start: i64, day_end: i64) -> Result<Vec<VisitSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT v.customer_id, c.name, c.village, v.visit_id, v.status, v.purpose, v.planned_at, v.check_in_at
         FROM visits v JOIN customers c ON c.customer_id = v.customer_id
         WHERE v.manager_id = ?1 AND (v.status = 'in_progress'
               OR (v.planned_at >= ?2 AND v.planned_at < ?3 AND v.status IN ('planned', 'completed')))
         ORDER BY coalesce(v.planned_at, v.check_in_at), v.visit_id",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![manager_id, day_start, day_end], |row| {
            Ok(VisitSummary {
                customer_id: row.get(0)?,
                customer_name: row.get(1)?,
                village: row.get(2)?,
                visit_id: row.get(3)?,
                status: code(row, 4, VisitStatus::from_code)?,
                purpose: code(row, 5, VisitPurpose::from_code)?,
                planned_at: row.get(6)?,
                check_in_at: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The manager's visit in progress, if any: `(customer_id, visit_id)`.
pub fn visit_in_progress(conn: &Connection, manager_id: &str) -> Result<Option<(String, String)>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT customer_id, visit_id FROM visits WHERE manager_id = ?1 AND status = 'in_progress' LIMIT 1",
        )?
        .query_row([manager_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Reminders not done and due before `until` (overdue ones included), soonest first.
pub fn upcoming_reminders(
    conn: &Connection,
    until: i64,
    page_size: u32,
    cursor: Option<&str>,
) -> Result<Page<ReminderSummary>> {
    let n = limit(page_size);
    let (after_due, after_id) = decode_numeric_cursor(cursor)?;
    let mut stmt = conn.prepare_cached(
        "SELECT r.customer_id, c.name, r.reminder_id, r.kind, r.due_at
         FROM reminders r JOIN customers c ON c.customer_id = r.customer_id
         WHERE r.done = 0 AND r.due_at < ?1 AND (r.due_at, r.reminder_id) > (?2, ?3)
         ORDER BY r.due_at, r.reminder_id LIMIT ?4",
    )?;
    let rows: Vec<ReminderSummary> = stmt
        .query_map(rusqlite::params![until, after_due, after_id, n + 1], |row| {
            Ok(ReminderSummary {
                customer_id: row.get(0)?,
                customer_name: row.get(1)?,
                reminder_id: row.get(2)?,
                kind: code(row, 3, ReminderKind::from_code)?,
                due_at: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(paged(rows, n, |r| encode_cursor(&r.due_at.to_string(), &r.reminder_id), |r| r))
}

/// Open leads, optionally at one stage, largest amount first.
pub fn open_leads(
    conn: &Connection,
    stage: Option<LeadStage>,
    page_size: u32,
    cursor: Option<&str>,
) -> Result<Page<LeadSummary>> {
    if stage.is_some_and(|s| !s.is_open()) {
        return Err(ValidationError::new("stage", Problem::OutOfRange).into());
    }
    let n = limit(page_size);
    // Sorted by amount descending: the cursor holds the negated amount so the comparison stays ">".
    let (after_neg, after_id) = decode_numeric_cursor(cursor)?;
    let mut stmt = conn.prepare_cached(
        "SELECT l.customer_id, c.name, l.lead_id, l.stage, l.product, l.amount_fen, l.probability, l.expected_close
         FROM leads l JOIN customers c ON c.customer_id = l.customer_id
         WHERE l.stage IN ('new', 'contacted', 'qualified', 'proposal') AND (?1 IS NULL OR l.stage = ?1)
           AND (-l.amount_fen, l.lead_id) > (?2, ?3)
         ORDER BY -l.amount_fen, l.lead_id LIMIT ?4",
    )?;
    let rows: Vec<LeadSummary> = stmt
        .query_map(rusqlite::params![stage.map(|s| s.code()), after_neg, after_id, n + 1], |row| {
            Ok(LeadSummary {
                customer_id: row.get(0)?,
                customer_name: row.get(1)?,
                lead_id: row.get(2)?,
                stage: code(row, 3, LeadStage::from_code)?,
                product: code(row, 4, Product::from_code)?,
                amount_fen: row.get(5)?,
                probability: row.get(6)?,
                expected_close: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(paged(rows, n, |l| encode_cursor(&(-l.amount_fen).to_string(), &l.lead_id), |l| l))
}

/// Lead counts and amounts at every stage, in stage order (stages with no leads show zero).
pub fn funnel(conn: &Connection) -> Result<Vec<FunnelStage>> {
    let mut stmt =
        conn.prepare_cached("SELECT stage, count(*), coalesce(sum(amount_fen), 0) FROM leads GROUP BY stage")?;
    let mut totals: Vec<FunnelStage> =
        LeadStage::ALL.iter().map(|&stage| FunnelStage { stage, count: 0, amount_fen: 0 }).collect();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    for row in rows {
        let (stage, count, amount) = row?;
        if let Some(t) = totals.iter_mut().find(|t| t.stage.code() == stage) {
            t.count = count;
            t.amount_fen = amount;
        }
    }
    Ok(totals)
}

/// An owned customer about to return to the pool: the tablet's countdown.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RecycleWarning {
    pub customer_id: String,
    pub name: String,
    pub village: String,
    pub due: RecycleDue,
    /// Whole days left (0: the last day; negative: overdue, returned at the server's next sweep).
    pub days_left: i64,
}

/// `owner_id`'s customers whose warning has started at `now` under `rules`, soonest first.
pub fn recycle_warnings(conn: &Connection, owner_id: &str, rules: &PoolRules, now: i64) -> Result<Vec<RecycleWarning>> {
    let mut stmt = conn.prepare_cached(
        "SELECT customer_id, name, village, recycle_from, recycle_lead_at, recycle_stage FROM customers
         WHERE owner_id = ?1 AND recycle_from IS NOT NULL",
    )?;
    let rows = stmt.query_map([owner_id], |r| {
        let stage: Option<String> = r.get(5)?;
        let basis = RecycleBasis {
            last_activity_at: r.get(3)?,
            last_lead_progress_at: r.get(4)?,
            top_open_stage: stage.as_deref().and_then(LeadStage::from_code),
        };
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, basis))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (customer_id, name, village, basis) = row?;
        if let Some(due) = basis.due(rules).filter(|d| d.warn_from <= now) {
            out.push(RecycleWarning { customer_id, name, village, days_left: due.days_left(now), due });
        }
    }
    out.sort_by(|a, b| (a.due.at, &a.customer_id).cmp(&(b.due.at, &b.customer_id)));
    Ok(out)
}

/// What a possible duplicate shares with the customer being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum DuplicateField {
    IdNumber,
    Phone,
}

/// Another customer on this tablet with the same ID number or phone (查重).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DuplicateMatch {
    pub customer_id: String,
    pub name: String,
    pub village: String,
    pub phone_masked: Option<String>,
    pub matched: DuplicateField,
}

/// Customers other than `except` sharing `id_number` or `phone` (both canonical), ID matches
/// first.
pub fn duplicates(
    conn: &Connection,
    id_number: Option<&str>,
    phone: Option<&str>,
    except: Option<&str>,
) -> Result<Vec<DuplicateMatch>> {
    let key = id_number.map(crate::domain::idcard::match_key);
    let mut stmt = conn.prepare_cached(
        "SELECT customer_id, name, village, phone, id_key = ?1 FROM customers
         WHERE (id_key = ?1 OR phone = ?2) AND customer_id IS NOT ?3
         ORDER BY id_key = ?1 DESC, name_sort, customer_id LIMIT 20",
    )?;
    let rows = stmt.query_map(rusqlite::params![key, phone, except], |r| {
        let phone: Option<String> = r.get(3)?;
        let by_id: Option<bool> = r.get(4)?;
        Ok(DuplicateMatch {
            customer_id: r.get(0)?,
            name: r.get(1)?,
            village: r.get(2)?,
            phone_masked: phone.as_deref().map(phone::mask),
            matched: if by_id == Some(true) { DuplicateField::IdNumber } else { DuplicateField::Phone },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What a "today" entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum TodayKind {
    /// A visit planned for the day (or started and not finished).
    Visit,
    /// A follow-up the last visit set, due by the end of the day (or overdue).
    FollowUp,
    /// An open reminder due by the end of the day (or overdue): the server's (birthdays,
    /// maturities, dividends, repayments) and the manager's own.
    Reminder,
    /// A complaint not yet handled whose deadline (the branch's limit after it was recorded)
    /// falls by the end of the day, or has passed.
    Complaint,
}

/// One entry of the manager's day, as the tablet's "today" screen lists it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TodayItem {
    pub kind: TodayKind,
    pub customer_id: String,
    pub customer_name: String,
    /// When: the planned time, the follow-up date, the reminder's due time.
    pub at: i64,
    /// Due before the day began.
    pub overdue: bool,
    /// The visit's, the reminder's or the complaint's ID (empty for a follow-up).
    pub item_id: String,
    pub reminder_kind: Option<ReminderKind>,
}

/// The manager's day `[day_start, day_end)`: planned visits, follow-ups, open reminders and
/// complaints (due `complaint_ms` after they were recorded) due by its end (earlier ones marked
/// overdue), in time order; at most `limit` of each kind.
pub fn today(
    conn: &Connection,
    manager_id: &str,
    (day_start, day_end): (i64, i64),
    complaint_ms: i64,
    limit: u32,
) -> Result<Vec<TodayItem>> {
    let mut items: Vec<TodayItem> = visits_planned(conn, manager_id, day_start, day_end)?
        .into_iter()
        .map(|v| TodayItem {
            kind: TodayKind::Visit,
            at: v.planned_at.or(v.check_in_at).unwrap_or(day_start),
            overdue: false,
            customer_id: v.customer_id,
            customer_name: v.customer_name,
            item_id: v.visit_id,
            reminder_kind: None,
        })
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT customer_id, name, next_follow_up_at FROM customers
         WHERE next_follow_up_at IS NOT NULL AND next_follow_up_at < ?1
         ORDER BY next_follow_up_at, customer_id LIMIT ?2",
    )?;
    let follow_ups = stmt.query_map(rusqlite::params![day_end, limit], |r| {
        let at: i64 = r.get(2)?;
        Ok(TodayItem {
            kind: TodayKind::FollowUp,
            customer_id: r.get(0)?,
            customer_name: r.get(1)?,
            at,
            overdue: at < day_start,
            item_id: String::new(),
            reminder_kind: None,
        })
    })?;
    items.extend(follow_ups.collect::<rusqlite::Result<Vec<_>>>()?);
    let mut stmt = conn.prepare_cached(
        "SELECT r.customer_id, c.name, r.reminder_id, r.kind, r.due_at
         FROM reminders r JOIN customers c ON c.customer_id = r.customer_id
         WHERE r.done = 0 AND r.due_at < ?1 ORDER BY r.due_at, r.reminder_id LIMIT ?2",
    )?;
    let reminders = stmt.query_map(rusqlite::params![day_end, limit], |r| {
        let at: i64 = r.get(4)?;
        Ok(TodayItem {
            kind: TodayKind::Reminder,
            customer_id: r.get(0)?,
            customer_name: r.get(1)?,
            item_id: r.get(2)?,
            reminder_kind: Some(code(r, 3, ReminderKind::from_code)?),
            at,
            overdue: at < day_start,
        })
    })?;
    items.extend(reminders.collect::<rusqlite::Result<Vec<_>>>()?);
    let mut stmt = conn.prepare_cached(
        "SELECT customer_id, name, complaint_id, complaint_at FROM customers
         WHERE complaint_at IS NOT NULL AND complaint_at < ?1 - ?2 ORDER BY complaint_at, customer_id LIMIT ?3",
    )?;
    let complaints = stmt.query_map(rusqlite::params![day_end, complaint_ms, limit], |r| {
        let at = r.get::<_, i64>(3)?.saturating_add(complaint_ms);
        Ok(TodayItem {
            kind: TodayKind::Complaint,
            customer_id: r.get(0)?,
            customer_name: r.get(1)?,
            item_id: r.get(2)?,
            reminder_kind: None,
            at,
            overdue: at < day_start,
        })
    })?;
    items.extend(complaints.collect::<rusqlite::Result<Vec<_>>>()?);
    items.sort_by(|a, b| (a.at, a.kind, &a.customer_id, &a.item_id).cmp(&(b.at, b.kind, &b.customer_id, &b.item_id)));
    Ok(items)
}

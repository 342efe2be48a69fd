//! Value tiers and lifecycle stages, computed by the server and written into the documents: the
//! tier from the latest financial-asset snapshot the core banking system reports (imported as
//! CSV, line by line, with a report of the lines refused), the stage from what the file holds
//! (see `fieldsync_core::domain::stage`). A push that changes the stage gets the server's change
//! back in the same answer; customers who turn dormant with time are swept like the pool's.

use fieldsync_core::domain::stage::auto_tags;
use fieldsync_core::domain::stage::last_activity;
use fieldsync_core::domain::{Action, CustomerFile, CustomerRules, dormant_at, idcard, lifecycle_of};

use crate::customers::{self, PushError};
use crate::policy::Scope;
use crate::store::{Store, StoreResult};

/// The user recorded as having decided what the rules decide.
pub const RULES: &str = "customer-rules";

/// A branch's rules (the defaults until it sets its own).
pub fn rules(store: &dyn Store, branch_id: &str) -> StoreResult<CustomerRules> {
    Ok(versioned_rules(store, branch_id)?.0)
}

/// A branch's rules with their settings version (1 for the defaults).
pub fn versioned_rules(store: &dyn Store, branch_id: &str) -> StoreResult<(CustomerRules, i64)> {
    Ok(store.customer_rules(branch_id)?.unwrap_or_else(|| (CustomerRules::default(), 1)))
}

/// The decisions that bring `file`'s tier and stage to what the server computes at `now`
/// (none when they already agree).
pub fn decisions(store: &dyn Store, branch_id: &str, file: &CustomerFile, now: i64) -> StoreResult<Vec<Action>> {
    let rules = rules(store, branch_id)?;
    let snapshot = store.asset_snapshot(&file.id)?;
    let mut out = Vec::new();
    if let Some((as_of, fen)) = snapshot {
        let tier = Some(rules.tier_of(fen));
        if file.server.value_tier != tier || file.server.tier_as_of != Some(as_of) {
            out.push(Action::SetValueTier { tier, as_of: Some(as_of) });
        }
    }
    let holds_assets = snapshot.is_some_and(|(_, fen)| fen > 0);
    let stage = lifecycle_of(file, holds_assets, &rules, now);
    if let Some(stage) = stage
        && file.server.lifecycle != Some(stage)
    {
        out.push(Action::ComputeLifecycle { lifecycle: stage });
    }
    // The tags follow the tier and stage as they will be after these decisions.
    let tier = snapshot.map(|(_, fen)| rules.tier_of(fen)).or(file.server.value_tier);
    let tags = auto_tags(file, tier, stage.or(file.server.lifecycle));
    if tags != file.server.auto_tags {
        out.push(Action::SetAutoTags { tags });
    }
    Ok(out)
}

/// Records when the customer's stage must be computed again, in the caller's transaction (with
/// every state): at once after a change its stage depends on (a lead won, a first visit, new
/// activity of a dormant customer), else when it would turn dormant. Pushes never wait for it:
/// the sweep writes the new stage, and the tablet gets it at its next sync.
pub fn record(store: &dyn Store, branch_id: &str, file: &CustomerFile, scope: &Scope) -> StoreResult<()> {
    use fieldsync_core::domain::Lifecycle;
    if *scope == Scope::Deleted || file.server.lifecycle == Some(Lifecycle::Closed) {
        return store.set_refresh_at(&file.id, branch_id, None);
    }
    let rules = rules(store, branch_id)?;
    let holds_assets = store.asset_snapshot(&file.id)?.is_some_and(|(_, fen)| fen > 0);
    let at = if file.server.lifecycle == Some(Lifecycle::Dormant) {
        // Out of dormancy with the first activity after the stage was computed.
        let last = last_activity(file);
        (last > file.server.lifecycle_as_of.unwrap_or(i64::MIN)).then_some(last)
    } else if lifecycle_of(file, holds_assets, &rules, i64::MIN) != file.server.lifecycle
        || auto_tags(file, file.server.value_tier, file.server.lifecycle) != file.server.auto_tags
    {
        Some(0)
    } else {
        dormant_at(file, holds_assets, &rules)
    };
    store.set_refresh_at(&file.id, branch_id, at)
}

/// Applies the server's decisions on one customer now, in the caller's transaction; returns
/// whether anything changed.
pub fn refresh(store: &dyn Store, branch_id: &str, customer_id: &str, now: i64) -> Result<bool, PushError> {
    let Some(meta) = store.document(customer_id)?.filter(|m| m.branch_id == branch_id && m.scope != Scope::Deleted)
    else {
        return Ok(false);
    };
    let actor = store.server_actor()?;
    let Some(mut doc) = customers::load(store, customer_id, &actor)? else { return Ok(false) };
    let mut changes = Vec::new();
    for action in decisions(store, branch_id, doc.file(), now)? {
        changes.extend(customers::server_change(&mut doc, &action, RULES, now)?);
    }
    if changes.is_empty() {
        // Nothing to write; the dormancy row may still be stale.
        record(store, branch_id, doc.file(), &meta.scope)?;
        return Ok(false);
    }
    customers::commit_server_changes(store, branch_id, &doc, &meta.scope, &changes)?;
    Ok(true)
}

/// The most customers one sweep turns dormant per branch (the next sweep takes the rest).
pub const SWEEP_BATCH: u32 = 500;

/// Computes again the stages due at `now` in a branch (changed files, customers quiet for too
/// long). Returns how many changed.
pub fn sweep(store: &dyn Store, branch_id: &str, now: i64) -> Result<usize, PushError> {
    let mut changed = 0;
    for customer_id in store.refresh_due(branch_id, now, SWEEP_BATCH)? {
        changed += usize::from(refresh(store, branch_id, &customer_id, now)?);
    }
    Ok(changed)
}

/// Sets a branch's rules (checked by the caller) and applies them to every customer.
pub fn set_rules(store: &dyn Store, branch_id: &str, rules: &CustomerRules, now: i64) -> Result<usize, PushError> {
    store.set_customer_rules(branch_id, rules, crate::catalog::next_version(store, branch_id, now)?)?;
    let mut changed = 0;
    for (customer_id, branch) in store.live_documents()? {
        if branch == branch_id {
            changed += usize::from(refresh(store, branch_id, &customer_id, now)?);
        }
    }
    Ok(changed)
}

/// What an import did: lines taken, lines that changed nothing (an older or equal snapshot), and
/// the lines refused with why (never the line's values: they hold ID numbers).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub unchanged: usize,
    pub rejected: Vec<RejectedLine>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RejectedLine {
    /// 1-based, the header being line 1.
    pub line: u64,
    pub code: &'static str,
    pub message_zh: &'static str,
    pub message_en: &'static str,
}

/// An import of a CSV file from the core banking system into a branch, as of a time.
pub type Importer = fn(&dyn Store, &str, &[u8], i64) -> Result<ImportReport, PushError>;

/// The most lines one import request takes, and its largest body: each line may write a
/// document, all in one transaction under the writer, so a request stays a few seconds at most.
/// A larger file goes in several requests (`admin import-*` splits it on its own).
pub const MAX_IMPORT_LINES: u64 = 5_000;
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024;

/// Why a line is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineError {
    Columns,
    IdNumber,
    Date,
    Amount,
    NoCustomer,
}

impl LineError {
    fn rejected(self, line: u64) -> RejectedLine {
        let (code, message_zh, message_en) = match self {
            LineError::Columns => (
                "columns",
                "列数不对（应为 身份证号,日期,金融资产）",
                "wrong number of columns (id_number,as_of,assets_yuan expected)",
            ),
            LineError::IdNumber => ("id_number", "身份证号无效", "the ID number is not valid"),
            LineError::Date => (
                "as_of",
                "日期无效（应为 YYYY-MM-DD，且不晚于今天）",
                "the date is not valid (YYYY-MM-DD, not after today)",
            ),
            LineError::Amount => (
                "assets_yuan",
                "金额无效（应为不小于 0 的元，最多两位小数）",
                "the amount is not valid (yuan, 0 or more, at most two decimals)",
            ),
            LineError::NoCustomer => {
                ("no_customer", "本支行没有该身份证号的客户", "no customer of the branch has this ID number")
            }
        };
        RejectedLine { line, code, message_zh, message_en }
    }
}

/// An import file's lines after its header, numbered as in the file (the header is line 1),
/// each a record or the reason it is not one. A file of more lines than one request takes is
/// refused whole before any line is looked at.
pub fn import_records(csv: &[u8]) -> Result<Vec<(u64, Option<csv::StringRecord>)>, PushError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(csv);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if i as u64 >= MAX_IMPORT_LINES {
            return Err(PushError::TooLarge(crate::limits::Limit::Items));
        }
        out.push((i as u64 + 2, record.ok()));
    }
    Ok(out)
}

/// Reads `12345.67` yuan as fen: no sign, at most two decimals, below 10^13 yuan.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 13
        || frac.len() > 2
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let fen = format!("{frac:0<2}").parse::<i64>().ok()?;
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(fen)
}

/// Imports an asset file from the core banking system into `branch_id` (CSV, UTF-8, a header
/// line `id_number,as_of,assets_yuan`), in the caller's transaction. Each line is checked on its
/// own; a refused line is reported and the rest imported. A customer is found by ID number (all
/// its files, if it has duplicates); a snapshot older than the one held changes nothing.
pub fn import_assets(store: &dyn Store, branch_id: &str, csv: &[u8], now: i64) -> Result<ImportReport, PushError> {
    let tz = crate::read_model::days::branch_zone(store, branch_id)?;
    let today = jiff::Timestamp::from_millisecond(now)
        .map(|t| t.to_zoned(tz.clone()).date())
        .map_err(|_| PushError::Internal)?;
    let mut report = ImportReport::default();
    for (line, record) in import_records(csv)? {
        let parsed = (|| {
            let record = record.ok_or(LineError::Columns)?;
            if record.len() != 3 {
                return Err(LineError::Columns);
            }
            let id = idcard::normalize(&record[0]);
            idcard::validate("id_number", &id).map_err(|_| LineError::IdNumber)?;
            let date: jiff::civil::Date = record[1].parse().map_err(|_| LineError::Date)?;
            if date > today || date.year() < 1900 {
                return Err(LineError::Date);
            }
            let as_of = date.to_zoned(tz.clone()).map_err(|_| LineError::Date)?.timestamp().as_millisecond();
            let fen = parse_yuan(&record[2]).ok_or(LineError::Amount)?;
            let customers =
                store.customers_with_id_key(branch_id, &idcard::match_key(&id)).map_err(|_| LineError::NoCustomer)?;
            if customers.is_empty() {
                return Err(LineError::NoCustomer);
            }
            Ok((customers, as_of, fen))
        })();
        let (customers, as_of, fen) = match parsed {
            Ok(p) => p,
            Err(e) => {
                report.rejected.push(e.rejected(line));
                continue;
            }
        };
        let mut changed = false;
        for customer_id in customers {
            if store.asset_snapshot(&customer_id)?.is_some_and(|(held, _)| held > as_of) {
                continue;
            }
            store.save_asset_snapshot(&customer_id, branch_id, as_of, fen)?;
            changed |= refresh(store, branch_id, &customer_id, now)?;
        }
        if changed { report.imported += 1 } else { report.unchanged += 1 }
    }
    Ok(report)
}

//! The branch's rules on the supervisor's pages (规则与目标): the public pool's rules, the customer
//! rules (tiers, dormancy, the days a complaint may stay open) and this month's target, each with
//! a form that sets it, and the territories and product catalog the tablets receive, to read.
//! Setting a rule brings every customer of the branch to it and reaches the tablets with their
//! next sync; each is written to the audit trail.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use fieldsync_core::domain::{CustomerRules, LeadStage, Measures, PoolRules};
use serde::Deserialize;

use super::error::WebError;
use super::form::WebForm;
use super::i18n::Texts;
use super::session::Viewer;
use crate::accounts::{self, AccountError};
use crate::customers::PushError;
use crate::routes::{AppState, now_ms};
use crate::store::Store;

/// A village with its outlet and managers, as text.
pub struct TerritoryLine {
    pub village: String,
    pub outlet: String,
    pub managers: String,
}

/// A catalog product, as text.
pub struct ProductLine {
    pub name: String,
    pub kind: String,
    pub term: String,
    pub rate: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    saved: bool,
    pool: PoolRules,
    /// The open lead stages a rule may exempt from: (code, label, chosen).
    stages: Vec<(String, String, bool)>,
    customers: CustomerRules,
    month: String,
    target: Measures,
    territories: Vec<TerritoryLine>,
    products: Vec<ProductLine>,
}

impl RulesPage<'_> {
    /// A rule switched off shows as 0 (the forms read 0 as off).
    fn n(&self, v: &Option<u32>) -> u32 {
        v.unwrap_or(0)
    }

    fn yuan(&self, fen: &i64) -> i64 {
        fen / 100
    }
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    saved: String,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    let branch = viewer.branch_id.clone();
    let first = this_month(&viewer)?;
    let (pool, customers, month, territories, outlets, managers, catalog) = state
        .db
        .read(move |s| {
            Ok::<_, AccountError>((
                crate::pool::rules(s, &branch)?.0,
                crate::stages::rules(s, &branch)?,
                crate::targets::branch_month(s, &branch, first)?,
                s.territories(&branch)?,
                s.branch_outlets(&branch)?,
                s.branch_managers(&branch)?,
                s.catalog(&branch)?,
            ))
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let name_of = |list: &[(String, String)], id: &str| {
        list.iter().find(|(i, _)| i == id).map_or_else(|| id.to_string(), |(_, n)| n.clone())
    };
    let label = |code: &str, zh: &'static str| lang.label(code, Some(zh));
    let html = RulesPage {
        t: viewer.t(),
        lang: lang.html(),
        v: &viewer,
        saved: q.saved == "1",
        stages: LeadStage::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| (s.code().to_string(), label(s.code(), s.label_zh()), pool.exempt_lead_stage == Some(*s)))
            .collect(),
        pool,
        customers,
        month: first.strftime("%Y-%m").to_string(),
        target: month.branch.map(|l| l.target).unwrap_or_default(),
        territories: territories
            .into_iter()
            .map(|t| TerritoryLine {
                outlet: t.outlet_id.as_deref().map(|o| name_of(&outlets, o)).unwrap_or_default(),
                managers: t.manager_ids.iter().map(|m| name_of(&managers, m)).collect::<Vec<_>>().join("、"),
                village: t.village,
            })
            .collect(),
        products: catalog
            .into_iter()
            .map(|p| ProductLine {
                kind: label(p.kind.code(), p.kind.label_zh()),
                rate: p.rate_bp.map(|r| format!("{}.{:02}%", r / 100, r % 100)).unwrap_or_default(),
                name: p.name,
                term: p.term,
            })
            .collect(),
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

fn this_month(viewer: &Viewer) -> Result<jiff::civil::Date, WebError> {
    jiff::Timestamp::from_millisecond(now_ms())
        .map(|t| t.to_zoned(viewer.tz.clone()).date().first_of_month())
        .map_err(|_| WebError::Internal(viewer.lang))
}

/// A whole number of a form; empty is 0.
fn number<T: std::str::FromStr + Default>(s: &str) -> Option<T> {
    let s = s.trim();
    if s.is_empty() { Some(T::default()) } else { s.parse().ok() }
}

/// Yuan of a form as fen; empty is 0.
fn fen(s: &str) -> Option<i64> {
    number::<i64>(s)?.checked_mul(100)
}

/// Makes one change of the branch's rules as the viewer's decision, audited, in one transaction;
/// back to the page, which says it was saved.
async fn save(
    state: &AppState,
    viewer: &Viewer,
    action: &'static str,
    change: impl FnOnce(&dyn Store, &str, i64) -> Result<(), PushError> + Send + 'static,
) -> Result<Response, WebError> {
    let (user, branch) = (viewer.user.id.clone(), viewer.branch_id.clone());
    state
        .db
        .write(move |s| {
            let now = now_ms();
            change(s, &branch, now)?;
            accounts::audit(s, now, &user, action, &branch)?;
            Ok::<_, PushError>(())
        })
        .await
        .map_err(|e| WebError::from_app(viewer.lang, e))?;
    Ok(Redirect::to("/rules?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct PoolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    recycle_after_days: String,
    #[serde(default)]
    recycle_without_lead_progress_days: String,
    #[serde(default)]
    warn_days: String,
    #[serde(default)]
    exempt_lead_stage: String,
    #[serde(default)]
    daily_claim_cap: String,
    #[serde(default)]
    max_owned: String,
    #[serde(default)]
    claim_cooldown_days: String,
}

/// Sets the branch's pool rules (0: that rule is off).
pub async fn set_pool(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<PoolForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let bad = || WebError::BadRequest(lang, viewer.t().bad_request);
    let on = |s: &str| number::<u32>(s).map(|n| (n > 0).then_some(n)).ok_or_else(bad);
    let exempt_lead_stage = match form.exempt_lead_stage.as_str() {
        "" => None,
        code => Some(LeadStage::from_code(code).filter(|s| s.is_open()).ok_or_else(bad)?),
    };
    let rules = PoolRules {
        recycle_after_days: on(&form.recycle_after_days)?,
        recycle_without_lead_progress_days: on(&form.recycle_without_lead_progress_days)?,
        warn_days: number(&form.warn_days).ok_or_else(bad)?,
        exempt_lead_stage,
        daily_claim_cap: on(&form.daily_claim_cap)?,
        max_owned: on(&form.max_owned)?,
        claim_cooldown_days: on(&form.claim_cooldown_days)?,
    };
    rules.validate().map_err(|_| bad())?;
    save(&state, &viewer, "branch.pool_rules", move |s, branch, now| crate::pool::set_rules(s, branch, &rules, now))
        .await
}

#[derive(Deserialize)]
pub struct CustomerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    high_yuan: String,
    #[serde(default)]
    medium_yuan: String,
    #[serde(default)]
    dormant_after_days: String,
    #[serde(default)]
    complaint_days: String,
}

/// Sets the branch's tier thresholds, dormancy and complaint limit.
pub async fn set_customers(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<CustomerForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let bad = || WebError::BadRequest(lang, viewer.t().bad_request);
    let rules = CustomerRules {
        high_fen: fen(&form.high_yuan).ok_or_else(bad)?,
        medium_fen: fen(&form.medium_yuan).ok_or_else(bad)?,
        dormant_after_days: number(&form.dormant_after_days).ok_or_else(bad)?,
        complaint_days: number(&form.complaint_days).ok_or_else(bad)?,
    };
    rules.validate().map_err(|_| bad())?;
    save(&state, &viewer, "branch.customer_rules", move |s, branch, now| {
        crate::stages::set_rules(s, branch, &rules, now).map(drop)
    })
    .await
}

#[derive(Deserialize)]
pub struct TargetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    visits: String,
    #[serde(default)]
    new_customers: String,
    #[serde(default)]
    leads_won: String,
    #[serde(default)]
    amount_won_yuan: String,
}

/// Sets the branch's target for a month, split evenly among its managers.
pub async fn set_target(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<TargetForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let bad = || WebError::BadRequest(lang, viewer.t().bad_request);
    crate::targets::parse_month(&form.month).ok_or_else(bad)?;
    let target = Measures {
        visits: number(&form.visits).ok_or_else(bad)?,
        new_customers: number(&form.new_customers).ok_or_else(bad)?,
        leads_won: number(&form.leads_won).ok_or_else(bad)?,
        amount_won_fen: fen(&form.amount_won_yuan).ok_or_else(bad)?,
    };
    target.validate().map_err(|_| bad())?;
    let month = form.month.clone();
    save(&state, &viewer, "branch.target", move |s, branch, _| {
        crate::targets::set_branch_target(s, branch, &month, &target).map(drop)
    })
    .await
}

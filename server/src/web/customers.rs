//! One customer whole (the 360 view) with phone and ID number masked; revealing one is an explicit
//! action, written to the audit trail (who, what, when) in the same transaction that reads it; and
//! the audit trail itself, for admins.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use fieldsync_core::domain::{LeadStage, Lifecycle, Product, ValueTier};
use serde::Deserialize;

use super::error::WebError;
use super::form::WebForm;
use super::format;
use super::i18n::Texts;
use super::session::Viewer;
use super::visits::{Row, row_view};
use crate::accounts::{AccountError, Role};
use crate::customers::PushError;
use crate::routes::{AppState, now_ms};

/// A change of owner as the customer page shows it.
pub struct OwnerLine {
    pub at: String,
    pub from: String,
    pub to: String,
    pub reason: String,
    pub by: String,
}

/// A lead as the customer page shows it.
pub struct LeadLine {
    pub product: String,
    pub stage: String,
    pub amount: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    customer_id: String,
    name: String,
    village: String,
    owner: String,
    tier: String,
    lifecycle: String,
    phone: String,
    id_number: String,
    /// What was revealed by this request: (field label, value).
    revealed: Option<(&'static str, String)>,
    last_visit: String,
    next_follow_up: String,
    visits: Vec<Row>,
    leads: Vec<LeadLine>,
    history: Vec<OwnerLine>,
    locked: bool,
    /// When it returns to the pool if nothing happens first, and why.
    due: Option<(String, String)>,
    /// The branch's managers, for the reassignment form: (ID, name).
    managers: Vec<(String, String)>,
}

/// The page, with `revealed` shown once.
async fn render(
    state: &AppState,
    viewer: &Viewer,
    customer_id: String,
    revealed: Option<(&'static str, String)>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    if customer_id.len() > 64 {
        return Err(WebError::NotFound(lang));
    }
    let branch = viewer.branch_id.clone();
    let id = customer_id.clone();
    let found = state
        .db
        .read(move |s| {
            let Some(c) = s.customer_row(&id)?.filter(|c| c.branch_id == branch) else {
                return Ok::<_, AccountError>(None);
            };
            let history = s.owner_changes_of(&id)?;
            // Who decided each change, by name (a handful of rows).
            let mut names = std::collections::BTreeMap::new();
            for h in &history {
                if !names.contains_key(&h.change.by) {
                    let name = crate::accounts::user_by_id(s, &h.change.by)?.map(|u| u.display_name);
                    names.insert(h.change.by.clone(), name.unwrap_or_else(|| h.change.by.clone()));
                }
            }
            let pool = s.pool_state(&id)?;
            let managers = s.branch_managers(&branch)?;
            Ok(Some((c, s.customer_visits(&id, 50)?, s.customer_leads(&id)?, (history, names, pool, managers))))
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let Some((c, visits, leads, (history, names, pool, managers))) = found else {
        return Err(WebError::NotFound(lang));
    };
    let t = viewer.t();
    let owner_text = |o: &fieldsync_core::domain::Owner| match (&o.manager_id, &o.manager_name) {
        (None, _) => t.pool.to_string(),
        (Some(id), name) => name.clone().unwrap_or_else(|| id.clone()),
    };
    let tz = &viewer.tz;
    let html = CustomerPage {
        t: viewer.t(),
        lang: lang.html(),
        v: viewer,
        customer_id,
        name: c.name.clone(),
        village: c.village.clone(),
        owner: c.owner_name.clone().unwrap_or_else(|| viewer.t().pool.to_string()),
        tier: c
            .tier
            .as_deref()
            .map(|code| lang.label(code, ValueTier::from_code(code).map(|t| t.label_zh())))
            .unwrap_or_default(),
        lifecycle: c
            .lifecycle
            .as_deref()
            .map(|code| lang.label(code, Lifecycle::from_code(code).map(|l| l.label_zh())))
            .unwrap_or_default(),
        phone: c.phone_masked.clone().unwrap_or_default(),
        id_number: c.id_number_masked.clone().unwrap_or_default(),
        revealed,
        last_visit: c.last_visit_at.map(|at| format::date(at, tz)).unwrap_or_default(),
        next_follow_up: c.next_follow_up_at.map(|at| format::date(at, tz)).unwrap_or_default(),
        visits: visits.iter().map(|r| row_view(r, viewer)).collect(),
        leads: leads
            .iter()
            .map(|l| LeadLine {
                product: lang.label(&l.product, Product::from_code(&l.product).map(|p| p.label_zh())),
                stage: lang.label(&l.stage, LeadStage::from_code(&l.stage).map(|s| s.label_zh())),
                amount: format::money(l.amount_fen),
                created: format::date(l.created_at, tz),
            })
            .collect(),
        history: history
            .iter()
            .map(|h| OwnerLine {
                at: format::datetime(h.change.at, tz),
                from: owner_text(&h.change.from),
                to: owner_text(&h.change.to),
                reason: lang.label(h.change.reason.code(), Some(h.change.reason.label_zh())),
                by: if h.change.by == crate::pool::RULES {
                    t.pool_rules.to_string()
                } else {
                    names.get(&h.change.by).cloned().unwrap_or_default()
                },
            })
            .collect(),
        locked: pool.as_ref().is_some_and(|(locked, _)| *locked),
        due: pool
            .and_then(|(_, due)| due)
            .map(|d| (format::date(d.at, tz), lang.label(d.cause.code(), Some(d.cause.label_zh())))),
        managers,
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(customer_id): Path<String>,
) -> Result<Response, WebError> {
    render(&state, &viewer, customer_id, None).await
}

#[derive(Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    field: String,
}

/// Shows one personal field whole, once, and writes who saw it to the audit trail first.
pub async fn reveal(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(customer_id): Path<String>,
    WebForm(form): WebForm<RevealForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let t = viewer.t();
    let (action, label) = match form.field.as_str() {
        "phone" => ("customer.reveal_phone", t.phone),
        "id_number" => ("customer.reveal_id_number", t.id_number),
        _ => return Err(WebError::BadRequest(lang, t.bad_request)),
    };
    if customer_id.len() > 64 {
        return Err(WebError::NotFound(lang));
    }
    let (branch, user_id, field) = (viewer.branch_id.clone(), viewer.user.id.clone(), form.field.clone());
    let id = customer_id.clone();
    let value = state
        .db
        .write(move |s| {
            let meta = s.document(&id)?.filter(|m| m.branch_id == branch && m.scope != crate::policy::Scope::Deleted);
            if meta.is_none() {
                return Err(PushError::NotFound);
            }
            let actor = s.server_actor()?;
            let doc = crate::customers::load(s, &id, &actor)?.ok_or(PushError::NotFound)?;
            let profile = &doc.file().profile;
            let value = if field == "phone" { profile.phone.clone() } else { profile.id_number.clone() };
            crate::accounts::audit(s, now_ms(), &user_id, action, &id)?;
            Ok(value.unwrap_or_default())
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    render(&state, &viewer, customer_id, Some((label, value))).await
}

/// An entry of the audit trail as the page shows it.
pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    lines: Vec<AuditLine>,
    page: String,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    page: String,
}

const AUDIT_PAGE: usize = 100;

/// The audit trail of the branch's users, for admins.
pub async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    if viewer.user.role != Role::Admin {
        return Err(WebError::Forbidden(lang));
    }
    let page = q.page.parse::<usize>().ok().filter(|&p| p <= 10_000).unwrap_or(0);
    let branch = viewer.branch_id.clone();
    let mut rows = state
        .db
        .read(move |s| Ok::<_, AccountError>(s.audit_page(&branch, page * AUDIT_PAGE, AUDIT_PAGE + 1)?))
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let has_next = rows.len() > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE);
    let html = AuditPage {
        t: viewer.t(),
        lang: lang.html(),
        v: &viewer,
        lines: rows
            .into_iter()
            .map(|r| AuditLine {
                at: format::datetime(r.at, &viewer.tz),
                actor: r.actor_name,
                action: r.action,
                subject: r.subject,
            })
            .collect(),
        page: viewer.t().page_n(page + 1),
        prev: (page > 0).then(|| format!("/audit?page={}", page - 1)),
        next: has_next.then(|| format!("/audit?page={}", page + 1)),
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

#[derive(Deserialize)]
pub struct OwnerForm {
    #[serde(default)]
    csrf: String,
    /// A manager's ID, or `pool`.
    #[serde(default)]
    owner: String,
}

/// Gives the customer to another manager of the branch, or to the pool: the same decision as the
/// JSON endpoint's, recorded on the customer.
pub async fn assign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(customer_id): Path<String>,
    WebForm(form): WebForm<OwnerForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let user = viewer.user.clone();
    let id = customer_id.clone();
    state
        .db
        .write(move |s| {
            let owner = crate::pool::owner_named(s, &user.branch_id, &form.owner)
                .ok_or(PushError::Refused(crate::policy::Refusal::UnknownOwner))?;
            crate::pool::reassign(s, &user, &[id], &owner, now_ms())
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    Ok(axum::response::Redirect::to(&format!("/customers/{}", super::error::urlencoding(&customer_id))).into_response())
}

#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    locked: String,
}

/// Keeps the customer with its manager whatever the recycle rules say (`locked=1`), or stops.
pub async fn lock(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(customer_id): Path<String>,
    WebForm(form): WebForm<LockForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let locked = match form.locked.as_str() {
        "1" => true,
        "0" => false,
        _ => return Err(WebError::BadRequest(lang, viewer.t().bad_request)),
    };
    let user = viewer.user.clone();
    let id = customer_id.clone();
    let action = fieldsync_core::domain::Action::SetLocked { locked };
    state
        .db
        .write(move |s| crate::customers::write_decision(s, &user, &id, &action, now_ms()))
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    Ok(axum::response::Redirect::to(&format!("/customers/{}", super::error::urlencoding(&customer_id))).into_response())
}

//! The visit log: the list with its filters, one visit's page, and the supervisor's decisions on
//! one visit or a selection (through the same server code as the JSON review endpoint, so the
//! decision reaches the tablet at its next sync).

use super::form::WebForm;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::WebError;
use super::format;
use super::i18n::{Lang, Texts};
use super::plot::Plot;
use super::session::Viewer;
use crate::accounts::AccountError;
use crate::customers::PushError;
use crate::read_model::evidence::{Flag, Measures};
use crate::routes::{AppState, now_ms};
use crate::store::pages::{FlagFilter, VisitFilter, VisitListRow, VisitSort};
use fieldsync_core::domain::{Action, LeadStage, Product, Review, ReviewDecision, VisitPurpose, VisitStatus};

pub const PAGE_SIZE: usize = 50;
/// The most visits one decision covers (a page's worth, twice).
pub const MAX_SELECTION: usize = 100;
/// A supervisor's comment, in characters.
pub const MAX_COMMENT: usize = 500;

/// The list's filters as the query string carries them. Unknown or malformed values are ignored
/// (the list shows everything rather than failing).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub manager: String,
    #[serde(default)]
    pub outlet: String,
    #[serde(default)]
    pub village: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub review: String,
    #[serde(default)]
    pub flag: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub decided: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s.len() <= 200).then(|| s.to_string())
}

impl ListQuery {
    /// The filters of a raw query string (the list's and the export's); anything malformed is
    /// ignored, as its field's default.
    pub fn parse(raw: Option<&str>) -> ListQuery {
        format!("/?{}", raw.unwrap_or_default())
            .parse()
            .ok()
            .and_then(|uri| axum::extract::Query::try_from_uri(&uri).ok())
            .map(|q: axum::extract::Query<ListQuery>| q.0)
            .unwrap_or_default()
    }

    pub fn filter(&self, viewer: &Viewer) -> VisitFilter {
        VisitFilter {
            branch_id: viewer.branch_id.clone(),
            manager_id: some(&self.manager),
            outlet_id: some(&self.outlet),
            village: some(&self.village),
            from: format::day_start(self.from.trim(), &viewer.tz),
            to: format::day_end(self.to.trim(), &viewer.tz),
            purpose: VisitPurpose::from_code(&self.purpose).map(|p| p.code().to_string()),
            review: match self.review.as_str() {
                "pending" => Some("pending".to_string()),
                code => ReviewDecision::from_code(code).map(|d| d.code().to_string()),
            },
            flags: match self.flag.as_str() {
                "any" => FlagFilter::Flagged,
                "none" => FlagFilter::Clean,
                code => Flag::from_code(code).map_or(FlagFilter::Any, |f| FlagFilter::One(f.bit())),
            },
        }
    }

    /// The page asked for, from 0 (a malformed or absurd number is the first page).
    pub fn page(&self) -> usize {
        self.page.parse::<usize>().ok().filter(|&p| p <= 10_000).unwrap_or(0)
    }

    /// How many visits the decision that led here covered.
    pub fn decided(&self) -> usize {
        self.decided.parse().unwrap_or(0)
    }

    pub fn sort(&self) -> VisitSort {
        match self.sort.as_str() {
            "oldest" => VisitSort::Oldest,
            "shortest" => VisitSort::Shortest,
            "farthest" => VisitSort::Farthest,
            _ => VisitSort::Newest,
        }
    }
}

/// A choice of a filter's `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(current: &str, options: impl IntoIterator<Item = (String, String)>) -> Vec<Choice> {
    options.into_iter().map(|(value, label)| Choice { selected: value == current, value, label }).collect()
}

/// A flag as a list or a page shows it.
pub struct FlagView {
    pub code: &'static str,
    pub label: &'static str,
    pub reason: String,
}

/// A flag's label in the page's language.
pub fn flag_label(flag: Flag, lang: Lang) -> &'static str {
    if lang == Lang::Zh { flag.label_zh() } else { flag.label_en() }
}

fn flag_labels(bits: i64, lang: Lang) -> Vec<FlagView> {
    Flag::in_bits(bits)
        .map(|f| FlagView { code: f.code(), label: flag_label(f, lang), reason: String::new() })
        .collect()
}

/// A visit as the list shows it, formatted.
pub struct Row {
    pub visit_id: String,
    pub customer_id: String,
    pub customer: String,
    pub manager: String,
    pub village: String,
    pub purpose: String,
    pub status: String,
    pub when: String,
    pub duration: String,
    pub distance: String,
    pub photos: i64,
    pub flags: Vec<FlagView>,
    pub review_code: String,
    pub review: String,
}

/// A review status's label (`pending` or a decision's code).
pub fn review_label(code: &str, lang: Lang) -> String {
    match ReviewDecision::from_code(code) {
        Some(d) => lang.label(d.code(), Some(d.label_zh())),
        None => lang.texts().pending.to_string(),
    }
}

pub fn row_view(r: &VisitListRow, viewer: &Viewer) -> Row {
    let lang = viewer.lang;
    Row {
        visit_id: r.visit_id.clone(),
        customer_id: r.customer_id.clone(),
        customer: r.customer_name.clone(),
        manager: r.manager_name.clone(),
        village: r.village.clone(),
        purpose: lang.label(&r.purpose, VisitPurpose::from_code(&r.purpose).map(|p| p.label_zh())),
        status: lang.label(&r.status, VisitStatus::from_code(&r.status).map(|s| s.label_zh())),
        when: format::datetime(r.at, &viewer.tz),
        duration: format::duration(r.duration_s, lang.texts().minutes),
        distance: format::distance(r.distance_m),
        photos: r.photos,
        flags: flag_labels(r.flags, lang),
        review_code: r.review.clone(),
        review: review_label(&r.review, lang),
    }
}

#[derive(Template)]
#[template(path = "visits.html")]
struct VisitsPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    q: &'a ListQuery,
    rows: Vec<Row>,
    managers: Vec<Choice>,
    outlets: Vec<Choice>,
    villages: Vec<Choice>,
    purposes: Vec<Choice>,
    reviews: Vec<Choice>,
    flags: Vec<Choice>,
    sorts: Vec<Choice>,
    page: String,
    decided: usize,
    prev: Option<String>,
    next: Option<String>,
    export: String,
    this: String,
}

/// The query string with `page` replaced (or removed, for the first page).
fn with_page(query: &str, page: Option<usize>) -> String {
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page=") && !p.starts_with("decided="))
        .map(str::to_string)
        .collect();
    if let Some(page) = page.filter(|&p| p > 0) {
        parts.push(format!("page={page}"));
    }
    parts.join("&")
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let q = ListQuery::parse(raw.as_deref());
    let raw = raw.unwrap_or_default();
    let filter = q.filter(&viewer);
    let sort = q.sort();
    let page = q.page();
    let branch = viewer.branch_id.clone();
    let (mut rows, managers, outlets, villages) = state
        .db
        .read(move |s| {
            Ok::<_, AccountError>((
                s.visit_page(&filter, sort, page * PAGE_SIZE, PAGE_SIZE + 1)?,
                s.branch_managers(&branch)?,
                s.branch_outlets(&branch)?,
                s.branch_villages(&branch)?,
            ))
        })
        .await
        .map_err(|e| WebError::from_app(viewer.lang, e))?;
    let has_next = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    let lang = viewer.lang;
    let t = viewer.t();
    let any = (String::new(), t.any.to_string());
    let query = with_page(&raw, None);
    let page_link = |p: usize| {
        let q = with_page(&raw, Some(p));
        if q.is_empty() { "/visits".to_string() } else { format!("/visits?{q}") }
    };
    let html = VisitsPage {
        t,
        lang: lang.html(),
        v: &viewer,
        q: &q,
        rows: rows.iter().map(|r| row_view(r, &viewer)).collect(),
        managers: choices(&q.manager, std::iter::once(any.clone()).chain(managers)),
        outlets: choices(&q.outlet, std::iter::once(any.clone()).chain(outlets)),
        villages: choices(&q.village, std::iter::once(any.clone()).chain(villages.into_iter().map(|v| (v.clone(), v)))),
        purposes: choices(
            &q.purpose,
            std::iter::once(any.clone()).chain(
                VisitPurpose::ALL.iter().map(|p| (p.code().to_string(), lang.label(p.code(), Some(p.label_zh())))),
            ),
        ),
        reviews: choices(
            &q.review,
            [any.clone(), ("pending".to_string(), t.pending.to_string())].into_iter().chain(
                ReviewDecision::ALL.iter().map(|d| (d.code().to_string(), lang.label(d.code(), Some(d.label_zh())))),
            ),
        ),
        flags: choices(
            &q.flag,
            [any, ("any".to_string(), t.any_flag.to_string()), ("none".to_string(), t.no_flag.to_string())]
                .into_iter()
                .chain(Flag::ALL.iter().map(|f| (f.code().to_string(), flag_label(*f, lang).to_string()))),
        ),
        sorts: choices(
            &q.sort,
            [
                (String::new(), t.sort_newest.to_string()),
                ("oldest".to_string(), t.sort_oldest.to_string()),
                ("shortest".to_string(), t.sort_shortest.to_string()),
                ("farthest".to_string(), t.sort_farthest.to_string()),
            ],
        ),
        page: t.page_n(page + 1),
        decided: q.decided(),
        prev: (page > 0).then(|| page_link(page - 1)),
        next: has_next.then(|| page_link(page + 1)),
        export: if query.is_empty() { "/visits.csv".to_string() } else { format!("/visits.csv?{query}") },
        this: if query.is_empty() { "/visits".to_string() } else { format!("/visits?{query}") },
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

/// A lead as the visit page shows it.
pub struct LeadView {
    pub product: String,
    pub stage: String,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "visit.html")]
struct VisitPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    visit_id: String,
    customer_id: String,
    customer: String,
    village: String,
    phone: String,
    manager: String,
    purpose: String,
    channel: String,
    status: String,
    planned: String,
    check_in: String,
    check_out: String,
    duration: String,
    distance: String,
    notes: String,
    outcome: String,
    next_contact: String,
    costs: String,
    photos: Vec<String>,
    leads: Vec<LeadView>,
    flags: Vec<FlagView>,
    review_code: String,
    review: String,
    reviewer: String,
    review_comment: String,
    review_at: String,
    earlier: Vec<Row>,
    plot: Option<Plot>,
    decided: bool,
}

#[derive(Deserialize, Default)]
pub struct DecidedQuery {
    #[serde(default)]
    decided: usize,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((customer_id, visit_id)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<DecidedQuery>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    if customer_id.len() > 64 || visit_id.len() > 64 {
        return Err(WebError::NotFound(lang));
    }
    let branch = viewer.branch_id.clone();
    let found = state
        .db
        .read(move |s| {
            let detail = s.visit_detail(&customer_id, &visit_id)?.filter(|(r, _, _)| r.branch_id == branch);
            let Some((row, measures, flags)) = detail else {
                return Ok::<_, AccountError>(None);
            };
            let customer = s.customer_row(&row.customer_id)?;
            let photos = s.visit_photos(&customer_id, &visit_id)?;
            let leads = s.visit_leads(&customer_id, &visit_id)?;
            let earlier = s.customer_visits(&row.customer_id, 20)?;
            let rules = s.evidence_rules(&row.branch_id)?;
            Ok(Some((row, measures, flags, customer, photos, leads, earlier, rules)))
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let Some((row, measures, flags, customer, photos, leads, earlier, rules)) = found else {
        return Err(WebError::NotFound(lang));
    };
    let t = viewer.t();
    let tz = &viewer.tz;
    let reasons = Measures { ..measures }.reasons(flags, &rules);
    let customer_point = customer.as_ref().and_then(|c| c.lat.zip(c.lng));
    let point = |lat: Option<f64>, lng: Option<f64>| lat.zip(lng);
    let plot = Plot::of(customer_point, point(row.in_lat, row.in_lng), point(row.out_lat, row.out_lng));
    let html = VisitPage {
        t,
        lang: lang.html(),
        v: &viewer,
        visit_id: row.visit_id.clone(),
        customer_id: row.customer_id.clone(),
        customer: customer.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        village: row.village.clone(),
        phone: customer.as_ref().and_then(|c| c.phone_masked.clone()).unwrap_or_default(),
        manager: row.manager_name.clone(),
        purpose: lang.label(&row.purpose, VisitPurpose::from_code(&row.purpose).map(|p| p.label_zh())),
        channel: lang
            .label(&row.channel, fieldsync_core::domain::Channel::from_code(&row.channel).map(|c| c.label_zh())),
        status: lang.label(&row.status, VisitStatus::from_code(&row.status).map(|s| s.label_zh())),
        planned: row.planned_at.map(|at| format::datetime(at, tz)).unwrap_or_default(),
        check_in: row.check_in_at.map(|at| format::datetime(at, tz)).unwrap_or_default(),
        check_out: row.check_out_at.map(|at| format::datetime(at, tz)).unwrap_or_default(),
        duration: format::duration(row.duration_s, t.minutes),
        distance: format::distance(row.distance_m),
        notes: row.notes.clone(),
        outcome: row.outcome.clone(),
        next_contact: row.next_contact_at.map(|at| format::date(at, tz)).unwrap_or_default(),
        costs: format::money(row.cost_fen),
        photos,
        leads: leads
            .iter()
            .map(|l| LeadView {
                product: lang.label(&l.product, Product::from_code(&l.product).map(|p| p.label_zh())),
                stage: lang.label(&l.stage, LeadStage::from_code(&l.stage).map(|s| s.label_zh())),
                amount: format::money(l.amount_fen),
            })
            .collect(),
        flags: reasons
            .into_iter()
            .map(|(f, zh, en)| FlagView {
                code: f.code(),
                label: flag_label(f, lang),
                reason: if lang == Lang::Zh { zh } else { en },
            })
            .collect(),
        review_code: row.review.clone(),
        review: review_label(&row.review, lang),
        reviewer: row.reviewer_name.clone().unwrap_or_default(),
        review_comment: row.review_comment.clone().unwrap_or_default(),
        review_at: row.reviewed_at.map(|at| format::datetime(at, tz)).unwrap_or_default(),
        earlier: earlier.iter().filter(|e| e.visit_id != row.visit_id).map(|e| row_view(e, &viewer)).collect(),
        plot,
        decided: q.decided > 0,
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    /// The visits of a selection (the list's checkboxes): `customer.visit` each.
    #[serde(default)]
    visit: Vec<String>,
    /// Where to go back to (the list with its filters).
    #[serde(default)]
    back: String,
}

/// Checks a decision's form: the session's token, a known decision, a comment where one is
/// needed and not too long.
fn decision_of(viewer: &Viewer, form: &ReviewForm) -> Result<(ReviewDecision, String), WebError> {
    let lang = viewer.lang;
    viewer.check_csrf(&form.csrf)?;
    let decision =
        ReviewDecision::from_code(&form.decision).ok_or(WebError::BadRequest(lang, viewer.t().bad_request))?;
    let comment = form.comment.trim().to_string();
    if comment.chars().count() > MAX_COMMENT {
        return Err(WebError::BadRequest(lang, viewer.t().too_long));
    }
    if comment.is_empty() && decision != ReviewDecision::Approved {
        return Err(WebError::BadRequest(lang, viewer.t().comment_required));
    }
    Ok((decision, comment))
}

/// Writes one decision per visit, all in one transaction (all or none). A visit of another branch
/// or none is not found.
async fn decide(
    state: &AppState,
    viewer: &Viewer,
    visits: Vec<(String, String)>,
    decision: ReviewDecision,
    comment: String,
) -> Result<usize, WebError> {
    let lang = viewer.lang;
    if visits.is_empty() {
        return Err(WebError::BadRequest(lang, viewer.t().none_selected));
    }
    if visits.len() > MAX_SELECTION || visits.iter().any(|(c, v)| c.len() > 64 || v.len() > 64) {
        return Err(WebError::BadRequest(lang, viewer.t().too_long));
    }
    // Decisions are the viewer's, in the branch the pages show.
    let mut by = viewer.user.clone();
    by.branch_id = viewer.branch_id.clone();
    let outcome = state
        .db
        .write(move |s| {
            let now = now_ms();
            for (customer_id, visit_id) in &visits {
                let Some(row) = s.rm_visit(customer_id, visit_id)?.filter(|r| r.branch_id == by.branch_id) else {
                    return Err(PushError::NotFound);
                };
                let review = Review {
                    decision,
                    comment: comment.clone(),
                    reviewer_id: by.id.clone(),
                    reviewer_name: by.display_name.clone(),
                    at: now,
                };
                let action = Action::WriteReview { visit_id: visit_id.clone(), review };
                crate::customers::write_decision(s, &by, &row.customer_id, &action, now)?;
            }
            Ok(visits.len())
        })
        .await;
    match outcome {
        Ok(n) => Ok(n),
        Err(crate::error::AppError::NotFound) => Err(WebError::NotFound(lang)),
        Err(crate::error::AppError::Refused { .. }) => Err(WebError::Forbidden(lang)),
        Err(e) => Err(WebError::from_app(lang, e)),
    }
}

pub async fn review_one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((customer_id, visit_id)): Path<(String, String)>,
    WebForm(form): WebForm<ReviewForm>,
) -> Result<Response, WebError> {
    let (decision, comment) = decision_of(&viewer, &form)?;
    let target = format!(
        "/visits/{}/{}?decided=1",
        super::error::urlencoding(&customer_id),
        super::error::urlencoding(&visit_id)
    );
    decide(&state, &viewer, vec![(customer_id, visit_id)], decision, comment).await?;
    Ok(Redirect::to(&target).into_response())
}

pub async fn review_selected(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<ReviewForm>,
) -> Result<Response, WebError> {
    let (decision, comment) = decision_of(&viewer, &form)?;
    // Each checkbox names `customer.visit` (IDs hold no dot); anything else names no visit.
    let visits = form
        .visit
        .iter()
        .map(|v| v.split_once('.').map(|(c, v)| (c.to_string(), v.to_string())).unwrap_or_default())
        .collect();
    let n = decide(&state, &viewer, visits, decision, comment).await?;
    let back = match form.back.strip_prefix("/visits") {
        Some(rest) if rest.is_empty() || rest.starts_with('?') => form.back.clone(),
        _ => "/visits".to_string(),
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{sep}decided={n}")).into_response())
}

//! The managers' monthly scorecard (绩效考核), side by side: visits and the coverage of their
//! villages, new customers, leads and amounts won against their targets, complaints handled
//! within the branch's limit, visits returned by a reviewer. As a page and as CSV (Excel opens
//! it: UTF-8 with a byte-order mark).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::error::WebError;
use super::format;
use super::i18n::{Lang, Texts};
use super::session::Viewer;
use crate::accounts::AccountError;
use crate::routes::{AppState, now_ms};
use crate::targets::Scorecard;

#[derive(Deserialize, Default)]
pub struct MonthQuery {
    #[serde(default)]
    month: String,
}

/// One manager's row, as text.
pub struct Line {
    pub cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "scorecard.html")]
struct ScorecardPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    month: String,
    header: Vec<&'static str>,
    lines: Vec<Line>,
}

fn header(t: &Texts) -> Vec<&'static str> {
    vec![
        t.manager,
        t.visits_done,
        t.coverage,
        t.new_customers,
        t.leads_won,
        t.amount_won,
        t.complaints_in_time,
        t.complaints_late,
        t.reviews_returned,
    ]
}

fn cells(c: &Scorecard) -> Vec<String> {
    let of = |d: i64, t: i64| if t > 0 { format!("{d} / {t}") } else { d.to_string() };
    let coverage = if c.village_customers > 0 {
        format!("{}% ({}/{})", c.village_visited * 100 / c.village_customers, c.village_visited, c.village_customers)
    } else {
        "—".to_string()
    };
    vec![
        c.manager_name.clone(),
        of(c.done.visits, c.target.visits),
        coverage,
        of(c.done.new_customers, c.target.new_customers),
        of(c.done.leads_won, c.target.leads_won),
        if c.target.amount_won_fen > 0 {
            format!("{} / {}", format::money(c.done.amount_won_fen), format::money(c.target.amount_won_fen))
        } else {
            format::money(c.done.amount_won_fen)
        },
        if c.complaints > 0 { format!("{} / {}", c.complaints_in_time, c.complaints) } else { "—".to_string() },
        c.complaints_late.to_string(),
        c.reviews_returned.to_string(),
    ]
}

/// The month asked for (`2026-11`), this month in the branch's time by default; `None` for
/// anything else.
async fn read(state: &AppState, viewer: &Viewer, q: &MonthQuery) -> Result<(String, Vec<Scorecard>), WebError> {
    let lang = viewer.lang;
    let first = if q.month.is_empty() {
        jiff::Timestamp::from_millisecond(now_ms())
            .map(|t| t.to_zoned(viewer.tz.clone()).date().first_of_month())
            .map_err(|_| WebError::Internal(lang))?
    } else {
        crate::targets::parse_month(&q.month).ok_or(WebError::BadRequest(lang, viewer.t().bad_request))?
    };
    let branch = viewer.branch_id.clone();
    let cards = state
        .db
        .read(move |s| Ok::<_, AccountError>(crate::targets::scorecards(s, &branch, first, now_ms())?))
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    Ok((first.strftime("%Y-%m").to_string(), cards))
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<MonthQuery>,
) -> Result<Response, WebError> {
    let (month, cards) = read(&state, &viewer, &q).await?;
    let t = viewer.t();
    let html = ScorecardPage {
        t,
        lang: viewer.lang.html(),
        v: &viewer,
        month,
        header: header(t),
        lines: cards.iter().map(|c| Line { cells: cells(c) }).collect(),
    }
    .render()
    .map_err(|_| WebError::Internal(viewer.lang))?;
    Ok(Html(html).into_response())
}

pub async fn csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<MonthQuery>,
) -> Result<Response, WebError> {
    let (month, cards) = read(&state, &viewer, &q).await?;
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(vec![0xEF, 0xBB, 0xBF]);
    // Writing into memory fails only on a bug; such a row is left out rather than the export.
    let _ = writer.write_record(header(viewer.t()));
    for c in &cards {
        let _ = writer.write_record(cells(c).iter().map(|cell| super::export::cell(cell)));
    }
    let name = match viewer.lang {
        Lang::Zh => {
            format!("attachment; filename=\"scorecard-{month}.csv\"; filename*=UTF-8''%E7%BB%A9%E6%95%88-{month}.csv")
        }
        Lang::En => format!("attachment; filename=\"scorecard-{month}.csv\""),
    };
    let bytes = writer.into_inner().unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], bytes)
        .into_response())
}

//! Duplicate customers (查重) across the branch: pairs sharing an ID number or a phone, masked,
//! each with a form to merge one file into the other (the kept one takes both histories).

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::WebError;
use super::form::WebForm;
use super::i18n::Texts;
use super::session::Viewer;
use crate::accounts::AccountError;
use crate::read_model::CustomerRm;
use crate::routes::{AppState, now_ms};

/// One side of a pair as the page shows it: masked.
pub struct Side {
    pub id: String,
    pub name: String,
    pub village: String,
    pub phone: String,
    pub id_number: String,
    pub owner: String,
}

pub struct PairLine {
    pub a: Side,
    pub b: Side,
    pub matched: &'static str,
}

impl PairLine {
    pub fn sides(&self) -> [&Side; 2] {
        [&self.a, &self.b]
    }
}

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    pairs: Vec<PairLine>,
    merged: bool,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    merged: String,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    let branch = viewer.branch_id.clone();
    let rows = state
        .db
        .read(move |s| {
            let mut out = Vec::new();
            for pair in crate::duplicates::pairs(s, &branch)? {
                if let (Some(a), Some(b)) = (s.customer_row(&pair.a)?, s.customer_row(&pair.b)?) {
                    out.push((a, b, pair.by_id));
                }
            }
            Ok::<_, AccountError>(out)
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let t = viewer.t();
    let side = |c: &CustomerRm| Side {
        id: c.customer_id.clone(),
        name: c.name.clone(),
        village: c.village.clone(),
        phone: c.phone_masked.clone().unwrap_or_default(),
        id_number: c.id_number_masked.clone().unwrap_or_default(),
        owner: c.owner_name.clone().unwrap_or_else(|| t.pool.to_string()),
    };
    let html = DuplicatesPage {
        t,
        lang: lang.html(),
        v: &viewer,
        pairs: rows
            .iter()
            .map(|(a, b, by_id)| PairLine {
                a: side(a),
                b: side(b),
                matched: if *by_id { t.id_number } else { t.phone },
            })
            .collect(),
        merged: q.merged == "1",
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kept: String,
    #[serde(default)]
    merged: String,
}

/// Merges `merged` into `kept` (the supervisor chose which file stays).
pub async fn merge(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<MergeForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let user = viewer.user.clone();
    state
        .db
        .write(move |s| crate::duplicates::merge(s, &user, &form.kept, &form.merged, now_ms()))
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    Ok(Redirect::to("/duplicates?merged=1").into_response())
}

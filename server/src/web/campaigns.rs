//! Campaigns on the supervisor's pages: the branch's campaigns with how far each got (members,
//! contacted, responded, converted), and a form to start one.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use fieldsync_core::domain::{Lifecycle, Product, ValueTier};
use serde::Deserialize;

use super::error::WebError;
use super::form::WebForm;
use super::format;
use super::i18n::Texts;
use super::session::Viewer;
use crate::accounts::AccountError;
use crate::routes::{AppState, now_ms};
use crate::store::campaigns::MemberFilter;

pub struct CampaignLine {
    pub name: String,
    pub product: String,
    pub period: String,
    pub members: i64,
    pub contacted: i64,
    pub responded: i64,
    pub converted: i64,
}

/// A choice of a select: (value, label).
type Options = Vec<(String, String)>;

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    v: &'a Viewer,
    lines: Vec<CampaignLine>,
    products: Options,
    villages: Vec<String>,
    tiers: Options,
    stages: Options,
    created: bool,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    created: String,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Result<Response, WebError> {
    let lang = viewer.lang;
    let branch = viewer.branch_id.clone();
    let (rows, villages) = state
        .db
        .read(move |s| {
            let mut rows = Vec::new();
            for c in s.campaigns(&branch)? {
                let counts = s.campaign_counts(&c)?;
                rows.push((c, counts));
            }
            Ok::<_, AccountError>((rows, s.branch_villages(&branch)?))
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let label = |code: &str, zh: Option<&'static str>| lang.label(code, zh);
    let html = CampaignsPage {
        t: viewer.t(),
        lang: lang.html(),
        v: &viewer,
        lines: rows
            .into_iter()
            .map(|(c, n)| CampaignLine {
                product: label(&c.product, Product::from_code(&c.product).map(|p| p.label_zh())),
                period: format!(
                    "{} – {}",
                    format::date(c.starts_at, &viewer.tz),
                    format::date(c.ends_at - 1, &viewer.tz)
                ),
                name: c.name,
                members: n.members,
                contacted: n.contacted,
                responded: n.responded,
                converted: n.converted,
            })
            .collect(),
        products: Product::ALL.iter().map(|p| (p.code().to_string(), label(p.code(), Some(p.label_zh())))).collect(),
        villages,
        tiers: ValueTier::ALL.iter().map(|t| (t.code().to_string(), label(t.code(), Some(t.label_zh())))).collect(),
        stages: Lifecycle::ALL.iter().map(|l| (l.code().to_string(), label(l.code(), Some(l.label_zh())))).collect(),
        created: q.created == "1",
    }
    .render()
    .map_err(|_| WebError::Internal(lang))?;
    Ok(Html(html).into_response())
}

#[derive(Deserialize)]
pub struct CampaignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    village: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    lifecycle: String,
    #[serde(default)]
    tag: String,
}

/// Starts a campaign: its members get their task with their manager's next sync.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<CampaignForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let lang = viewer.lang;
    let bad = || WebError::BadRequest(lang, viewer.t().bad_request);
    let product = Product::from_code(&form.product).ok_or_else(bad)?;
    let starts_at = format::day_start(&form.starts, &viewer.tz).ok_or_else(bad)?;
    let ends_at = format::day_end(&form.ends, &viewer.tz).ok_or_else(bad)?;
    let pick = |v: &str| (!v.is_empty()).then(|| v.to_string());
    if pick(&form.tier).is_some_and(|t| ValueTier::from_code(&t).is_none())
        || pick(&form.lifecycle).is_some_and(|l| Lifecycle::from_code(&l).is_none())
        || form.village.chars().count() > 50
        || form.tag.chars().count() > 20
    {
        return Err(bad());
    }
    let new = crate::campaigns::NewCampaign {
        name: form.name.clone(),
        product,
        starts_at,
        ends_at,
        filter: MemberFilter {
            village: pick(&form.village),
            tier: pick(&form.tier),
            lifecycle: pick(&form.lifecycle),
            tag: pick(form.tag.trim()),
        },
    };
    let user = viewer.user.clone();
    state
        .db
        .write(move |s| crate::campaigns::create(s, &user, &new, now_ms()))
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    Ok(Redirect::to("/campaigns?created=1").into_response())
}

//! The supervisor web app: server-rendered pages (askama templates in `server/templates/`) for
//! supervisors and admins at a branch PC, Simplified Chinese first, English selectable.
//!
//! - [`session`]: sign-in, sessions, the forms' token, the [`session::Viewer`] of each page;
//! - [`visits`]: the visit log, one visit, and review decisions; [`export`]: the log as CSV;
//! - [`overview`]: the branch at a glance, charts drawn by the vendored Apache ECharts;
//! - [`customers`]: one customer whole, revealing personal data (audited), the audit trail;
//! - [`i18n`], [`format`], [`plot`]: languages, how values are written, the visit's plot;
//! - [`error`]: what a page answers when it cannot show what was asked.
//!
//! Every answer carries the security headers of [`secure_headers`]: a strict Content-Security-Policy
//! (no inline script or style, nothing from another origin), no framing, no sniffing. Static files
//! are compiled into the binary.

pub mod campaigns;
pub mod customers;
pub mod duplicates;
pub mod error;
pub mod export;
pub mod form;
pub mod format;
pub mod i18n;
pub mod overview;
pub mod plot;
pub mod rules;
pub mod scorecard;
pub mod session;
pub mod visits;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::routes::AppState;
use error::WebError;
use session::Viewer;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/visits") }))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/branch", post(session::choose_branch))
        .route("/lang/{code}", get(session::set_lang))
        .route("/visits", get(visits::list))
        .route("/visits.csv", get(export::visits_csv))
        .route("/visits/review", post(visits::review_selected))
        .route("/visits/{customer_id}/{visit_id}", get(visits::page))
        .route("/visits/{customer_id}/{visit_id}/review", post(visits::review_one))
        .route("/customers/{customer_id}", get(customers::page))
        .route("/customers/{customer_id}/reveal", post(customers::reveal))
        .route("/customers/{customer_id}/owner", post(customers::assign))
        .route("/customers/{customer_id}/lock", post(customers::lock))
        .route("/audit", get(customers::audit))
        .route("/duplicates", get(duplicates::page))
        .route("/duplicates/merge", post(duplicates::merge))
        .route("/overview", get(overview::page))
        .route("/scorecard", get(scorecard::page))
        .route("/campaigns", get(campaigns::page).post(campaigns::create))
        .route("/rules", get(rules::page))
        .route("/rules/pool", post(rules::set_pool))
        .route("/rules/customers", post(rules::set_customers))
        .route("/rules/target", post(rules::set_target))
        .route("/scorecard.csv", get(scorecard::csv))
        .route("/photos/{hash}", get(photo))
        .route("/static/{file}", get(static_file))
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
     font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every answer. A sync frame, which no browser renders, carries
/// only `nosniff`: a tablet on an EDGE link pays for every byte of a no-op sync, and the page
/// headers are ~300 of them.
pub async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let sync_frame = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == fieldsync_core::sync::protocol::CONTENT_TYPE.as_bytes());
    if sync_frame {
        return response;
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    let is_html = headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The static files, compiled in: (name, content type, bytes).
const STATIC: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../static/app.js")),
    // Apache ECharts 6.1.0 (Apache-2.0), vendored: see static/vendor/echarts/README.
    (
        "vendor-echarts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/echarts/echarts.common.min.js"),
    ),
    ("vendor-echarts-LICENSE.txt", "text/plain; charset=utf-8", include_bytes!("../../static/vendor/echarts/LICENSE")),
    ("vendor-echarts-NOTICE.txt", "text/plain; charset=utf-8", include_bytes!("../../static/vendor/echarts/NOTICE")),
    (
        "vendor-echarts-LICENSE-d3.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/echarts/licenses/LICENSE-d3"),
    ),
];

async fn static_file(Path(file): Path<String>) -> Response {
    match STATIC.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *bytes)
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A visit's photo, for a viewer whose branch sees its customer.
async fn photo(State(state): State<AppState>, viewer: Viewer, Path(hash): Path<String>) -> Result<Response, WebError> {
    let mut as_branch = viewer.user.clone();
    as_branch.branch_id = viewer.branch_id.clone();
    let bytes =
        crate::photos::visible_bytes(&state, as_branch, &hash).await.map_err(|e| WebError::from_app(viewer.lang, e))?;
    // Only what the bytes are: a JPEG or a PNG shows as one, anything else downloads.
    let content_type = match bytes.as_slice() {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, max-age=86400, immutable")], bytes)
        .into_response())
}

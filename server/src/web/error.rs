//! What a page answers when it cannot show what was asked: a small page in the viewer's language
//! with the status, or a redirect to the sign-in page. Never a stored value.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::{Lang, Texts};
use crate::error::AppError;

#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    NotFound(Lang),
    Forbidden(Lang),
    /// A form without its session's token, or with another one.
    Csrf(Lang),
    /// Input the page cannot take; the text says which rule it broke.
    BadRequest(Lang, &'static str),
    /// A form larger than any page sends.
    TooLarge(Lang),
    /// The write policy (or the domain) refused the decision; the text says why, in the page's
    /// language.
    Refused(Lang, String),
    Internal(Lang),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    message: &'a str,
}

impl WebError {
    /// A failure of the server's own parts, logged, shown as a server error.
    pub fn from_app(lang: Lang, e: AppError) -> WebError {
        match e {
            AppError::NotFound => WebError::NotFound(lang),
            AppError::Forbidden => WebError::Forbidden(lang),
            AppError::Refused { message_zh, message_en, .. } => {
                WebError::Refused(lang, if lang == Lang::Zh { message_zh } else { message_en })
            }
            other => {
                tracing::error!(error = %other, "a page failed");
                WebError::Internal(lang)
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let refused;
        let (status, lang, message) = match self {
            WebError::SignIn { next } => {
                let target = format!("/login?next={}", urlencoding(&next));
                return Redirect::to(&target).into_response();
            }
            WebError::NotFound(l) => (StatusCode::NOT_FOUND, l, l.texts().not_found),
            WebError::Forbidden(l) => (StatusCode::FORBIDDEN, l, l.texts().forbidden),
            WebError::Csrf(l) => (StatusCode::FORBIDDEN, l, l.texts().csrf_failed),
            WebError::BadRequest(l, m) => (StatusCode::BAD_REQUEST, l, m),
            WebError::TooLarge(l) => (StatusCode::PAYLOAD_TOO_LARGE, l, l.texts().too_long),
            WebError::Refused(l, m) => {
                refused = m;
                (StatusCode::UNPROCESSABLE_ENTITY, l, refused.as_str())
            }
            WebError::Internal(l) => (StatusCode::INTERNAL_SERVER_ERROR, l, l.texts().server_error),
        };
        let page = ErrorPage { t: lang.texts(), lang: lang.html(), message };
        match page.render() {
            Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

/// Percent-encodes a path for a query value (only what a local path may hold passes through).
pub fn urlencoding(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

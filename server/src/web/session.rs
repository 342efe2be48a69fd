//! Signing in to the supervisor pages: browser sessions kept in the store (any server instance can
//! serve any request), their cookie (HttpOnly, SameSite=Strict, Secure over TLS), the token every
//! form carries against cross-site requests, and the [`Viewer`] every page is for.
//!
//! The sign-in shares the API's failure limits (per username and per client address); managers
//! are refused (their app is the tablet); a supervisor sees their own branch, an admin of the head
//! office chooses one.

use std::sync::Arc;

use askama::Template;
use axum::extract::Query;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::WebError;
use super::form::WebForm;
use super::i18n::{Lang, Texts};
use crate::accounts::{self, AccountError, LoginAttempt, Role, User, Via};
use crate::routes::{AppState, ClientAddr, now_ms};
use crate::store::Store;
use crate::store::sessions::SessionRecord;

pub const SESSION_COOKIE: &str = "fs_session";
/// Before sign-in: the token the sign-in form carries (double submit), against login CSRF.
const LOGIN_COOKIE: &str = "fs_login";
const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn new_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// A session or sign-in cookie: HttpOnly, SameSite=Strict, Secure when served over TLS.
fn set_cookie(name: &str, value: String, max_age_s: i64, secure: bool) -> String {
    Cookie::build((name.to_string(), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_s))
        .build()
        .to_string()
}

/// Who a page is for: a signed-in supervisor or admin, the branch the pages show, and their
/// language.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub branch_id: String,
    pub branch_name: String,
    pub tz: jiff::tz::TimeZone,
    /// The token this session's forms carry.
    pub csrf: String,
    pub lang: Lang,
    /// Whether the viewer may choose another branch (an admin of the head office), and the
    /// branches to choose from: (ID, name).
    pub chooses_branch: bool,
    pub branches: Vec<(String, String)>,
    /// This page's path and query (where the language switch comes back to).
    pub here: String,
    token_hash: Vec<u8>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// The other language's code, for the switch.
    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "en",
            Lang::En => "zh",
        }
    }
}

impl Viewer {
    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// Refuses a form that does not carry this session's token.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if bool::from(token.as_bytes().ct_eq(self.csrf.as_bytes())) { Ok(()) } else { Err(WebError::Csrf(self.lang)) }
    }
}

/// A live session as the store holds it.
struct Found {
    user: User,
    session: SessionRecord,
    branch_name: String,
    tz: String,
    /// Every branch, for an admin of the head office to choose from (empty for anyone else).
    branches: Vec<(String, String)>,
}

/// The session behind a cookie's token: its user (active, not a manager) and branch.
fn find_session(store: &dyn Store, token_hash: &[u8], now: i64) -> Result<Option<Found>, AccountError> {
    let Some(session) = store.session(token_hash)?.filter(|s| s.expires_at > now) else { return Ok(None) };
    let Some(user) = accounts::user_by_id(store, &session.user_id)?.filter(|u| u.role != Role::Manager) else {
        return Ok(None);
    };
    let Some((branch_name, tz)) = store.branch(&session.branch_id)? else { return Ok(None) };
    let head_office = user.role == Role::Admin && store.is_head_office(&user.id)?;
    let branches = if head_office { store.branches()? } else { Vec::new() };
    Ok(Some(Found { user, session, branch_name, tz, branches }))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = Lang::of(&parts.headers);
        let next = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let sign_in = || WebError::SignIn { next: next.clone() };
        let token = cookie(&parts.headers, SESSION_COOKIE).filter(|t| t.len() <= 128).ok_or_else(sign_in)?;
        let hash = accounts::token_hash(token);
        let h = hash.clone();
        let found = state
            .db
            .read(move |s| find_session(s, &h, now_ms()))
            .await
            .map_err(|e| WebError::from_app(lang, e))?
            .ok_or_else(sign_in)?;
        let Found { user, session, branch_name, tz, branches } = found;
        let tz = jiff::tz::TimeZone::get(&tz).unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
        Ok(Viewer {
            user,
            branch_id: session.branch_id,
            branch_name,
            tz,
            csrf: session.csrf,
            lang,
            chooses_branch: !branches.is_empty(),
            branches,
            here: next,
            token_hash: hash,
        })
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path of this site is a place to go back to after signing in.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() <= 512 => p,
        _ => "/visits",
    }
}

fn login_page(
    lang: Lang,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
    secure: bool,
) -> Response {
    let csrf = new_secret();
    let page = LoginPage { t: lang.texts(), lang: lang.html(), csrf: &csrf, next, username, error };
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::SET_COOKIE, set_cookie(LOGIN_COOKIE, csrf.clone(), 3600, secure)),
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            ],
            html,
        )
            .into_response(),
        Err(_) => WebError::Internal(lang).into_response(),
    }
}

pub async fn login_form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::of(&headers);
    login_page(lang, StatusCode::OK, local_path(q.next.as_deref()), "", None, state.secure_cookies)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Why a sign-in was refused, as the page says it.
enum Refused {
    Wrong,
    Manager,
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, WebError> {
    let lang = Lang::of(&headers);
    let t = lang.texts();
    let next = local_path(Some(&form.next)).to_string();
    let secure = state.secure_cookies;
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return Err(WebError::Csrf(lang));
    }
    // Shown back in the form: only a plausible username (never a password, never a long value).
    let shown: String = form.username.chars().take(64).filter(|c| !c.is_control()).collect();
    if form.username.trim().is_empty() || form.password.is_empty() {
        return Ok(login_page(lang, StatusCode::BAD_REQUEST, &next, &shown, Some(t.login_invalid), secure));
    }
    let attempt = Arc::new(LoginAttempt { username: form.username, password: form.password, via: Via::Web, client });
    let a = attempt.clone();
    let check = match state.db.read(move |s| accounts::login_check(s, &a, now_ms())).await {
        Ok(check) => check,
        Err(crate::error::AppError::Account(AccountError::RateLimited)) => {
            return Ok(login_page(lang, StatusCode::TOO_MANY_REQUESTS, &next, &shown, Some(t.login_limited), secure));
        }
        Err(e) => return Err(WebError::from_app(lang, e)),
    };
    let hash = check.password_hash();
    let verified = {
        let _permit = state.hashing.acquire().await.map_err(|_| WebError::Internal(lang))?;
        let a = attempt.clone();
        tokio::task::spawn_blocking(move || accounts::verify_password(hash.as_deref(), &a.password))
            .await
            .map_err(|_| WebError::Internal(lang))?
    };
    let a = attempt.clone();
    let outcome = state
        .db
        .write(move |s| {
            let now = now_ms();
            let user = match accounts::login_finish(s, &a, check, verified, now)? {
                Ok((_, user)) => user,
                Err(_) => return Ok::<_, AccountError>(Err(Refused::Wrong)),
            };
            if user.role == Role::Manager {
                return Ok(Err(Refused::Manager));
            }
            Ok(Ok(open_session(s, &user, now)?))
        })
        .await
        .map_err(|e| WebError::from_app(lang, e))?;
    let (status, message) = match outcome {
        Ok((token, _csrf)) => {
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            let session = set_cookie(SESSION_COOKIE, token, SESSION_TTL_MS / 1000, secure);
            let cleared = set_cookie(LOGIN_COOKIE, String::new(), 0, secure);
            for value in [session, cleared] {
                if let Ok(v) = value.parse() {
                    headers.append(header::SET_COOKIE, v);
                }
            }
            return Ok(response);
        }
        Err(Refused::Wrong) => (StatusCode::UNAUTHORIZED, t.login_wrong),
        Err(Refused::Manager) => (StatusCode::FORBIDDEN, t.login_managers),
    };
    Ok(login_page(lang, status, &next, &shown, Some(message), secure))
}

/// Opens a session for `user` on their own branch, in the caller's transaction (clearing expired
/// ones); returns its token and its forms' token.
pub fn open_session(store: &dyn Store, user: &User, now: i64) -> Result<(String, String), AccountError> {
    store.delete_expired_sessions(now)?;
    let token = new_secret();
    let csrf = new_secret();
    let record = SessionRecord {
        user_id: user.id.clone(),
        branch_id: user.branch_id.clone(),
        csrf: csrf.clone(),
        expires_at: now + SESSION_TTL_MS,
    };
    store.insert_session(&accounts::token_hash(&token), &record, now)?;
    accounts::audit(store, now, &user.id, "web.login", &user.branch_id)?;
    Ok((token, csrf))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session on the server and clears its cookie.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let hash = viewer.token_hash.clone();
    let user_id = viewer.user.id.clone();
    state
        .db
        .write(move |s| {
            s.delete_session(&hash)?;
            accounts::audit(s, now_ms(), &user_id, "web.logout", "")
        })
        .await
        .map_err(|e| WebError::from_app(viewer.lang, e))?;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, String::new(), 0, state.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct BranchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    branch: String,
}

/// An admin of the head office chooses the branch the pages show.
pub async fn choose_branch(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<BranchForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if !viewer.chooses_branch {
        return Err(WebError::Forbidden(viewer.lang));
    }
    let hash = viewer.token_hash.clone();
    let branch = form.branch;
    let found = state
        .db
        .write(move |s| {
            if s.branch(&branch)?.is_none() {
                return Ok::<_, AccountError>(false);
            }
            s.set_session_branch(&hash, &branch)?;
            Ok(true)
        })
        .await
        .map_err(|e| WebError::from_app(viewer.lang, e))?;
    if !found {
        return Err(WebError::NotFound(viewer.lang));
    }
    Ok(Redirect::to("/visits").into_response())
}

#[derive(Deserialize)]
pub struct LangQuery {
    next: Option<String>,
}

/// Switches the pages' language (a cookie the pages read; not a secret).
pub async fn set_lang(axum::extract::Path(code): axum::extract::Path<String>, Query(q): Query<LangQuery>) -> Response {
    let lang = if code == "en" { "en" } else { "zh" };
    let cookie = Cookie::build((super::i18n::LANG_COOKIE, lang))
        .path("/")
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::days(365))
        .build()
        .to_string();
    let mut response = Redirect::to(local_path(q.next.as_deref())).into_response();
    if let Ok(v) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

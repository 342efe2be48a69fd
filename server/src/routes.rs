//! The HTTP surface.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, Role, User};
use crate::db::Db;
use crate::error::AppError;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub data_dir: Arc<PathBuf>,
    pub db: Db,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/login", post(login))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/devices/{device_id}/revoke", post(revoke))
        .fallback(not_found)
        .with_state(state)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    if !state.data_dir.is_dir() {
        return Err(AppError::Internal("data folder is missing".into()));
    }
    state.db.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(accounts::AccountError::from)).await?;
    Ok(Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") }))
}

async fn not_found() -> AppError {
    AppError::NotFound
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
    device_id: String,
}

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub branch_id: String,
    pub outlet_id: Option<String>,
    pub display_name: String,
    pub role: &'static str,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            branch_id: u.branch_id.clone(),
            outlet_id: u.outlet_id.clone(),
            display_name: u.display_name.clone(),
            role: u.role.code(),
        }
    }
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    user: UserView,
}

async fn login(State(state): State<AppState>, Json(req): Json<LoginRequest>) -> Result<Json<LoginResponse>, AppError> {
    let (token, user) = state
        .db
        .call(move |conn| accounts::login(conn, &req.username, &req.password, &req.device_id, now_ms()))
        .await?;
    tracing::info!(user = %user.id, "device signed in");
    Ok(Json(LoginResponse { token, user: UserView::from(&user) }))
}

/// The signed-in user of a request: `Authorization: Bearer <token>` from the device named in
/// `X-Device-Id`, the device the token was issued to.
pub struct Authed(pub User);

impl FromRequestParts<AppState> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let token = header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
            .ok_or(accounts::AccountError::Unauthenticated)?;
        let device = header("x-device-id").ok_or(accounts::AccountError::Unauthenticated)?;
        let user = state.db.call(move |conn| accounts::authenticate(conn, &token, &device)).await?;
        Ok(Authed(user))
    }
}

async fn whoami(Authed(user): Authed) -> Json<UserView> {
    Json(UserView::from(&user))
}

async fn revoke(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(device_id): Path<String>,
) -> Result<StatusCode, AppError> {
    if user.role == Role::Manager {
        return Err(AppError::Forbidden);
    }
    state.db.call(move |conn| accounts::revoke_device(conn, &device_id, Some(&user), now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The HTTP surface.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use crate::error::AppError;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub data_dir: Arc<PathBuf>,
}

pub fn app(state: AppState) -> Router {
    Router::new().route("/healthz", get(healthz)).fallback(not_found).with_state(state)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    // The data folder vanishing under a running server is the one thing this can see today.
    if !state.data_dir.is_dir() {
        return Err(AppError::Internal("data folder is missing".into()));
    }
    Ok(Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") }))
}

async fn not_found() -> AppError {
    AppError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn state(dir: &std::path::Path) -> AppState {
        AppState { data_dir: Arc::new(dir.to_path_buf()) }
    }

    async fn get(app: Router, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn healthz_answers_ok() {
        let dir = tempfile::tempdir().unwrap();
        let (status, body) = get(app(state(dir.path())), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }

    #[tokio::test]
    async fn healthz_fails_when_the_data_folder_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("removed");
        let (status, body) = get(app(state(&gone)), "/healthz").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal");
        assert!(body["message_zh"].as_str().unwrap().contains("服务器"));
    }

    #[tokio::test]
    async fn unknown_paths_get_a_clear_404() {
        let dir = tempfile::tempdir().unwrap();
        let (status, body) = get(app(state(dir.path())), "/../../etc/passwd").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["code"], "not_found");
    }
}

//! The error every handler returns. Answers carry a stable code and messages in Simplified
//! Chinese first and English; never personal data.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Body {
    code: &'static str,
    message_zh: &'static str,
    message_en: &'static str,
}

impl AppError {
    fn parts(&self) -> (StatusCode, Body) {
        match self {
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                Body { code: "not_found", message_zh: "请求的资源不存在", message_en: "not found" },
            ),
            AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Body {
                    code: "internal",
                    message_zh: "服务器内部错误，请稍后重试",
                    message_en: "internal error; try again later",
                },
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            // The detail goes to the log only; it never names customers (see core's error texts).
            tracing::error!(%detail, "request failed");
        }
        let (status, body) = self.parts();
        (status, Json(body)).into_response()
    }
}

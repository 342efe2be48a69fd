//! The error every handler returns. Answers carry a stable code and messages in Simplified
//! Chinese first and English; never personal data.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::accounts::AccountError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Body {
    code: &'static str,
    message_zh: &'static str,
    message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

fn body(code: &'static str, message_zh: &'static str, message_en: &str) -> Body {
    Body { code, message_zh, message_en: message_en.to_string(), field: None }
}

impl AppError {
    fn parts(&self) -> (StatusCode, Body) {
        use AccountError as A;
        match self {
            AppError::Account(A::Invalid { field }) => (
                StatusCode::BAD_REQUEST,
                Body { field: Some(field), ..body("invalid", "输入不符合要求", &format!("{field} is invalid")) },
            ),
            AppError::Account(A::NotFound { .. }) | AppError::NotFound => {
                (StatusCode::NOT_FOUND, body("not_found", "请求的资源不存在", "not found"))
            }
            AppError::Account(A::UsernameTaken) => {
                (StatusCode::CONFLICT, body("username_taken", "用户名已被使用", "the username is taken"))
            }
            AppError::Account(A::WrongCredentials) => {
                (StatusCode::UNAUTHORIZED, body("wrong_credentials", "用户名或密码错误", "wrong username or password"))
            }
            AppError::Account(A::RateLimited) => (
                StatusCode::TOO_MANY_REQUESTS,
                body(
                    "rate_limited",
                    "密码错误次数过多，请15分钟后再试",
                    "too many failed logins; try again in 15 minutes",
                ),
            ),
            AppError::Account(A::DeviceRevoked) => (
                StatusCode::GONE,
                body(
                    "device_revoked",
                    "此设备已被停用，本机数据将被清除",
                    "this device has been revoked; local data will be wiped",
                ),
            ),
            AppError::Account(A::Unauthenticated) => {
                (StatusCode::UNAUTHORIZED, body("unauthenticated", "请重新登录", "please sign in again"))
            }
            AppError::Forbidden => (StatusCode::FORBIDDEN, body("forbidden", "没有权限执行此操作", "not allowed")),
            AppError::Account(A::Hashing | A::Sqlite(_)) | AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                body("internal", "服务器内部错误，请稍后重试", "internal error; try again later"),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = self.parts();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Details go to the log only; they name tables and IDs, never customers.
            tracing::error!(error = %self, "request failed");
        }
        (status, Json(body)).into_response()
    }
}

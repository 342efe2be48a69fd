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
    #[error("refused: {code}")]
    Refused { code: &'static str, message_zh: String, message_en: String },
    #[error("upgrade required")]
    UpgradeRequired,
    #[error("bad sync frame: {0}")]
    BadFrame(String),
    #[error("the photo is too large")]
    PhotoTooLarge,
    #[error("the upload offset does not match the {received} bytes received")]
    PhotoOffsetMismatch { received: u64 },
    #[error("the photo does not match its hash")]
    PhotoHashMismatch,
    #[error("the photo is being uploaded by another request")]
    PhotoUploadBusy,
    #[error("over the photo quota")]
    PhotoQuota,
    #[error("over the limit: {0:?}")]
    TooLarge(crate::limits::Limit),
    /// A JSON body that does not parse; the value is never echoed.
    #[error("the request body is not the JSON expected")]
    BadJson,
    #[error("internal error: {0}")]
    Internal(String),
    /// The database cannot be reached just now (PostgreSQL restarting, connections lost): retry.
    #[error("the store is unavailable")]
    Unavailable,
}

#[derive(Serialize)]
struct Body {
    code: &'static str,
    message_zh: std::borrow::Cow<'static, str>,
    message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    /// Bytes of a photo upload the server holds: where the device resumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    received: Option<u64>,
}

fn body(code: &'static str, message_zh: &'static str, message_en: &str) -> Body {
    Body { code, message_zh: message_zh.into(), message_en: message_en.to_string(), field: None, received: None }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "the store is unavailable");
            return AppError::Unavailable;
        }
        AppError::Internal(e.to_string())
    }
}

impl From<crate::customers::PushError> for AppError {
    fn from(e: crate::customers::PushError) -> Self {
        use crate::customers::PushError as P;
        match e {
            P::NotFound => AppError::NotFound,
            P::Refused(r) => {
                AppError::Refused { code: r.code(), message_zh: r.message_zh(), message_en: r.message_en() }
            }
            P::TooLarge(limit) => AppError::TooLarge(limit),
            P::Action(e) => AppError::Refused {
                code: "invalid",
                message_zh: "操作无法完成：数据不符合要求".into(),
                // The core's messages name fields and IDs, never personal data.
                message_en: e.to_string(),
            },
            P::Corrupt | P::MissingHistory => AppError::BadFrame(e.to_string()),
            P::Store(e) => e.into(),
            P::Internal => AppError::Internal("internal".into()),
        }
    }
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
            AppError::Account(A::DeviceInUse) => (
                StatusCode::CONFLICT,
                body(
                    "device_in_use",
                    "此设备已登记给其他用户，请原用户退出登录或由网点主任释放设备",
                    "this device is registered to another user: they sign out, or a supervisor releases it",
                ),
            ),
            AppError::Account(A::Forbidden) => {
                (StatusCode::FORBIDDEN, body("forbidden", "没有权限执行此操作", "not allowed"))
            }
            AppError::PhotoQuota => (
                StatusCode::INSUFFICIENT_STORAGE,
                body("photo_quota", "照片上传已超过配额，请稍后再试", "over the photo upload quota; try again later"),
            ),
            AppError::TooLarge(limit) => {
                (StatusCode::PAYLOAD_TOO_LARGE, body(limit.code(), limit.message_zh(), limit.message_en()))
            }
            AppError::BadJson => (
                StatusCode::BAD_REQUEST,
                body("bad_json", "请求内容格式不正确", "the request body is not the JSON expected"),
            ),
            AppError::Account(A::Unauthenticated) => {
                (StatusCode::UNAUTHORIZED, body("unauthenticated", "请重新登录", "please sign in again"))
            }
            AppError::Refused { code, message_zh, message_en } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Body {
                    code,
                    message_zh: message_zh.clone().into(),
                    message_en: message_en.clone(),
                    field: None,
                    received: None,
                },
            ),
            AppError::UpgradeRequired => (
                StatusCode::UPGRADE_REQUIRED,
                body(
                    "upgrade_required",
                    "应用版本过旧，请升级后再同步",
                    "this app speaks an older sync protocol; update the app",
                ),
            ),
            AppError::BadFrame(reason) => (
                StatusCode::BAD_REQUEST,
                body("bad_frame", "同步数据无法识别", &format!("the sync request is not readable: {reason}")),
            ),
            AppError::PhotoTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body(
                    "too_large",
                    "照片过大：每张不超过10 MB，每段不超过1 MB",
                    "the photo is too large: at most 10 MiB, sent in chunks of at most 1 MiB",
                ),
            ),
            AppError::PhotoOffsetMismatch { received } => (
                StatusCode::CONFLICT,
                Body {
                    received: Some(*received),
                    ..body(
                        "offset_mismatch",
                        "上传位置与服务器不一致，请从服务器已收到的位置继续",
                        &format!("the offset does not match; the server has {received} bytes, resume from there"),
                    )
                },
            ),
            AppError::PhotoHashMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                body(
                    "hash_mismatch",
                    "照片内容校验失败，请重新上传",
                    "the photo does not match its SHA-256; upload it again",
                ),
            ),
            AppError::PhotoUploadBusy => (
                StatusCode::CONFLICT,
                body("upload_busy", "该照片正在上传，请稍后重试", "this photo is being uploaded; try again shortly"),
            ),
            AppError::Forbidden => (StatusCode::FORBIDDEN, body("forbidden", "没有权限执行此操作", "not allowed")),
            AppError::Account(A::Store(e)) if e.is_unavailable() => unavailable(),
            AppError::Unavailable => unavailable(),
            AppError::Account(A::Hashing | A::Store(_)) | AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                body("internal", "服务器内部错误，请稍后重试", "internal error; try again later"),
            ),
        }
    }
}

/// 503: the device's sync treats it as "busy" and tries again later; nothing was committed.
fn unavailable() -> (StatusCode, Body) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        body(
            "store_unavailable",
            "服务器暂时无法访问数据库，请稍后重试",
            "the database is unavailable just now; try again shortly",
        ),
    )
}

impl AppError {
    /// The answer's status, code and messages (Chinese, English).
    pub(crate) fn answer(&self) -> (StatusCode, String, String, String) {
        let (status, body) = self.parts();
        (status, body.code.to_string(), body.message_zh.into_owned(), body.message_en)
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

/// A JSON body whose rejection is the app's own bilingual error, never axum's plain text (which
/// echoes parts of the input).
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(AppJson(value)),
            Err(_) => Err(AppError::BadJson),
        }
    }
}

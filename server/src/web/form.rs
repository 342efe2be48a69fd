//! A page's form: `application/x-www-form-urlencoded`, repeated keys allowed (a selection of
//! visits), and a rejection that is a page in the viewer's language (never the body echoed).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum_extra::extract::Form;
use serde::de::DeserializeOwned;

use super::error::WebError;
use super::i18n::Lang;

pub struct WebForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for WebForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let lang = Lang::of(req.headers());
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(WebForm(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(WebError::TooLarge(lang)),
            Err(_) => Err(WebError::BadRequest(lang, lang.texts().bad_request)),
        }
    }
}

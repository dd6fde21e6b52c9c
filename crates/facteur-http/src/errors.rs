//! The API's two error shapes, mapped once: the REST API's `{"ErrorInfo", "ErrorMessage",
//! "StatusCode"}` ([`ApiError`], with the store's errors mapped: unavailable is 503, never 400)
//! and the Send API v3.1's `{"ErrorIdentifier", "ErrorCode", "ErrorMessage", "StatusCode"}`
//! (from `facteur_mailjet`'s errors, whose kind gives the status: [`status_of`]).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use facteur_mailjet::send::{ErrorKind, SendError};
use serde_json::{Value, json};

/// An API error with Mailjet's body shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub info: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            info: String::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Object not found")
    }

    pub fn with_info(mut self, info: impl Into<String>) -> Self {
        self.info = info.into();
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"ErrorInfo": self.info, "ErrorMessage": self.message, "StatusCode": self.status.as_u16()});
        with_challenge(self.status, body)
    }
}

/// A JSON error response; a 401 also carries the Basic authentication challenge.
pub fn with_challenge(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"Facteur API\""
                .parse()
                .expect("static header"),
        );
    }
    response
}

impl From<facteur_store::Error> for ApiError {
    fn from(e: facteur_store::Error) -> Self {
        match e {
            facteur_store::Error::NotFound => ApiError::not_found(),
            facteur_store::Error::Invalid(m) | facteur_store::Error::Conflict(m) => {
                ApiError::bad_request(m)
            }
            facteur_store::Error::Unavailable(e) => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable, try again later",
                )
            }
        }
    }
}

/// The HTTP status of each kind of refusal: the one mapping for the whole API.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A v3.1 error body: `{"ErrorIdentifier", "ErrorCode", "ErrorMessage", "StatusCode"}` (and
/// `ErrorRelatedTo` inside messages).
pub fn error_json(e: &SendError, with_related: bool) -> Value {
    let mut v = json!({
        "ErrorIdentifier": uuid::Uuid::now_v7().hyphenated().to_string(),
        "ErrorCode": e.code,
        "StatusCode": status_of(e.kind).as_u16(),
        "ErrorMessage": e.message,
    });
    if with_related {
        v["ErrorRelatedTo"] = json!(e.related);
    }
    v
}

/// A whole request refused, in the v3.1 shape.
pub fn global_error(e: SendError) -> Response {
    with_challenge(status_of(e.kind), error_json(&e, false))
}

/// The store failed: nothing was sent.
pub fn unavailable(e: facteur_store::Error) -> SendError {
    tracing::error!(error = %e, "store unavailable on the Send API");
    SendError::new(
        "mj-0500",
        ErrorKind::Unavailable,
        "Service temporarily unavailable: nothing was sent, try again later.",
        &[],
    )
}

/// The Content-Security-Policy of the app's pages: its own scripts, styles and images only,
/// no plugins, no framing by others; previews are sandboxed frames (`frame-src 'self'`).
pub const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// An error page of the web app (a refused or failed page request): the reason, escaped, and
/// a way back.
pub fn page_error(status: StatusCode, message: &str) -> Response {
    let message = facteur_template::escape_html(message);
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} · Facteur</title>\
         <link rel=\"stylesheet\" href=\"/app/assets/app.css\"></head><body class=\"error-page\"><main class=\"narrow\">\
         <h1>{code} {reason}</h1><p class=\"error\">{message}</p><p><a href=\"/app\">Back to the app</a></p></main></body></html>",
        code = status.as_u16(),
        reason = status.canonical_reason().unwrap_or(""),
    );
    crate::web::html_response(status, body, APP_CSP)
}

//! The REST API (Mailjet's v3 shapes): JSON bodies, `{"Count", "Data", "Total"}` envelopes,
//! and errors as `{"ErrorInfo", "ErrorMessage", "StatusCode"}`. Each resource is a module; the
//! route table (`crate::routes`) lists every handler in one place, with its permission.

pub mod apikeys;
pub mod capture;
pub mod domains;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod send;
pub mod senders;
pub mod stats;
pub mod suppression;
pub mod templates;
pub mod tracking;
pub mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;

use serde_json::{Value, json};

use facteur_engine::Engine;

use crate::auth::Principal;
pub use crate::errors::{ApiError, with_challenge};

/// The request body as a JSON object.
pub fn object(body: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object"))
}

/// Refuses a property outside `allowed`, naming the allowed ones.
pub fn known_props(
    body: &serde_json::Map<String, Value>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "Unknown property \"{k}\": use {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The account the request acts as: the [`Principal`] the route's permission check found (see
/// [`crate::auth::require`]).
pub struct ApiAccount(pub facteur_store::Account);

impl FromRequestParts<Arc<Engine>> for ApiAccount {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _engine: &Arc<Engine>,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(p) => Ok(ApiAccount(p.account.clone())),
            // A handler reached without the table's check: a bug in the table, not the client.
            None => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "This route has no permission check",
            )),
        }
    }
}

/// A JSON body that answers bad input with a Mailjet-shaped 400 (or 413 when too large).
pub struct ApiJson(pub Value);

impl axum::extract::FromRequest<Arc<Engine>> for ApiJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<Engine>) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "Request body larger than {} bytes (http_max_body)",
                            state.cfg.http_max_body
                        ),
                    )
                } else {
                    ApiError::bad_request(format!("Cannot read the request body: {e}"))
                }
            })?;
        if bytes.is_empty() {
            return Ok(ApiJson(Value::Object(Default::default())));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request("Invalid JSON").with_info(e.to_string()))
    }
}

/// An axum extractor whose rejection gets the API's JSON error shape instead of plain text.
macro_rules! json_rejection {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $message:literal) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<T> FromRequestParts<Arc<Engine>> for $name<T>
        where
            T: serde::de::DeserializeOwned + Send,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, app: &Arc<Engine>) -> Result<Self, Self::Rejection> {
                axum::extract::$inner::<T>::from_request_parts(parts, app)
                    .await
                    .map(|axum::extract::$inner(v)| $name(v))
                    .map_err(|e| ApiError::bad_request($message).with_info(e.body_text()))
            }
        }
    };
}

json_rejection!(
    /// Path parameters (`/template/abc` is a 400 with a JSON body).
    ApiPath,
    Path,
    "Invalid path parameter"
);
json_rejection!(
    /// Query parameters (`?Limit=many` is a 400 with a JSON body).
    ApiQuery,
    Query,
    "Invalid query parameter"
);

/// `{"Count": n, "Data": [...], "Total": total}`.
pub fn envelope(data: Vec<Value>, total: i64) -> Json<Value> {
    Json(json!({"Count": data.len(), "Data": data, "Total": total}))
}

/// A `TrackHost` value: a host name or base URL, normalised; `null` or `""` for the default.
pub(crate) fn track_host(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => {
            facteur_engine::tracking::normalize_track_host(s).map_err(ApiError::bad_request)
        }
        _ => Err(ApiError::bad_request(
            "\"TrackHost\" must be a host name or a base URL (\"\" for the default)",
        )),
    }
}

/// Unix milliseconds as RFC 3339 (Mailjet's timestamps).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

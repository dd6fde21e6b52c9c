//! The public tracking endpoints (no authentication): `GET /o/{token}`, the open pixel (a
//! 1×1 transparent GIF that no cache keeps), and `GET /c/{token}`, the click redirect (302 to
//! the link the token carries). The answer needs no database read; the open or click is on
//! disk before it is sent. A token that is not ours, or was changed, is 404: never a redirect.
//! A store that cannot write does not break the reader's click: the redirect still goes, and
//! the failure is logged and counted.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facteur_engine::Engine;
use facteur_message::tracking::TokenKind;

use super::ApiPath as Path;
use crate::auth::ClientIp;
use crate::errors::ApiError;

/// A transparent 1×1 GIF (GIF89a, 43 bytes).
const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn no_cache(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("0"));
}

fn agent(h: &HeaderMap) -> String {
    h.get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Who asked: the client's address, whether it was a HEAD, its user agent.
pub(crate) struct Asker {
    ip: Option<std::net::IpAddr>,
    head: bool,
    agent: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Asker {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Asker {
            ip: parts.extensions.get::<ClientIp>().map(|c| c.0),
            head: parts.method == Method::HEAD,
            agent: agent(&parts.headers),
        })
    }
}

async fn engage(
    app: &Engine,
    asker: &Asker,
    token: &str,
    kind: TokenKind,
) -> Option<facteur_message::tracking::Token> {
    let (token, written) = app
        .engage(token, kind, asker.ip, &asker.agent, asker.head)
        .await;
    if let Err(e) = written {
        facteur_engine::metrics::Metrics::inc(&app.metrics.tracking_write_failures_total);
        tracing::error!(error = %e, "cannot record an open or a click");
    }
    token
}

/// `GET /o/{token}`: the open pixel.
pub(crate) async fn open(
    State(app): State<Arc<Engine>>,
    Path(token): Path<String>,
    asker: Asker,
) -> Result<Response, ApiError> {
    let token = token.strip_suffix(".gif").unwrap_or(&token).to_string();
    match engage(&app, &asker, &token, TokenKind::Open).await {
        Some(_) => {
            let mut r = (StatusCode::OK, PIXEL.to_vec()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
            no_cache(r.headers_mut());
            Ok(r)
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `GET /c/{token}`: the click redirect.
pub(crate) async fn click(
    State(app): State<Arc<Engine>>,
    Path(token): Path<String>,
    asker: Asker,
) -> Result<Response, ApiError> {
    let Some((_, url)) = engage(&app, &asker, &token, TokenKind::Click)
        .await
        .and_then(|t| t.link)
    else {
        return Err(ApiError::not_found());
    };
    let location = HeaderValue::from_str(&url).map_err(|_| ApiError::not_found())?;
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(header::LOCATION, location);
    no_cache(r.headers_mut());
    Ok(r)
}

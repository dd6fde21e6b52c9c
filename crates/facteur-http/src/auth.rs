//! Who a request is, and what it may do: one `authenticate` giving a [`Principal`] (an API key
//! and secret key over HTTP Basic today; a signed-in person with the web app), and the
//! [`Permission`] each route of the table declares, checked by [`require`] before the handler
//! runs. Handlers read the principal from the request (`ApiAccount`), never authenticate again.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use facteur_engine::{AuthDenied, Engine};
use facteur_mailjet::send::{ErrorKind, SendError};
use facteur_store::Account;

use crate::errors::{ApiError, global_error, unavailable};

/// The client's address, attached to every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// What a route needs. API keys hold every permission on their own account (as Mailjet's do;
/// what only a master key may do is checked by the handler); people get theirs from roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// No authentication: health, metrics, the OpenAPI document.
    Public,
    /// Send messages (`/v3.1/send`, a template's test send).
    Send,
    ViewMessages,
    /// Remove what is kept of messages (captured messages in capture mode).
    ManageMessages,
    ViewTemplates,
    EditTemplates,
    PublishTemplates,
    ViewKeys,
    ManageKeys,
    ViewWebhooks,
    ManageWebhooks,
    /// Sending domains and their DKIM keys.
    ViewDomains,
    ManageDomains,
    /// Senders (validated From addresses).
    ViewSenders,
    ManageSenders,
    /// The suppression list.
    ViewSuppression,
    ManageSuppression,
    /// Statistics (counters, links, recipient domains).
    ViewStatistics,
}

impl Permission {
    /// The name in the OpenAPI document (`x-permission`).
    pub fn name(self) -> &'static str {
        match self {
            Permission::Public => "public",
            Permission::Send => "send",
            Permission::ViewMessages => "messages:view",
            Permission::ManageMessages => "messages:manage",
            Permission::ViewTemplates => "templates:view",
            Permission::EditTemplates => "templates:edit",
            Permission::PublishTemplates => "templates:publish",
            Permission::ViewKeys => "keys:view",
            Permission::ManageKeys => "keys:manage",
            Permission::ViewWebhooks => "webhooks:view",
            Permission::ManageWebhooks => "webhooks:manage",
            Permission::ViewDomains => "domains:view",
            Permission::ManageDomains => "domains:manage",
            Permission::ViewSenders => "senders:view",
            Permission::ManageSenders => "senders:manage",
            Permission::ViewSuppression => "suppression:view",
            Permission::ManageSuppression => "suppression:manage",
            Permission::ViewStatistics => "statistics:view",
        }
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// API key and secret key (HTTP Basic).
    ApiKey,
}

/// Who a request acts as: the account whose data it reads and writes, and how it signed in.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub credential: Credential,
}

impl Principal {
    pub fn allows(&self, permission: Permission) -> bool {
        match (self.credential, permission) {
            // A key is its account's: it may do everything there.
            (Credential::ApiKey, _) => true,
        }
    }
}

/// The API key and secret key of an HTTP Basic `Authorization` header.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (key, secret) = decoded.split_once(':')?;
    Some((key.to_string(), secret.to_string()))
}

/// The principal of a request's credentials (see [`Engine::check_key`] for the throttling).
pub async fn authenticate(
    engine: &Engine,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Principal, AuthDenied> {
    let (key, secret) = basic_credentials(headers).ok_or(AuthDenied::Invalid)?;
    let account = engine.check_key(&key, &secret, ip).await?;
    Ok(Principal {
        account,
        credential: Credential::ApiKey,
    })
}

/// Authenticates the request unless the route is public, checks the route's permission, and
/// hands the [`Principal`] to the handler. Refusals have the route's error shape: the Send
/// API's v3.1 errors under `/v3.1/`, the REST errors elsewhere.
pub async fn require(
    State((permission, engine)): State<(Permission, Arc<Engine>)>,
    mut req: Request,
    next: Next,
) -> Response {
    if permission == Permission::Public {
        return next.run(req).await;
    }
    let v31 = req.uri().path().starts_with("/v3.1/");
    let ip = req.extensions().get::<ClientIp>().map(|c| c.0);
    match authenticate(&engine, req.headers(), ip).await {
        Ok(principal) if principal.allows(permission) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(_) => {
            let why = format!("This key may not do this ({} is needed)", permission.name());
            if v31 {
                let e = SendError::new("mj-0015", ErrorKind::Forbidden, why, &[]);
                global_error(e)
            } else {
                ApiError::new(StatusCode::FORBIDDEN, why).into_response()
            }
        }
        Err(denied) if v31 => global_error(send_denied(denied)),
        Err(denied) => rest_denied(denied).into_response(),
    }
}

/// Why authentication failed, in the Send API's words.
fn send_denied(denied: AuthDenied) -> SendError {
    match denied {
        AuthDenied::Invalid => SendError::new(
            "mj-0015",
            ErrorKind::Unauthenticated,
            "API key authentication/authorization failure",
            &[],
        ),
        AuthDenied::Suspended => SendError::new(
            "mj-0001",
            ErrorKind::Unauthenticated,
            format!(
                "{} (PUT /v3/REST/apikey/{{id}} {{\"IsActive\": true}}).",
                facteur_engine::SUSPENDED
            ),
            &[],
        ),
        AuthDenied::Throttled => SendError::new(
            "mj-0015",
            ErrorKind::Throttled,
            format!("{}.", throttled()),
            &[],
        ),
        AuthDenied::Unavailable(e) => unavailable(e),
    }
}

/// Why authentication failed, in the REST API's words.
fn rest_denied(denied: AuthDenied) -> ApiError {
    match denied {
        AuthDenied::Invalid => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "API key authentication/authorization failure",
        ),
        AuthDenied::Suspended => ApiError::new(StatusCode::UNAUTHORIZED, facteur_engine::SUSPENDED),
        AuthDenied::Throttled => ApiError::new(StatusCode::TOO_MANY_REQUESTS, throttled()),
        AuthDenied::Unavailable(e) => e.into(),
    }
}

fn throttled() -> String {
    format!(
        "Too many failed authentications from your address: try again in {} minutes",
        facteur_engine::limits::AUTH_WINDOW.as_secs() / 60
    )
}

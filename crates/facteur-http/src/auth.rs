//! Who a request is, and what it may do: one `authenticate` giving a [`Principal`] (an API key
//! and secret key over HTTP Basic, or a signed-in person's session cookie), and the
//! [`Permission`] each route of the table declares, checked by [`require`] before the handler
//! runs: keys hold every permission on their account, people those of their role there
//! ([`role_allows`]). A person's state-changing request must carry the session's CSRF token
//! (the `X-CSRF-Token` header, or a form's `_csrf` field). Handlers read the principal from
//! the request (`ApiAccount`, `Principal`), never authenticate again.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use facteur_engine::{AuthDenied, Engine};
use facteur_mailjet::send::{ErrorKind, SendError};
use facteur_store::Account;
use facteur_store::people::{Role, User};

use crate::errors::{ApiError, global_error, page_error, unavailable};

/// The client's address, attached to every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The cookie that carries a person's session token.
pub const SESSION_COOKIE: &str = "facteur_session";
/// The cookie that remembers which of a person's accounts the app shows.
pub const ACCOUNT_COOKIE: &str = "facteur_account";
/// The header a person's API calls name an account with (else the cookie's, else the first).
pub const ACCOUNT_HEADER: &str = "x-facteur-account";
/// The header (or, in a form, the field `_csrf`) that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What a route needs. API keys hold every permission on their own account (as Mailjet's do;
/// what only a master key may do is checked by the handler); people get theirs from their role
/// on the account ([`role_allows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// No authentication: health, metrics, the OpenAPI document, the sign-in pages.
    Public,
    /// Any person with a role on the account (the app's home, their own profile).
    Member,
    /// Send messages (`/v3.1/send`).
    Send,
    /// Send a template's test to oneself.
    TestSend,
    ViewMessages,
    /// Delete messages (captured ones in capture mode).
    ManageMessages,
    ViewTemplates,
    EditTemplates,
    PublishTemplates,
    /// Lock a template's sections (the block editor).
    LockTemplates,
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
    /// Who has which role on the account.
    ViewPeople,
    /// Invite people, change and revoke roles (Mailjet's account sharing: the owner only).
    ManagePeople,
}

impl Permission {
    pub const ALL: [Permission; 23] = [
        Permission::Public,
        Permission::Member,
        Permission::Send,
        Permission::TestSend,
        Permission::ViewMessages,
        Permission::ViewTemplates,
        Permission::EditTemplates,
        Permission::PublishTemplates,
        Permission::LockTemplates,
        Permission::ViewKeys,
        Permission::ManageKeys,
        Permission::ViewWebhooks,
        Permission::ManageWebhooks,
        Permission::ViewDomains,
        Permission::ManageDomains,
        Permission::ViewSenders,
        Permission::ManageSenders,
        Permission::ViewSuppression,
        Permission::ManageSuppression,
        Permission::ViewStatistics,
        Permission::ViewPeople,
        Permission::ManagePeople,
        Permission::ManageMessages,
    ];

    /// The permission a name stands for (custom roles keep names).
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The permissions a custom role may hold (all but `public` and `member`, which everyone
    /// has).
    pub fn grantable() -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| !matches!(p, Permission::Public | Permission::Member))
    }

    /// The name in the OpenAPI document (`x-permission`).
    pub fn name(self) -> &'static str {
        match self {
            Permission::Public => "public",
            Permission::Member => "member",
            Permission::Send => "send",
            Permission::TestSend => "templates:test",
            Permission::ViewMessages => "messages:view",
            Permission::ManageMessages => "messages:manage",
            Permission::ViewTemplates => "templates:view",
            Permission::EditTemplates => "templates:edit",
            Permission::PublishTemplates => "templates:publish",
            Permission::LockTemplates => "templates:lock",
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
            Permission::ViewPeople => "people:view",
            Permission::ManagePeople => "people:manage",
        }
    }
}

/// What each role may do on an account (Mailjet's account sharing): the Owner everything; a
/// Manager everything but account sharing; a Developer keys, webhooks, domains, monitoring,
/// templates with publishing and locks; a Marketer templates (drafts, no publishing),
/// messages, statistics and the suppression list; a Designer templates (drafts and locks, no
/// publishing); an Accountant statistics.
pub fn role_allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    use Role as R;
    match permission {
        P::Public | P::Member => true,
        P::ManagePeople => role == R::Owner,
        P::ViewPeople => matches!(role, R::Owner | R::Manager),
        P::Send
        | P::ManageMessages
        | P::PublishTemplates
        | P::ViewKeys
        | P::ManageKeys
        | P::ViewWebhooks
        | P::ManageWebhooks
        | P::ViewDomains
        | P::ManageDomains
        | P::ManageSenders => matches!(role, R::Owner | R::Manager | R::Developer),
        P::LockTemplates => matches!(role, R::Owner | R::Manager | R::Developer | R::Designer),
        P::TestSend | P::ViewTemplates | P::EditTemplates => {
            matches!(
                role,
                R::Owner | R::Manager | R::Developer | R::Marketer | R::Designer
            )
        }
        P::ViewMessages | P::ViewSenders | P::ViewSuppression => {
            matches!(role, R::Owner | R::Manager | R::Developer | R::Marketer)
        }
        P::ManageSuppression => matches!(role, R::Owner | R::Manager | R::Marketer),
        P::ViewStatistics => !matches!(role, R::Designer | R::Custom(_)),
    }
}

/// A signed-in person, as a request sees them.
#[derive(Debug, Clone)]
pub struct Person {
    pub user: User,
    /// Their role on the principal's account.
    pub role: Role,
    /// The role's name (a custom role's own).
    pub role_name: String,
    /// A custom role's permissions.
    pub custom: Option<Vec<Permission>>,
    /// The session's CSRF token (pages put it in their forms and `<meta name="csrf">`).
    pub csrf: String,
    /// The session's token (to sign out).
    pub token: String,
    /// Every account they have a role on, by id.
    pub accounts: Vec<(Account, Role)>,
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// API key and secret key (HTTP Basic).
    ApiKey,
    /// A person's session cookie.
    Session,
}

/// Who a request acts as: the account whose data it reads and writes, and how it signed in.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub credential: Credential,
    /// The person, for a session.
    pub person: Option<Arc<Person>>,
}

impl Principal {
    pub fn allows(&self, permission: Permission) -> bool {
        match (&self.credential, &self.person) {
            // A key is its account's: it may do everything there.
            (Credential::ApiKey, _) => true,
            (Credential::Session, Some(p)) => match &p.custom {
                Some(granted) => {
                    matches!(permission, Permission::Public | Permission::Member)
                        || granted.contains(&permission)
                }
                None => role_allows(p.role, permission),
            },
            (Credential::Session, None) => false,
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

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Why a request has no principal.
#[derive(Debug)]
pub enum Denied {
    /// No credentials, wrong ones, a suspended key, throttling, or the store is down.
    Auth(AuthDenied),
    /// A person asked for an account they have no role on (or have none at all).
    NotMember,
}

impl From<AuthDenied> for Denied {
    fn from(d: AuthDenied) -> Self {
        Denied::Auth(d)
    }
}

impl From<facteur_store::Error> for Denied {
    fn from(e: facteur_store::Error) -> Self {
        Denied::Auth(AuthDenied::Unavailable(e))
    }
}

/// The principal of a request's credentials: HTTP Basic (see [`Engine::check_key`] for the
/// throttling) when the request has an `Authorization` header, else the session cookie.
pub async fn authenticate(
    engine: &Engine,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Principal, Denied> {
    if headers.contains_key(header::AUTHORIZATION) {
        let (key, secret) = basic_credentials(headers).ok_or(AuthDenied::Invalid)?;
        let account = engine.check_key(&key, &secret, ip).await?;
        return Ok(Principal {
            account,
            credential: Credential::ApiKey,
            person: None,
        });
    }
    session_principal(engine, headers).await
}

/// A person's principal from the session cookie, on the account the request names (the
/// `X-Facteur-Account` header, else the account cookie, else their first account).
async fn session_principal(engine: &Engine, headers: &HeaderMap) -> Result<Principal, Denied> {
    let token = cookie(headers, SESSION_COOKIE).ok_or(AuthDenied::Invalid)?;
    let now = facteur_engine::time::now_ms();
    let (session, user) = engine
        .store
        .session_user(token, now)
        .await?
        .ok_or(AuthDenied::Invalid)?;
    let accounts = engine.store.member_accounts(user.id).await?;
    let wanted = |v: Option<&str>| v.and_then(|v| v.trim().parse::<i64>().ok());
    let chosen = match wanted(headers.get(ACCOUNT_HEADER).and_then(|v| v.to_str().ok())) {
        Some(id) => Some(
            accounts
                .iter()
                .find(|(a, _)| a.id == id)
                .ok_or(Denied::NotMember)?,
        ),
        None => wanted(cookie(headers, ACCOUNT_COOKIE))
            .and_then(|id| accounts.iter().find(|(a, _)| a.id == id))
            .or(accounts.first()),
    };
    let (account, role) = chosen.cloned().ok_or(Denied::NotMember)?;
    let (role_name, custom) = match role {
        Role::Custom(id) => match engine.store.custom_role(id).await {
            Ok(c) => (
                c.name,
                Some(
                    c.permissions
                        .iter()
                        .filter_map(|n| Permission::from_name(n))
                        .collect(),
                ),
            ),
            // A role deleted under someone: nothing beyond being a member.
            Err(facteur_store::Error::NotFound) => ("(deleted role)".to_string(), Some(Vec::new())),
            Err(e) => return Err(e.into()),
        },
        r => (r.as_str().to_string(), None),
    };
    Ok(Principal {
        account,
        credential: Credential::Session,
        person: Some(Arc::new(Person {
            user,
            role,
            role_name,
            custom,
            csrf: session.csrf,
            token: token.to_string(),
            accounts,
        })),
    })
}

/// Whether a request reads only (no CSRF token needed).
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Equal strings, compared in time that depends on their length only.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks a person's state-changing request carries the session's CSRF token: the header,
/// or the `_csrf` field of a form (the body is read, then handed on unchanged).
async fn check_csrf(req: Request, csrf: &str, max_body: usize) -> Result<Request, Request> {
    if let Some(v) = req.headers().get(CSRF_HEADER) {
        return if v.to_str().is_ok_and(|v| same_secret(v, csrf)) {
            Ok(req)
        } else {
            Err(req)
        };
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(req);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
        return Err(Request::from_parts(parts, Body::empty()));
    };
    let ok = form_urlencoded::parse(&bytes).any(|(k, v)| k == "_csrf" && same_secret(&v, csrf));
    let req = Request::from_parts(parts, Body::from(bytes));
    if ok { Ok(req) } else { Err(req) }
}

/// Whether a path is one of the web app's pages (HTML answers, sign-in redirects).
pub fn is_page(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/")
}

/// Authenticates the request unless the route is public, checks the route's permission (and
/// a person's CSRF token), and hands the [`Principal`] to the handler. Refusals have the
/// route's shape: the Send API's v3.1 errors under `/v3.1/`, a page (or a redirect to the
/// sign-in page) under `/app`, the REST errors elsewhere.
pub async fn require(
    State((permission, engine)): State<(Permission, Arc<Engine>)>,
    mut req: Request,
    next: Next,
) -> Response {
    if permission == Permission::Public {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let v31 = path.starts_with("/v3.1/");
    let page = is_page(path);
    let ip = req.extensions().get::<ClientIp>().map(|c| c.0);
    let principal = match authenticate(&engine, req.headers(), ip).await {
        // The app's pages are a person's: a key signs nobody in there.
        Ok(p) if page && p.person.is_none() => Err(Denied::Auth(AuthDenied::Invalid)),
        other => other,
    };
    match principal {
        Ok(principal) if principal.allows(permission) => {
            if let Some(person) = principal.person.clone()
                && !is_safe(req.method())
            {
                match check_csrf(req, &person.csrf, engine.cfg.http_max_body).await {
                    Ok(checked) => req = checked,
                    Err(_) => {
                        let why = "The request lacks this session's CSRF token (the X-CSRF-Token header or a _csrf form field): reload the page and try again";
                        return if page {
                            page_error(StatusCode::FORBIDDEN, why)
                        } else {
                            ApiError::new(StatusCode::FORBIDDEN, why).into_response()
                        };
                    }
                }
            }
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(principal) => {
            let who = match &principal.person {
                Some(p) => format!("Your role ({})", p.role_name),
                None => "This key".to_string(),
            };
            let why = format!("{who} may not do this ({} is needed)", permission.name());
            if v31 {
                let e = SendError::new("mj-0015", ErrorKind::Forbidden, why, &[]);
                global_error(e)
            } else if page {
                page_error(StatusCode::FORBIDDEN, &why)
            } else {
                ApiError::new(StatusCode::FORBIDDEN, why).into_response()
            }
        }
        Err(Denied::NotMember) => {
            let why = "You have no role on this account: ask its owner for an invitation";
            if page {
                page_error(StatusCode::FORBIDDEN, why)
            } else {
                ApiError::new(StatusCode::FORBIDDEN, why).into_response()
            }
        }
        Err(Denied::Auth(AuthDenied::Unavailable(e))) if page => {
            tracing::error!(error = %e, "store unavailable while checking a session");
            page_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database does not answer; try again in a moment",
            )
        }
        Err(Denied::Auth(_)) if page => sign_in_redirect(req.uri()),
        Err(Denied::Auth(denied)) if v31 => global_error(send_denied(denied)),
        Err(Denied::Auth(denied)) => rest_denied(denied).into_response(),
    }
}

/// To the sign-in page, coming back to `uri` after.
fn sign_in_redirect(uri: &axum::http::Uri) -> Response {
    let back: String = form_urlencoded::byte_serialize(
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/app")
            .as_bytes(),
    )
    .collect();
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/app/sign-in?next={back}"))],
    )
        .into_response()
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

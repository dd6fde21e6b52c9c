//! The web app's pages: rendered on the server with minijinja from `facteur-web`'s templates
//! (every value escaped), with islands of ES modules for what moves (the gallery's actions,
//! the code editor, the preview). Pages read through the store and the engine as the API
//! does; their scripts call the same REST API with the session cookie and its CSRF token.
//! Every page carries a Content-Security-Policy that allows only the app's own scripts;
//! previews of e-mail HTML are iframes with an empty `sandbox` (no script, no origin).

pub mod account;
pub mod capture;
pub mod messages;
pub mod people;
pub mod templates;

use std::sync::{Arc, OnceLock};

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde_json::{Value, json};

use crate::auth::{Permission, Principal};
use crate::errors::{APP_CSP, page_error};

/// The CSP of pages that show e-mail HTML in `srcdoc` frames (the frame inherits the page's
/// policy, and e-mail HTML is styled inline): inline styles and remote images and fonts are
/// allowed, scripts still only the app's own (and the frames are sandboxed without scripts).
pub const PREVIEW_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; font-src 'self' data: https:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// The CSP of a document that is e-mail HTML served on its own (thumbnails, a message's
/// content): a sandbox (an opaque origin, no script) even when opened outside its frame.
pub const FRAME_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; font-src data: https:; frame-ancestors 'self'";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_loader(|name| Ok(facteur_web::page(name)));
        // Pages loop over what the store gives (at most a page of rows): bound the work anyway.
        env.set_fuel(Some(50_000_000));
        env.add_filter("datetime", datetime);
        // Escape `& < > " '` only (minijinja's default also writes `/` as `&#x2f;`, which
        // makes every URL on a page unreadable in its source and in copied text).
        env.set_formatter(|out, state, value| {
            let escaping = !matches!(state.auto_escape(), minijinja::AutoEscape::None);
            if !escaping || value.is_safe() || value.as_str().is_none() {
                return minijinja::escape_formatter(out, state, value);
            }
            out.write_str(&facteur_template::escape_html(value.as_str().unwrap_or("")))
                .map_err(|_| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "writing a page")
                })
        });
        env
    })
}

/// A store error on a page: 404 naming `what` is missing, 503 while the database does not
/// answer, 400 for the rest (bad input the store refused).
pub fn store_failed(e: facteur_store::Error, what: &str) -> Response {
    match e {
        facteur_store::Error::NotFound => {
            page_error(StatusCode::NOT_FOUND, &format!("No such {what}"))
        }
        facteur_store::Error::Unavailable(_) => page_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database does not answer; try again in a moment",
        ),
        e => page_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// E-mail HTML as a document of its own (a thumbnail, a message's HTML part), for a frame:
/// sandboxed by its CSP (no script, an opaque origin, even opened outside the frame), never
/// cached without asking again.
pub fn frame(status: StatusCode, html: String) -> Response {
    let mut r = html_response(status, html, FRAME_CSP);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    r
}

/// `ms | datetime`: a Unix time in milliseconds as `YYYY-MM-DD HH:MM` (UTC).
fn datetime(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

/// Which policy a page is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csp {
    App,
    Preview,
}

/// Renders page `name` with `ctx` (an object); an error in the page itself is a 500 page.
pub fn render(status: StatusCode, name: &str, ctx: Value, csp: Csp) -> Response {
    let html = env()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)));
    match html {
        Ok(html) => html_response(
            status,
            html,
            match csp {
                Csp::App => APP_CSP,
                Csp::Preview => PREVIEW_CSP,
            },
        ),
        Err(e) => {
            tracing::error!(page = name, error = %e, "a page failed to render");
            page_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "This page could not be drawn; the server's log says why",
            )
        }
    }
}

/// An HTML answer with the app's security headers, never cached (it holds a CSRF token).
pub fn html_response(status: StatusCode, html: String, csp: &'static str) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// What every signed-in page gets: who, on which account, what they may do, the CSRF token.
pub fn base(principal: &Principal, title: &str, nav: &str) -> Value {
    let person = principal.person.as_deref();
    // `can.view_templates`, `can.manage_webhooks`…: every permission, named verb_noun after
    // its API name (`templates:view`), so that pages cannot ask for one that is not there.
    let can: serde_json::Map<String, Value> = Permission::ALL
        .into_iter()
        .map(|p| {
            let key = match p.name().split_once(':') {
                Some((noun, verb)) => format!("{verb}_{noun}"),
                None => p.name().to_string(),
            };
            (key, Value::Bool(principal.allows(p)))
        })
        .collect();
    json!({
        "title": title,
        "nav": nav,
        "csrf": person.map(|p| p.csrf.as_str()).unwrap_or(""),
        "me": person.map(|p| json!({
            "id": p.user.id, "name": p.user.name, "email": p.user.email, "role": p.role_name,
        })),
        "account": {"id": principal.account.id, "name": principal.account.name},
        "accounts": person.map(|p| p.accounts.iter().map(|(a, r)| json!({
            "id": a.id, "name": a.name, "role": if a.id == principal.account.id { p.role_name.clone() } else { r.as_str().to_string() },
        })).collect::<Vec<_>>()).unwrap_or_default(),
        "can": can,
    })
}

/// Merges `extra`'s fields into the object `ctx`.
pub fn with(mut ctx: Value, extra: Value) -> Value {
    if let (Some(c), Value::Object(e)) = (ctx.as_object_mut(), extra) {
        c.extend(e);
    }
    ctx
}

/// `GET /app/assets/{*path}`: the app's static files, validated by ETag (a page load asks
/// again and gets 304 while nothing changed).
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = facteur_web::asset(&path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "No such file",
        )
            .into_response();
    };
    let cache = [
        (header::ETAG, a.etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag))
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let gzip_ok = takes_gzip(&headers);
    let compressible = a.content_type.starts_with("text/") || a.content_type.contains("json");
    let body = (gzip_ok && compressible && a.bytes.len() > 512)
        .then(|| gzipped(&a.etag, &a.bytes))
        .filter(|b| !b.is_empty());
    if let Some(body) = body {
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, a.content_type.to_string()),
                (header::CONTENT_ENCODING, "gzip".to_string()),
                (header::VARY, "Accept-Encoding".to_string()),
            ],
            cache,
            body.as_ref().clone(),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, a.content_type.to_string()),
            (header::VARY, "Accept-Encoding".to_string()),
        ],
        cache,
        a.bytes.into_owned(),
    )
        .into_response()
}

/// An asset compressed once per content (keyed by its ETag).
fn gzipped(etag: &str, bytes: &[u8]) -> Arc<Vec<u8>> {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Arc<Vec<u8>>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(etag) {
        return hit.clone();
    }
    let body = Arc::new(gzip(bytes, flate2::Compression::best()).unwrap_or_default());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(etag.to_string(), body.clone());
    body
}

/// `bytes` gzip-compressed at `level`.
fn gzip(bytes: &[u8], level: flate2::Compression) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), level);
    enc.write_all(bytes)?;
    enc.finish()
}

/// Whether a request's `Accept-Encoding` takes gzip.
fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// Pages are compressed (gzip) for clients that take it: a gallery of a thousand templates is
/// over a megabyte of HTML, a twentieth of that compressed.
pub async fn compress(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let gzip_ok = takes_gzip(req.headers());
    let response = next.run(req).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !gzip_ok || !html || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Pages are built whole in memory; this only takes them back.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return page_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page could not be sent",
        );
    };
    if bytes.len() < 1024 {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    match gzip(&bytes, flate2::Compression::fast()) {
        Ok(zipped) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts
                .headers
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            Response::from_parts(parts, axum::body::Body::from(zipped))
        }
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// `GET /app`: the home page: the account's shortcuts by role.
pub async fn home(axum::Extension(principal): axum::Extension<Principal>) -> Response {
    let ctx = base(&principal, "Home", "home");
    render(StatusCode::OK, "home.html", ctx, Csp::App)
}

/// `POST /app/account`: shows another of the person's accounts (form field `account`).
pub async fn switch_account(
    axum::Extension(principal): axum::Extension<Principal>,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(person) = principal.person.as_deref() else {
        return page_error(StatusCode::FORBIDDEN, "Sign in first");
    };
    let wanted = form.get("account").and_then(|v| v.parse::<i64>().ok());
    let Some((account, _)) = person.accounts.iter().find(|(a, _)| Some(a.id) == wanted) else {
        return page_error(
            StatusCode::FORBIDDEN,
            "You have no role on this account: ask its owner for an invitation",
        );
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/app".to_string()),
            (
                header::SET_COOKIE,
                format!(
                    "{}={}; Path=/; HttpOnly; SameSite=Lax",
                    crate::auth::ACCOUNT_COOKIE,
                    account.id
                ),
            ),
        ],
    )
        .into_response()
}

/// The engine, as page handlers take it.
pub type App = axum::extract::State<Arc<facteur_engine::Engine>>;

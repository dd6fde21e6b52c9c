//! The public tracking endpoints (no authentication): `GET /o/{token}`, the open pixel (a
//! 1×1 transparent GIF that no cache keeps), and `GET /c/{token}`, the click redirect (302 to
//! the link the token carries). The answer needs no database read, nor the commit of the open
//! or click it queued (a crash loses at most the batch being written). A token that is not
//! ours, or was changed, is 404: never a redirect.
//! A store that cannot write does not break the reader's click: the redirect still goes, and
//! the failure is logged and counted.
//!
//! `GET /u/{token}` is a recipient's unsubscribe page (English or French: `?l=fr` or the
//! browser's language), with a button; `POST /u/{token}` unsubscribes: the page's button, and
//! RFC 8058's one-click (`List-Unsubscribe=One-Click`, sent by mail clients from the
//! `List-Unsubscribe-Post` header). Opening the link alone unsubscribes nobody, so the link
//! scanners of mail providers cannot.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facteur_engine::Engine;
use facteur_message::tracking::TokenKind;

use super::{ApiPath as Path, ApiQuery as Query};
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

/// Reads the token and queues its open or click; the answer does not wait for the commit,
/// which the writer counts (or logs when it fails) once it is done.
async fn engage(
    app: &Arc<Engine>,
    asker: &Asker,
    token: &str,
    kind: TokenKind,
) -> Option<facteur_message::tracking::Token> {
    let counted = app.clone();
    let (token, queued) = app
        .engage(token, kind, asker.ip, &asker.agent, asker.head, move |r| {
            counted.engaged(kind, r)
        })
        .await;
    if let Err(e) = queued {
        app.engaged(kind, Err(e));
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

/// The hosted unsubscribe page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Fr,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct UnsubQuery {
    /// The language the link asked for (`[[UNSUB_LINK_FR]]` gives `?l=fr`).
    l: Option<String>,
}

fn lang(q: &UnsubQuery, h: &HeaderMap) -> Lang {
    let asked = q.l.clone().unwrap_or_else(|| {
        h.get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    });
    if asked.trim().to_ascii_lowercase().starts_with("fr") {
        Lang::Fr
    } else {
        Lang::En
    }
}

/// The page's words in each language.
struct Words {
    html_lang: &'static str,
    title: &'static str,
    ask: &'static str,
    button: &'static str,
    done_title: &'static str,
    done: &'static str,
    unknown_title: &'static str,
    unknown: &'static str,
}

const EN: Words = Words {
    html_lang: "en",
    title: "Unsubscribe",
    ask: "Stop sending marketing e-mail to {address}?",
    button: "Unsubscribe",
    done_title: "You are unsubscribed",
    done: "{address} will no longer receive these e-mails. Messages you asked for (receipts, password resets) still arrive.",
    unknown_title: "Unknown link",
    unknown: "This unsubscribe link is not valid. Use the link of a more recent e-mail, or reply to its sender.",
};

const FR: Words = Words {
    html_lang: "fr",
    title: "Se désabonner",
    ask: "Ne plus envoyer d’e-mails marketing à {address} ?",
    button: "Me désabonner",
    done_title: "Vous êtes désabonné",
    done: "{address} ne recevra plus ces e-mails. Les messages que vous avez demandés (reçus, mots de passe) arrivent toujours.",
    unknown_title: "Lien inconnu",
    unknown: "Ce lien de désabonnement n’est pas valide. Utilisez celui d’un e-mail plus récent, ou répondez à son expéditeur.",
};

fn words(l: Lang) -> &'static Words {
    match l {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

use facteur_template::escape_html as escape;

fn unsub_page(status: StatusCode, w: &Words, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 36em; margin: 4em auto; padding: 0 1em\"><h1>{title}</h1>{body}</body></html>",
        w.html_lang
    );
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    no_cache(r.headers_mut());
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

fn unknown(w: &Words) -> Response {
    unsub_page(
        StatusCode::NOT_FOUND,
        w,
        w.unknown_title,
        &format!("<p>{}</p>", w.unknown),
    )
}

/// `GET /u/{token}`: the unsubscribe page, with its button.
pub(crate) async fn unsub_page_get(
    State(app): State<Arc<Engine>>,
    Path(token): Path<String>,
    Query(q): Query<UnsubQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let w = words(lang(&q, &headers));
    let Some(target) = app.unsub_target(&token).await? else {
        return Ok(unknown(w));
    };
    let address = escape(&target.address);
    if app.is_unsubscribed(&target).await? {
        return Ok(unsub_page(
            StatusCode::OK,
            w,
            w.done_title,
            &format!("<p>{}</p>", w.done.replace("{address}", &address)),
        ));
    }
    Ok(unsub_page(
        StatusCode::OK,
        w,
        w.title,
        &format!(
            "<p>{}</p><form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">{}</button></form>",
            w.ask.replace("{address}", &address),
            w.button
        ),
    ))
}

/// `POST /u/{token}`: unsubscribes (the page's button, or a mail client's RFC 8058
/// one-click). The address is on the account's suppression list for marketing mail when
/// this answers 200.
pub(crate) async fn unsub_post(
    State(app): State<Arc<Engine>>,
    Path(token): Path<String>,
    Query(q): Query<UnsubQuery>,
    asker: Asker,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let w = words(lang(&q, &headers));
    match app.unsubscribe(&token, asker.ip, &asker.agent).await? {
        Some(target) => Ok(unsub_page(
            StatusCode::OK,
            w,
            w.done_title,
            &format!(
                "<p>{}</p>",
                w.done.replace("{address}", &escape(&target.address))
            ),
        )),
        None => Ok(unknown(w)),
    }
}

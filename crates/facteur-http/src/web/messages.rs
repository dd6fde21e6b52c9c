//! The message log: the account's messages (one row per recipient, as Mailjet counts them),
//! searched by recipient, CustomID, status and date; and one message's page with its event
//! timeline and its content (HTML in a sandboxed frame, text, headers, raw source).

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use facteur_store::RcptStatus;
use facteur_store::messages::{MessageSearch, MessageView};
use serde_json::{Value, json};

use super::{App, Csp, base, frame, render, store_failed, with};
use crate::auth::Principal;

const PAGE: i64 = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    custom_id: String,
    #[serde(default)]
    status: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: i64,
}

/// Midnight UTC of a `YYYY-MM-DD` date, in unix ms.
fn day_ms(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
}

fn row(m: &MessageView) -> Value {
    json!({
        "id": m.id, "address": m.address, "status": m.status.as_str(), "subject": m.subject,
        "from": m.mail_from, "custom_id": m.custom_id, "created_at": m.created_at,
        "updated_at": m.updated_at, "attempts": m.attempts, "last_reply": m.last_reply,
        "opened_at": m.opened_at, "clicked_at": m.clicked_at, "size": m.size,
    })
}

/// `GET /app/messages`.
pub async fn log(
    State(app): App,
    Extension(p): Extension<Principal>,
    Query(q): Query<LogQuery>,
) -> Response {
    let mut errors = Vec::new();
    let status = match q.status.as_str() {
        "" => None,
        s => match s.parse::<RcptStatus>() {
            Ok(s) => Some(s),
            Err(_) => {
                errors.push(format!("Unknown status \"{s}\""));
                None
            }
        },
    };
    let date = |s: &str, name: &str, errors: &mut Vec<String>| match s.trim() {
        "" => None,
        s => {
            let d = day_ms(s);
            if d.is_none() {
                errors.push(format!("\"{name}\" is a date as YYYY-MM-DD"));
            }
            d
        }
    };
    let search = MessageSearch {
        recipient: Some(q.recipient.clone()).filter(|s| !s.trim().is_empty()),
        custom_id: Some(q.custom_id.clone()).filter(|s| !s.is_empty()),
        status,
        from: date(&q.from, "From", &mut errors),
        // The end day is included.
        to: date(&q.to, "To", &mut errors).map(|d| d + 86_400_000),
    };
    let page = q.page.max(0);
    let (messages, total) = match app
        .store
        .message_search(p.account.id, &search, PAGE, page * PAGE)
        .await
    {
        Ok(r) => r,
        Err(e) => return store_failed(e, "message"),
    };
    let statuses = [
        "queued", "deferred", "sent", "bounced", "expired", "blocked", "deleted",
    ];
    let ctx = with(
        base(&p, "Messages", "messages"),
        json!({
            "messages": messages.iter().map(row).collect::<Vec<_>>(),
            "total": total, "page": page, "pages": (total + PAGE - 1) / PAGE,
            "q": {"recipient": q.recipient, "custom_id": q.custom_id, "status": q.status, "from": q.from, "to": q.to},
            "statuses": statuses, "errors": errors,
        }),
    );
    let status = if errors_empty(&ctx) {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(status, "messages.html", ctx, Csp::App)
}

fn errors_empty(ctx: &Value) -> bool {
    ctx["errors"].as_array().is_none_or(|e| e.is_empty())
}

/// The parts of a stored message: headers, HTML, text.
fn parts(raw: &[u8]) -> (Vec<(String, String)>, Option<String>, Option<String>) {
    let v = facteur_message::view::read(raw);
    (v.headers, v.html, v.text)
}

/// `GET /app/messages/{id}`: one message (a recipient's), its timeline and content.
pub async fn message(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let view = match app.store.message_view(p.account.id, id).await {
        Ok(v) => v,
        Err(e) => return store_failed(e, "message"),
    };
    let events = match app.store.message_history(p.account.id, id).await {
        Ok(e) => e,
        Err(e) => return store_failed(e, "message"),
    };
    let raw = match app.store.message_body(p.account.id, view.message_id).await {
        Ok(b) => b,
        Err(e) => return store_failed(e, "message"),
    };
    let (headers, html, text) = parts(&raw);
    let events: Vec<Value> = events
        .iter()
        .map(|e| json!({"at": e.at, "kind": e.kind.as_str(), "detail": e.detail}))
        .collect();
    let ctx = with(
        base(&p, &format!("Message {id}"), "messages"),
        json!({
            "m": row(&view),
            "events": events,
            "headers": headers,
            "has_html": html.is_some(),
            "text": text,
            "source": String::from_utf8_lossy(&raw[..raw.len().min(512 * 1024)]),
            "source_cut": raw.len() > 512 * 1024,
        }),
    );
    render(StatusCode::OK, "message.html", ctx, Csp::App)
}

/// `GET /app/messages/{id}/html`: the message's HTML part as a sandboxed document.
pub async fn message_html(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let view = match app.store.message_view(p.account.id, id).await {
        Ok(v) => v,
        Err(e) => return store_failed(e, "message"),
    };
    let raw = match app.store.message_body(p.account.id, view.message_id).await {
        Ok(b) => b,
        Err(e) => return store_failed(e, "message"),
    };
    frame(StatusCode::OK, parts(&raw).1.unwrap_or_default())
}

//! Capture mode's mailbox (as Mailpit shows it): the messages that would have left, newest
//! first, searched by recipient or subject; each with its HTML (a sandboxed frame), text,
//! headers and raw source, and a way to delete one or clear them all.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use facteur_store::capture::CaptureFilter;
use serde_json::json;

use super::{App, Csp, base, frame, render, store_failed, with};
use crate::auth::Principal;

const PAGE: i64 = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: i64,
}

/// What the pages show of a captured message.
fn row(c: &facteur_store::capture::Captured) -> serde_json::Value {
    json!({"id": c.id, "to": c.recipient, "from": c.mail_from, "subject": c.subject,
           "size": c.size, "at": c.captured_at, "message_id": c.recipient_id})
}

/// `GET /app/captured`.
pub async fn list(
    State(app): App,
    Extension(p): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Response {
    let page = q.page.max(0);
    let filter = CaptureFilter {
        search: Some(q.q.trim().to_string()).filter(|s| !s.is_empty()),
        limit: PAGE,
        offset: page * PAGE,
    };
    let (items, total) = match app.store.captures(Some(p.account.id), &filter).await {
        Ok(r) => r,
        Err(e) => return store_failed(e, "captured message"),
    };
    let rows: Vec<_> = items.iter().map(row).collect();
    let ctx = with(
        base(&p, "Captured", "captured"),
        json!({"captured": rows, "total": total, "q": q.q, "page": page,
               "pages": (total + PAGE - 1) / PAGE, "capture_on": app.cfg.capture}),
    );
    render(StatusCode::OK, "captured.html", ctx, Csp::App)
}

/// `GET /app/captured/{id}`.
pub async fn one(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let c = match app.store.capture(Some(p.account.id), id).await {
        Ok(c) => c,
        Err(e) => return store_failed(e, "captured message"),
    };
    let raw = c.raw.clone().unwrap_or_default();
    let view = facteur_message::view::read(&raw);
    let ctx = with(
        base(&p, &format!("Captured {id}"), "captured"),
        json!({
            "c": row(&c),
            "headers": view.headers,
            "has_html": view.html.is_some(),
            "text": view.text,
            "source": String::from_utf8_lossy(&raw[..raw.len().min(512 * 1024)]),
            "source_cut": raw.len() > 512 * 1024,
        }),
    );
    render(StatusCode::OK, "captured_message.html", ctx, Csp::App)
}

/// `GET /app/captured/{id}/html`.
pub async fn html(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    match app.store.capture(Some(p.account.id), id).await {
        Ok(c) => frame(
            StatusCode::OK,
            facteur_message::view::read(&c.raw.unwrap_or_default())
                .html
                .unwrap_or_default(),
        ),
        Err(e) => store_failed(e, "captured message"),
    }
}

/// `POST /app/captured/{id}/delete` and `POST /app/captured/clear`.
pub async fn delete(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let done = if id == "clear" {
        app.store
            .clear_captures(Some(p.account.id))
            .await
            .map(|_| ())
    } else {
        match id.parse::<i64>() {
            Ok(n) => app.store.delete_capture(Some(p.account.id), n).await,
            Err(_) => Err(facteur_store::Error::NotFound),
        }
    };
    match done {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/app/captured")]).into_response(),
        Err(e) => store_failed(e, "captured message"),
    }
}

//! The account's API keys (the master key and its sub-accounts; a new key's secret is shown
//! once) and its webhooks with their recent calls and failures. Changes go through the REST
//! API from the page's script, so they pass the same checks as any client's.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{App, Csp, base, render, store_failed, with};
use crate::auth::Principal;

/// `GET /app/keys`.
pub async fn keys(State(app): App, Extension(p): Extension<Principal>) -> Response {
    let keys = match app.store.keys_of(&p.account).await {
        Ok(k) => k,
        Err(e) => return store_failed(e, "key"),
    };
    let rows: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({"id": k.id, "name": k.name, "api_key": k.api_key, "active": k.is_active,
                   "master": k.parent_id.is_none(), "created_at": k.created_at,
                   "track_host": k.track_host})
        })
        .collect();
    let ctx = with(
        base(&p, "API keys", "keys"),
        json!({"keys": rows, "is_master": p.account.parent_id.is_none()}),
    );
    render(StatusCode::OK, "keys.html", ctx, Csp::App)
}

/// `GET /app/webhooks`.
pub async fn webhooks(State(app): App, Extension(p): Extension<Principal>) -> Response {
    let hooks = match app.store.webhooks(p.account.id).await {
        Ok(h) => h,
        Err(e) => return store_failed(e, "webhook"),
    };
    let mut rows = Vec::with_capacity(hooks.len());
    for h in &hooks {
        let (log, pending) = match app.store.webhook_call_log(p.account.id, h.id).await {
            Ok(l) => l,
            Err(e) => return store_failed(e, "webhook"),
        };
        let failures = log.iter().filter(|c| !c.ok).count();
        rows.push(json!({
            "id": h.id, "event": h.event_type, "url": h.url, "status": h.status,
            "backup": h.is_backup, "version": h.version, "pending": pending,
            "failures": failures,
            "calls": log.iter().map(|c| json!({"at": c.at, "ok": c.ok, "attempt": c.attempt, "error": c.error})).collect::<Vec<_>>(),
        }));
    }
    let events = facteur_store::webhooks::EVENT_TYPES;
    let ctx = with(
        base(&p, "Webhooks", "webhooks"),
        json!({"hooks": rows, "events": events}),
    );
    render(StatusCode::OK, "webhooks.html", ctx, Csp::App)
}

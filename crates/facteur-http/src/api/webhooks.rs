//! `/v3/REST/eventcallbackurl`: the URLs an account's events are posted to (Mailjet's
//! resource: `EventType`, `Url`, `Version` 1 or 2, `IsBackup`, `Status` alive or dead), with
//! the account's `SigningSecret` for checking `X-Facteur-Signature`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use facteur_store::webhooks::{Webhook, WebhookChange};
use serde_json::{Value, json};

use super::{ApiAccount, ApiError, ApiJson, ApiPath as Path, envelope, known_props, object};
use facteur_engine::Engine;
use facteur_engine::time::now_ms;

fn hook_json(h: &Webhook, secret: &str) -> Value {
    json!({
        "ID": h.id,
        "APIKeyID": h.account_id,
        "EventType": h.event_type,
        "Url": h.url,
        "Version": h.version,
        "IsBackup": h.is_backup,
        "Status": h.status,
        "SigningSecret": secret,
    })
}

const PROPS: &[&str] = &[
    "EventType",
    "Url",
    "Version",
    "IsBackup",
    "Status",
    "APIKeyID",
];

/// Reads the changes a body asks for; `Url` checked against the private-target rule.
fn change_of(app: &Engine, body: &Value) -> Result<WebhookChange, ApiError> {
    let body = object(body)?;
    known_props(body, PROPS)?;
    let string = |k: &str| -> Result<Option<String>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(ApiError::bad_request(format!("\"{k}\" must be a string"))),
        }
    };
    let url = string("Url")?;
    if let Some(u) = &url {
        facteur_engine::webhooks::check_url(u, app.cfg.webhook_allow_private)
            .map_err(ApiError::bad_request)?;
    }
    let version = match body.get("Version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| ApiError::bad_request("\"Version\" must be 1 or 2"))?,
        ),
    };
    let is_backup = match body.get("IsBackup") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(ApiError::bad_request("\"IsBackup\" must be a boolean")),
    };
    Ok(WebhookChange {
        event_type: string("EventType")?,
        url,
        version,
        is_backup,
        status: string("Status")?,
    })
}

pub(crate) async fn list(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
) -> Result<impl IntoResponse, ApiError> {
    let secret = app.store.signing_secret(account.id).await?;
    let hooks = app.store.webhooks(account.id).await?;
    let total = hooks.len() as i64;
    Ok(envelope(
        hooks.iter().map(|h| hook_json(h, &secret)).collect(),
        total,
    ))
}

pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let hook = app.store.webhook(account.id, id).await?;
    let secret = app.store.signing_secret(account.id).await?;
    Ok(envelope(vec![hook_json(&hook, &secret)], 1))
}

/// Body: `{"EventType": "sent", "Url": "https://…", "Version": 1, "IsBackup": false}`.
pub(crate) async fn create(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let c = change_of(&app, &body)?;
    let event_type = c
        .event_type
        .ok_or_else(|| ApiError::bad_request("\"EventType\" is required"))?;
    let url = c
        .url
        .ok_or_else(|| ApiError::bad_request("\"Url\" is required"))?;
    let hook = app
        .store
        .create_webhook(
            account.id,
            &event_type,
            &url,
            c.version.unwrap_or(1),
            c.is_backup.unwrap_or(false),
            now_ms(),
        )
        .await
        .map_err(|e| match e {
            facteur_store::Error::Conflict(m) => {
                ApiError::bad_request(format!("{m}: change it with PUT"))
            }
            other => other.into(),
        })?;
    let secret = app.store.signing_secret(account.id).await?;
    Ok((
        StatusCode::CREATED,
        envelope(vec![hook_json(&hook, &secret)], 1),
    ))
}

pub(crate) async fn update(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let c = change_of(&app, &body)?;
    let hook = app.store.update_webhook(account.id, id, &c).await?;
    let secret = app.store.signing_secret(account.id).await?;
    Ok(envelope(vec![hook_json(&hook, &secret)], 1))
}

pub(crate) async fn remove(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.delete_webhook(account.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

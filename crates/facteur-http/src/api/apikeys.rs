//! `/v3/REST/apikey`: a master key creates sub-account keys, each with its own messages,
//! templates, webhooks and events; a key sees only its own data. A key is deactivated (and
//! reactivated) with `IsActive`, never deleted, as on Mailjet.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use facteur_store::{Account, KeyChanges};
use serde_json::{Value, json};

use super::{
    ApiAccount, ApiError, ApiJson, ApiPath as Path, envelope, known_props, object, rfc3339,
    track_host,
};
use facteur_engine::Engine;
use facteur_engine::time::now_ms;

fn key_json(a: &Account, secret: Option<&str>) -> Value {
    let mut v = json!({
        "ID": a.id,
        "APIKey": a.api_key,
        "Name": a.name,
        "IsActive": a.is_active,
        "IsMaster": a.parent_id.is_none(),
        "AllowSender": a.allow_sender,
        "MasterID": a.parent_id,
        "CreatedAt": rfc3339(a.created_at),
        "TrackHost": a.track_host,
        "TrackOpens": a.track_opens,
        "TrackClicks": a.track_clicks,
    });
    if let Some(s) = secret {
        v["SecretKey"] = json!(s);
    }
    v
}

pub(crate) async fn list(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
) -> Result<impl IntoResponse, ApiError> {
    let keys = app.store.keys_of(&account).await?;
    let total = keys.len() as i64;
    Ok(envelope(
        keys.iter().map(|k| key_json(k, None)).collect(),
        total,
    ))
}

pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let key = app
        .store
        .keys_of(&account)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(envelope(vec![key_json(&key, None)], 1))
}

fn opt_bool(body: &serde_json::Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "\"{key}\" must be a boolean"
        ))),
    }
}

/// The tracking settings of a body: `TrackOpens` / `TrackClicks` (a boolean, or `null` for
/// the server's default), `TrackHost` (a host name or base URL; `""` for `public_url`).
fn tracking_changes(
    body: &serde_json::Map<String, Value>,
    changes: &mut KeyChanges,
) -> Result<(), ApiError> {
    for (key, field) in [
        ("TrackOpens", &mut changes.track_opens),
        ("TrackClicks", &mut changes.track_clicks),
    ] {
        *field = match body.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "\"{key}\" must be a boolean, or null for the server's default"
                )));
            }
        };
    }
    changes.track_host = body.get("TrackHost").map(track_host).transpose()?;
    Ok(())
}

const KEY_PROPS: &[&str] = &[
    "Name",
    "IsActive",
    "AllowSender",
    "TrackHost",
    "TrackOpens",
    "TrackClicks",
];

fn opt_name(body: &serde_json::Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("Name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 255 => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(
            "\"Name\" must be a non-empty string of at most 255 characters",
        )),
    }
}

/// Body: `{"Name": "…"}`. Answers 201 with the new key and its `SecretKey` (shown only here).
pub(crate) async fn create(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    known_props(body, KEY_PROPS)?;
    let name = opt_name(body)?.ok_or_else(|| ApiError::bad_request("\"Name\" is required"))?;
    let mut changes = KeyChanges {
        is_active: opt_bool(body, "IsActive")?,
        allow_sender: opt_bool(body, "AllowSender")?,
        ..KeyChanges::default()
    };
    tracking_changes(body, &mut changes)?;
    if account.parent_id.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Only a master API key can create API keys",
        ));
    }
    let (mut key, secret) = app
        .store
        .create_subaccount(&account, &name, now_ms())
        .await?;
    key = app.store.update_key(&account, key.id, &changes).await?;
    app.reload_tracking().await?;
    Ok((
        StatusCode::CREATED,
        envelope(vec![key_json(&key, Some(&secret))], 1),
    ))
}

/// Body: any of `{"Name", "IsActive", "AllowSender", "TrackHost", "TrackOpens", "TrackClicks"}`.
pub(crate) async fn update(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    known_props(body, KEY_PROPS)?;
    if account.parent_id.is_some()
        && (body.contains_key("IsActive") || body.contains_key("AllowSender"))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Only the master API key can change IsActive or AllowSender",
        ));
    }
    let mut changes = KeyChanges {
        name: opt_name(body)?,
        is_active: opt_bool(body, "IsActive")?,
        allow_sender: opt_bool(body, "AllowSender")?,
        ..KeyChanges::default()
    };
    tracking_changes(body, &mut changes)?;
    let key = app.store.update_key(&account, id, &changes).await?;
    app.reload_tracking().await?;
    Ok(envelope(vec![key_json(&key, None)], 1))
}

//! `/v3/REST/dns`: the account's sending domains (Mailjet's resource: `Domain`,
//! `DKIMRecordName`, `DKIMRecordValue`, `DKIMStatus`, `SPFRecordValue`, `SPFStatus`), with
//! Facteur's additions: adding a domain generates its DKIM keys (`POST`), every record to
//! publish (`Records`), every key with its state (`DKIMKeys`), and rotation (`/rotate` makes new
//! keys pending beside the active ones, `/activate` switches to them and retires the old), and
//! `/check`, which looks every record up in DNS.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use facteur_engine::Engine;
use facteur_engine::identity::KeySet;
use facteur_engine::time::now_ms;
use facteur_store::identity::{Domain, KeyState};
use serde_json::{Value, json};

use super::{
    ApiAccount, ApiError, ApiJson, ApiPath as Path, envelope, known_props, object, rfc3339,
    track_host,
};

/// A domain as the API shows it.
pub fn domain_json(app: &Engine, d: &Domain) -> Value {
    let records = app.records(d);
    let active = d
        .keys
        .iter()
        .find(|k| k.state == KeyState::Active && k.algorithm == "rsa")
        .or_else(|| d.keys.iter().find(|k| k.state == KeyState::Active));
    let dkim = active.and_then(|k| {
        records
            .iter()
            .find(|r| r.name == format!("{}._domainkey.{}", k.selector, d.name))
    });
    // The last check's findings (`POST …/check`), else "Not checked".
    let checked: Value = d
        .check_result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let status = |key: &str| {
        checked[key]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "Not checked".into())
    };
    json!({
        "ID": d.id,
        "Domain": d.name,
        "DKIMRecordName": dkim.map(|r| r.name.clone()).unwrap_or_default(),
        "DKIMRecordValue": dkim.map(|r| r.value.clone()).unwrap_or_default(),
        "DKIMStatus": status("DKIMStatus"),
        "SPFRecordValue": app.spf_value(),
        "SPFStatus": status("SPFStatus"),
        "IsCheckInProgress": false,
        "LastCheckAt": d.checked_at.map(rfc3339).unwrap_or_default(),
        "Verified": d.verified_at.is_some(),
        "TrackHost": d.track_host,
        "CreatedAt": rfc3339(d.created_at),
        "DKIMKeys": d.keys.iter().map(|k| json!({
            "Selector": k.selector,
            "Algorithm": k.algorithm,
            "State": k.state.as_str(),
            "RecordName": format!("{}._domainkey.{}", k.selector, d.name),
            "CreatedAt": rfc3339(k.created_at),
        })).collect::<Vec<_>>(),
        "Records": records.iter().map(|r| json!({
            "Type": r.kind,
            "Name": r.name,
            "Value": r.value,
            "Purpose": r.purpose,
        })).collect::<Vec<_>>(),
    })
}

/// `Keys`: `rsa` (the default), `ed25519`, or `both` (every message signed twice).
fn key_set(body: &serde_json::Map<String, Value>) -> Result<KeySet, ApiError> {
    match body.get("Keys") {
        None | Some(Value::Null) => Ok(KeySet::Rsa),
        Some(Value::String(s)) => KeySet::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("\"Keys\" {s:?} is not one of rsa, ed25519, both"))
        }),
        Some(_) => Err(ApiError::bad_request("\"Keys\" must be a string")),
    }
}

/// A domain by its id or its name (`/dns/example.com`, as Mailjet allows).
async fn find(app: &Engine, account: i64, id_or_name: &str) -> Result<Domain, ApiError> {
    Ok(match id_or_name.parse::<i64>() {
        Ok(id) => app.store.domain(account, id).await?,
        Err(_) => app.store.domain_by_name(account, id_or_name).await?,
    })
}

pub(crate) async fn list(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
) -> Result<impl IntoResponse, ApiError> {
    let domains = app.store.domains(account.id).await?;
    let total = domains.len() as i64;
    Ok(envelope(
        domains.iter().map(|d| domain_json(&app, d)).collect(),
        total,
    ))
}

pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let d = find(&app, account.id, &id).await?;
    Ok(envelope(vec![domain_json(&app, &d)], 1))
}

/// `PUT /v3/REST/dns/{id}`, body `{"TrackHost": "t.example.com"}`: where the tracking and
/// unsubscribe links of the domain's mail point (`""`: the account's host, else `public_url`).
pub(crate) async fn update(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    known_props(body, &["TrackHost"])?;
    let host = body
        .get("TrackHost")
        .map(track_host)
        .transpose()?
        .ok_or_else(|| {
            ApiError::bad_request(
                "\"TrackHost\" (a host name or base URL, \"\" for the default) is required",
            )
        })?;
    let d = find(&app, account.id, &id).await?;
    app.store
        .set_domain_track_host(account.id, d.id, &host)
        .await?;
    app.reload_tracking().await?;
    let d = app.store.domain(account.id, d.id).await?;
    Ok(envelope(vec![domain_json(&app, &d)], 1))
}

/// Body: `{"Domain": "example.com", "Keys": "rsa"}`.
pub(crate) async fn create(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    known_props(body, &["Domain", "Keys"])?;
    let name = match body.get("Domain") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "\"Domain\" is required (a domain name)",
            ));
        }
    };
    let set = key_set(body)?;
    let d = app.add_domain(account.id, &name, set, now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        envelope(vec![domain_json(&app, &d)], 1),
    ))
}

/// Body (optional): `{"Keys": "rsa"}`.
pub(crate) async fn rotate(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let o = object(&body)?;
    known_props(o, &["Keys"])?;
    let set = key_set(o)?;
    let d = find(&app, account.id, &id).await?;
    let d = app.rotate_domain(account.id, d.id, set, now_ms()).await?;
    Ok(envelope(vec![domain_json(&app, &d)], 1))
}

pub(crate) async fn activate(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let d = find(&app, account.id, &id).await?;
    let d = app.activate_keys(account.id, d.id).await?;
    Ok(envelope(vec![domain_json(&app, &d)], 1))
}

pub(crate) async fn remove(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let d = find(&app, account.id, &id).await?;
    app.remove_domain(account.id, d.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/REST/dns/{id}/check`: Mailjet's fields (`DKIMStatus`, `DKIMErrors`,
/// `DKIMRecordCurrentValue`, `SPFStatus`, `SPFErrors`, `SPFRecordsCurrentValues`) and every
/// record's own status in `Records`.
pub(crate) async fn check(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let d = find(&app, account.id, &id).await?;
    let (_, result) = app.check_domain(account.id, d.id, now_ms()).await?;
    Ok(envelope(vec![result], 1))
}

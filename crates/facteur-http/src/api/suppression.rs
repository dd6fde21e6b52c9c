//! `/v3/REST/suppression`: the account's suppression list (Facteur's resource; Mailjet keeps
//! its own internally). Addresses that bounced hard, complained, unsubscribed or were added
//! by hand get no more mail: a message to them is accepted and the recipient recorded
//! `blocked` (`preblocked`), the other recipients are sent to. Soft bounces list an address
//! once they repeat (`soft_bounce_threshold` over `soft_bounce_span`), until
//! `soft_bounce_expiry`. `GET …/suppression.csv` exports the list.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use facteur_engine::Engine;
use facteur_engine::time::now_ms;
use facteur_store::identity::{Suppression, SuppressionFilter, SuppressionReason};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiAccount, ApiError, ApiJson, ApiPath as Path, ApiQuery as Query, envelope, known_props,
    object, rfc3339,
};

fn entry_json(s: &Suppression) -> Value {
    json!({
        "Email": s.address,
        "Reason": s.reason.as_str(),
        "Comment": s.detail,
        "MessageID": s.message_id,
        "Failures": s.failures,
        "Active": s.active,
        "CreatedAt": rfc3339(s.first_at),
        "UpdatedAt": rfc3339(s.updated_at),
        "ExpiresAt": s.expires_at.map(rfc3339),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListQuery {
    #[serde(rename = "Reason")]
    reason: Option<String>,
    #[serde(rename = "Email")]
    email: Option<String>,
    #[serde(rename = "Limit")]
    limit: Option<i64>,
    #[serde(rename = "Offset")]
    offset: Option<i64>,
}

fn filter_of(q: &ListQuery, max: i64) -> Result<SuppressionFilter, ApiError> {
    let reason = match q.reason.as_deref() {
        None | Some("") => None,
        Some(r) => Some(SuppressionReason::parse(r).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Reason {r:?} is not one of hard-bounce, soft-bounce, complaint, unsubscribe, manual"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(10);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "Limit must be between 1 and {max}"
        )));
    }
    Ok(SuppressionFilter {
        reason,
        address: q.email.clone().filter(|e| !e.is_empty()),
        limit,
        offset: q.offset.unwrap_or(0).max(0),
    })
}

pub(crate) async fn list(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = filter_of(&q, 1000)?;
    let (rows, total) = app.store.suppressions(account.id, &filter).await?;
    Ok(envelope(rows.iter().map(entry_json).collect(), total))
}

/// The whole list (or the entries the filters keep) as CSV.
pub(crate) async fn export(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(mut q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    q.limit = Some(q.limit.unwrap_or(1_000_000));
    let filter = filter_of(&q, 1_000_000)?;
    let (rows, _) = app.store.suppressions(account.id, &filter).await?;
    let mut csv = String::from(
        "email,reason,comment,message_id,failures,active,created_at,updated_at,expires_at\r\n",
    );
    let cell = |s: &str| {
        if s.contains([',', '"', '\r', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for s in &rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            cell(&s.address),
            s.reason.as_str(),
            cell(&s.detail),
            s.message_id.map(|m| m.to_string()).unwrap_or_default(),
            s.failures,
            s.active,
            rfc3339(s.first_at),
            rfc3339(s.updated_at),
            s.expires_at.map(rfc3339).unwrap_or_default(),
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"suppression.csv\"",
            ),
        ],
        csv,
    ))
}

pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(email): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let s = app
        .store
        .suppression(account.id, &email)
        .await?
        .ok_or(facteur_store::Error::NotFound)?;
    Ok(envelope(vec![entry_json(&s)], 1))
}

/// Body: `{"Email": "a@example.com", "Reason": "manual", "Comment": "asked by phone"}`.
pub(crate) async fn create(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    known_props(body, &["Email", "Reason", "Comment"])?;
    let text = |k: &str| match body.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ApiError::bad_request(format!("\"{k}\" must be a string"))),
    };
    let email = text("Email")?
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::bad_request("\"Email\" is required"))?;
    let reason = match text("Reason")?.as_deref() {
        None => SuppressionReason::Manual,
        Some(r) => SuppressionReason::parse(r)
            .filter(|r| *r != SuppressionReason::SoftBounce)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Reason {r:?} is not one of manual, hard-bounce, complaint, unsubscribe"
                ))
            })?,
    };
    let now = now_ms();
    let entry = Suppression {
        account_id: account.id,
        address: email.to_ascii_lowercase(),
        reason,
        detail: text("Comment")?.unwrap_or_default(),
        message_id: None,
        failures: 1,
        first_at: now,
        updated_at: now,
        expires_at: None,
        active: true,
    };
    app.suppress(&entry).await?;
    let stored = app
        .store
        .suppression(account.id, &entry.address)
        .await?
        .ok_or(facteur_store::Error::NotFound)?;
    Ok((StatusCode::CREATED, envelope(vec![entry_json(&stored)], 1)))
}

pub(crate) async fn remove(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(email): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.unsuppress(account.id, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

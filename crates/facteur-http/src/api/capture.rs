//! `/v3/REST/capture`: the messages capture mode kept instead of sending them (Facteur's
//! resource, as Mailpit shows them): one per recipient, as they would have gone on the wire.
//! The list and one capture (its headers, HTML and text parts decoded), its source
//! (`message/rfc822`), deleting one or all. Another account's capture is not found.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use facteur_engine::Engine;
use facteur_store::capture::{CaptureFilter, Captured};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiAccount, ApiError, ApiPath as Path, ApiQuery as Query, envelope, rfc3339};

/// `MessageID` is the recipient's (what the Send API returned, `/v3/REST/message/{id}`).
fn summary_json(c: &Captured) -> Value {
    json!({
        "ID": c.id,
        "MessageID": c.recipient_id,
        "From": c.mail_from,
        "To": c.recipient,
        "Subject": c.subject,
        "Size": c.size,
        "CapturedAt": rfc3339(c.captured_at),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListQuery {
    /// Kept when the recipient or the subject contains it.
    #[serde(rename = "Search")]
    search: Option<String>,
    #[serde(rename = "Limit")]
    limit: Option<i64>,
    #[serde(rename = "Offset")]
    offset: Option<i64>,
}

pub(crate) async fn list(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = q.limit.unwrap_or(10);
    if !(0..=1000).contains(&limit) {
        return Err(ApiError::bad_request("Limit must be between 0 and 1000"));
    }
    let filter = CaptureFilter {
        search: q.search.filter(|s| !s.is_empty()),
        limit,
        offset: q.offset.unwrap_or(0).max(0),
    };
    let (rows, total) = app.store.captures(Some(account.id), &filter).await?;
    Ok(envelope(rows.iter().map(summary_json).collect(), total))
}

/// One capture with its `Headers` (as written), `HtmlPart` and `TextPart` (decoded; `null`
/// when the message has none).
pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let c = app.store.capture(Some(account.id), id).await?;
    let mut v = summary_json(&c);
    let raw = c.raw.unwrap_or_default();
    // Decoding a large message is CPU work: on the blocking pool.
    let view = facteur_engine::render::blocking(move || facteur_message::view::read(&raw))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    v["Headers"] = view
        .headers
        .iter()
        .map(|(name, value)| json!({"Name": name, "Value": value}))
        .collect();
    v["HtmlPart"] = json!(view.html);
    v["TextPart"] = json!(view.text);
    Ok(envelope(vec![v], 1))
}

/// The bytes as captured.
pub(crate) async fn raw(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let c = app.store.capture(Some(account.id), id).await?;
    Ok((
        [(header::CONTENT_TYPE, "message/rfc822")],
        c.raw.unwrap_or_default(),
    ))
}

pub(crate) async fn remove(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.delete_capture(Some(account.id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes every capture of the account.
pub(crate) async fn clear(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
) -> Result<impl IntoResponse, ApiError> {
    app.store.clear_captures(Some(account.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

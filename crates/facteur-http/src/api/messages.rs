//! Messages and their events in Mailjet's shapes: `GET /v3/REST/message/{id}`,
//! `GET /v3/REST/message?CustomID=…`, `GET /v3/REST/messagehistory/{id}`. A Mailjet message
//! is one recipient of what was sent: `{id}` is the `MessageID` the Send API returned.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use facteur_store::RcptStatus;
use facteur_store::messages::MessageView;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiAccount, ApiError, ApiPath as Path, ApiQuery as Query, envelope, rfc3339};
use facteur_engine::Engine;

/// Mailjet's message `Status` for a recipient state.
pub fn mailjet_status(s: RcptStatus) -> &'static str {
    match s {
        RcptStatus::Queued => "queued",
        RcptStatus::Deferred => "deferred",
        RcptStatus::Sent => "sent",
        RcptStatus::Bounced => "hardbounced",
        RcptStatus::Expired => "softbounced",
        RcptStatus::Blocked | RcptStatus::Deleted => "blocked",
    }
}

/// Mailjet's `Status` of a recipient's message: what the recipient did last (unsubscribed,
/// clicked, opened) once it was sent, else its delivery state.
pub fn message_status(m: &MessageView) -> &'static str {
    if m.status == RcptStatus::Sent {
        if m.unsub_at.is_some() {
            return "unsub";
        }
        if m.clicked_at.is_some() {
            return "clicked";
        }
        if m.opened_at.is_some() {
            return "opened";
        }
    }
    mailjet_status(m.status)
}

fn message_json(m: &MessageView) -> Value {
    json!({
        "ID": m.id,
        "UUID": m.uuid,
        "ArrivedAt": rfc3339(m.created_at),
        "AttemptCount": m.attempts,
        "AttachmentCount": 0,
        "CampaignID": 0,
        "ContactAlt": m.address,
        "ContactID": 0,
        "CustomID": m.custom_id,
        "EventPayload": m.event_payload,
        "Campaign": m.campaign,
        "Delay": 0,
        "DestinationID": 0,
        "FilterTime": 0,
        "IsClickTracked": m.tracking & facteur_store::TRACK_CLICKS != 0,
        "IsHTMLPartIncluded": false,
        "IsOpenTracked": m.tracking & facteur_store::TRACK_OPENS != 0,
        "IsTextPartIncluded": false,
        "IsUnsubTracked": m.tracking & facteur_store::TRACK_UNSUB != 0,
        "MessageSize": m.size,
        "SenderID": 0,
        "Sender": m.mail_from,
        "SpamassassinScore": 0,
        "SpamassRules": "",
        "StatePermanent": m.status.is_final(),
        "Status": message_status(m),
        "StatusDetail": m.last_reply.clone().unwrap_or_default(),
        "Subject": m.subject,
        "UpdatedAt": rfc3339(m.updated_at),
    })
}

pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let m = app.store.message_view(account.id, id).await?;
    Ok(envelope(vec![message_json(&m)], 1))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListQuery {
    #[serde(rename = "CustomID")]
    custom_id: Option<String>,
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
    let offset = q.offset.unwrap_or(0).max(0);
    let (views, total) = app
        .store
        .message_views(account.id, q.custom_id.as_deref(), limit, offset)
        .await?;
    Ok(envelope(views.iter().map(message_json).collect(), total))
}

pub(crate) async fn history(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let events = app.store.message_history(account.id, id).await?;
    let data: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "EventAt": e.at / 1000,
                "EventType": facteur_mailjet::events::history_name(e.kind),
                "State": e.kind.as_str(),
                "Comment": e.detail,
                "Useragent": "",
                "UseragentID": 0,
            })
        })
        .collect();
    let total = data.len() as i64;
    Ok(envelope(data, total))
}

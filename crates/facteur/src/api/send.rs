//! `POST /v3.1/send`: Mailjet's Send API. Each message is checked, rendered, built as MIME and
//! spooled on its own (one failing message does not stop the others); all of a call's
//! messages are spooled concurrently, so the group commit writes them with one fsync. HTTP 200
//! only once every accepted message is on disk.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::post};
use facteur_message::compose::{Composed, Mailbox, compose};
use facteur_message::send::{MessageSpec, SendError, add_url_tags, parse_request};
use facteur_store::{Account, MessageMeta, NewMessage};
use serde_json::{Value, json};

use crate::app::App;
use crate::metrics::Metrics;
use crate::sending::{self, Rendered};
use crate::time::now_ms;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/v3.1/send", post(send))
}

/// A v3.1 error body: `{"ErrorIdentifier", "ErrorCode", "ErrorMessage", "StatusCode"}` (and
/// `ErrorRelatedTo` inside messages).
pub fn error_json(e: &SendError, with_related: bool) -> Value {
    let mut v = json!({
        "ErrorIdentifier": uuid::Uuid::now_v7().hyphenated().to_string(),
        "ErrorCode": e.code,
        "StatusCode": e.status,
        "ErrorMessage": e.message,
    });
    if with_related {
        v["ErrorRelatedTo"] = json!(e.related);
    }
    v
}

fn global_error(e: SendError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    super::with_challenge(status, error_json(&e, false))
}

/// The account of the request's HTTP Basic credentials, or the v3.1 error.
pub async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Account, SendError> {
    use crate::app::AuthDenied;
    match super::check_credentials(app, headers, ip).await {
        Ok(a) => Ok(a),
        Err(AuthDenied::Invalid) => Err(SendError::new(
            "mj-0015",
            401,
            "API key authentication/authorization failure",
            &[],
        )),
        Err(AuthDenied::Suspended) => Err(SendError::new(
            "mj-0001",
            401,
            "This API key is suspended: reactivate it with its master key (PUT /v3/REST/apikey/{id} {\"IsActive\": true}).",
            &[],
        )),
        Err(AuthDenied::Throttled) => Err(SendError::new(
            "mj-0015",
            429,
            format!(
                "Too many failed authentications from your address: try again in {} minutes.",
                crate::limits::AUTH_WINDOW.as_secs() / 60
            ),
            &[],
        )),
        Err(AuthDenied::Unavailable(e)) => Err(unavailable(e)),
    }
}

fn unavailable(e: facteur_store::Error) -> SendError {
    tracing::error!(error = %e, "store unavailable on the Send API");
    SendError::new(
        "mj-0500",
        503,
        "Service temporarily unavailable: nothing was sent, try again later.",
        &[],
    )
}

async fn send(
    State(app): State<Arc<App>>,
    client: Option<axum::Extension<crate::http::ClientIp>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ip = client.map(|c| c.0.0);
    let account = match authenticate(&app, &headers, ip).await {
        Ok(a) => a,
        Err(e) => return global_error(e),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return global_error(SendError::new(
                "mj-0011",
                413,
                format!(
                    "Payload too big: the request body is limited to {} bytes (http_max_body).",
                    app.cfg.http_max_body
                ),
                &[],
            ));
        }
        Err(_) => return global_error(SendError::malformed()),
    };
    let request = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => return global_error(e),
    };
    let account = Arc::new(account);
    let mut tasks = tokio::task::JoinSet::new();
    let mut results: Vec<Option<Result<Value, Vec<SendError>>>> =
        vec![None; request.messages.len()];
    for (i, m) in request.messages.into_iter().enumerate() {
        match m {
            Err(errors) => results[i] = Some(Err(errors)),
            Ok(spec) => {
                let app = app.clone();
                let account = account.clone();
                let sandbox = request.sandbox;
                tasks.spawn(async move { (i, process(&app, &account, spec, sandbox).await) });
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => tracing::error!(error = %e, "send task failed"),
        }
    }
    let mut statuses = Vec::new();
    let messages: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Some(Ok(v)) => v,
            Some(Err(errors)) => {
                statuses.extend(errors.iter().map(|e| e.status));
                json!({"Status": "error", "Errors": errors.iter().map(|e| error_json(e, true)).collect::<Vec<_>>()})
            }
            None => {
                statuses.push(500);
                json!({"Status": "error", "Errors": [error_json(&SendError::new("mj-0500", 500, "Internal error: this message was not sent.", &[]), true)]})
            }
        })
        .collect();
    // 200 when every message went through; otherwise their common error status, else 400.
    let status = match statuses.first() {
        None => StatusCode::OK,
        Some(first) if statuses.iter().all(|s| s == first) => {
            StatusCode::from_u16(*first).unwrap_or(StatusCode::BAD_REQUEST)
        }
        Some(_) => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({"Messages": messages}))).into_response()
}

/// One validated message: the checks that need the store, then render, build, spool.
async fn process(
    app: &App,
    account: &Account,
    mut spec: MessageSpec,
    sandbox: bool,
) -> Result<Value, Vec<SendError>> {
    let template = match spec.template_id {
        None => None,
        Some(id) => match app.template_for_send(account.id, id).await {
            Ok(t) => Some(t),
            Err(facteur_store::Error::NotFound) => {
                return Err(vec![SendError::new(
                    "send-0010",
                    400,
                    format!(
                        "Template {id} does not exist for this API key, or has no published version."
                    ),
                    &["TemplateID"],
                )]);
            }
            Err(e) => return Err(vec![unavailable(e)]),
        },
    };
    let mut errors = Vec::new();
    if let Some(t) = &template
        && spec.html.is_some()
        && !t.content.html.is_empty()
    {
        errors.push(SendError::new(
            "send-0004",
            400,
            "\"HTMLPart\" cannot be given with a template that has an HTML part.",
            &["HTMLPart", "TemplateID"],
        ));
    }
    let from = spec
        .from
        .clone()
        .or_else(|| template.as_ref().and_then(|t| t.from()));
    if from.is_none() {
        errors.push(SendError::new(
            "mj-0003",
            400,
            "Mandatory property \"From\" is missing (give it, or a From header on the template).",
            &["From"],
        ));
    }
    if spec.sender.is_some() && !account.allow_sender {
        errors.push(SendError::new(
            "send-0006",
            403,
            "This API key may not set \"Sender\" (AllowSender is off on /v3/REST/apikey).",
            &["Sender"],
        ));
    }
    if let Some(c) = &spec.monitoring_category {
        errors.push(SendError::new(
            "send-0013",
            400,
            format!("MonitoringCategory \"{c}\" does not exist."),
            &["MonitoringCategory"],
        ));
    }
    let Some(from) = from.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };

    let Rendered {
        subject,
        html,
        text,
        errors: part_errors,
    } = sending::render_message_blocking(
        template.clone(),
        sending::OwnedParts {
            subject: spec.subject.take(),
            html: spec.html.take(),
            text: spec.text.take(),
        },
        std::mem::take(&mut spec.variables),
        spec.template_language,
        &app.cfg.template_limits,
    )
    .await;
    if sandbox {
        let entry = |m: &Mailbox| json!({"Email": m.email, "MessageUUID": "", "MessageID": 0, "MessageHref": ""});
        return Ok(success(&spec, entry));
    }
    let html = add_url_tags(&html, &spec.url_tags);
    let reply_to = spec
        .reply_to
        .clone()
        .or_else(|| template.as_ref().and_then(|t| t.reply_to()));
    let now = now_ms();
    let message_id = format!("{}@{}", uuid::Uuid::now_v7().simple(), app.cfg.hostname);
    let raw = compose(&Composed {
        from: Some(&from),
        sender: spec.sender.as_ref(),
        to: &spec.to,
        cc: &spec.cc,
        reply_to: reply_to.as_ref(),
        subject: &subject,
        text: &text,
        html: &html,
        message_id: &message_id,
        date: now / 1000,
        headers: &spec.headers,
        attachments: &spec.attachments,
        inline: &spec.inline,
    });
    if raw.len() > app.cfg.max_message_size {
        return Err(vec![SendError::new(
            "mj-0011",
            400,
            format!(
                "The message is {} bytes once built, over the limit of {} bytes (max_message_size): send smaller parts or attachments.",
                raw.len(),
                app.cfg.max_message_size
            ),
            &[],
        )]);
    }
    let recipients = spec.envelope_recipients();
    // The report attaches the message: keep a copy only when one will be sent.
    let report = (!part_errors.is_empty())
        .then_some(spec.error_reporting.as_ref())
        .flatten()
        .map(|to| (to, raw.clone()));
    let blocked = sending::blocked_reason(&part_errors, spec.error_deliver);
    let envelope_from = spec.sender.as_ref().unwrap_or(&from).email.clone();
    let receipt = app
        .writer
        .spool_receipt(NewMessage {
            account_id: Some(account.id),
            mail_from: envelope_from,
            recipients: recipients.clone(),
            body: raw,
            priority: spec.priority,
            now,
            expires_at: now + app.cfg.retry.lifetime.as_millis() as i64,
            meta: MessageMeta {
                custom_id: spec.custom_id.clone(),
                event_payload: spec.event_payload.clone(),
                campaign: spec.campaign.clone(),
                subject: subject.clone(),
                blocked: blocked.clone(),
            },
        })
        .await
        .map_err(|e| vec![unavailable(e)])?;
    Metrics::inc(&app.metrics.messages_accepted_total);
    if blocked.is_none() {
        app.queue_wakeup.notify_one();
    } else {
        tracing::info!(msg_id = receipt.message_id, reason = ?blocked, "message blocked");
    }
    if let Some((to, original)) = report
        && let Err(e) =
            sending::spool_error_report(app, account.id, to, &subject, &part_errors, &original)
                .await
    {
        tracing::error!(error = %e, "cannot spool the template error report");
    }
    let ids = |m: &Mailbox| {
        let i = recipients
            .iter()
            .position(|r| r.eq_ignore_ascii_case(&m.email))
            .unwrap_or(0);
        let (id, uuid) = &receipt.recipients[i];
        json!({
            "Email": m.email,
            "MessageUUID": uuid,
            "MessageID": id,
            "MessageHref": format!("{}/v3/REST/message/{id}", app.public_url),
        })
    };
    Ok(success(&spec, ids))
}

/// A message's success entry, with `entry` describing each recipient.
fn success(spec: &MessageSpec, entry: impl Fn(&Mailbox) -> Value) -> Value {
    json!({
        "Status": "success",
        "CustomID": spec.custom_id,
        "To": spec.to.iter().map(&entry).collect::<Vec<_>>(),
        "Cc": spec.cc.iter().map(&entry).collect::<Vec<_>>(),
        "Bcc": spec.bcc.iter().map(&entry).collect::<Vec<_>>(),
    })
}

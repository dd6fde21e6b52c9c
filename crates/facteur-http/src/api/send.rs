//! `POST /v3.1/send`: Mailjet's Send API. Each message is checked, rendered, built as MIME and
//! spooled on its own (one failing message does not stop the others); all of a call's
//! messages are spooled concurrently, so the group commit writes them with one fsync. HTTP 200
//! only once every accepted message is on disk.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use facteur_engine::Engine;
use facteur_engine::submit::{Authority, Content, Draft, Origin, Problem, Submission, SubmitError};
use facteur_mailjet::send::{ErrorKind, MessageSpec, SendError, parse_request};
use facteur_message::compose::Mailbox;
use facteur_store::Account;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::errors::{error_json, status_of};
pub use crate::errors::{global_error, unavailable};

pub(crate) async fn send(
    State(engine): State<Arc<Engine>>,
    axum::Extension(principal): axum::Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return global_error(SendError::new(
                "mj-0011",
                ErrorKind::TooLarge,
                format!(
                    "Payload too big: the request body is limited to {} bytes (http_max_body).",
                    engine.cfg.http_max_body
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
    let account = Arc::new(principal.account);
    let mut tasks = tokio::task::JoinSet::new();
    let mut results: Vec<Option<Result<Value, Vec<SendError>>>> =
        vec![None; request.messages.len()];
    for (i, m) in request.messages.into_iter().enumerate() {
        match m {
            Err(errors) => results[i] = Some(Err(errors)),
            Ok(spec) => {
                let engine = engine.clone();
                let account = account.clone();
                let sandbox = request.sandbox;
                tasks.spawn(async move { (i, process(&engine, &account, spec, sandbox).await) });
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
                statuses.extend(errors.iter().map(|e| status_of(e.kind)));
                json!({"Status": "error", "Errors": errors.iter().map(|e| error_json(e, true)).collect::<Vec<_>>()})
            }
            None => {
                statuses.push(StatusCode::INTERNAL_SERVER_ERROR);
                json!({"Status": "error", "Errors": [error_json(&SendError::new("mj-0500", ErrorKind::Internal, "Internal error: this message was not sent.", &[]), true)]})
            }
        })
        .collect();
    // 200 when every message went through; otherwise their common error status, else 400.
    let status = match statuses.first() {
        None => StatusCode::OK,
        Some(first) if statuses.iter().all(|s| s == first) => *first,
        Some(_) => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({"Messages": messages}))).into_response()
}

/// Mailjet's error for a problem the pipeline found.
fn problem_error(p: &Problem) -> SendError {
    let text = format!("{p}.");
    match p {
        Problem::TemplateNotFound(_) => SendError::invalid("send-0010", text, &["TemplateID"]),
        Problem::HtmlWithTemplate => {
            SendError::invalid("send-0004", text, &["HTMLPart", "TemplateID"])
        }
        Problem::NoFrom => SendError::invalid("mj-0003", text, &["From"]),
        Problem::SenderNotAllowed => {
            SendError::new("send-0006", ErrorKind::Forbidden, text, &["Sender"])
        }
        Problem::SenderNotValidated(_) => {
            SendError::new("send-0007", ErrorKind::Forbidden, text, &["Sender"])
        }
        Problem::FromNotValidated(_) => {
            SendError::new("send-0008", ErrorKind::Forbidden, text, &["From"])
        }
        Problem::UnknownMonitoringCategory(_) => {
            SendError::invalid("send-0013", text, &["MonitoringCategory"])
        }
        Problem::Suspended => SendError::new("mj-0001", ErrorKind::Unauthenticated, text, &[]),
        Problem::NeedsAccount | Problem::Refused(_) => SendError::invalid("send-0001", text, &[]),
    }
}

/// One validated message through the accept pipeline.
async fn process(
    engine: &Engine,
    account: &Account,
    spec: MessageSpec,
    sandbox: bool,
) -> Result<Value, Vec<SendError>> {
    let recipients = spec.envelope_recipients();
    let MessageSpec {
        from,
        sender,
        to,
        cc,
        bcc,
        reply_to,
        subject,
        text,
        html,
        attachments,
        inline,
        headers,
        options,
    } = spec;
    let custom_id = options.custom_id.clone();
    let draft = Draft {
        from,
        sender,
        to: to.clone(),
        cc: cc.clone(),
        reply_to,
        subject,
        text,
        html,
        headers,
        attachments,
        inline,
    };
    let submission = Submission {
        account_id: Some(account.id),
        authority: Authority {
            recheck_active: false,
            may_set_sender: account.allow_sender,
        },
        origin: Origin::SendApi,
        mail_from: None,
        recipients: recipients.clone(),
        content: Content::Draft(Box::new(draft)),
        options,
        sandbox,
    };
    let accepted = match engine.submit(submission).await {
        Ok(a) => a,
        Err(SubmitError::Invalid(problems)) => {
            return Err(problems.iter().map(problem_error).collect());
        }
        Err(SubmitError::TooBig { size, limit }) => {
            return Err(vec![SendError::invalid(
                "mj-0011",
                format!(
                    "The message is {size} bytes once built, over the limit of {limit} bytes (max_message_size): send smaller parts or attachments."
                ),
                &[],
            )]);
        }
        Err(SubmitError::Unavailable(e)) => return Err(vec![unavailable(e)]),
    };
    let lists = (&to[..], &cc[..], &bcc[..]);
    if sandbox {
        let entry = |m: &Mailbox| json!({"Email": m.email, "MessageUUID": "", "MessageID": 0, "MessageHref": ""});
        return Ok(success(&custom_id, lists, entry));
    }
    let receipt = accepted.receipt;
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
            "MessageHref": format!("{}/v3/REST/message/{id}", engine.public_url),
        })
    };
    Ok(success(&custom_id, lists, ids))
}

/// A message's success entry, with `entry` describing each recipient.
fn success(
    custom_id: &str,
    (to, cc, bcc): (&[Mailbox], &[Mailbox], &[Mailbox]),
    entry: impl Fn(&Mailbox) -> Value,
) -> Value {
    json!({
        "Status": "success",
        "CustomID": custom_id,
        "To": to.iter().map(&entry).collect::<Vec<_>>(),
        "Cc": cc.iter().map(&entry).collect::<Vec<_>>(),
        "Bcc": bcc.iter().map(&entry).collect::<Vec<_>>(),
    })
}

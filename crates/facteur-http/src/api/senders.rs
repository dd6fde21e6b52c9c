//! `/v3/REST/sender`: the From addresses an account may use (Mailjet's resource: `Email`,
//! `Name`, `Status` Inactive|Active|Deleted, `EmailType`, `IsDefaultSender`, `DNSID`), one
//! address or a catch-all `*@domain`; `POST …/{id}/validate` sends a confirmation link to an
//! address (or activates it at once when its domain is verified), and validates a catch-all by
//! its domain's DNS check. `GET /sender/confirm/{token}` is the link (no authentication).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use facteur_engine::Engine;
use facteur_engine::senders::Validation;
use facteur_engine::time::now_ms;
use facteur_store::senders::{Sender, SenderStatus};
use serde_json::{Value, json};

use super::{
    ApiAccount, ApiError, ApiJson, ApiPath as Path, envelope, known_props, object, rfc3339,
};

async fn sender_json(app: &Engine, s: &Sender) -> Value {
    let dns_id = app
        .store
        .domain_by_name(s.account_id, s.domain())
        .await
        .map(|d| d.id)
        .unwrap_or(0);
    json!({
        "ID": s.id,
        "Email": s.email,
        "Name": s.name,
        "Status": s.status.as_str(),
        "EmailType": s.email_type,
        "IsDefaultSender": s.is_default,
        "CreatedAt": rfc3339(s.created_at),
        "DNSID": dns_id,
        "Filename": "",
        "ValidationMethod": s.method.clone().unwrap_or_default(),
        "ValidatedAt": s.validated_at.map(rfc3339).unwrap_or_default(),
    })
}

fn sender_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found())
}

pub(crate) async fn list(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let with_deleted = q
        .get("ShowDeleted")
        .is_some_and(|v| v == "true" || v == "1");
    let mut data = Vec::new();
    for s in app.store.senders(account.id, with_deleted).await? {
        if let Some(email) = q.get("Email")
            && !s.email.eq_ignore_ascii_case(email)
        {
            continue;
        }
        if let Some(status) = q.get("Status")
            && !s.status.as_str().eq_ignore_ascii_case(status)
        {
            continue;
        }
        data.push(sender_json(&app, &s).await);
    }
    let total = data.len() as i64;
    Ok(envelope(data, total))
}

pub(crate) async fn one(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let s = app.store.sender(account.id, sender_id(&id)?).await?;
    Ok(envelope(vec![sender_json(&app, &s).await], 1))
}

/// Body: `{"Email": "news@example.com", "Name": "News", "EmailType": "bulk",
/// "IsDefaultSender": false}`; `*@example.com` for a catch-all.
pub(crate) async fn create(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    known_props(body, &["Email", "Name", "EmailType", "IsDefaultSender"])?;
    let email = match body.get("Email") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        _ => {
            return Err(ApiError::bad_request(
                "\"Email\" is required: an address, or *@domain for every address of a domain",
            ));
        }
    };
    let valid = match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && (local == "*" || !local.contains('*'))
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b >= 0x80)
                && !local.contains(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        return Err(ApiError::bad_request(format!(
            "\"Email\" {email:?} is not an e-mail address (or *@domain)"
        )));
    }
    let name = match body.get("Name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("\"Name\" must be a string")),
    };
    let email_type = match body.get("EmailType") {
        None | Some(Value::Null) => "unknown".to_string(),
        Some(Value::String(s))
            if ["transactional", "bulk", "unknown"].contains(&s.to_ascii_lowercase().as_str()) =>
        {
            s.to_ascii_lowercase()
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "\"EmailType\" must be one of transactional, bulk, unknown",
            ));
        }
    };
    let is_default = match body.get("IsDefaultSender") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "\"IsDefaultSender\" must be a boolean",
            ));
        }
    };
    let s = app
        .add_sender(account.id, &email, &name, &email_type, is_default, now_ms())
        .await?;
    Ok((
        StatusCode::CREATED,
        envelope(vec![sender_json(&app, &s).await], 1),
    ))
}

pub(crate) async fn remove(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.delete_sender(account.id, sender_id(&id)?).await?;
    app.reload_senders().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mailjet's answer: `{"ValidationMethod", "Errors": {…}, "GlobalError"}`, 200 even when it
/// failed (the errors say why), 400 when the sender is already active.
pub(crate) async fn validate(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let s = app.store.sender(account.id, sender_id(&id)?).await?;
    match s.status {
        SenderStatus::Active => {
            return Err(ApiError::bad_request(format!(
                "the sender {} is already active",
                s.email
            )));
        }
        SenderStatus::Deleted => return Err(ApiError::not_found()),
        SenderStatus::Inactive => {}
    }
    let method = if s.is_catch_all() {
        "DNS"
    } else {
        "ActivationEmail"
    };
    let v = app.validate_sender(&s, now_ms()).await?;
    // Mailjet's shape: both validation errors always there (empty when none), in an envelope.
    let (how, dns_error, global, message) = match v {
        Validation::EmailSent => (
            "ActivationEmail",
            String::new(),
            String::new(),
            format!(
                "a confirmation link was sent to {}: the sender is active once it is confirmed",
                s.email
            ),
        ),
        Validation::Activated(how) => (how, String::new(), String::new(), String::new()),
        Validation::Failed(why) if method == "DNS" => (method, why.clone(), why, String::new()),
        Validation::Failed(why) => (method, String::new(), why, String::new()),
    };
    let body = json!({
        "ValidationMethod": how,
        "Errors": {"DNSValidationError": dns_error, "FileValidationError": ""},
        "GlobalError": global,
        "Message": message,
    });
    Ok(envelope(vec![body], 1))
}

fn page(status: StatusCode, title: &str, body: String) -> impl IntoResponse + use<> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 4em auto\"><h1>{title}</h1>{body}</body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
}

fn unknown_link() -> (StatusCode, String) {
    (
        StatusCode::NOT_FOUND,
        "<p>This confirmation link is not valid (or its sender was deleted). Ask for a new one with POST /v3/REST/sender/{id}/validate.</p>".into(),
    )
}

/// The confirmation link (GET): a page with a button. Opening the link alone validates
/// nothing, so the link scanners of mail providers, which open every link, cannot.
pub(crate) async fn confirm_page(
    State(app): State<Arc<Engine>>,
    Path(token): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(s) = app.sender_by_token(&token).await? else {
        let (status, body) = unknown_link();
        return Ok(page(status, "Unknown link", body));
    };
    if s.status == SenderStatus::Active {
        return Ok(page(
            StatusCode::OK,
            "Sender confirmed",
            format!(
                "<p>{} is already a confirmed sender.</p>",
                html_escape(&s.email)
            ),
        ));
    }
    Ok(page(
        StatusCode::OK,
        "Confirm this sender",
        format!(
            "<p>Confirm that {} is your address and may send e-mail through this server.</p>\
             <form method=\"post\"><button type=\"submit\">Confirm</button></form>",
            html_escape(&s.email)
        ),
    ))
}

/// The button (POST): the sender becomes active.
pub(crate) async fn confirm(
    State(app): State<Arc<Engine>>,
    Path(token): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match app.confirm_sender(&token, now_ms()).await? {
        Some(s) => Ok(page(
            StatusCode::OK,
            "Sender confirmed",
            format!(
                "<p>{} may now be used as a sender.</p>",
                html_escape(&s.email)
            ),
        )),
        None => {
            let (status, body) = unknown_link();
            Ok(page(status, "Unknown link", body))
        }
    }
}

use facteur_template::escape_html as html_escape;

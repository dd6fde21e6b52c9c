//! The block editor's HTTP side apart from the live connection: applying an operation (shared
//! with the WebSocket and `POST /v3/REST/template/{id}/operations`), the switch between the
//! visual and the code editor, the document's preview, comments, publish requests,
//! notifications and uploaded images.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use facteur_collab::comments::{self, Mentionable, Mode};
use facteur_collab::request::{self, Decider, Decision, Status};
use facteur_collab::{Actor, Document, Op};
use facteur_engine::Engine;
use facteur_engine::time::now_ms;
use facteur_store::collab::OpRecord;
use facteur_store::templates::{TemplateContent, TemplateRecord};
use serde_json::{Value, json};

use super::{Hub, schedule_draft};
use crate::api::templates::content::{Built, build};
use crate::api::templates::partials::Use;
use crate::auth::{Permission, Principal, role_allows};
use crate::errors::ApiError;
use crate::web::{self, App, Csp, base, frame, render, store_failed, with};

/// What an operation's sender may do.
pub fn actor(p: &Principal) -> Actor {
    Actor {
        user: p.person.as_ref().map_or(0, |x| x.user.id),
        can_edit: p.allows(Permission::EditTemplates),
        can_lock: p.allows(Permission::LockTemplates),
    }
}

/// Why an operation was not applied.
pub struct OpRefused {
    pub code: &'static str,
    pub error: String,
}

impl OpRefused {
    fn status(&self) -> StatusCode {
        match self.code {
            "role" => StatusCode::FORBIDDEN,
            "lease" => StatusCode::CONFLICT,
            "locked" => StatusCode::LOCKED,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

fn store_refusal(e: facteur_store::Error) -> OpRefused {
    match e {
        facteur_store::Error::NotFound => OpRefused {
            code: "not_found",
            error: "This template is not edited in the visual editor.".into(),
        },
        facteur_store::Error::Unavailable(_) => OpRefused {
            code: "unavailable",
            error: "The database does not answer; the change will be sent again.".into(),
        },
        e => OpRefused {
            code: "invalid",
            error: e.to_string(),
        },
    }
}

/// Checks and applies one operation: in one transaction with the document, the leases and
/// the op log; then broadcast to this node's editors (others hear it by NOTIFY) and the
/// draft compiled again soon after. Returns the operation's sequence number.
pub async fn apply(
    app: &Arc<Engine>,
    account_id: i64,
    template_id: i64,
    actor: &Actor,
    cid: &str,
    op: Op,
) -> Result<i64, OpRefused> {
    let now = now_ms();
    let mut applied_op = String::new();
    let slot = &mut applied_op;
    let result = app
        .store
        .apply_op(template_id, actor.user, cid, now, |doc, leases| {
            let mut doc: Document = serde_json::from_str(doc).map_err(|e| OpRefused {
                code: "invalid",
                error: format!("The stored document does not read: {e}"),
            })?;
            let holder = |s: &str| {
                leases
                    .iter()
                    .find(|l| l.section == s && l.expires_at > now)
                    .map(|l| l.user_id)
            };
            let op =
                facteur_collab::apply(&mut doc, op, actor, &holder).map_err(|r| OpRefused {
                    code: r.code(),
                    error: r.to_string(),
                })?;
            let op = serde_json::to_string(&op).unwrap_or_default();
            let doc = serde_json::to_string(&doc).unwrap_or_default();
            slot.clone_from(&op);
            Ok((doc, op))
        })
        .await;
    let seq = match result {
        Ok(Ok(seq)) => seq,
        Ok(Err(refused)) => return Err(refused),
        Err(e) => return Err(store_refusal(e)),
    };
    let room = Hub::of(app).existing(template_id);
    if let Some(room) = &room {
        room.applied(
            app,
            OpRecord {
                seq,
                user_id: actor.user,
                cid: cid.to_string(),
                op: applied_op,
                at: now,
            },
        )
        .await;
    }
    schedule_draft(app, room.as_ref(), account_id, template_id);
    Ok(seq)
}

/// Compiles the template's block document and saves it as the draft (with the partials it
/// includes, as the code editor's save does).
pub async fn save_doc_draft(app: &Engine, account_id: i64, id: i64) -> Result<(), ApiError> {
    let Some((doc, _)) = app.store.blocks(id).await? else {
        return Ok(());
    };
    let doc: Document = serde_json::from_str(&doc)
        .map_err(|e| ApiError::bad_request(format!("The stored document does not read: {e}")))?;
    let t = app.store.template(account_id, id).await?;
    let current = app.store.editing_content(&t).await?;
    let body = json!({"MJMLContent": doc.to_mjml()});
    let Built { content, pins, .. } =
        build(app, account_id, body, current, Use::Current, t.meta.name).await?;
    let number = app
        .store
        .save_template_draft(account_id, id, &content, now_ms())
        .await?;
    app.store.set_template_includes(id, number, &pins).await?;
    Ok(())
}

/// `POST /v3/REST/template/{id}/operations`: one operation of the block editor, checked as the
/// editor's own are (role, leases, locks). 200 `{"Seq": n}`; 403 role, 409 lease, 423
/// locked, 400 invalid.
pub async fn operation(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    crate::api::ApiJson(body): crate::api::ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    app.store.template(p.account.id, id).await?;
    let op: Op = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Not an operation of the block editor: {e}")))?;
    match apply(&app, p.account.id, id, &actor(&p), "", op).await {
        Ok(seq) => Ok(Json(json!({"Seq": seq}))),
        Err(r) => Err(ApiError::new(r.status(), r.error).with_info(r.code)),
    }
}

/// `GET /v3/REST/template/{id}/blocks`: the block document and its sequence number.
pub async fn document(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.template(p.account.id, id).await?;
    let Some((doc, seq)) = app.store.blocks(id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "This template is edited as code: switch it to the visual editor first",
        ));
    };
    let doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
    let mjml = serde_json::from_value::<Document>(doc.clone())
        .map(|d| d.to_mjml())
        .unwrap_or_default();
    Ok(Json(json!({"Seq": seq, "Document": doc, "MJML": mjml})))
}

/// The document a template starts the visual editor with: its MJML imported, its HTML as one
/// raw section, or a first section to write in.
fn starting_document(content: &TemplateContent) -> Document {
    if !content.mjml.trim().is_empty() {
        return facteur_collab::import(&content.mjml);
    }
    if !content.html.trim().is_empty() {
        let html = content.html.replace("</mj-raw", "&lt;/mj-raw");
        return facteur_collab::import(&format!(
            "<mjml><mj-body><mj-raw>{html}</mj-raw></mj-body></mjml>"
        ));
    }
    facteur_collab::import(
        "<mjml><mj-body><mj-section><mj-column><mj-text><p>Write here.</p></mj-text></mj-column></mj-section></mj-body></mjml>",
    )
}

/// Switches a template to the visual editor (importing its draft) or back to code.
pub async fn switch_to(
    app: &Arc<Engine>,
    account_id: i64,
    t: &TemplateRecord,
    visual: bool,
) -> Result<(), ApiError> {
    let visual_now = app.store.blocks(t.id).await?.is_some();
    if visual == visual_now {
        return Ok(());
    }
    if visual {
        let content = app.store.editing_content(t).await?;
        let doc = starting_document(&content);
        let json = serde_json::to_string(&doc).unwrap_or_default();
        app.store.start_blocks(t.id, &json, now_ms()).await?;
        save_doc_draft(app, account_id, t.id).await?;
    } else {
        // The draft holds the compiled MJML: the code editor goes on from it.
        save_doc_draft(app, account_id, t.id).await?;
        app.store.drop_blocks(t.id).await?;
    }
    Ok(())
}

/// `POST /app/templates/{id}/mode` (form `mode=visual|code`).
pub async fn switch_mode(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let t = match app.store.template(p.account.id, id).await {
        Ok(t) => t,
        Err(e) => return store_failed(e, "template"),
    };
    let visual = form.get("mode").map(String::as_str) == Some("visual");
    if let Err(e) = switch_to(&app, p.account.id, &t, visual).await {
        return crate::errors::page_error(e.status, &e.message);
    }
    redirect(&format!("/app/templates/{id}"))
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// `GET /app/templates/{id}/blocks/preview`: the document rendered with the template's test
/// values, as a sandboxed frame.
pub async fn preview(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let t = match app.store.template(p.account.id, id).await {
        Ok(t) => t,
        Err(e) => return store_failed(e, "template"),
    };
    let doc = match app.store.blocks(id).await {
        Ok(Some((doc, _))) => doc,
        Ok(None) => return store_failed(facteur_store::Error::NotFound, "visual template"),
        Err(e) => return store_failed(e, "template"),
    };
    let Ok(doc) = serde_json::from_str::<Document>(&doc) else {
        return frame(StatusCode::OK, "The document does not read.".into());
    };
    let current = match app.store.editing_content(&t).await {
        Ok(c) => c,
        Err(e) => return store_failed(e, "template"),
    };
    let body = json!({"MJMLContent": doc.to_mjml()});
    let html = match build(&app, p.account.id, body, current, Use::Current, t.meta.name).await {
        Ok(b) => web::templates::rendered(&app, &b.content, &t.test_values).await,
        Err(e) => format!(
            "<p style=\"font:14px sans-serif;color:#b00\">{}</p>",
            facteur_template::escape_html(&e.message)
        ),
    };
    frame(StatusCode::OK, html)
}

// ---- Comments ----

fn person_of(p: &Principal) -> Result<Arc<crate::auth::Person>, ApiError> {
    p.person
        .clone()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "Sign in to the app to comment"))
}

fn display(u: &facteur_store::people::User) -> String {
    if u.name.is_empty() {
        u.email.clone()
    } else {
        u.name.clone()
    }
}

/// Tells the template's editors (here and on other nodes) that `what` changed.
async fn announce(app: &Arc<Engine>, id: i64, what: &str) {
    let _ = app.store.collab_notify(&format!("{what}:{id}")).await;
    if let Some(room) = Hub::of(app).existing(id) {
        room.send_text(&json!({ "t": what }).to_string());
    }
}

/// Notifies people in the app and by e-mail.
async fn tell(
    app: &Arc<Engine>,
    account_id: i64,
    people: &[(i64, String)],
    text: &str,
    link: &str,
) {
    let now = now_ms();
    for (id, email) in people {
        if let Err(e) = app
            .store
            .notify_person(*id, account_id, text, link, now)
            .await
        {
            tracing::warn!(error = %e, "an in-app notification was not recorded");
        }
        let body = format!("{text}\r\n\r\n{}{link}\r\n", app.public_url);
        if let Err(e) = app
            .mail_notice(email, text.chars().take(120).collect(), body)
            .await
        {
            tracing::warn!(error = %e, "a notification mail was not queued");
        }
    }
}

/// `GET /app/templates/{id}/comments`.
pub async fn list_comments(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.template(p.account.id, id).await?;
    let me = p.person.as_ref().map_or(0, |x| x.user.id);
    let members = app.store.members(p.account.id).await?;
    let name = |uid: i64| {
        members
            .iter()
            .find(|(u, _)| u.id == uid)
            .map_or_else(|| format!("person {uid}"), |(u, _)| display(u))
    };
    let list: Vec<Value> = app
        .store
        .comments(id)
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id.to_string(), "block": c.block, "parent": c.parent_id.map(|x| x.to_string()),
                "author": {"id": c.author_id.to_string(), "name": name(c.author_id)},
                "body": c.body,
                "mentions": c.mentions.iter().map(|m| json!({"id": m.to_string(), "name": name(*m)})).collect::<Vec<_>>(),
                "created_at": c.created_at, "edited_at": c.edited_at,
                "resolved": c.resolved_at.is_some(), "mine": c.author_id == me,
            })
        })
        .collect();
    Ok(Json(json!({ "comments": list })))
}

fn id_field(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }
}

/// The people of the account a comment can mention.
async fn mentionable(app: &Engine, account_id: i64) -> Result<Vec<Mentionable>, ApiError> {
    Ok(app
        .store
        .members(account_id)
        .await?
        .into_iter()
        .map(|(u, _)| Mentionable {
            id: u.id,
            name: u.name,
            email: u.email,
        })
        .collect())
}

/// Notifies the people a comment mentions (not its author).
async fn tell_mentions(
    app: &Arc<Engine>,
    p: &Principal,
    t: &TemplateRecord,
    people: &[Mentionable],
    mentions: &[i64],
    body: &str,
) {
    let me = p.person.as_ref().map_or(0, |x| x.user.id);
    let by = p
        .person
        .as_ref()
        .map(|x| display(&x.user))
        .unwrap_or_default();
    let to: Vec<(i64, String)> = people
        .iter()
        .filter(|m| mentions.contains(&m.id) && m.id != me)
        .map(|m| (m.id, m.email.clone()))
        .collect();
    let excerpt: String = body.chars().take(200).collect();
    let text = format!(
        "{by} mentioned you on the template \"{}\": {excerpt}",
        t.meta.name
    );
    tell(
        app,
        p.account.id,
        &to,
        &text,
        &format!("/app/templates/{}", t.id),
    )
    .await;
}

/// `POST /app/templates/{id}/comments` `{"block", "body", "parent"}`.
pub async fn add_comment(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    crate::api::ApiJson(body): crate::api::ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let person = person_of(&p)?;
    let t = app.store.template(p.account.id, id).await?;
    let text = comments::check_body(Mode::Template, body["body"].as_str().unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let block = body["block"].as_str().unwrap_or("").to_string();
    if !facteur_collab::ops::valid_id(&block) {
        return Err(ApiError::bad_request("Say which block the comment is on"));
    }
    let parent = id_field(&body["parent"]);
    let people = mentionable(&app, p.account.id).await?;
    let mentions = comments::mentions(&text, &people);
    let c = app
        .store
        .add_comment(
            id,
            Mode::Template.as_str(),
            &block,
            parent,
            person.user.id,
            &text,
            &mentions,
            now_ms(),
        )
        .await?;
    tell_mentions(&app, &p, &t, &people, &mentions, &text).await;
    announce(&app, id, "comments").await;
    Ok((StatusCode::CREATED, Json(json!({"id": c.id.to_string()}))))
}

/// A comment of the principal's account.
async fn own_comment(
    app: &Engine,
    p: &Principal,
    cid: i64,
) -> Result<(facteur_store::collab::CommentRecord, TemplateRecord), ApiError> {
    let c = app.store.comment(cid).await?;
    let t = app.store.template(p.account.id, c.template_id).await?;
    if c.mode != Mode::Template.as_str() {
        return Err(ApiError::bad_request(
            "Campaigns have no comments: comment on the template they use",
        ));
    }
    Ok((c, t))
}

/// `PATCH /app/comments/{id}` `{"body"}`: one's own comment.
pub async fn edit_comment(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(cid): Path<i64>,
    crate::api::ApiJson(body): crate::api::ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let person = person_of(&p)?;
    let (c, t) = own_comment(&app, &p, cid).await?;
    comments::may_change(c.author_id, person.user.id)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e))?;
    let text = comments::check_body(Mode::Template, body["body"].as_str().unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let people = mentionable(&app, p.account.id).await?;
    let mentions = comments::mentions(&text, &people);
    app.store
        .edit_comment(cid, &text, &mentions, now_ms())
        .await?;
    // Only the people the edit adds are told.
    let added: Vec<i64> = mentions
        .iter()
        .copied()
        .filter(|m| !c.mentions.contains(m))
        .collect();
    tell_mentions(&app, &p, &t, &people, &added, &text).await;
    announce(&app, t.id, "comments").await;
    Ok(Json(json!({"id": cid.to_string()})))
}

/// `DELETE /app/comments/{id}`: one's own comment (a thread's first one takes its replies).
pub async fn delete_comment(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(cid): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let person = person_of(&p)?;
    let (c, t) = own_comment(&app, &p, cid).await?;
    comments::may_change(c.author_id, person.user.id)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e))?;
    app.store.delete_comment(cid).await?;
    announce(&app, t.id, "comments").await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /app/comments/{id}/{resolve|reopen}`: a thread.
pub async fn resolve_comment(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path((cid, action)): Path<(i64, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let person = person_of(&p)?;
    let (_, t) = own_comment(&app, &p, cid).await?;
    let at = match action.as_str() {
        "resolve" => Some(now_ms()),
        "reopen" => None,
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "Resolve or reopen")),
    };
    app.store.resolve_thread(cid, person.user.id, at).await?;
    announce(&app, t.id, "comments").await;
    Ok(Json(
        json!({"id": cid.to_string(), "resolved": at.is_some()}),
    ))
}

// ---- Publish requests ----

/// `POST /app/templates/{id}/requests` `{"message"}`: asks to publish the draft.
pub async fn create_request(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    crate::api::ApiJson(body): crate::api::ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let person = person_of(&p)?;
    let message = request::submit(
        body["message"].as_str().unwrap_or(""),
        p.allows(Permission::EditTemplates),
    )
    .map_err(ApiError::bad_request)?;
    // What is asked is the document as it is now.
    save_doc_draft(&app, p.account.id, id).await?;
    let t = app.store.template(p.account.id, id).await?;
    if t.draft.is_none() {
        return Err(ApiError::bad_request(
            "Nothing to publish: the template has no draft",
        ));
    }
    let content = app.store.editing_content(&t).await?;
    let r = app
        .store
        .create_request(id, person.user.id, &message, &content, now_ms())
        .await?;
    // The people who may approve it.
    let approvers: Vec<(i64, String)> = app
        .store
        .members(p.account.id)
        .await?
        .into_iter()
        .filter(|(u, role)| {
            u.id != person.user.id && role_allows(*role, Permission::PublishTemplates)
        })
        .map(|(u, _)| (u.id, u.email))
        .collect();
    let text = format!(
        "{} asks to publish the template \"{}\": {}",
        display(&person.user),
        t.meta.name,
        if message.is_empty() {
            "(no message)"
        } else {
            &message
        }
    );
    tell(
        &app,
        p.account.id,
        &approvers,
        &text,
        &format!("/app/requests/{}", r.id),
    )
    .await;
    announce(&app, id, "requests").await;
    Ok((StatusCode::CREATED, Json(json!({"id": r.id.to_string()}))))
}

/// A request of the principal's account, with its template.
async fn request_of(
    app: &Engine,
    p: &Principal,
    rid: i64,
) -> Result<(facteur_store::collab::RequestRecord, TemplateRecord), facteur_store::Error> {
    let r = app.store.request(rid).await?;
    let t = app.store.template(p.account.id, r.template_id).await?;
    Ok((r, t))
}

/// `GET /app/requests/{id}`: the request with a visual and a code diff against the published
/// version, and the template's other requests.
pub async fn request_page(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(rid): Path<i64>,
) -> Response {
    let (r, t) = match request_of(&app, &p, rid).await {
        Ok(x) => x,
        Err(e) => return store_failed(e, "request"),
    };
    let published = app
        .store
        .published_content(p.account.id, t.id)
        .await
        .unwrap_or_default();
    let source = |c: &TemplateContent| {
        if c.mjml.trim().is_empty() {
            c.html.clone()
        } else {
            c.mjml.clone()
        }
    };
    let diff = facteur_template::diff::line_diff(&source(&published), &source(&r.content));
    let members = app.store.members(p.account.id).await.unwrap_or_default();
    let name = |uid: i64| {
        members
            .iter()
            .find(|(u, _)| u.id == uid)
            .map_or_else(|| format!("person {uid}"), |(u, _)| display(u))
    };
    let history: Vec<Value> = app
        .store
        .requests(t.id)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|x| x.id != r.id)
        .map(|x| json!({"id": x.id.to_string(), "status": x.status, "requester": name(x.requester_id), "created_at": x.created_at}))
        .collect();
    let ctx = with(
        base(
            &p,
            &format!("Publish request: {}", t.meta.name),
            "templates",
        ),
        json!({
            "request": {
                "id": r.id.to_string(), "template_id": t.id.to_string(), "template_name": t.meta.name,
                "message": r.message, "status": r.status, "requester": name(r.requester_id),
                "created_at": r.created_at, "decided_by": r.decided_by.map(name),
                "reason": r.reason, "version": r.version,
            },
            "diff": diff,
            "history": history,
        }),
    );
    render(StatusCode::OK, "request.html", ctx, Csp::App)
}

/// `GET /app/requests/{id}/frame/{published|requested}`.
pub async fn request_frame(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path((rid, which)): Path<(i64, String)>,
) -> Response {
    let (r, t) = match request_of(&app, &p, rid).await {
        Ok(x) => x,
        Err(e) => return store_failed(e, "request"),
    };
    let content = match which.as_str() {
        "requested" => r.content,
        "published" => match app.store.published_content(p.account.id, t.id).await {
            Ok(c) => c,
            Err(facteur_store::Error::NotFound) => {
                return frame(StatusCode::OK, "<p>Not published yet.</p>".into());
            }
            Err(e) => return store_failed(e, "template"),
        },
        _ => return store_failed(facteur_store::Error::NotFound, "frame"),
    };
    frame(
        StatusCode::OK,
        web::templates::rendered(&app, &content, &t.test_values).await,
    )
}

/// `POST /app/requests/{id}/{approve|refuse}` (form; `reason` to refuse).
pub async fn decide_request(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path((rid, action)): Path<(i64, String)>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(person) = p.person.clone() else {
        return crate::errors::page_error(StatusCode::FORBIDDEN, "Sign in first");
    };
    let (r, t) = match request_of(&app, &p, rid).await {
        Ok(x) => x,
        Err(e) => return store_failed(e, "request"),
    };
    let decision = match action.as_str() {
        "approve" => Decision::Approve,
        "refuse" => Decision::Refuse {
            reason: form.get("reason").cloned().unwrap_or_default(),
        },
        _ => return store_failed(facteur_store::Error::NotFound, "action"),
    };
    let who = Decider {
        can_publish: p.allows(Permission::PublishTemplates),
        requester: r.requester_id == person.user.id,
    };
    let status = Status::parse(&r.status).unwrap_or(Status::Withdrawn);
    let next = match request::decide(status, &decision, who) {
        Ok(s) => s,
        Err(e) => {
            let code = if who.can_publish {
                StatusCode::CONFLICT
            } else {
                StatusCode::FORBIDDEN
            };
            return crate::errors::page_error(code, &e);
        }
    };
    let now = now_ms();
    let reason = match &decision {
        Decision::Refuse { reason } => reason.trim().to_string(),
        _ => String::new(),
    };
    // Recorded first: of two approvers at once, one publishes.
    if let Err(e) = app
        .store
        .decide_request(rid, next.as_str(), person.user.id, &reason, None, now)
        .await
    {
        return store_failed(e, "request");
    }
    let mut version = None;
    if next == Status::Approved {
        let published = async {
            let n = app
                .store
                .save_template_draft(p.account.id, t.id, &r.content, now)
                .await?;
            let note = format!("publish request {rid} approved");
            let v = app
                .store
                .publish_template(p.account.id, t.id, &note, now)
                .await?;
            app.store.set_request_version(rid, v).await?;
            Ok::<_, facteur_store::Error>((n, v))
        }
        .await;
        match published {
            Ok((_, v)) => version = Some(v),
            Err(e) => return store_failed(e, "template"),
        }
    }
    let requester = app.store.user(r.requester_id).await.ok();
    if let Some(u) = requester {
        let text = match version {
            Some(v) => format!(
                "{} approved your request to publish \"{}\": it is version {v}",
                display(&person.user),
                t.meta.name
            ),
            None => format!(
                "{} refused your request to publish \"{}\": {reason}",
                display(&person.user),
                t.meta.name
            ),
        };
        tell(
            &app,
            p.account.id,
            &[(u.id, u.email)],
            &text,
            &format!("/app/requests/{rid}"),
        )
        .await;
    }
    announce(&app, t.id, "requests").await;
    redirect(&format!("/app/requests/{rid}"))
}

// ---- Notifications ----

/// `GET /app/notifications`.
pub async fn notifications(State(app): App, Extension(p): Extension<Principal>) -> Response {
    let Some(person) = p.person.clone() else {
        return crate::errors::page_error(StatusCode::FORBIDDEN, "Sign in first");
    };
    let list = match app.store.notifications(person.user.id, 200).await {
        Ok(l) => l,
        Err(e) => return store_failed(e, "notification"),
    };
    let list: Vec<Value> = list
        .into_iter()
        .map(|n| json!({"id": n.id.to_string(), "text": n.text, "link": n.link, "created_at": n.created_at, "read": n.read}))
        .collect();
    let ctx = with(
        base(&p, "Notifications", "notifications"),
        json!({"notifications": list}),
    );
    render(StatusCode::OK, "notifications.html", ctx, Csp::App)
}

/// `POST /app/notifications/read`.
pub async fn read_notifications(State(app): App, Extension(p): Extension<Principal>) -> Response {
    if let Some(person) = &p.person
        && let Err(e) = app.store.read_notifications(person.user.id, now_ms()).await
    {
        return store_failed(e, "notification");
    }
    redirect("/app/notifications")
}

// ---- Images ----

/// The most an uploaded image weighs.
const MAX_IMAGE: usize = 5 * 1024 * 1024;

/// The type an image's first bytes say it is.
fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(("image/gif", "gif"))
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else {
        None
    }
}

/// `POST /app/templates/{id}/images`: an image (PNG, JPEG, GIF, WebP, up to 5 MB) as the body;
/// `{"url"}` where Facteur serves it to recipients.
pub async fn upload_image(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    app.store.template(p.account.id, id).await?;
    if body.len() > MAX_IMAGE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "An image weighs at most 5 MB: make it smaller (e-mails load faster too)",
        ));
    }
    let Some((content_type, ext)) = sniff(&body) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Upload a PNG, JPEG, GIF or WebP image",
        ));
    };
    let token = format!("{}.{ext}", uuid::Uuid::now_v7().simple());
    app.store
        .save_image(p.account.id, &token, content_type, &body, now_ms())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"url": format!("{}/i/{token}", app.public_url)})),
    ))
}

/// `GET /i/{token}`: an uploaded image, for recipients (public, cached for good: a token names
/// one image forever).
pub async fn image(State(app): State<Arc<Engine>>, Path(token): Path<String>) -> Response {
    match app.store.image(&token).await {
        Ok((content_type, bytes)) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            let h: &mut HeaderMap = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            );
            r
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

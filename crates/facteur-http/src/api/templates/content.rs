//! A template's content and versions: `detailcontent` (read, replace, merge), drafts,
//! publishing, the version list with diff summaries, restoring a version.

use super::partials::{Partials, Use};
use super::*;

pub(super) fn content_json(c: &TemplateContent) -> Value {
    json!({"Headers": c.headers, "Html-part": c.html, "Text-part": c.text, "MJMLContent": c.mjml})
}

/// An MJML error as a 400 whose `ErrorInfo` names `MJMLContent` and the position.
pub(super) fn mjml_error(e: mjml::MjmlError) -> ApiError {
    let info = match (e.line, e.column) {
        (Some(l), Some(c)) => format!("MJMLContent, line {l}, column {c}"),
        _ => "MJMLContent".to_string(),
    };
    ApiError::bad_request(e.message).with_info(info)
}

/// The MJML a detailcontent body leaves: its own `MJMLContent`, else `base`'s.
pub(super) fn mjml_after(body: &Value, base: &TemplateContent) -> String {
    body.get("MJMLContent")
        .and_then(Value::as_str)
        .map_or_else(|| base.mjml.clone(), str::to_string)
}

/// Content built from a body, and the partials its MJML was compiled with.
pub(crate) struct Built {
    pub content: TemplateContent,
    /// (partial id, version number) of each partial compiled in, to record with the version.
    pub pins: Vec<(i64, i64)>,
    /// MJML validation findings (node mjml's soft level).
    pub warnings: Vec<mjml::Warning>,
}

/// [`content_from`] with the partials its MJML includes read from the store first.
pub(crate) async fn build(
    app: &Engine,
    account_id: i64,
    body: Value,
    base: TemplateContent,
    which: Use,
    name: String,
) -> Result<Built, ApiError> {
    let partials = Partials::load(app, account_id, &mjml_after(&body, &base), which).await?;
    let limits = app.cfg.template_limits.clone();
    cpu(move || content_from(&body, base, &limits, &partials, Some(&name))).await
}

/// Builds content from a detailcontent body over `base` (POST: empty; PUT: the current content).
pub(super) fn content_from(
    body: &Value,
    mut base: TemplateContent,
    limits: &Limits,
    partials: &Partials,
    name: Option<&str>,
) -> Result<Built, ApiError> {
    let mut html_given = false;
    for (key, v) in object(body)? {
        match key.as_str() {
            "Html-part" => {
                base.html = string(key, v)?;
                html_given = true;
            }
            "Text-part" => base.text = string(key, v)?,
            "MJMLContent" => base.mjml = string(key, v)?,
            "Headers" => {
                let headers = v.as_object().ok_or_else(|| {
                    ApiError::bad_request("Property \"Headers\" must be an object")
                })?;
                if let Some((name, _)) = headers.iter().find(|(_, v)| !v.is_string()) {
                    return Err(ApiError::bad_request(format!(
                        "Header \"{name}\" must be a string"
                    )));
                }
                base.headers = v.clone();
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown property \"{other}\""
                )));
            }
        }
    }
    let mut pins = Vec::new();
    let mut warnings = Vec::new();
    if !base.mjml.trim().is_empty() && !html_given {
        let mut options = mjml::Options::new(limits);
        options.name = name;
        let compiled = partials.compile(&base.mjml, options).map_err(mjml_error)?;
        base.html = compiled.html;
        pins = partials.pins(&compiled.partials);
        warnings = compiled.warnings;
    }
    if base.headers.is_null() {
        base.headers = json!({});
    }
    // The templating language must parse in every part.
    let subject = base
        .headers
        .get("Subject")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for (part, text) in [
        ("Html-part", &base.html),
        ("Text-part", &base.text),
        ("Headers.Subject", &subject),
    ] {
        Template::parse(text).map_err(|e| {
            ApiError::bad_request(e.message.clone())
                .with_info(format!("{part}, line {}, column {}", e.line, e.column))
        })?;
    }
    Ok(Built {
        content: base,
        pins,
        warnings,
    })
}

pub(crate) async fn content(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    let c = app.store.editing_content(&t).await?;
    Ok(envelope(vec![content_json(&c)], 1))
}

async fn save_and_publish(
    app: &Engine,
    account_id: i64,
    id: i64,
    c: &TemplateContent,
    pins: &[(i64, i64)],
) -> Result<(), ApiError> {
    let now = now_ms();
    let number = app
        .store
        .save_template_draft(account_id, id, c, now)
        .await?;
    app.store.set_template_includes(id, number, pins).await?;
    app.store
        .publish_template(account_id, id, "saved through detailcontent", now)
        .await?;
    Ok(())
}

pub(crate) async fn replace_content(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    let Built {
        content: c, pins, ..
    } = build(
        &app,
        account.id,
        body,
        TemplateContent::default(),
        Use::Published,
        t.meta.name,
    )
    .await?;
    save_and_publish(&app, account.id, id, &c, &pins).await?;
    Ok((StatusCode::CREATED, envelope(vec![content_json(&c)], 1)))
}

pub(crate) async fn merge_content(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    let current = app.store.editing_content(&t).await?;
    let Built {
        content: c, pins, ..
    } = build(&app, account.id, body, current, Use::Published, t.meta.name).await?;
    save_and_publish(&app, account.id, id, &c, &pins).await?;
    Ok(envelope(vec![content_json(&c)], 1))
}

pub(crate) async fn save_draft(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    let current = app.store.editing_content(&t).await?;
    let Built {
        content: c,
        pins,
        warnings,
    } = build(&app, account.id, body, current, Use::Current, t.meta.name).await?;
    let number = app
        .store
        .save_template_draft(account.id, id, &c, now_ms())
        .await?;
    app.store.set_template_includes(id, number, &pins).await?;
    Ok(Json(json!({
        "Draft": number,
        "Warnings": super::preview::warnings_json(&warnings),
    })))
}

pub(crate) async fn publish(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let note = match body.get("Note") {
        None => String::new(),
        Some(v) => string("Note", v)?,
    };
    // A template edited in the visual editor: its document as it is now is the draft.
    crate::collab::rest::save_doc_draft(&app, account.id, id).await?;
    // A draft that includes partials is compiled again with their published versions.
    let t = app.store.template(account.id, id).await?;
    if let Some(draft) = t.draft {
        let content = app.store.version_content(id, draft).await?;
        if content.mjml.contains("<mj-include") {
            // An empty body: the draft as it is, compiled again.
            let body = json!({});
            let name = t.meta.name.clone();
            let Built {
                content: c, pins, ..
            } = build(&app, account.id, body, content, Use::Published, name).await?;
            app.store
                .save_template_draft(account.id, id, &c, now_ms())
                .await?;
            app.store.set_template_includes(id, draft, &pins).await?;
        }
    }
    let number = app
        .store
        .publish_template(account.id, id, &note, now_ms())
        .await?;
    Ok(Json(json!({"Published": number})))
}

fn version_json(v: &VersionInfo, previous: Option<&VersionInfo>) -> Value {
    // What changed since the version before (the first version: everything is new).
    let empty = TemplateContent::default();
    let before = previous.map_or(&empty, |p| &p.content);
    let mut changes = Map::new();
    let headers = |c: &TemplateContent| {
        if c.headers.is_null() {
            String::new()
        } else {
            serde_json::to_string_pretty(&c.headers).unwrap_or_default()
        }
    };
    for (part, old, new) in [
        ("Html-part", before.html.clone(), v.content.html.clone()),
        ("Text-part", before.text.clone(), v.content.text.clone()),
        ("MJMLContent", before.mjml.clone(), v.content.mjml.clone()),
        ("Headers", headers(before), headers(&v.content)),
    ] {
        let (added, removed) = facteur_template::diff::line_changes(&old, &new);
        if added + removed > 0 {
            changes.insert(part.into(), json!({"Added": added, "Removed": removed}));
        }
    }
    json!({
        "Number": v.number,
        "Status": v.status,
        "Note": v.note,
        "CreatedAt": rfc3339(v.created_at),
        "Changes": changes,
        "Content": content_json(&v.content),
    })
}

pub(crate) async fn versions(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let list = app.store.template_versions(account.id, id).await?;
    let total = list.len() as i64;
    // Newest first: each version is compared with the one after it in the list.
    let data = list
        .iter()
        .enumerate()
        .map(|(i, v)| version_json(v, list.get(i + 1)))
        .collect();
    Ok(envelope(data, total))
}

pub(crate) async fn restore(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path((id, number)): Path<(i64, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = app
        .store
        .restore_template_version(account.id, id, number, now_ms())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Draft": draft, "RestoredFrom": number})),
    ))
}

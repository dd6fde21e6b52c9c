//! `/v3/REST/template` and its content, versions and preview, in Mailjet's shapes.
//!
//! Content saved through `detailcontent` (POST replaces every part, PUT keeps the parts it does
//! not name) becomes a published version at once, as on Mailjet. `draft` and `publish` let an
//! editor work on a draft first. `MJMLContent` is raw MJML; when it is given without
//! `Html-part`, the HTML is compiled from it. Content is validated on save: MJML must compile
//! and the templating language must parse.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use facteur_store::templates::{
    TemplateContent, TemplateFilter, TemplateMeta, TemplateRecord, VersionInfo,
};
use facteur_template::{Context, Limits, Mode, Template, mjml, split_test_values};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::object;
use super::{ApiAccount, ApiError, ApiJson, ApiPath as Path, ApiQuery as Query, envelope, rfc3339};
use facteur_engine::Engine;
use facteur_engine::time::now_ms;

/// Format tag of an exported template document.
const EXPORT_FORMAT: &str = "facteur-template/1";

fn meta_json(m: &TemplateMeta) -> Value {
    json!({
        "Name": m.name, "Author": m.author, "Categories": m.categories, "Copyright": m.copyright,
        "Description": m.description, "EditMode": m.edit_mode, "IsStarred": m.is_starred,
        "IsTextPartGenerationEnabled": m.text_part_generation, "Locale": m.locale, "Purposes": m.purposes,
    })
}

/// One document with everything: metadata, test values and every version (oldest first).
async fn export_doc(app: &Engine, account_id: i64, id: i64) -> Result<Value, ApiError> {
    let t = app.store.template(account_id, id).await?;
    let mut versions = app.store.template_versions(account_id, id).await?;
    versions.reverse();
    Ok(json!({
        "Format": EXPORT_FORMAT,
        "Template": meta_json(&t.meta),
        "TestValues": t.test_values,
        "Versions": versions
            .iter()
            .map(|v| json!({"Number": v.number, "Status": v.status, "Note": v.note, "Content": content_json(&v.content)}))
            .collect::<Vec<_>>(),
    }))
}

fn attachment(filename: &str) -> (axum::http::HeaderName, String) {
    (
        axum::http::header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{filename}\""),
    )
}

pub(crate) async fn export(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let doc = export_doc(&app, account.id, id).await?;
    Ok(([attachment(&format!("template-{id}.json"))], Json(doc)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ExportQuery {
    /// Comma-separated template ids; all of the account's templates when absent.
    #[serde(rename = "IDs")]
    ids: Option<String>,
}

/// A zip of many templates, one exported document (`template-ID.json`) each.
pub(crate) async fn export_zip(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(q): Query<ExportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    use std::io::Write;
    let ids: Vec<i64> = match q.ids {
        Some(list) => list
            .split(',')
            .map(|s| {
                s.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("Invalid template id \"{s}\" in IDs"))
                })
            })
            .collect::<Result<_, _>>()?,
        None => {
            let all = TemplateFilter {
                limit: 1000,
                ..TemplateFilter::default()
            };
            app.store
                .list_templates(account.id, &all)
                .await?
                .0
                .into_iter()
                .map(|t| t.id)
                .collect()
        }
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for id in ids {
        let doc = export_doc(&app, account.id, id).await?;
        let zipped = zip
            .start_file(format!("template-{id}.json"), options)
            .map_err(std::io::Error::other)
            .and_then(|_| {
                zip.write_all(
                    serde_json::to_string_pretty(&doc)
                        .unwrap_or_default()
                        .as_bytes(),
                )
            });
        zipped.map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot build the zip: {e}"),
            )
        })?;
    }
    let bytes = zip
        .finish()
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot build the zip: {e}"),
            )
        })?
        .into_inner();
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/zip".to_string(),
            ),
            attachment("templates.zip"),
        ],
        bytes,
    ))
}

/// A validated import, ready to write.
struct PlannedImport {
    meta: TemplateMeta,
    /// (publish?, note, content), oldest first.
    versions: Vec<(bool, String, TemplateContent)>,
    test_values: Option<Value>,
}

/// Checks an exported document completely, writing nothing.
fn plan_import(doc: &Value, limits: &Limits) -> Result<PlannedImport, ApiError> {
    if doc.get("Format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err(ApiError::bad_request(format!(
            "Not a template export: \"Format\" must be \"{EXPORT_FORMAT}\""
        )));
    }
    let defaults = TemplateMeta {
        edit_mode: 2,
        text_part_generation: true,
        locale: "en_US".into(),
        ..TemplateMeta::default()
    };
    let meta = apply_meta(doc.get("Template").unwrap_or(&Value::Null), defaults)?;
    if meta.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Property \"Template.Name\" is required",
        ));
    }
    let list = doc
        .get("Versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut versions = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let status = v
            .get("Status")
            .and_then(Value::as_str)
            .unwrap_or("published");
        if status != "published" && status != "draft" {
            return Err(ApiError::bad_request(format!(
                "Versions[{i}].Status must be published or draft"
            )));
        }
        if status == "draft" && i + 1 != list.len() {
            return Err(ApiError::bad_request(
                "Only the last version may be a draft",
            ));
        }
        let content = content_from(
            v.get("Content").unwrap_or(&Value::Null),
            TemplateContent::default(),
            limits,
        )
        .map_err(|e| ApiError {
            info: format!("Versions[{i}]: {}", e.info),
            ..e
        })?;
        let note = v
            .get("Note")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        versions.push((status == "published", note, content));
    }
    let test_values = doc.get("TestValues").filter(|v| v.is_object()).cloned();
    Ok(PlannedImport {
        meta,
        versions,
        test_values,
    })
}

/// Writes a planned import: versions replayed in order (published ones published, the draft
/// left as draft), numbered from 1.
async fn write_import(
    app: &Engine,
    account_id: i64,
    plan: &PlannedImport,
) -> Result<TemplateRecord, ApiError> {
    let now = now_ms();
    let t = app
        .store
        .create_template(account_id, &plan.meta, now)
        .await?;
    for (publish, note, content) in &plan.versions {
        app.store
            .save_template_draft(account_id, t.id, content, now)
            .await?;
        if *publish {
            app.store
                .publish_template(account_id, t.id, note, now)
                .await?;
        }
    }
    if let Some(values) = &plan.test_values {
        app.store
            .set_template_test_values(account_id, t.id, values, now)
            .await?;
    }
    Ok(app.store.template(account_id, t.id).await?)
}

/// Imports one exported document (JSON) or a zip of them. Every document is checked before
/// any template is written.
pub(crate) async fn import(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let docs: Vec<(String, Value)> = if body.starts_with(b"PK\x03\x04") {
        use std::io::Read;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec()))
            .map_err(|e| ApiError::bad_request("Invalid zip archive").with_info(e.to_string()))?;
        let mut docs = Vec::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).map_err(|e| {
                ApiError::bad_request("Invalid zip archive").with_info(e.to_string())
            })?;
            let name = file.name().map(|n| n.to_string()).map_err(|e| {
                ApiError::bad_request("Invalid zip archive").with_info(e.to_string())
            })?;
            if file.is_dir() || !name.ends_with(".json") {
                continue;
            }
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(|e| {
                ApiError::bad_request(format!("{name}: cannot read")).with_info(e.to_string())
            })?;
            let doc = serde_json::from_str(&text).map_err(|e| {
                ApiError::bad_request(format!("{name}: invalid JSON")).with_info(e.to_string())
            })?;
            docs.push((name, doc));
        }
        if docs.is_empty() {
            return Err(ApiError::bad_request(
                "The zip holds no template (.json) file",
            ));
        }
        docs
    } else {
        let doc = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("Invalid JSON").with_info(e.to_string()))?;
        vec![(String::new(), doc)]
    };
    let limits = app.cfg.template_limits.clone();
    let plans = cpu(move || {
        docs.iter()
            .map(|(name, doc)| {
                plan_import(doc, &limits).map_err(|e| {
                    if name.is_empty() {
                        e
                    } else {
                        ApiError {
                            message: format!("{name}: {}", e.message),
                            ..e
                        }
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let mut created = Vec::with_capacity(plans.len());
    for plan in &plans {
        created.push(template_json(&write_import(&app, account.id, plan).await?));
    }
    let total = created.len() as i64;
    Ok((StatusCode::CREATED, envelope(created, total)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct HtmlQuery {
    #[serde(rename = "Version")]
    version: Option<String>,
}

/// The HTML rendered with the saved test values, as a file to download.
pub(crate) async fn download_html(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    Query(q): Query<HtmlQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    let content = content_version(&app, account.id, id, q.version.as_deref()).await?;
    let (vars, data) = split_test_values(&t.test_values);
    let limits = app.cfg.template_limits.clone();
    let html = cpu(move || {
        let ctx = Context {
            vars: &vars,
            data: &data,
            ..Context::default()
        };
        render_part(&ctx, "Html-part", &content.html, Mode::Html, &limits)
    })
    .await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/html; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"template-{id}.html\""),
            ),
        ],
        html,
    ))
}

/// A copy of the template: metadata, test values and its newest content as a draft.
/// Body (optional): `{"Name": "…"}` (default: the name followed by " (copy)").
pub(crate) async fn duplicate(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let original = app.store.template(account.id, id).await?;
    let name = match body.get("Name") {
        Some(v) => string("Name", v)?,
        None => format!("{} (copy)", original.meta.name),
    };
    let copy = app
        .store
        .duplicate_template(account.id, id, &name, now_ms())
        .await?;
    Ok((StatusCode::CREATED, envelope(vec![template_json(&copy)], 1)))
}

/// The content for a `Version` parameter: `draft` (the default: the draft, or the newest
/// published version) or `published` (what sends use).
async fn content_version(
    app: &Engine,
    account_id: i64,
    id: i64,
    version: Option<&str>,
) -> Result<TemplateContent, ApiError> {
    match version {
        None | Some("draft") => current_content(app, account_id, id).await,
        Some("published") => Ok(app.store.published_content(account_id, id).await?),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid Version \"{other}\": use draft or published"
        ))),
    }
}

/// Runs `f` on the blocking pool (see [`facteur_engine::render::blocking`]): template parsing,
/// rendering and MJML compilation are CPU work.
async fn cpu<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    facteur_engine::render::blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?
}

/// Renders one part; a template error becomes a 400 naming the part and the position.
fn render_part(
    ctx: &Context<'_>,
    part: &str,
    text: &str,
    mode: Mode,
    limits: &Limits,
) -> Result<String, ApiError> {
    Template::parse(text)
        .and_then(|t| t.render_with(ctx, mode, limits))
        .map_err(|e| {
            ApiError::bad_request(e.message.clone())
                .with_info(format!("{part}, line {}, column {}", e.line, e.column))
        })
}

/// Subject, HTML and text of a template rendered with test values (`vars`, `data`), the text
/// generated from the HTML when the template has none and `generate` is on.
fn render_parts(
    (vars, data): (&Value, &Value),
    [subject, html, text]: [&str; 3],
    generate: bool,
    limits: &Limits,
) -> Result<(String, String, String), ApiError> {
    let ctx = Context {
        vars,
        data,
        ..Context::default()
    };
    let render = |part: &str, text: &str, mode: Mode| render_part(&ctx, part, text, mode, limits);
    let subject = render("Headers.Subject", subject, Mode::Text)?;
    let html = render("Html-part", html, Mode::Html)?;
    let text = text_part(
        render("Text-part", text, Mode::Text)?,
        &html,
        generate,
        limits,
    );
    Ok((subject, html, text))
}

/// The text part to send: the template's, or one generated from the HTML when it has none and
/// generation is enabled.
fn text_part(
    rendered_text: String,
    rendered_html: &str,
    generate: bool,
    limits: &Limits,
) -> String {
    if rendered_text.trim().is_empty() && generate && !rendered_html.is_empty() {
        facteur_engine::render::generated_text(rendered_html, limits)
    } else {
        rendered_text
    }
}

/// Sends the template, rendered with its saved test values, to the given addresses through the
/// real queue. Body: `{"To": "a@b.c" | ["a@b.c", …], "From": "Name <x@y.z>" (default: the
/// template's From header), "Version": "draft" | "published"}`.
pub(crate) async fn send_test(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    use facteur_engine::submit::{Content, Draft, Origin, Submission, SubmitError};
    use facteur_message::compose::Mailbox;
    let t = app.store.template(account.id, id).await?;
    let body = object(&body)?;
    let to_values: Vec<String> = match body.get("To") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(v @ Value::Array(_)) => strings("To", v)?,
        _ => {
            return Err(ApiError::bad_request(
                "Property \"To\" is required: an address or a list of addresses",
            ));
        }
    };
    if to_values.is_empty() || to_values.len() > 50 {
        return Err(ApiError::bad_request("\"To\" takes 1 to 50 addresses"));
    }
    let to = to_values
        .iter()
        .map(|a| {
            Mailbox::parse(a).ok_or_else(|| {
                ApiError::bad_request(format!("\"{a}\" is not a valid email address"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let content = content_version(
        &app,
        account.id,
        id,
        body.get("Version").and_then(Value::as_str),
    )
    .await?;
    let header = |name: &str| {
        content
            .headers
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let from_text = match body.get("From") {
        Some(v) => string("From", v)?,
        None => header("From").ok_or_else(|| {
            ApiError::bad_request("No sender: give \"From\" or set a From header on the template")
        })?,
    };
    let from = Mailbox::parse(&from_text)
        .ok_or_else(|| ApiError::bad_request(format!("\"{from_text}\" is not a valid sender")))?;
    let reply_to = header("Reply-To")
        .or_else(|| header("Reply-to"))
        .and_then(|r| Mailbox::parse(&r));
    let (vars, data) = split_test_values(&t.test_values);
    let subject_source = header("Subject").unwrap_or_default();
    let generate = t.meta.text_part_generation;
    let (html_source, text_source) = (content.html.clone(), content.text.clone());
    let limits = app.cfg.template_limits.clone();
    let (subject, html, text) = cpu(move || {
        render_parts(
            (&vars, &data),
            [&subject_source, &html_source, &text_source],
            generate,
            &limits,
        )
    })
    .await?;
    // Rendered already with the test values: the pipeline builds, spools and notifies.
    let recipients: Vec<String> = to.iter().map(|m| m.email.clone()).collect();
    let draft = Draft {
        from: Some(from),
        to,
        reply_to,
        subject: Some(subject),
        text: Some(text),
        html: Some(html),
        headers: vec![(
            "X-Facteur-Template".to_string(),
            format!("{id} (test send)"),
        )],
        ..Draft::default()
    };
    let mut submission = Submission::new(
        Some(account.id),
        Origin::TestSend,
        None,
        recipients.clone(),
        Content::Draft(Box::new(draft)),
    );
    submission.authority.may_set_sender = account.allow_sender;
    let queued = match app.submit(submission).await {
        Ok(accepted) => accepted.receipt.message_id,
        Err(SubmitError::Unavailable(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::bad_request(e.to_string())),
    };
    Ok(Json(
        json!({"Status": "queued", "MessageID": queued, "To": recipients}),
    ))
}

/// The starter templates every account can start from (brief T2).
pub(crate) async fn gallery(ApiAccount(_): ApiAccount) -> impl IntoResponse {
    let items: Vec<Value> = facteur_template::starters::ALL
        .iter()
        .map(|s| json!({"Slug": s.slug, "Name": s.name, "Description": s.description, "EditMode": 4, "MJMLContent": s.mjml}))
        .collect();
    let total = items.len() as i64;
    envelope(items, total)
}

/// Copies a starter into the account as a new template: its MJML compiled, published as
/// version 1, its test values saved. Body (optional): `{"Name": "…"}`.
pub(crate) async fn use_starter(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let starter = facteur_template::starters::ALL
        .iter()
        .find(|s| s.slug == slug)
        .ok_or_else(ApiError::not_found)?;
    let name = match body.get("Name") {
        Some(v) => string("Name", v)?,
        None => starter.name.to_string(),
    };
    let meta = TemplateMeta {
        name,
        description: starter.description.to_string(),
        edit_mode: 4,
        text_part_generation: true,
        locale: "en_US".into(),
        categories: vec![slug.clone()],
        purposes: vec!["marketing".into()],
        ..TemplateMeta::default()
    };
    let now = now_ms();
    let t = app.store.create_template(account.id, &meta, now).await?;
    let compiled = mjml::to_html(starter.mjml)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    let content = TemplateContent {
        html: compiled.html,
        text: String::new(),
        mjml: starter.mjml.to_string(),
        headers: json!({"Subject": starter.name}),
    };
    app.store
        .save_template_draft(account.id, t.id, &content, now)
        .await?;
    app.store
        .publish_template(account.id, t.id, "from the gallery", now)
        .await?;
    let values: Value = serde_json::from_str(starter.test_values).unwrap_or(Value::Null);
    app.store
        .set_template_test_values(account.id, t.id, &values, now)
        .await?;
    let t = app.store.template(account.id, t.id).await?;
    Ok((StatusCode::CREATED, envelope(vec![template_json(&t)], 1)))
}

fn template_json(t: &TemplateRecord) -> Value {
    json!({
        "ID": t.id,
        "Name": t.meta.name,
        "Author": t.meta.author,
        "Categories": t.meta.categories,
        "Copyright": t.meta.copyright,
        "Description": t.meta.description,
        "EditMode": t.meta.edit_mode,
        "IsStarred": t.meta.is_starred,
        "IsTextPartGenerationEnabled": t.meta.text_part_generation,
        "Locale": t.meta.locale,
        "LocaleList": [t.meta.locale],
        "OwnerId": t.account_id,
        "OwnerType": "apikey",
        "Presets": "",
        "Previews": [],
        "Purposes": t.meta.purposes,
        "CreatedAt": rfc3339(t.created_at),
        "LastUpdatedAt": rfc3339(t.updated_at),
        "PublishedVersion": t.published,
        "DraftVersion": t.draft,
    })
}

/// Read-only fields a client may send back unchanged.
const READ_ONLY: [&str; 10] = [
    "ID",
    "OwnerId",
    "OwnerType",
    "CreatedAt",
    "LastUpdatedAt",
    "LocaleList",
    "Presets",
    "Previews",
    "PublishedVersion",
    "DraftVersion",
];

fn string(field: &str, v: &Value) -> Result<String, ApiError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request(format!("Property \"{field}\" must be a string")))
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, ApiError> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            ApiError::bad_request(format!("Property \"{field}\" must be an array of strings"))
        })
}

/// Applies the body's properties to `meta`, checking each one's type.
fn apply_meta(body: &Value, mut meta: TemplateMeta) -> Result<TemplateMeta, ApiError> {
    for (key, v) in object(body)? {
        match key.as_str() {
            "Name" => meta.name = string(key, v)?,
            "Author" => meta.author = string(key, v)?,
            "Copyright" => meta.copyright = string(key, v)?,
            "Description" => meta.description = string(key, v)?,
            "Locale" => meta.locale = string(key, v)?,
            "Categories" => meta.categories = strings(key, v)?,
            "Purposes" => {
                let purposes = strings(key, v)?;
                if let Some(bad) = purposes
                    .iter()
                    .find(|p| !["marketing", "transactional", "automation"].contains(&p.as_str()))
                {
                    return Err(ApiError::bad_request(format!(
                        "Invalid purpose \"{bad}\": use marketing, transactional or automation"
                    )));
                }
                meta.purposes = purposes;
            }
            "EditMode" => {
                meta.edit_mode = v
                    .as_i64()
                    .filter(|m| (1..=4).contains(m))
                    .ok_or_else(|| ApiError::bad_request("Property \"EditMode\" must be 1 (drag and drop), 2 (HTML), 3 (section) or 4 (MJML)"))?;
            }
            "IsStarred" => {
                meta.is_starred = v.as_bool().ok_or_else(|| {
                    ApiError::bad_request("Property \"IsStarred\" must be a boolean")
                })?
            }
            "IsTextPartGenerationEnabled" => {
                meta.text_part_generation = v.as_bool().ok_or_else(|| {
                    ApiError::bad_request(
                        "Property \"IsTextPartGenerationEnabled\" must be a boolean",
                    )
                })?
            }
            other if READ_ONLY.contains(&other) => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown property \"{other}\""
                )));
            }
        }
    }
    Ok(meta)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListQuery {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "EditMode")]
    edit_mode: Option<i64>,
    #[serde(rename = "Categories")]
    categories: Option<String>,
    #[serde(rename = "IsStarred")]
    is_starred: Option<bool>,
    #[serde(rename = "Sort")]
    sort: Option<String>,
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
    let sort = match q.sort.as_deref() {
        None => None,
        Some("Name" | "Name ASC") => Some("name"),
        Some("-Name" | "Name DESC") => Some("-name"),
        Some("LastUpdatedAt" | "LastUpdatedAt ASC") => Some("updated"),
        Some("-LastUpdatedAt" | "LastUpdatedAt DESC") => Some("-updated"),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid Sort \"{other}\": use Name, -Name, LastUpdatedAt or -LastUpdatedAt"
            )));
        }
    };
    let filter = TemplateFilter {
        name: q.name,
        edit_mode: q.edit_mode,
        categories_any: q
            .categories
            .map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        starred_only: q.is_starred.unwrap_or(false),
        sort: sort.map(str::to_string),
        limit: q.limit.unwrap_or(10),
        offset: q.offset.unwrap_or(0),
    };
    let (templates, total) = app.store.list_templates(account.id, &filter).await?;
    Ok(envelope(
        templates.iter().map(template_json).collect(),
        total,
    ))
}

pub(crate) async fn create(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let defaults = TemplateMeta {
        edit_mode: 2,
        text_part_generation: true,
        locale: "en_US".into(),
        ..TemplateMeta::default()
    };
    let meta = apply_meta(&body, defaults)?;
    if meta.name.trim().is_empty() {
        return Err(ApiError::bad_request("Property \"Name\" is required"));
    }
    let t = app
        .store
        .create_template(account.id, &meta, now_ms())
        .await?;
    Ok((StatusCode::CREATED, envelope(vec![template_json(&t)], 1)))
}

pub(crate) async fn show(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    Ok(envelope(vec![template_json(&t)], 1))
}

pub(crate) async fn update(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let current = app.store.template(account.id, id).await?;
    let meta = apply_meta(&body, current.meta)?;
    if meta.name.trim().is_empty() {
        return Err(ApiError::bad_request("Property \"Name\" cannot be empty"));
    }
    let t = app
        .store
        .update_template_meta(account.id, id, &meta, now_ms())
        .await?;
    Ok(envelope(vec![template_json(&t)], 1))
}

pub(crate) async fn remove(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    app.store.delete_template(account.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn content_json(c: &TemplateContent) -> Value {
    json!({"Headers": c.headers, "Html-part": c.html, "Text-part": c.text, "MJMLContent": c.mjml})
}

/// The content being edited: the draft if there is one, else the newest published version.
async fn current_content(
    app: &Engine,
    account_id: i64,
    id: i64,
) -> Result<TemplateContent, ApiError> {
    Ok(app
        .store
        .template_versions(account_id, id)
        .await?
        .into_iter()
        .next()
        .map(|v| v.content)
        .unwrap_or_default())
}

/// Builds content from a detailcontent body over `base` (POST: empty; PUT: the current content).
fn content_from(
    body: &Value,
    mut base: TemplateContent,
    limits: &Limits,
) -> Result<TemplateContent, ApiError> {
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
    if !base.mjml.trim().is_empty() && !html_given {
        let compiled = mjml::to_html_with(&base.mjml, limits).map_err(|e| {
            let info = match (e.line, e.column) {
                (Some(l), Some(c)) => format!("MJMLContent, line {l}, column {c}"),
                _ => "MJMLContent".to_string(),
            };
            ApiError::bad_request(e.message).with_info(info)
        })?;
        base.html = compiled.html;
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
    Ok(base)
}

pub(crate) async fn content(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let c = current_content(&app, account.id, id).await?;
    Ok(envelope(vec![content_json(&c)], 1))
}

async fn save_and_publish(
    app: &Engine,
    account_id: i64,
    id: i64,
    c: &TemplateContent,
) -> Result<(), ApiError> {
    let now = now_ms();
    app.store
        .save_template_draft(account_id, id, c, now)
        .await?;
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
    app.store.template(account.id, id).await?;
    let limits = app.cfg.template_limits.clone();
    let c = cpu(move || content_from(&body, TemplateContent::default(), &limits)).await?;
    save_and_publish(&app, account.id, id, &c).await?;
    Ok((StatusCode::CREATED, envelope(vec![content_json(&c)], 1)))
}

pub(crate) async fn merge_content(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let current = current_content(&app, account.id, id).await?;
    let limits = app.cfg.template_limits.clone();
    let c = cpu(move || content_from(&body, current, &limits)).await?;
    save_and_publish(&app, account.id, id, &c).await?;
    Ok(envelope(vec![content_json(&c)], 1))
}

pub(crate) async fn save_draft(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let current = current_content(&app, account.id, id).await?;
    let limits = app.cfg.template_limits.clone();
    let c = cpu(move || content_from(&body, current, &limits)).await?;
    let number = app
        .store
        .save_template_draft(account.id, id, &c, now_ms())
        .await?;
    Ok(Json(json!({"Draft": number})))
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

/// Renders subject, HTML and text with test values, without sending. Body (all optional):
/// `{"Variables": {...}, "ContactProperties": {...}, "Version": "draft"|"published", "Save": true}`.
/// Without `Variables`, the values saved with the template are used. A body holding neither
/// `Variables` nor `ContactProperties` is Normal mode: the whole object is the variables.
pub(crate) async fn preview(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let template = app.store.template(account.id, id).await?;
    let body = object(&body)?.clone();
    let content = content_version(
        &app,
        account.id,
        id,
        body.get("Version").and_then(Value::as_str),
    )
    .await?;
    let save = body.get("Save").and_then(Value::as_bool).unwrap_or(false);
    let mut values: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| k != "Version" && k != "Save")
        .collect();
    if values.is_empty() {
        values = template
            .test_values
            .as_object()
            .cloned()
            .unwrap_or_default();
    } else if save {
        app.store
            .set_template_test_values(account.id, id, &Value::Object(values.clone()), now_ms())
            .await?;
    }
    let (vars, data) = split_test_values(&Value::Object(values));
    let subject = content
        .headers
        .get("Subject")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let generate = template.meta.text_part_generation;
    let limits = app.cfg.template_limits.clone();
    let rendered = cpu(move || {
        let (subject, html, text) = render_parts(
            (&vars, &data),
            [&subject, &content.html, &content.text],
            generate,
            &limits,
        )?;
        Ok(json!({"Subject": subject, "Html-part": html, "Text-part": text}))
    })
    .await?;
    Ok(envelope(vec![rendered], 1))
}

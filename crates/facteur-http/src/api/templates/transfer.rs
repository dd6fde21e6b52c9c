//! Moving templates in and out: export (one document, or a zip of many), import (checked
//! whole before anything is written), the rendered HTML as a download, duplicates.

use super::content::{content_from, content_json};
use super::partials::{Partials, Use};
use super::preview::render_part;
use super::*;

/// Format tag of an exported template document.
const EXPORT_FORMAT: &str = "facteur-template/1";

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

/// Partials a version was compiled with: (template id, version number).
type Pins = Vec<(i64, i64)>;

/// A validated import, ready to write.
struct PlannedImport {
    meta: TemplateMeta,
    /// (publish?, note, content, the partials it was compiled with), oldest first.
    versions: Vec<(bool, String, TemplateContent, Pins)>,
    test_values: Option<Value>,
}

/// Checks an exported document completely, writing nothing.
fn plan_import(
    doc: &Value,
    limits: &Limits,
    (published, drafts): &(Partials, Partials),
) -> Result<PlannedImport, ApiError> {
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
        let built = content_from(
            v.get("Content").unwrap_or(&Value::Null),
            TemplateContent::default(),
            limits,
            if status == "draft" { drafts } else { published },
            Some(&meta.name),
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
        versions.push((status == "published", note, built.content, built.pins));
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
    for (publish, note, content, pins) in &plan.versions {
        let number = app
            .store
            .save_template_draft(account_id, t.id, content, now)
            .await?;
        app.store.set_template_includes(t.id, number, pins).await?;
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
    // Partials the imported MJML includes are the account's templates (exports carry their
    // compiled HTML, so those compile nothing): published versions compile with the partials'
    // published versions, as publishing does, a draft with their current content.
    let (mut published, mut drafts) = (Vec::new(), Vec::new());
    for (_, doc) in &docs {
        for v in doc
            .get("Versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(m) = v.pointer("/Content/MJMLContent").and_then(Value::as_str) {
                match v.get("Status").and_then(Value::as_str) {
                    Some("draft") => drafts.push(m),
                    _ => published.push(m),
                }
            }
        }
    }
    let partials = (
        Partials::load_all(&app, account.id, &published, Use::Published).await?,
        Partials::load_all(&app, account.id, &drafts, Use::Current).await?,
    );
    let limits = app.cfg.template_limits.clone();
    let plans = cpu(move || {
        docs.iter()
            .map(|(name, doc)| {
                plan_import(doc, &limits, &partials).map_err(|e| {
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
    let content = content_version(&app, &t, q.version.as_deref()).await?;
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

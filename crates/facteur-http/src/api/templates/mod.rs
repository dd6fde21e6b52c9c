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

pub(crate) mod content;
pub(crate) mod gallery;
pub(crate) mod partials;
pub(crate) mod preview;
pub(crate) mod transfer;

fn meta_json(m: &TemplateMeta) -> Value {
    json!({
        "Name": m.name, "Author": m.author, "Categories": m.categories, "Copyright": m.copyright,
        "Description": m.description, "EditMode": m.edit_mode, "IsStarred": m.is_starred,
        "IsTextPartGenerationEnabled": m.text_part_generation, "Locale": m.locale, "Purposes": m.purposes,
    })
}

/// The content for a `Version` parameter: `draft` (the default: the draft, or the newest
/// published version) or `published` (what sends use).
async fn content_version(
    app: &Engine,
    t: &TemplateRecord,
    version: Option<&str>,
) -> Result<TemplateContent, ApiError> {
    match version {
        None | Some("draft") => Ok(app.store.editing_content(t).await?),
        Some("published") => match t.published {
            Some(n) => Ok(app.store.version_content(t.id, n).await?),
            None => Err(facteur_store::Error::NotFound.into()),
        },
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

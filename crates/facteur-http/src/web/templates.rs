//! The template screens: the gallery (a grid of thumbnails with search, sort, filters, and
//! the actions the REST API offers: star, create, duplicate, delete, import, export, versions)
//! and the code editor (MJML or HTML, validated on save with errors at line:column, draft and
//! publish, previews beside it with Normal and Expert test values, a test send to oneself).
//! Thumbnails are frames of their own URL, served sandboxed and validated by ETag, so a
//! gallery of a thousand templates loads only the thumbnails in view, and each is drawn again
//! only when its template changed.

use std::collections::BTreeSet;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use facteur_store::templates::{PartialUse, TemplateContent, TemplateFilter, TemplateRecord};
use facteur_template::{Context, Limits, Mode, Template};
use serde_json::{Value, json};

use super::{App, Csp, base, frame, render, store_failed, with};
use crate::auth::Principal;

#[derive(Debug, Default, serde::Deserialize)]
pub struct GalleryQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    starred: String,
}

fn card(t: &TemplateRecord, used_by: Option<&Vec<PartialUse>>) -> Value {
    let used_by: Vec<Value> = used_by
        .into_iter()
        .flatten()
        .map(|u| json!({"id": u.id, "name": u.name}))
        .collect();
    json!({
        "used_by": used_by,
        "id": t.id,
        "name": t.meta.name,
        "description": t.meta.description,
        "categories": t.meta.categories,
        "purposes": t.meta.purposes,
        "locale": t.meta.locale,
        "starred": t.meta.is_starred,
        "mjml": t.meta.edit_mode == 4,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "published": t.published,
        "draft": t.draft,
        "etag": etag_of(t),
    })
}

/// `GET /app/templates`: the gallery.
pub async fn gallery(
    State(app): App,
    Extension(p): Extension<Principal>,
    Query(q): Query<GalleryQuery>,
) -> Response {
    let all = TemplateFilter {
        limit: 1000,
        ..TemplateFilter::default()
    };
    let everything = match app.store.list_templates(p.account.id, &all).await {
        Ok((items, _)) => items,
        Err(e) => return store_failed(e, "template"),
    };
    // Which templates use each partial (`<mj-include>`), shown on the partial's card.
    let usage = match app.store.partial_usage(p.account.id).await {
        Ok(usage) => usage,
        Err(e) => return store_failed(e, "template"),
    };
    let facets = |f: fn(&TemplateRecord) -> Vec<String>| -> Vec<String> {
        everything
            .iter()
            .flat_map(f)
            .filter(|s| !s.is_empty())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let categories = facets(|t| t.meta.categories.clone());
    let purposes = facets(|t| t.meta.purposes.clone());
    let locales = facets(|t| vec![t.meta.locale.clone()]);
    let needle = q.q.trim().to_lowercase();
    let has =
        |list: &[String], v: &str| v.is_empty() || list.iter().any(|x| x.eq_ignore_ascii_case(v));
    let mut shown: Vec<&TemplateRecord> = everything
        .iter()
        .filter(|t| {
            (needle.is_empty()
                || t.meta.name.to_lowercase().contains(&needle)
                || t.meta.description.to_lowercase().contains(&needle))
                && has(&t.meta.categories, &q.category)
                && has(&t.meta.purposes, &q.purpose)
                && (q.locale.is_empty() || t.meta.locale.eq_ignore_ascii_case(&q.locale))
                && (q.starred.is_empty() || t.meta.is_starred)
        })
        .collect();
    match q.sort.as_str() {
        "name" => shown.sort_by_cached_key(|t| (t.meta.name.to_lowercase(), t.id)),
        "created" => shown.sort_by_key(|t| (std::cmp::Reverse(t.created_at), t.id)),
        // Last edited first (the store's order).
        _ => {}
    }
    let starters: Vec<Value> = facteur_template::starters::ALL
        .iter()
        .map(|s| json!({"slug": s.slug, "name": s.name, "description": s.description}))
        .collect();
    let ctx = with(
        base(&p, "Templates", "templates"),
        json!({
            "templates": shown.iter().map(|t| card(t, usage.get(&t.id))).collect::<Vec<_>>(),
            "total": everything.len(),
            "q": q.q, "sort": q.sort, "purpose": q.purpose, "category": q.category,
            "locale": q.locale, "starred": !q.starred.is_empty(),
            "categories": categories, "purposes": purposes, "locales": locales,
            "starters": starters,
        }),
    );
    render(StatusCode::OK, "gallery.html", ctx, Csp::App)
}

/// A template's validator: it changes whenever the template (its content or its metadata) is
/// saved.
fn etag_of(t: &TemplateRecord) -> String {
    format!(
        "\"t{}-{}-{}-{}\"",
        t.id,
        t.updated_at,
        t.draft.unwrap_or(0),
        t.published.unwrap_or(0)
    )
}

/// The HTML of `content` rendered with the template's test values; the source as it is when
/// it does not render (a thumbnail shows something either way).
fn rendered_html(content: &TemplateContent, test_values: &Value, limits: &Limits) -> String {
    let (vars, data) = facteur_template::split_test_values(test_values);
    let ctx = Context {
        vars: &vars,
        data: &data,
        ..Context::default()
    };
    Template::parse(&content.html)
        .and_then(|t| t.render_with(&ctx, Mode::Html, limits))
        .unwrap_or_else(|_| content.html.clone())
}

/// [`rendered_html`] on a blocking thread, with the server's template limits.
pub async fn rendered(
    app: &facteur_engine::Engine,
    content: &TemplateContent,
    test_values: &Value,
) -> String {
    let (content, values) = (content.clone(), test_values.clone());
    let limits = app.cfg.template_limits.clone();
    facteur_engine::render::blocking(move || rendered_html(&content, &values, &limits))
        .await
        .unwrap_or_default()
}

/// `GET /app/templates/{id}/thumbnail`: the template's HTML with its test values, as a
/// sandboxed document (no script, an opaque origin), validated by ETag.
pub async fn thumbnail(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let t = match app.store.template(p.account.id, id).await {
        Ok(t) => t,
        Err(e) => return store_failed(e, "template"),
    };
    let etag = etag_of(&t);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|x| x.trim() == etag));
    let mut r = if fresh {
        frame(StatusCode::NOT_MODIFIED, String::new())
    } else {
        let content = match app.store.editing_content(&t).await {
            Ok(c) => c,
            Err(e) => return store_failed(e, "template"),
        };
        let limits = app.cfg.template_limits.clone();
        let values = t.test_values.clone();
        let html =
            facteur_engine::render::blocking(move || rendered_html(&content, &values, &limits))
                .await
                .unwrap_or_default();
        frame(StatusCode::OK, html)
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `GET /app/templates/{id}`: the code editor with its previews.
pub async fn editor(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let t = match app.store.template(p.account.id, id).await {
        Ok(t) => t,
        Err(e) => return store_failed(e, "template"),
    };
    match app.store.blocks(id).await {
        Ok(Some(_)) => return visual_editor(&p, &t),
        Ok(None) => {}
        Err(e) => return store_failed(e, "template"),
    }
    let content = match app.store.editing_content(&t).await {
        Ok(c) => c,
        Err(e) => return store_failed(e, "template"),
    };
    let used_by = match app.store.partial_users(p.account.id, id).await {
        Ok(u) => u,
        Err(e) => return store_failed(e, "template"),
    };
    let mjml =
        !content.mjml.trim().is_empty() || (content.html.is_empty() && t.meta.edit_mode == 4);
    let source = if mjml { &content.mjml } else { &content.html };
    let subject = content
        .headers
        .get("Subject")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // The variables the template reads, for the Normal mode's form.
    let mut variables = BTreeSet::new();
    for part in [content.html.as_str(), content.text.as_str(), subject] {
        if let Ok(parsed) = Template::parse(part) {
            for v in parsed.variables() {
                variables.insert(v.name);
            }
        }
    }
    let ctx = with(
        base(&p, &t.meta.name, "templates"),
        json!({
            "template": card(&t, Some(&used_by)),
            "language": if mjml { "mjml" } else { "html" },
            "source": source,
            "subject": subject,
            "from": content.headers.get("From").and_then(Value::as_str).unwrap_or_default(),
            "headers": content.headers.to_string(),
            "text": content.text,
            "variables": variables,
            "test_values": serde_json::to_string_pretty(&t.test_values).unwrap_or_default(),
            "status": if t.draft.is_some() { "draft" } else if t.published.is_some() { "published" } else { "new" },
        }),
    );
    render(StatusCode::OK, "editor.html", ctx, Csp::Preview)
}

/// The block editor (docs/collab.md): the page; the document comes over its live connection.
fn visual_editor(p: &Principal, t: &TemplateRecord) -> Response {
    let ctx = with(
        base(p, &t.meta.name, "templates"),
        json!({
            "template": card(t, None),
            "test_values": t.test_values.to_string(),
            "status": if t.draft.is_some() { "draft" } else if t.published.is_some() { "published" } else { "new" },
        }),
    );
    render(StatusCode::OK, "blocks.html", ctx, Csp::Preview)
}

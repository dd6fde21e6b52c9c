//! The starter templates (brief T2): the gallery, and copying a starter into the account.

use super::*;

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

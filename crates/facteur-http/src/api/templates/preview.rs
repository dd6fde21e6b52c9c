//! Rendering with test values: the preview (subject, HTML, text) and the test send, which
//! goes through the accept pipeline like any message.

use super::*;

/// Renders one part; a template error becomes a 400 naming the part and the position.
pub(super) fn render_part(
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
/// real queue (a person whose role may not send mail: to their own address only). Body: `{"To": "a@b.c" | ["a@b.c", …], "From": "Name <x@y.z>" (default: the
/// template's From header), "Version": "draft" | "published"}`.
pub(crate) async fn send_test(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    axum::Extension(principal): axum::Extension<crate::auth::Principal>,
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
    // A person who may not send mail (a Marketer, a Designer) sends tests to themselves only.
    if let Some(person) = &principal.person
        && !principal.allows(crate::auth::Permission::Send)
        && let Some(other) = to
            .iter()
            .find(|m| !m.email.eq_ignore_ascii_case(&person.user.email))
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!(
                "Your role ({}) sends tests to your own address ({}) only, not to {}",
                person.role_name, person.user.email, other.email
            ),
        ));
    }
    let content = content_version(&app, &t, body.get("Version").and_then(Value::as_str)).await?;
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

/// The test values a preview or check body gives (all but `Version` and `Save`), or the
/// template's saved ones when it gives none; and whether the body gave them.
fn test_values(body: Map<String, Value>, saved: &Value) -> (Map<String, Value>, bool) {
    let given: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| k != "Version" && k != "Save")
        .collect();
    if given.is_empty() {
        (saved.as_object().cloned().unwrap_or_default(), false)
    } else {
        (given, true)
    }
}

/// What the preview and the advice work on: the template, the content of the body's
/// `Version`, the test values (the body's or the saved ones) and whether the body gave them.
async fn previewed(
    app: &Engine,
    account_id: i64,
    id: i64,
    body: Map<String, Value>,
) -> Result<(TemplateRecord, TemplateContent, Map<String, Value>, bool), ApiError> {
    let template = app.store.template(account_id, id).await?;
    let content =
        content_version(app, &template, body.get("Version").and_then(Value::as_str)).await?;
    let (values, given) = test_values(body, &template.test_values);
    Ok((template, content, values, given))
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
    let body = object(&body)?.clone();
    let save = body.get("Save").and_then(Value::as_bool).unwrap_or(false);
    let (template, content, values, given) = previewed(&app, account.id, id, body).await?;
    if given && save {
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

/// Content advice (brief D4): the template rendered with test values (as the preview renders
/// it), then checked: text/image ratio, weight, calls to action (number, position, wording in
/// the template's locale, contrast), preheader, subject, unsubscribe link for marketing,
/// links (blocklisted domains, mismatched text, shorteners), images without alt text. Body
/// (optional): the preview's (`Variables`, `ContactProperties`, `Version`).
pub(crate) async fn check(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = match body {
        Value::Null => Map::new(),
        other => object(&other)?.clone(),
    };
    let (template, content, values, _) = previewed(&app, account.id, id, body).await?;
    let (vars, data) = split_test_values(&Value::Object(values));
    let header = |name: &str| {
        content
            .headers
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let subject = header("Subject");
    let sender_domain = facteur_message::compose::Mailbox::parse(&header("From"))
        .map(|m| facteur_store::domain_of(&m.email));
    let marketing = template.meta.is_marketing();
    let locale = template.meta.locale.clone();
    let blocklist = app.cfg.link_blocklist.clone();
    let limits = app.cfg.template_limits.clone();
    let advice = cpu(move || {
        // The advice reads the HTML: no text part is generated for it.
        let (subject, html, _) = render_parts(
            (&vars, &data),
            [&subject, &content.html, &content.text],
            false,
            &limits,
        )?;
        let blocklist: Vec<&str> = blocklist.iter().map(String::as_str).collect();
        let found = facteur_template::advice::check(&facteur_template::advice::Input {
            html: &html,
            subject: Some(&subject),
            locale: Some(locale.as_str()).filter(|l| !l.is_empty()),
            marketing,
            blocklist: &blocklist,
            sender_domain: sender_domain.as_deref(),
        });
        Ok(facteur_template::advice::to_json(&found))
    })
    .await?;
    let items = advice.as_array().cloned().unwrap_or_default();
    let total = items.len() as i64;
    Ok(envelope(items, total))
}

/// Compiles MJML to HTML without storing anything and without the templating language
/// (`facteur template render --mjml-only` over HTTP): another tool's placeholders
/// (`{{FirstName}}`) are kept as written. Body: `{"MJMLContent": "<mjml>…</mjml>"}`. An MJML
/// error is a 400 naming its line and column.
pub(crate) async fn compile_mjml(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    ApiJson(body): ApiJson,
) -> Result<impl IntoResponse, ApiError> {
    let body = object(&body)?;
    let source = match body.get("MJMLContent") {
        Some(v) => string("MJMLContent", v)?,
        None => {
            return Err(ApiError::bad_request(
                "Property \"MJMLContent\" is required: the MJML to compile",
            ));
        }
    };
    let validation = match body.get("Validation") {
        None => facteur_template::mjml_validate::Level::Soft,
        Some(v) => string("Validation", v)?.parse().map_err(|_| {
            ApiError::bad_request("Property \"Validation\" must be strict, soft or skip")
        })?,
    };
    let keep_comments = match body.get("KeepComments") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Property \"KeepComments\" must be true or false",
            ));
        }
    };
    if let Some(other) = body
        .keys()
        .find(|k| !["MJMLContent", "Validation", "KeepComments"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Unknown property \"{other}\": MJMLContent, Validation and KeepComments are read"
        )));
    }
    let partials =
        super::partials::Partials::load(&app, account.id, &source, super::partials::Use::Current)
            .await?;
    let limits = app.cfg.template_limits.clone();
    let compiled = cpu(move || {
        let mut options = mjml::Options::new(&limits);
        options.validation = validation;
        options.keep_comments = keep_comments;
        partials
            .compile(&source, options)
            .map_err(super::content::mjml_error)
    })
    .await?;
    Ok(Json(json!({
        "Html-part": compiled.html,
        "Warnings": warnings_json(&compiled.warnings),
        "Partials": compiled.partials,
    })))
}

/// Compilation warnings as `[{"Message", "Line", "Column"}]`.
pub(crate) fn warnings_json(warnings: &[mjml::Warning]) -> Value {
    warnings
        .iter()
        .map(|w| json!({"Message": w.message, "Line": w.line, "Column": w.column}))
        .collect()
}

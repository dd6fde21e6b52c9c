//! `facteur template render|check`: the templating language and MJML from the command line,
//! for developers writing templates. Errors are printed as `FILE:LINE:COLUMN: message`.

use std::path::Path;

use facteur_template::mjml_validate::Level;
use facteur_template::{Context, Mode, Template, include, mjml};
use serde_json::Value;

/// A template file: its source, and for `.mjml` files the compiled HTML and MJML warnings.
/// The language's tags are the same in both, so errors are reported against the source
/// (positions the author can find) and the output comes from the compiled HTML.
struct Loaded {
    source: String,
    html: Option<String>,
    warnings: Vec<String>,
}

fn load(path: &Path, validation: Level) -> Result<Loaded, String> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mjml"))
    {
        return Ok(Loaded {
            source,
            html: None,
            warnings: Vec::new(),
        });
    }
    let root_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let resolve = |include: &str, _: include::Kind, from: Option<&str>| {
        // As node mjml: a path is relative to the file that includes it.
        let dir = from
            .and_then(|f| Path::new(f).parent())
            .map_or_else(|| root_dir.clone(), Path::to_path_buf);
        let file = dir.join(include);
        let file = if file.exists() || file.extension().is_some() {
            file
        } else {
            file.with_extension("mjml")
        };
        let content = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        Ok(include::Partial {
            name: file.display().to_string(),
            content,
        })
    };
    let limits = facteur_template::Limits::default();
    let mut options = mjml::Options::new(&limits);
    options.resolve = Some(&resolve);
    options.validation = validation;
    let compiled = mjml::compile(&source, &options).map_err(|e| match (e.line, e.column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}: {}", path.display(), e.message),
        _ => format!("{}: {}", path.display(), e.message),
    })?;
    Ok(Loaded {
        source,
        html: Some(compiled.html),
        warnings: compiled
            .warnings
            .iter()
            .map(|w| match (w.line, w.column) {
                (Some(l), Some(c)) => format!("{l}:{c}: {}", w.message),
                _ => w.message.clone(),
            })
            .collect(),
    })
}

/// Test values given inline (`{"name": "Ada"}`) or in a file, split as the API splits them
/// (see `split_test_values`).
fn values(vars: Option<&Path>) -> Result<(Value, Value), String> {
    let Some(path) = vars else {
        return Ok((Value::Null, Value::Null));
    };
    let given = path.to_string_lossy();
    let (text, origin) = if given.trim_start().starts_with('{') {
        (given.to_string(), "--vars".to_string())
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "{}: cannot read: {e} (--vars takes a JSON object or the path of a file holding one)",
                path.display()
            )
        })?;
        (text, path.display().to_string())
    };
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("{origin}: invalid JSON: {e}"))?;
    if !json.is_object() {
        return Err(format!("{origin}: expected a JSON object"));
    }
    Ok(facteur_template::split_test_values(&json))
}

/// Compiles an MJML file to HTML without the templating language (`--mjml-only`): whatever
/// placeholders it carries are kept as written. Warnings go to stderr.
pub fn compile_only(path: &Path, validation: Level) -> Result<String, String> {
    let loaded = load(path, validation)?;
    for w in &loaded.warnings {
        eprintln!("{}: warning: MJML: {w}", path.display());
    }
    loaded.html.ok_or_else(|| {
        format!(
            "{}: --mjml-only compiles .mjml files (this one is not)",
            path.display()
        )
    })
}

/// Renders a template file with test values.
pub fn render(
    path: &Path,
    vars: Option<&Path>,
    text: bool,
    validation: Level,
) -> Result<String, String> {
    let loaded = load(path, validation)?;
    let (vars, data) = values(vars)?;
    let located = |e: facteur_template::TemplateError| {
        format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)
    };
    let ctx = Context {
        vars: &vars,
        data: &data,
        ..Context::default()
    };
    let mode = if text { Mode::Text } else { Mode::Html };
    // Errors against the source first, so their positions are the author's.
    let from_source = Template::parse(&loaded.source)
        .and_then(|t| t.render(&ctx, mode))
        .map_err(located)?;
    match loaded.html {
        Some(html) => Template::parse(&html)
            .and_then(|t| t.render(&ctx, mode))
            .map_err(located),
        None => Ok(from_source),
    }
}

/// What the content advice of `facteur template check` knows of the message.
#[derive(Debug, Default)]
pub struct AdviceOptions {
    pub subject: Option<String>,
    pub locale: Option<String>,
    pub marketing: bool,
    pub blocklist: Vec<String>,
}

/// Content advice on the template's HTML (compiled from MJML, placeholders left as they are):
/// a report line each, `FILE:LINE: severity: message (element) [code]`; whether any is an error.
/// Advice lines on `html`; `compiled` when it is the HTML compiled from the file's MJML, whose
/// lines are not the file's: they are named as such.
fn advice(path: &Path, html: &str, compiled: bool, options: &AdviceOptions) -> (Vec<String>, bool) {
    use facteur_template::advice::{Input, Severity, check};
    let blocklist: Vec<&str> = options.blocklist.iter().map(String::as_str).collect();
    let found = check(&Input {
        html,
        subject: options.subject.as_deref(),
        locale: options.locale.as_deref(),
        marketing: options.marketing,
        blocklist: &blocklist,
        sender_domain: None,
    });
    let errors = found.iter().any(|a| a.severity == Severity::Error);
    let lines = found
        .iter()
        .map(|a| {
            let at = match a.line {
                Some(l) if compiled => format!(" (compiled HTML, line {l})"),
                Some(l) => format!(":{l}"),
                None => String::new(),
            };
            let element = a
                .element
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            format!(
                "{}{at}: {}: advice: {}{element} [{}]",
                path.display(),
                a.severity.as_str(),
                a.message,
                a.code
            )
        })
        .collect();
    (lines, errors)
}

/// Lints a template file: the report's lines, and whether it has errors.
pub fn check(path: &Path, options: &AdviceOptions) -> (Vec<String>, bool) {
    let loaded = match load(path, Level::Soft) {
        Ok(x) => x,
        Err(e) => return (vec![format!("{e}")], true),
    };
    let mut report: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| format!("{}: warning: MJML: {w}", path.display()))
        .collect();
    match Template::parse(&loaded.source) {
        Err(e) => {
            report.push(format!(
                "{}:{}:{}: error: {}",
                path.display(),
                e.line,
                e.column,
                e.message
            ));
            (report, true)
        }
        Ok(t) => {
            let vars = t.variables();
            let without: Vec<_> = vars
                .iter()
                .filter(|v| !v.has_default && !v.name.starts_with("mj:"))
                .collect();
            for v in &without {
                report.push(format!(
                    "{}:{}:{}: warning: {} has no default: a message without it is blocked (add {}:\"…\")",
                    path.display(),
                    v.line,
                    v.column,
                    v.name,
                    v.name
                ));
            }
            let html = loaded.html.as_deref().unwrap_or(&loaded.source);
            let (lines, advice_errors) = advice(path, html, loaded.html.is_some(), options);
            report.extend(lines);
            report.push(format!(
                "{}: {} ({} variable reference(s), {} without a default)",
                path.display(),
                if advice_errors {
                    "content advice has errors"
                } else {
                    "OK"
                },
                vars.len(),
                without.len()
            ));
            (report, advice_errors)
        }
    }
}

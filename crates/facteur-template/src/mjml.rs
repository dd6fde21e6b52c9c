//! MJML → email-safe HTML with mrml (the same structure as node mjml; see
//! docs/mjml-fidelity.md). Compile once when a template is saved; the HTML keeps the templating
//! language's statements that were wrapped in `<mj-raw>`, and `{{ … }}` inside text, so the
//! language is parsed and rendered per message on the compiled HTML.

use mrml::prelude::parser::Error as ParseError;
use mrml::prelude::render::RenderOptions;

use crate::Limits;
use crate::nesting::{self, ScanError};

/// An MJML document that could not be compiled, with its position when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MjmlError {
    pub message: String,
    /// 1-based line and column of the problem, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl std::fmt::Display for MjmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "MJML error: {} (line {l}, column {c})", self.message),
            _ => write!(f, "MJML error: {}", self.message),
        }
    }
}

impl std::error::Error for MjmlError {}

/// A compiled document.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub html: String,
    /// Parser warnings (e.g. an unsupported attribute that was ignored).
    pub warnings: Vec<String>,
}

/// Compiles MJML to HTML with the default [`Limits`].
pub fn to_html(source: &str) -> Result<Compiled, MjmlError> {
    to_html_with(source, &Limits::default())
}

/// Compiles MJML to HTML. Elements nested deeper than `limits.max_depth` are refused before
/// mrml sees them (its parser and renderer recurse once per level): the error gives the
/// position of the element that goes over. The other limits do not apply (compiling is linear).
///
/// Two inputs on which mrml's tokenizer would panic are handled first: a malformed conditional
/// comment (`<!--[if mso]x`) is refused, and a `>` right after a character of three or four
/// bytes in text (`Suite€>`) is written `&gt;`, which HTML reads the same.
pub fn to_html_with(source: &str, limits: &Limits) -> Result<Compiled, MjmlError> {
    let escapes = nesting::scan_xml(source, limits.max_depth).map_err(|e| {
        let (at, message) = match e {
            ScanError::TooDeep { at } => (
                at,
                format!(
                    "elements nested too deeply: more than {} levels (limit max_depth)",
                    limits.max_depth
                ),
            ),
            ScanError::BadConditionalComment { at } => (
                at,
                "malformed conditional comment: expected <!--[if …]> … <![endif]-->".to_string(),
            ),
            ScanError::UnreadableGreaterThan { at } => (
                at,
                "the MJML parser cannot read '>' right after this character: add a space before it"
                    .to_string(),
            ),
            ScanError::TooManyReopened { at } => (at, "unexpected markup".to_string()),
        };
        let (line, column) = crate::position(source, at);
        MjmlError {
            message,
            line: Some(line),
            column: Some(column),
        }
    })?;
    let patched;
    let input = if escapes.is_empty() {
        source
    } else {
        patched = escape_at(source, &escapes);
        patched.as_str()
    };
    let to_source = |e: MjmlError| map_back(source, input, &escapes, e);
    let parsed = mrml::parse(input).map_err(|e| to_source(parse_error(input, &e)))?;
    let html = parsed
        .element
        .render(&RenderOptions::default())
        .map_err(|e| MjmlError {
            message: e.to_string(),
            line: None,
            column: None,
        })?;
    let warnings = parsed.warnings.iter().map(|w| format!("{w:?}")).collect();
    Ok(Compiled { html, warnings })
}

/// `source` with the `>` at each of `offsets` written `&gt;`.
fn escape_at(source: &str, offsets: &[usize]) -> String {
    let mut out = String::with_capacity(source.len() + 3 * offsets.len());
    let mut from = 0;
    for &at in offsets {
        out.push_str(&source[from..at]);
        out.push_str("&gt;");
        from = at + 1;
    }
    out.push_str(&source[from..]);
    out
}

/// An error's line and column in the escaped input, moved back to the source (each `&gt;` is
/// three characters longer than the `>` it stands for, on the same line).
fn map_back(source: &str, input: &str, escapes: &[usize], mut e: MjmlError) -> MjmlError {
    if escapes.is_empty() {
        return e;
    }
    if let (Some(line), Some(column)) = (e.line, e.column) {
        // The offset of (line, column) in the input, then in the source.
        let line_start: usize = input
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let at = input[line_start.min(input.len())..]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(input.len(), |(i, _)| line_start + i);
        let before = escapes
            .iter()
            .enumerate()
            .take_while(|(k, x)| **x + 3 * k + 4 <= at)
            .count();
        let (l, c) = crate::position(source, at.saturating_sub(3 * before));
        e.line = Some(l);
        e.column = Some(c);
    }
    e
}

fn parse_error(source: &str, e: &ParseError) -> MjmlError {
    let at = match e {
        ParseError::UnexpectedElement { position, .. }
        | ParseError::UnexpectedToken { position, .. }
        | ParseError::MissingAttribute { position, .. }
        | ParseError::InvalidAttribute { position, .. }
        | ParseError::InvalidFormat { position, .. } => Some(position.start),
        // Something was left open: the problem shows at the end of the document.
        ParseError::EndOfStream { .. } => Some(source.len()),
        _ => None,
    };
    // The XML tokenizer's own error knows its row and column.
    if let ParseError::ParserError { source: inner, .. } = e {
        let pos = inner.pos();
        return MjmlError {
            message: format!("{e}: {inner}"),
            line: Some(pos.row as usize),
            column: Some(pos.col as usize),
        };
    }
    let (line, column) = match at.map(|at| crate::position(source, at)) {
        Some((line, column)) => (Some(line), Some(column)),
        None => (None, None),
    };
    MjmlError {
        message: e.to_string(),
        line,
        column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_and_keeps_language_statements() {
        let src = r#"<mjml><mj-body><mj-section><mj-column>
<mj-raw>{% for item in var:items %}</mj-raw>
<mj-text>{{ item.name }}</mj-text>
<mj-raw>{% endfor %}</mj-raw>
</mj-column></mj-section></mj-body></mjml>"#;
        let html = to_html(src).unwrap().html;
        assert!(html.contains("{% for item in var:items %}") && html.contains("{% endfor %}"));
        assert!(html.contains("{{ item.name }}"));
        let vars = serde_json::json!({"items": [{"name": "Tea"}, {"name": "Cake"}]});
        let ctx = crate::Context {
            vars: &vars,
            ..crate::Context::default()
        };
        let out = crate::render(&html, &ctx, crate::Mode::Html).unwrap();
        assert!(out.contains("Tea") && out.contains("Cake") && !out.contains("{%"));
    }

    #[test]
    fn errors_have_a_position() {
        let e = to_html("<mjml>\n  <mj-head>\n    <mj-html-attributes></mj-html-attributes>\n  </mj-head>\n</mjml>").unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(6)), "{e}"); // the element name
        let e = to_html(
            "<mjml>\n  <mj-body>\n    <mj-text>unclosed <b>bold</mj-text>\n  </mj-body>\n</mjml>",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        // `<` in mj-raw is a tag to the XML parser: the error says where.
        let e = to_html("<mjml><mj-body>\n<mj-raw>{% if var:n < 2 %}</mj-raw>\n</mj-body></mjml>")
            .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = to_html("not mjml at all").unwrap_err();
        assert!(!e.message.is_empty());
    }
}

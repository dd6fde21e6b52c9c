//! MJML → email-safe HTML with mrml (the same structure as node mjml; see
//! docs/mjml-fidelity.md). Compile once when a template is saved; the HTML keeps the templating
//! language's statements that were wrapped in `<mj-raw>`, and `{{ … }}` inside text, so the
//! language is parsed and rendered per message on the compiled HTML.

use mrml::prelude::parser::Error as ParseError;
use mrml::prelude::render::RenderOptions;

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

/// Compiles MJML to HTML.
pub fn to_html(source: &str) -> Result<Compiled, MjmlError> {
    let parsed = mrml::parse(source).map_err(|e| parse_error(source, &e))?;
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
    let (line, column) = match at {
        Some(at) => {
            let at = at.min(source.len());
            let at = (0..=at)
                .rev()
                .find(|i| source.is_char_boundary(*i))
                .unwrap_or(0);
            let before = &source[..at];
            (
                Some(before.matches('\n').count() + 1),
                Some(before.rsplit('\n').next().unwrap_or("").chars().count() + 1),
            )
        }
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

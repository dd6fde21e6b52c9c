//! Mailjet's templating language (TemplateLanguage), with no I/O: parse a template once into a
//! [`Template`], render it many times with a [`Context`] (Send API `Variables`, contact
//! properties, predefined `mj:` values, segments, contact activity).
//!
//! Syntax: `{{ expr }}` prints, `{% if %}…{% elseif %}…{% else %}…{% endif %}`,
//! `{% for x in var:list %}…{% endfor %}`, `{% set name = expr %}`, `[[var:x]]` / `[[data:x]]`
//! simple personalisation. Namespaces `var:`, `data:`, `mj:`, `segment:`; defaults
//! `var:name:"default"`; dotted access; `+ - * / div mod`, `= == === != <>`, `< <= > >=`,
//! `and or xor not !`; functions Upper, Lower, Capitalize, Round, Int, UrlEncode, Escape,
//! HasOpenedSince, HasClickedSince, FormatNumberLocale. Printed values are HTML-escaped in
//! [`Mode::Html`] and left as they are in [`Mode::Text`] (text parts, subjects).
//!
//! ```
//! use facteur_template::{Context, Mode, Template};
//! let t = Template::parse("Hello {{ var:name:\"friend\" }}{% if var:vip %}, VIP{% endif %}!").unwrap();
//! let vars = serde_json::json!({"name": "Ada <3", "vip": true});
//! let ctx = Context { vars: &vars, ..Context::default() };
//! assert_eq!(t.render(&ctx, Mode::Html).unwrap(), "Hello Ada &lt;3, VIP!");
//! assert_eq!(t.render(&ctx, Mode::Text).unwrap(), "Hello Ada <3, VIP!");
//! ```
//!
//! Hostile input gets an error, never a crash or a runaway: parsing bounds the nesting of
//! blocks and expressions ([`limits::MAX_BLOCK_NESTING`], [`limits::MAX_EXPRESSION_NESTING`]),
//! and each render, MJML compilation and HTML-to-text conversion has [`Limits`] (output size,
//! string size, loop iterations, time, element depth).

pub mod advice;
pub mod blocks;
pub mod css_select;
pub mod diff;
mod eval;
pub mod include;
pub mod inline_css;
pub mod limits;
pub mod mjml;
mod mjml_body;
pub mod mjml_rules;
pub mod mjml_validate;
pub mod mrml_escapes;
mod nesting;
pub mod starters;
mod syntax;
pub mod text;

pub use limits::Limits;

use std::fmt;

use serde_json::Value;

/// A parsed template, cheap to render many times (and to share between threads).
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<syntax::Node>,
    /// How many loop and `set` variable names the template uses.
    locals: usize,
    source: std::sync::Arc<str>,
}

/// A variable reference found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    /// With its namespace: `var:order.total`.
    pub name: String,
    pub has_default: bool,
    pub line: usize,
    pub column: usize,
}

/// How printed values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTML part: `& < > " '` are escaped.
    Html,
    /// Text part and subject: values as they are.
    Text,
}

/// What a contact has done recently, for HasOpenedSince / HasClickedSince.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    /// Days since the contact last opened a message, if ever.
    pub opened_days_ago: Option<i64>,
    pub clicked_days_ago: Option<i64>,
}

/// The values a render sees.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// `var:` — the message's Variables (an object).
    pub vars: &'a Value,
    /// `data:` — the contact's properties (an object).
    pub data: &'a Value,
    /// `mj:` — predefined values (`contact`, `sender`, `template`, `unsub_link`…).
    pub mj: &'a Value,
    /// Names or ids of the segments the contact is in (`segment:`).
    pub segments: &'a [String],
    pub activity: Activity,
}

static EMPTY: Value = Value::Null;

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            vars: &EMPTY,
            data: &EMPTY,
            mj: &EMPTY,
            segments: &[],
            activity: Activity::default(),
        }
    }
}

/// A template error in Mailjet's message format, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// e.g. `expression parsing error ## Unknown identifier: var:day ## near ## {{var:day ##`
    pub message: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The [`Limits`] field this error comes from, when a limit was hit.
    limit: Option<&'static str>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {}, column {})",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for TemplateError {}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn position(src: &str, at: usize) -> (usize, usize) {
    let at = floor_char_boundary(src, at.min(src.len()));
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// The byte offset of 1-based `line` and `column` (in characters), the inverse of
/// [`position`]; past the end gives the length.
pub(crate) fn offset_of(src: &str, line: usize, column: usize) -> usize {
    let line_start: usize = src
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line_start = line_start.min(src.len());
    src[line_start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(src.len(), |(i, _)| line_start + i)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Up to 10 characters from `at`.
fn snippet(src: &str, at: usize) -> String {
    let at = floor_char_boundary(src, at.min(src.len()));
    src[at..].chars().take(10).collect()
}

impl TemplateError {
    fn new(src: &str, at: usize, message: String) -> Self {
        let (line, column) = position(src, at);
        TemplateError {
            message,
            line,
            column,
            limit: None,
        }
    }

    /// An error that has no position in the template (an internal failure of the renderer).
    pub fn internal(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
            line: 0,
            column: 0,
            limit: None,
        }
    }

    /// The [`Limits`] field (`"max_depth"`, `"max_output_bytes"`, `"max_iterations"`,
    /// `"max_duration"`) whose limit caused this error, or `None` for an error in the template
    /// itself.
    pub fn limit(&self) -> Option<&'static str> {
        self.limit
    }

    /// An error caused by a limit: the message ends with `(limit FIELD)`.
    pub(crate) fn limit_hit(src: &str, at: usize, message: &str, field: &'static str) -> Self {
        let mut e = Self::new(src, at, format!("{message} (limit {field})"));
        e.limit = Some(field);
        e
    }

    /// An unclosed tag or block.
    pub(crate) fn not_valid(src: &str, at: usize) -> Self {
        let near = if at + 1 >= src.len() {
            let start = src.char_indices().rev().nth(9).map_or(0, |(i, _)| i);
            src[start..].to_string()
        } else {
            snippet(src, at)
        };
        Self::new(src, at, format!("not valid template ## near ## {near} ##"))
    }

    pub(crate) fn syntax(src: &str, at: usize, what: &str) -> Self {
        Self::new(
            src,
            at,
            format!(
                "expression parsing error ## {what} ## near ## {} ##",
                snippet(src, at)
            ),
        )
    }

    /// A variable that is not defined and has no default: the text from the tag's start up
    /// to the end of the name, as Mailjet quotes it.
    pub(crate) fn unknown(src: &str, at: usize, name: &str) -> Self {
        let tag = ["{{", "{%", "[["]
            .iter()
            .filter_map(|t| src[..at.min(src.len())].rfind(t))
            .max()
            .unwrap_or(at);
        let end = floor_char_boundary(src, (at + name.len()).min(src.len()));
        let near = src[tag..end].to_string();
        Self::new(
            src,
            at,
            format!("expression parsing error ## Unknown identifier: {name} ## near ## {near} ##"),
        )
    }

    pub(crate) fn runtime(src: &str, at: usize, message: String) -> Self {
        Self::new(src, at, message)
    }
}

impl Template {
    /// Parses a template; errors carry Mailjet's message and the position.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let (nodes, locals) = syntax::parse(source)?;
        Ok(Template {
            nodes,
            locals,
            source: source.into(),
        })
    }

    /// Every `var:`/`data:`/`mj:` reference, in order, with whether it has a default (one
    /// without a default fails the render, and blocks the message, when the value is missing).
    pub fn variables(&self) -> Vec<VariableRef> {
        let mut found = Vec::new();
        syntax::visit_paths(&self.nodes, &mut |name, has_default, at| {
            found.push((name, has_default, at));
        });
        // Positions in one pass over the source, not one pass per reference.
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by_key(|&i| found[i].2);
        let mut positions = vec![(0, 0); found.len()];
        let (mut line, mut column, mut offset) = (1, 1, 0);
        for i in order {
            let at = floor_char_boundary(&self.source, found[i].2.min(self.source.len()));
            for c in self.source[offset..at].chars() {
                if c == '\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            offset = at.max(offset);
            positions[i] = (line, column);
        }
        found
            .into_iter()
            .zip(positions)
            .map(|((name, has_default, _), (line, column))| VariableRef {
                name,
                has_default,
                line,
                column,
            })
            .collect()
    }

    /// Renders with these values and the default [`Limits`].
    pub fn render(&self, ctx: &Context<'_>, mode: Mode) -> Result<String, TemplateError> {
        self.render_with(ctx, mode, &Limits::default())
    }

    /// Renders with these values within `limits` (output size, string size, loop iterations,
    /// time; `max_depth` does not apply: the language's own nesting is bounded when parsing).
    pub fn render_with(
        &self,
        ctx: &Context<'_>,
        mode: Mode,
        limits: &Limits,
    ) -> Result<String, TemplateError> {
        eval::render(&self.nodes, self.locals, &self.source, ctx, mode, limits)
    }
}

/// Test values as saved with a template or given to a preview, split into (variables, contact
/// properties). Expert mode holds `Variables` and contact properties (`ContactProperties`, or
/// `data`); anything else is Normal mode: the whole object is the variables.
pub fn split_test_values(values: &Value) -> (Value, Value) {
    let Some(map) = values.as_object() else {
        return (Value::Null, Value::Null);
    };
    let contact = map.get("ContactProperties").or_else(|| map.get("data"));
    if map.contains_key("Variables") || contact.is_some() {
        (
            map.get("Variables").cloned().unwrap_or(Value::Null),
            contact.cloned().unwrap_or(Value::Null),
        )
    } else {
        (values.clone(), Value::Null)
    }
}

/// Parses and renders in one go.
pub fn render(source: &str, ctx: &Context<'_>, mode: Mode) -> Result<String, TemplateError> {
    Template::parse(source)?.render(ctx, mode)
}

/// `& < > " '` → entities (only these, so URLs stay readable: no `&#x2f;`).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// The length of `s` once HTML-escaped by [`escape_html`].
pub(crate) fn escaped_len(s: &str) -> usize {
    s.len()
        + s.bytes()
            .map(|b| match b {
                b'&' | b'\'' => 4,
                b'<' | b'>' => 3,
                b'"' => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// [`escape_html`] written straight into `out`.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        out.push_str(entity);
        from = i + 1;
    }
    out.push_str(&s[from..]);
}

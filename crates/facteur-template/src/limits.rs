//! What one render, MJML compilation or HTML-to-text conversion may cost. Hostile input (deep
//! nesting, exponential strings, endless loops) gets an error naming the limit it hit instead of
//! exhausting the stack, the memory or the CPU.

use std::time::Duration;

/// Deepest nesting of `{% if %}` / `{% for %}` blocks a template may have (parse time; fixed,
/// documented in docs/templates.md).
pub const MAX_BLOCK_NESTING: usize = 64;

/// Deepest nesting of sub-expressions in one tag: parentheses, function arguments and unary
/// operators (`!`, `-`, `not`) each count one level (parse time; fixed, documented in
/// docs/templates.md).
pub const MAX_EXPRESSION_NESTING: usize = 100;

/// Limits on one render ([`crate::Template::render_with`]), one MJML compilation
/// ([`crate::mjml::to_html_with`]) or one HTML-to-text conversion
/// ([`crate::text::html_to_text_with`]). `Limits::default()` is what [`crate::Template::render`],
/// [`crate::mjml::to_html`] and [`crate::text::html_to_text`] use; change one field with
/// `Limits { max_output_bytes: 1 << 20, ..Limits::default() }`.
///
/// An error caused by a limit names the field (e.g. `… (limit max_output_bytes)`), and
/// [`crate::TemplateError::limit`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting accepted in an MJML document and in HTML converted to text:
    /// deeper input is refused, with the position of the element that goes over, before it
    /// reaches mrml (whose parser and renderer recurse once per level) or html5ever (whose tree
    /// building costs time proportional to the depth for every tag).
    ///
    /// Default: **200**. Real emails stay far below (the starter templates compile to HTML about
    /// 20 levels deep). The worst MJML nesting measured with mrml 6.0.1 (`<mj-hero>` in
    /// `<mj-hero>`) overflows a 2 MiB thread stack (tokio's worker and blocking threads) at about
    /// 360 levels; 200 levels use at most about 1.2 MiB.
    pub max_depth: usize,
    /// Largest output of one render in bytes, and largest string value a render may build
    /// (with `+`, `Upper`, `UrlEncode`, …).
    ///
    /// Default: **10 MiB** (10 485 760 bytes), well above any real email part and below the
    /// server's 25 MB message size limit.
    pub max_output_bytes: usize,
    /// Most loop iterations in one render, counting every `{% for %}` loop together.
    ///
    /// Default: **1 000 000**.
    pub max_iterations: usize,
    /// Longest one render or one HTML-to-text conversion may take; `None` for no limit. Checked
    /// as the work goes (every few thousand nodes or few dozen kilobytes copied), so a render
    /// stops shortly after the budget is spent: "template took longer than 1000 ms to render".
    ///
    /// Default: **1 second** (a realistic template renders in microseconds; converting 1 MB of
    /// HTML to text takes about 0.3 s).
    pub max_duration: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 200,
            max_output_bytes: 10 * 1024 * 1024,
            max_iterations: 1_000_000,
            max_duration: Some(Duration::from_secs(1)),
        }
    }
}

/// `1000 ms`, `250 ms`, `1.5 ms`: a duration as error messages print it.
pub(crate) fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms.fract() == 0.0 || ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms} ms")
    }
}

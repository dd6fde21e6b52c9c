//! MJML → email-safe HTML with mrml (the same structure as node mjml; see
//! docs/mjml-fidelity.md). Compile once when a template is saved; the HTML keeps the templating
//! language's statements that were wrapped in `<mj-raw>`, and `{{ … }}` inside text, so the
//! language is parsed and rendered per message on the compiled HTML.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use mrml::prelude::parser::Error as ParseError;
use mrml::prelude::render::RenderOptions;

use crate::mjml_body;
use crate::mjml_validate::{self, Level};
use crate::nesting::{self, ScanError};
use crate::{Limits, include, inline_css};

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
    /// What the document gets away with: validation findings at the `soft` level, and the
    /// style rules an inlined `<mj-style>` holds that cannot be inlined.
    pub warnings: Vec<Warning>,
    /// The partials `<mj-include>` brought in, each once, in the order met.
    pub partials: Vec<String>,
}

/// A finding that does not stop compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub message: String,
    /// 1-based line and column, when the finding has a place.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{} (line {l}, column {c})", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

// A warning and an error carry the same place: each is moved like the other (see
// `include::Expanded::locate`).
impl From<Warning> for MjmlError {
    fn from(w: Warning) -> Self {
        MjmlError {
            message: w.message,
            line: w.line,
            column: w.column,
        }
    }
}

impl From<MjmlError> for Warning {
    fn from(e: MjmlError) -> Self {
        Warning {
            message: e.message,
            line: e.line,
            column: e.column,
        }
    }
}

/// How to compile.
pub struct Options<'a> {
    pub limits: &'a Limits,
    /// Keep the document's HTML comments in the output (node mjml's `keepComments`, on by
    /// default). Outlook conditional comments are always kept.
    pub keep_comments: bool,
    /// Where `<mj-include>` finds partials; `None`: an include is an error saying so.
    pub resolve: Option<&'a include::Resolver<'a>>,
    /// The document's own name as a partial (a template's name), for cycle detection.
    pub name: Option<&'a str>,
    /// node mjml's validation levels: `Soft` (the default) reports what the validator finds
    /// as warnings and compiles, leaving out unknown elements as node does; `Strict` refuses
    /// the document; `Skip` does not validate (unknown elements are still left out).
    pub validation: Level,
    /// Read the document with Facteur's reader where it reads it as mrml does (see
    /// [`crate::mjml_body`]; on by default). Off, mrml's parser reads every document: the
    /// tests compile both ways and compare.
    pub fast_body: bool,
}

impl<'a> Options<'a> {
    pub fn new(limits: &'a Limits) -> Self {
        Options {
            limits,
            keep_comments: true,
            resolve: None,
            name: None,
            validation: Level::Soft,
            fast_body: true,
        }
    }
}

/// Compiles MJML to HTML with the default [`Limits`].
pub fn to_html(source: &str) -> Result<Compiled, MjmlError> {
    to_html_with(source, &Limits::default())
}

/// Compiles MJML to HTML with these limits and the other options at their defaults.
pub fn to_html_with(source: &str, limits: &Limits) -> Result<Compiled, MjmlError> {
    compile(source, &Options::new(limits))
}

fn no_partials(_: &str, _: include::Kind, _: Option<&str>) -> Result<include::Partial, String> {
    Err(
        "partials are not available here (the command line reads them from files next to \
         the document; the API and the web app from the account's templates)"
            .to_string(),
    )
}

/// Compiles MJML to HTML. Elements nested deeper than `limits.max_depth` are refused before
/// mrml sees them (its parser and renderer recurse once per level): the error gives the
/// position of the element that goes over. The other limits do not apply (compiling is linear).
///
/// Two inputs on which mrml's tokenizer would panic are handled first: a malformed conditional
/// comment (`<!--[if mso]x`) is refused, and a `>` right after a character of three or four
/// bytes in text (`Suite€>`) is written `&gt;`, which HTML reads the same.
pub fn compile(source: &str, options: &Options<'_>) -> Result<Compiled, MjmlError> {
    // Windows (CRLF) and old Mac (CR) line endings read as LF: mrml's tokenizer refuses a `\r`
    // in the whitespace of some elements (`mj-head`, `mj-navbar`), node mjml takes them all.
    // Lines stay where they are, so error positions are the source's.
    let normalized;
    let document = if source.contains('\r') {
        normalized = source.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        source
    };
    // A fragment (a partial saved on its own: sections, or head elements) compiles inside a
    // document made around it, on its first line so that lines stay.
    let wrapped;
    let (document, shift) = match fragment_wrapper(document) {
        Some((open, close)) => {
            wrapped = format!("{open}{document}{close}");
            (wrapped.as_str(), open.len())
        }
        None => (document, 0),
    };
    let unshift = |mut e: MjmlError| {
        if shift > 0 && e.line == Some(1) {
            e.column = e.column.map(|c| c.saturating_sub(shift).max(1));
        }
        e
    };
    // Partials are expanded first; errors in the expanded text are moved back to the document.
    let expanded = include::expand(
        document,
        options.name,
        options.resolve.unwrap_or(&no_partials),
    )
    .map_err(unshift)?;
    let source = expanded.as_ref().map_or(document, |e| e.source.as_str());
    let locate = |e: MjmlError| {
        unshift(match &expanded {
            Some(x) => x.locate(document, e),
            None => e,
        })
    };
    let mut compiled = compile_expanded(source, options).map_err(locate)?;
    compiled.warnings = compiled
        .warnings
        .into_iter()
        .map(|w| locate(w.into()).into())
        .collect();
    compiled.partials = expanded.map(|e| e.used).unwrap_or_default();
    Ok(compiled)
}

/// For a fragment (the source starts with an element other than `<mjml>`), the text to put
/// before and after it: head elements go in `<mj-head>`, anything else in `<mj-body>`.
fn fragment_wrapper(source: &str) -> Option<(&'static str, &'static str)> {
    let mut rest = source.trim_start();
    while let Some(comment) = rest.strip_prefix("<!--") {
        rest = comment
            .find("-->")
            .map_or("", |e| &comment[e + 3..])
            .trim_start();
    }
    if rest.is_empty() || rest.starts_with("<mjml") || !rest.starts_with("<mj-") {
        return None;
    }
    const HEAD: &[&str] = &[
        "<mj-attributes",
        "<mj-breakpoint",
        "<mj-font",
        "<mj-html-attributes",
        "<mj-preview",
        "<mj-style",
        "<mj-title",
    ];
    if HEAD.iter().any(|h| {
        rest.strip_prefix(h)
            .is_some_and(|after| after.starts_with([' ', '>', '/', '\n', '\t']))
    }) {
        Some(("<mjml><mj-head>", "</mj-head><mj-body></mj-body></mjml>"))
    } else {
        Some(("<mjml><mj-body>", "</mj-body></mjml>"))
    }
}

fn compile_expanded(source: &str, options: &Options<'_>) -> Result<Compiled, MjmlError> {
    let limits = options.limits;
    let mut warnings = Vec::new();
    // Validation as node mjml does it, on the document with its partials.
    let issues = mjml_validate::validate(source);
    if options.validation == Level::Strict && !issues.is_empty() {
        let first = &issues[0];
        let more = match issues.len() {
            1 => String::new(),
            n => format!(
                " (and {} more: {})",
                n - 1,
                issues[1..]
                    .iter()
                    .map(|i| format!("line {}: {}", i.line, i.message.trim_end()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        return Err(MjmlError {
            message: format!(
                "{} (validation level strict){more}",
                first.message.trim_end()
            ),
            line: Some(first.line),
            column: Some(first.column),
        });
    }
    // Unknown elements are left out, with what they hold, as node mjml renders them.
    let unknown: Vec<(usize, &str)> = issues
        .iter()
        .filter(|i| i.message.ends_with("doesn't exist or is not registered"))
        .map(|i| (i.offset, i.tag.as_str()))
        .collect();
    let without_unknown = (!unknown.is_empty()).then(|| drop_elements(source, &unknown));
    if options.validation == Level::Soft {
        warnings.extend(issues.iter().map(|i| Warning {
            message: format!("{} ({})", i.message.trim_end(), i.tag),
            line: Some(i.line),
            column: Some(i.column),
        }));
    }
    let source = without_unknown.as_deref().unwrap_or(source);
    // `<mj-html-attributes>` (which mrml refuses) and `<mj-style inline="inline">` (which
    // mrml leaves as a style block) are taken out, blanked so that positions stay, and applied
    // to the rendered HTML as node mjml does.
    let (blanked, html_attributes) = take_html_attributes(source)?;
    let source = blanked.as_deref().unwrap_or(source);
    let (blanked, inline_css) = take_inline_styles(source)?;
    let source = blanked.as_deref().unwrap_or(source);
    let (blanked, file_start) = take_file_start(source)?;
    let source = blanked.as_deref().unwrap_or(source);
    // `thumbnails="supported"` (MJML 5) is unknown to mrml: thumbnails are rendered as for
    // `visible`, then hidden inline (shown by the clients whose CSS supports them), as node
    // mjml writes them, when every carousel of the document says so.
    let supported_thumbnails = has(source, "thumbnails=\"supported\"");
    let all_supported = supported_thumbnails
        && source.matches("<mj-carousel ").count() + source.matches("<mj-carousel>").count()
            == source.matches("thumbnails=\"supported\"").count();
    let rewritten = supported_thumbnails
        .then(|| source.replace("thumbnails=\"supported\"", "thumbnails=\"visible\""));
    let source = rewritten.as_deref().unwrap_or(source);
    // The document read by Facteur's reader when it can (mrml's tokenizer is the slow half of
    // its parser); else by mrml's parser, once the scan made it readable.
    let fast = if options.fast_body {
        mjml_body::parse(source, limits.max_depth)
    } else {
        None
    };
    let (element, escapes, marked) = match fast {
        Some((element, marked)) => {
            BODY_READER_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (element, Vec::new(), marked)
        }
        None => mrml_parse(source, limits)?,
    };
    // Built once: the defaults hold a map of web fonts.
    static KEEP_COMMENTS: LazyLock<RenderOptions> = LazyLock::new(RenderOptions::default);
    static DROP_COMMENTS: LazyLock<RenderOptions> = LazyLock::new(|| RenderOptions {
        disable_comments: true,
        ..RenderOptions::default()
    });
    let render_options: &RenderOptions = if options.keep_comments {
        &KEEP_COMMENTS
    } else {
        &DROP_COMMENTS
    };
    let html = element.render(render_options).map_err(|e| MjmlError {
        message: e.to_string(),
        line: None,
        column: None,
    })?;
    // mrml escapes attribute values as Rust strings (`\\`, `\n`, `\"`…): read back.
    let html = crate::mrml_escapes::fix(html);
    // A `<` written `&lt;` for mrml inside a language statement (`{% if var:n < 2 %}`) is a
    // `<` again: the language reads it.
    let html = if escapes
        .iter()
        .any(|e| matches!(e, nesting::Edit::Escape(at) if source.as_bytes()[*at] == b'<'))
    {
        restore_statements(html)
    } else {
        html
    };
    let html = if marked { unmark_raw(&html) } else { html };
    let attribute_rules = html_attribute_rules(&html_attributes)?;
    let sheet = if inline_css.is_empty() {
        inline_css::Sheet::default()
    } else {
        inline_css::parse(&inline_css)
    };
    for skipped in &sheet.skipped {
        warnings.push(Warning {
                message: format!(
                    "mj-style inline: {skipped:?} cannot be written into style attributes and was left out (put it in an mj-style without inline)"
                ),
                line: None,
                column: None,
            });
    }
    let mut html = if attribute_rules.is_empty() && sheet.rules.is_empty() {
        html
    } else {
        inline_css::apply(&html, &attribute_rules, &sheet)
    };
    if all_supported {
        html = hide_thumbnails(&html);
    }
    // Fonts the document declares with mj-font are mrml's to link (with their own href).
    let declared: Vec<String> = memchr::memmem::find_iter(source.as_bytes(), b"<mj-font")
        .filter_map(|at| {
            let tag_end = source[at..].find('>')?;
            attribute(&source[at..at + tag_end + 1], "name")
        })
        .collect();
    html = link_missing_fonts(html, &declared);
    if !file_start.is_empty() {
        html.insert_str(0, &file_start);
    }
    Ok(Compiled {
        html,
        warnings,
        partials: Vec::new(),
    })
}

/// How many compilations Facteur's reader read (the others went through mrml's parser):
/// for the tests, which check that it takes most documents.
#[doc(hidden)]
pub static BODY_READER_COUNT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// mrml's parser on the whole document, once `nesting::scan_xml` checked it and rewrote what
/// mrml cannot read: the tree, the scan's edits and whether `<mj-raw>` content was marked.
fn mrml_parse(
    source: &str,
    limits: &Limits,
) -> Result<(mrml::mjml::Mjml, Vec<nesting::Edit>, bool), MjmlError> {
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
    // `mj-raw` content is marked, so that the post-pass can take it out of the Outlook-only
    // conditional comments mrml puts it in between a wrapper's sections. An error is reported
    // on the document as written.
    let marked = mark_raw(input);
    let parsed = match marked.as_deref().map(mrml::parse) {
        Some(Ok(parsed)) => parsed,
        _ => mrml::parse(input).map_err(|e| to_source(parse_error(input, &e)))?,
    };
    Ok((parsed.element, escapes, marked.is_some()))
}

/// Carousel thumbnails hidden inline (`thumbnails="supported"`).
fn hide_thumbnails(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = find(rest, "class=\"mj-carousel-thumbnail ") {
        let tag_start = rest[..at].rfind('<').unwrap_or(at);
        let tag_end = rest[at..].find('>').map_or(rest.len(), |e| at + e);
        out.push_str(&rest[..tag_start]);
        out.push_str(&rest[tag_start..tag_end].replace("display:inline-block", "display:none"));
        rest = &rest[tag_end..];
    }
    out.push_str(rest);
    out
}

/// mrml's default web fonts (`RenderOptions::default().fonts`), by name.
const DEFAULT_FONTS: [(&str, &str); 5] = [
    (
        "Droid Sans",
        "https://fonts.googleapis.com/css?family=Droid+Sans:300,400,500,700",
    ),
    (
        "Lato",
        "https://fonts.googleapis.com/css?family=Lato:300,400,500,700",
    ),
    (
        "Open Sans",
        "https://fonts.googleapis.com/css?family=Open+Sans:300,400,500,700",
    ),
    (
        "Roboto",
        "https://fonts.googleapis.com/css?family=Roboto:300,400,500,700",
    ),
    (
        "Ubuntu",
        "https://fonts.googleapis.com/css?family=Ubuntu:300,400,500,700",
    ),
];

/// Links the default web fonts (Open Sans, Droid Sans, Lato, Roboto, Ubuntu) that the HTML
/// uses in a `font-family` but mrml did not link: the navbar's hamburger icon is written in
/// Ubuntu, and node mjml links it.
fn link_missing_fonts(mut html: String, declared: &[String]) -> String {
    let Some(head_end) = searcher(Needle::HeadEnd).find(html.as_bytes()) else {
        return html;
    };
    // mrml links fonts in the head (the body, most of the document, is not searched): one pass
    // over the links to Google Fonts there.
    let mut linked = [false; DEFAULT_FONTS.len()];
    for at in searcher(Needle::FontsLink).find_iter(&html.as_bytes()[..head_end]) {
        for (k, (_, href)) in DEFAULT_FONTS.iter().enumerate() {
            linked[k] |= html[at..head_end].starts_with(href);
        }
    }
    let missing: Vec<(&str, &str)> = DEFAULT_FONTS
        .iter()
        .zip(linked)
        .filter(|((name, _), linked)| !linked && !declared.iter().any(|d| d == name))
        .map(|(font, _)| *font)
        .collect();
    if missing.is_empty() {
        return html;
    }
    // The families the body names in `font-family` declarations (a style sheet in the head
    // does not count, as in node mjml).
    let body = searcher(Needle::Body)
        .find(html.as_bytes())
        .unwrap_or(head_end);
    let mut used = vec![false; missing.len()];
    // The same few values come back on most elements: each is read once in a row.
    let mut previous = "";
    for at in searcher(Needle::FontFamily).find_iter(&html.as_bytes()[body..]) {
        let value = &html[body + at + "font-family:".len()..];
        let end = memchr::memchr3(b';', b'"', b'}', value.as_bytes()).unwrap_or(value.len());
        if value[..end] == *previous {
            continue;
        }
        previous = &value[..end];
        for family in value[..end].split(',') {
            let mut family = family.trim().trim_matches(['\'', '&', ' ']);
            while let Some(rest) = family.strip_prefix("quot;") {
                family = rest;
            }
            while let Some(rest) = family.strip_suffix("&quot") {
                family = rest;
            }
            for (k, (name, _)) in missing.iter().enumerate() {
                used[k] |= family == *name;
            }
        }
        if used.iter().all(|u| *u) {
            break;
        }
    }
    let mut links = String::new();
    let mut imports = String::new();
    for ((_, href), used) in missing.iter().zip(used) {
        if used {
            links.push_str(&format!(
                "<link href=\"{href}\" rel=\"stylesheet\" type=\"text/css\">"
            ));
            imports.push_str(&format!("@import url({href});"));
        }
    }
    if !links.is_empty() {
        html.insert_str(
            head_end,
            &format!(
                "<!--[if !mso]><!-->{links}<style type=\"text/css\">{imports}</style><!--<![endif]-->"
            ),
        );
    }
    html
}

/// `source` with the elements starting at each offset blanked, up to their matching close tag
/// (or the end of a self-closing one); an element never closed is left alone (the MJML parser
/// then reports it).
///
/// The close tags are paired with their start tags in one pass over the document (a stack of
/// open elements per name, nested elements of the same name counted): a document of thousands
/// of unknown elements never closed costs one pass, not one pass each.
fn drop_elements(source: &str, starts: &[(usize, &str)]) -> String {
    let b = source.as_bytes();
    let names: std::collections::HashSet<&str> = starts.iter().map(|(_, t)| *t).collect();
    let lengths: std::collections::HashSet<usize> = names.iter().map(|n| n.len()).collect();
    // Where the name starting at or after a position ends: a run of `<` without whitespace
    // (`<a<b<c…`) shares one end, found once (searching it from each `<` was quadratic).
    let mut name_end = 0;
    let mut open: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    // The `<` of a start tag → the end of its element (after its close tag's `>`).
    let mut ends: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut at = 0;
    while let Some(p) = memchr::memchr(b'<', &b[at..]) {
        let lt = at + p;
        at = lt + 1;
        let closing = b.get(lt + 1) == Some(&b'/');
        let name_start = lt + 1 + usize::from(closing);
        if name_end < name_start {
            let Some(len) = b[name_start.min(b.len())..]
                .iter()
                .position(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')
            else {
                break;
            };
            name_end = name_start + len;
        }
        // The length first: the names of such a run are not hashed, but for the one that
        // has the length of an unknown element's name.
        if !lengths.contains(&(name_end - name_start))
            || !source.is_char_boundary(name_start)
            || !names.contains(&source[name_start..name_end])
        {
            continue;
        }
        let name = &source[name_start..name_end];
        let Some(gt) = memchr::memchr(b'>', &b[lt..]).map(|e| lt + e) else {
            break;
        };
        if closing {
            if let Some(start) = open.get_mut(name).and_then(Vec::pop) {
                ends.insert(start, gt + 1);
            }
        } else if b[gt - 1] != b'/' {
            open.entry(name).or_default().push(lt);
        }
    }
    let mut out = String::with_capacity(source.len());
    let mut from = 0;
    for &(start, _) in starts {
        if start < from || !source[start..].starts_with('<') {
            continue;
        }
        let Some(tag_len) = memchr::memchr(b'>', &b[start..]) else {
            continue;
        };
        let open_end = start + tag_len + 1;
        let end = if source[..open_end].ends_with("/>") {
            open_end
        } else {
            match ends.get(&start) {
                Some(&end) => end,
                None => continue,
            }
        };
        out.push_str(&source[from..start]);
        blank(&mut out, &source[start..end]);
        from = end;
    }
    out.push_str(&source[from..]);
    out
}

/// Reads and blanks every `<mj-style inline="inline">`: `(the source with each one blanked,
/// or None when there is none; their style sheets, one after the other)`.
fn take_inline_styles(source: &str) -> Result<(Option<String>, String), MjmlError> {
    if !has(source, "inline") {
        return Ok((None, String::new()));
    }
    let (blanked, sheets) = take_elements(source, "mj-style", |tag| {
        attribute(tag, "inline").as_deref() == Some("inline")
    })?;
    let mut css = String::new();
    for sheet in sheets {
        css.push_str(&xml_unescape(&sheet));
        css.push('\n');
    }
    Ok((blanked, css))
}

/// Reads and blanks every `<mj-raw position="file-start">` (mrml does not know it): node mjml
/// writes its content at the very start of the file, before the doctype.
fn take_file_start(source: &str) -> Result<(Option<String>, String), MjmlError> {
    if !has(source, "file-start") {
        return Ok((None, String::new()));
    }
    let (blanked, raws) = take_elements(source, "mj-raw", |tag| {
        attribute(tag, "position").as_deref() == Some("file-start")
    })?;
    Ok((blanked, raws.concat()))
}

/// Blanks the `<name …>…</name>` elements whose start tag `wanted` accepts: `(the source
/// with each blanked, or None when none was; their contents)`.
fn take_elements(
    source: &str,
    name: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<(Option<String>, Vec<String>), MjmlError> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut blanked = String::with_capacity(source.len());
    let mut contents = Vec::new();
    let mut from = 0;
    let mut cursor = 0;
    while let Some(rel) = find(&source[cursor..], &open) {
        let start = cursor + rel;
        let Some(tag_len) = source[start..].find('>') else {
            break;
        };
        let tag = &source[start..start + tag_len + 1];
        cursor = start + tag_len + 1;
        if !tag[open.len()..].starts_with([' ', '\t', '\n', '>', '/']) || !wanted(tag) {
            continue;
        }
        let end = if tag.ends_with("/>") {
            cursor
        } else {
            let Some(c) = find(&source[cursor..], &close) else {
                let (line, column) = crate::position(source, start);
                return Err(MjmlError {
                    message: format!("<{name}> is not closed"),
                    line: Some(line),
                    column: Some(column),
                });
            };
            contents.push(source[cursor..cursor + c].to_string());
            cursor + c + close.len()
        };
        blanked.push_str(&source[from..start]);
        blank(&mut blanked, &source[start..end]);
        from = end;
        cursor = end;
    }
    if from == 0 {
        return Ok((None, contents));
    }
    blanked.push_str(&source[from..]);
    Ok((Some(blanked), contents))
}

/// Writes `block` as spaces with its line breaks kept: columns of what follows stay. mrml
/// refuses a run of spaces in `mj-head` with no line break, so a block on one line goes away
/// instead (columns after it on that line shift; lines never do).
fn blank(out: &mut String, block: &str) {
    if block.contains('\n') {
        out.extend(block.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
    }
}

/// One `<mj-selector path="…">` and the attributes it sets.
type HtmlAttributes = Vec<(String, Vec<(String, String)>)>;

/// The value of attribute `name` in a start tag's text (`path="…"` or `path='…'`).
pub(crate) fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = rest[..at].ends_with(|c: char| c.is_whitespace());
        let after = rest[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let end = value[1..].find(quote)?;
                return Some(xml_unescape(&value[1..1 + end]));
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Reads and blanks every `<mj-html-attributes>` block: `(the source with each block's
/// characters turned to spaces, its line breaks kept, or None when there is none; the
/// selectors and their attributes)`.
fn take_html_attributes(source: &str) -> Result<(Option<String>, HtmlAttributes), MjmlError> {
    const OPEN: &str = "<mj-html-attributes";
    const CLOSE: &str = "</mj-html-attributes>";
    if !has(source, OPEN) {
        return Ok((None, Vec::new()));
    }
    let error = |at: usize, message: &str| {
        let (line, column) = crate::position(source, at);
        MjmlError {
            message: message.to_string(),
            line: Some(line),
            column: Some(column),
        }
    };
    let mut blanked = String::with_capacity(source.len());
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(rel) = find(&source[from..], OPEN) {
        let start = from + rel;
        let tag_end = source[start..]
            .find('>')
            .map(|e| start + e + 1)
            .ok_or_else(|| error(start, "<mj-html-attributes> is not closed"))?;
        let end = if source[..tag_end].ends_with("/>") {
            // `<mj-html-attributes/>`: nothing to set.
            tag_end
        } else {
            source[start..]
                .find(CLOSE)
                .map(|e| start + e + CLOSE.len())
                .ok_or_else(|| error(start, "<mj-html-attributes> is not closed"))?
        };
        let block = &source[start..end];
        let mut rest = block;
        while let Some(s_at) = rest.find("<mj-selector") {
            let tag_end = rest[s_at..]
                .find('>')
                .ok_or_else(|| error(start, "<mj-selector> is not closed"))?;
            let path = attribute(&rest[s_at..s_at + tag_end], "path").ok_or_else(|| {
                error(
                    start + (block.len() - rest.len()) + s_at,
                    "<mj-selector> needs a path (a CSS selector)",
                )
            })?;
            // The close tag after the start tag's `>` (a `</mj-selector>` inside an attribute
            // value does not end it).
            let body_end = rest[s_at + tag_end + 1..]
                .find("</mj-selector>")
                .map(|e| tag_end + 1 + e)
                .ok_or_else(|| error(start, "<mj-selector> is not closed"))?;
            let body = &rest[s_at + tag_end + 1..s_at + body_end];
            let mut attrs = Vec::new();
            let mut b = body;
            while let Some(a_at) = b.find("<mj-html-attribute") {
                let a_tag_end = b[a_at..]
                    .find('>')
                    .ok_or_else(|| error(start, "<mj-html-attribute> is not closed"))?;
                let name = attribute(&b[a_at..a_at + a_tag_end], "name")
                    .ok_or_else(|| error(start, "<mj-html-attribute> needs a name"))?;
                let close = b[a_at + a_tag_end + 1..]
                    .find("</mj-html-attribute>")
                    .map(|e| a_tag_end + 1 + e)
                    .ok_or_else(|| error(start, "<mj-html-attribute> is not closed"))?;
                let value = xml_unescape(b[a_at + a_tag_end + 1..a_at + close].trim());
                attrs.push((name, value));
                b = &b[a_at + close + "</mj-html-attribute>".len()..];
            }
            found.push((path, attrs));
            rest = &rest[s_at + body_end + "</mj-selector>".len()..];
        }
        blanked.push_str(&source[from..start]);
        blank(&mut blanked, block);
        from = end;
    }
    blanked.push_str(&source[from..]);
    Ok((Some(blanked), found))
}

/// The selectors of `<mj-html-attributes>` read for [`inline_css::apply`].
fn html_attribute_rules(
    rules: &HtmlAttributes,
) -> Result<Vec<inline_css::AttributeRule>, MjmlError> {
    rules
        .iter()
        .map(|(path, attrs)| {
            let selector = path.parse().map_err(|e| MjmlError {
                message: format!(
                    "mj-selector path {path:?} is not a CSS selector this compiler reads: {e}"
                ),
                line: None,
                column: None,
            })?;
            Ok((selector, attrs.clone()))
        })
        .collect()
}

const RAW_START: &str = "<!--facteur:raw-->";
const RAW_END: &str = "<!--/facteur:raw-->";
const MSO_OPEN: &str = "<!--[if mso | IE]>";
const MSO_CLOSE: &str = "<![endif]-->";

/// The source with each `<mj-raw>`'s content between [`RAW_START`] and [`RAW_END`]; `None`
/// when it has no `mj-raw` (or a self-closing one only).
fn mark_raw(source: &str) -> Option<String> {
    if !has(source, "<mj-raw") {
        return None;
    }
    let mut out = String::with_capacity(source.len() + 64);
    let mut rest = source;
    let mut marked = false;
    while let Some(at) = find(rest, "<mj-raw") {
        let after = &rest[at + "<mj-raw".len()..];
        // `<mj-raw>` or `<mj-raw attr…>`, not `<mj-rawx`.
        if !after.starts_with(['>', ' ', '\t', '\n']) {
            out.push_str(&rest[..at + "<mj-raw".len()]);
            rest = after;
            continue;
        }
        let Some(end) = after.find('>') else { break };
        let tag_end = at + "<mj-raw".len() + end + 1;
        out.push_str(&rest[..tag_end]);
        rest = &rest[tag_end..];
        if after[..end].ends_with('/') {
            continue;
        }
        let Some(close) = find(rest, "</mj-raw>") else {
            break;
        };
        out.push_str(RAW_START);
        out.push_str(&rest[..close]);
        out.push_str(RAW_END);
        out.push_str("</mj-raw>");
        rest = &rest[close + "</mj-raw>".len()..];
        marked = true;
    }
    out.push_str(rest);
    marked.then_some(out)
}

/// Takes the marks out of the compiled HTML; marked content that mrml left inside an
/// Outlook-only conditional comment is lifted out of it (the comment is closed before it and
/// opened again after), as node mjml writes it: every client shows it.
fn unmark_raw(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Whether the text left in `rest` starts inside a conditional comment (one reopened after
    // the content of the previous mark).
    let mut carried = false;
    // Whether a mark may be left in `out` (one written in the content, or not closed).
    let mut leftover = false;
    while let Some(at) = searcher(Needle::RawStart).find(rest.as_bytes()) {
        let before = &rest[..at];
        // Inside a conditional comment when the last one opened before the mark is not closed
        // (or, with none opened or closed since the previous mark, when that one was inside).
        let inside = match (rfind(before, MSO_OPEN), rfind(before, MSO_CLOSE)) {
            (Some(open), close) => close.is_none_or(|c| c < open),
            (None, Some(_)) => false,
            (None, None) => carried,
        };
        let Some(len) = searcher(Needle::RawEnd).find(&rest.as_bytes()[at..]) else {
            leftover = true;
            break;
        };
        let raw = &rest[at + RAW_START.len()..at + len];
        leftover |= has(raw, RAW_START) || has(raw, RAW_END);
        let after = &rest[at + len + RAW_END.len()..];
        if inside {
            match before.strip_suffix(MSO_OPEN) {
                Some(before) => out.push_str(before),
                None => {
                    out.push_str(before);
                    out.push_str(MSO_CLOSE);
                }
            }
            out.push_str(raw);
            match after.strip_prefix(MSO_CLOSE) {
                Some(after) => {
                    rest = after;
                    carried = false;
                }
                None => {
                    out.push_str(MSO_OPEN);
                    rest = after;
                    carried = true;
                }
            }
        } else {
            out.push_str(before);
            out.push_str(raw);
            rest = after;
            carried = false;
        }
    }
    out.push_str(rest);
    // A start mark left is found above; an end mark without its start (mrml dropped one) is
    // looked for here.
    if leftover || searcher(Needle::RawEnd).find(out.as_bytes()).is_some() {
        out.replace(RAW_START, "").replace(RAW_END, "")
    } else {
        out
    }
}

/// The fixed strings the passes look for in every compiled page.
#[derive(Clone, Copy)]
enum Needle {
    HeadEnd,
    Body,
    RawStart,
    RawEnd,
    FontsLink,
    FontFamily,
}

/// The searcher for a fixed string, built once: building one costs more than a search.
fn searcher(needle: Needle) -> &'static Finder<'static> {
    static SEARCHERS: LazyLock<[Finder<'static>; 6]> = LazyLock::new(|| {
        [
            Finder::new("</head>"),
            Finder::new("<body"),
            Finder::new(RAW_START),
            Finder::new(RAW_END),
            Finder::new("https://fonts.googleapis.com/css?family="),
            Finder::new("font-family:"),
        ]
    });
    &SEARCHERS[needle as usize]
}

/// Substring search with memchr's SIMD searcher (the passes over a compiled page run often).
fn find(haystack: &str, needle: &str) -> Option<usize> {
    memchr::memmem::find(haystack.as_bytes(), needle.as_bytes())
}

fn rfind(haystack: &str, needle: &str) -> Option<usize> {
    memchr::memmem::rfind(haystack.as_bytes(), needle.as_bytes())
}

fn has(haystack: &str, needle: &str) -> bool {
    find(haystack, needle).is_some()
}

/// `html` with `&lt;` read back as `<` inside the language's statements and expressions
/// (`{% … %}`, `{{ … }}`, `[[ … ]]`).
fn restore_statements(html: String) -> String {
    if !has(&html, "&lt;") {
        return html;
    }
    const DELIMITERS: [(&str, &str); 3] = [("{%", "%}"), ("{{", "}}"), ("[[", "]]")];
    let find_from = |from: usize, needle: &str| find(&html[from..], needle).map(|at| from + at);
    // The next opening of each kind at or after `from` (searched again only when passed: the
    // scan stays linear however many statements there are).
    let mut next: Vec<Option<usize>> = DELIMITERS.iter().map(|(o, _)| find_from(0, o)).collect();
    let mut out = String::with_capacity(html.len());
    let mut from = 0;
    while let Some((k, at)) = next
        .iter()
        .enumerate()
        .filter_map(|(k, at)| at.map(|at| (k, at)))
        .min_by_key(|(_, at)| *at)
    {
        let (open, close) = DELIMITERS[k];
        let body = at + open.len();
        let Some(body_end) = find_from(body, close) else {
            break;
        };
        out.push_str(&html[from..body]);
        out.push_str(&html[body..body_end].replace("&lt;", "<"));
        from = body_end;
        for (k, slot) in next.iter_mut().enumerate() {
            if slot.is_some_and(|at| at < from) {
                *slot = find_from(from, DELIMITERS[k].0);
            }
        }
    }
    out.push_str(&html[from..]);
    out
}

/// The edits as `(offset in the source, bytes written in the input, bytes of the source they
/// stand for)`, in order.
fn edit_spans(edits: &[nesting::Edit]) -> Vec<(usize, usize, usize)> {
    let mut spans = Vec::with_capacity(edits.len() * 2);
    for edit in edits {
        match *edit {
            nesting::Edit::Escape(at) => spans.push((at, 4, 1)),
            nesting::Edit::Quote(from, to) => {
                spans.push((from, 1, 0));
                spans.push((to, 1, 0));
            }
            nesting::Edit::Space(at) => spans.push((at, 1, 0)),
        }
    }
    spans
}

/// `source` with the edits made: each `>` or `<` to escape written `&gt;` or `&lt;`, each
/// unquoted attribute value quoted.
fn escape_at(source: &str, edits: &[nesting::Edit]) -> String {
    let mut out = String::with_capacity(source.len() + 3 * edits.len());
    let mut from = 0;
    for edit in edits {
        match *edit {
            nesting::Edit::Escape(at) => {
                out.push_str(&source[from..at]);
                out.push_str(if source.as_bytes()[at] == b'<' {
                    "&lt;"
                } else {
                    "&gt;"
                });
                from = at + 1;
            }
            nesting::Edit::Quote(start, stop) => {
                let quote = if source[start..stop].contains('"') {
                    '\''
                } else {
                    '"'
                };
                out.push_str(&source[from..start]);
                out.push(quote);
                out.push_str(&source[start..stop]);
                out.push(quote);
                from = stop;
            }
            nesting::Edit::Space(at) => {
                out.push_str(&source[from..at]);
                out.push(' ');
                from = at;
            }
        }
    }
    out.push_str(&source[from..]);
    out
}

/// An error's line and column in the edited input, moved back to the source (each edit adds
/// bytes on its own line: three for an escape, two for quotes).
fn map_back(source: &str, input: &str, edits: &[nesting::Edit], mut e: MjmlError) -> MjmlError {
    if edits.is_empty() {
        return e;
    }
    if let (Some(line), Some(column)) = (e.line, e.column) {
        // The offset of (line, column) in the input, then in the source.
        let at = crate::offset_of(input, line, column);
        let mut shift = 0;
        for (pos, written, replaced) in edit_spans(edits) {
            if pos + shift + written > at {
                break;
            }
            shift += written - replaced;
        }
        let (l, c) = crate::position(source, at.saturating_sub(shift));
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
    fn runs_of_tags_without_whitespace_stay_linear() {
        // Found by the fuzzer: thousands of `<` in one run of non-space bytes; each name used to
        // be searched to the end of the run (67 ms for 62 KB, quadratic).
        let n = 20_000;
        let doc = format!(
            "<mjml><mj-body><mj-section><mj-column><mj-text>a</mj-text></mj-column></mj-section>\n<mj-zz{}>b</mj-zz>\n</mj-body></mjml>",
            "<mj-zz".repeat(n)
        );
        // One unknown element to node (its name runs to the space), never closed: refused,
        // with its position.
        let err = to_html(&doc).expect_err("the run is not MJML");
        assert_eq!(err.line, Some(2), "{err:?}");
    }

    #[test]
    fn the_default_fonts_are_mrml_s() {
        let mut mrml_fonts: Vec<(String, String)> = RenderOptions::default()
            .fonts
            .into_iter()
            .map(|(name, href)| (name, href.into_owned()))
            .collect();
        mrml_fonts.sort();
        let ours: Vec<(String, String)> = DEFAULT_FONTS
            .iter()
            .map(|(name, href)| (name.to_string(), href.to_string()))
            .collect();
        assert_eq!(ours, mrml_fonts);
    }

    #[test]
    fn inline_styles_are_written_into_the_elements() {
        let doc = "<mjml>\n<mj-head>\n<mj-style inline=\"inline\">\n.red div { color: red !important; }\n.big { font-size: 30px }\n@media (max-width:400px) { .red div { color: blue } }\na:hover { color: pink }\n</mj-style>\n<mj-style>.kept { margin: 0 }</mj-style>\n</mj-head>\n<mj-body><mj-section><mj-column><mj-text css-class=\"red big\">Hi</mj-text></mj-column></mj-section></mj-body>\n</mjml>";
        let out = to_html(doc).unwrap();
        // The td keeps the font-size mjml wrote on it; the div's colour is replaced.
        assert!(
            out.html
                .contains("class=\"red big\" style=\"font-size:0px;"),
            "{}",
            out.html
        );
        assert!(out.html.contains("color:red;\">Hi</div>"), "{}", out.html);
        assert!(!out.html.contains("400px") && !out.html.contains("pink"));
        assert!(out.html.contains(".kept { margin: 0 }"));
        assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
    }

    #[test]
    fn comments_are_kept_or_dropped() {
        let doc = "<mjml><mj-body><!-- note --><mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section></mj-body></mjml>";
        assert!(to_html(doc).unwrap().html.contains("<!-- note -->"));
        let limits = Limits::default();
        let mut options = Options::new(&limits);
        options.keep_comments = false;
        let html = compile(doc, &options).unwrap().html;
        assert!(!html.contains("note"), "{html}");
        assert!(html.contains("<!--[if mso | IE]>"));
    }

    #[test]
    fn partials_are_compiled_in_and_named() {
        let doc = "<mjml>\n<mj-body>\n<mj-include path=\"footer\" />\n</mj-body>\n</mjml>";
        let limits = Limits::default();
        let resolve = |path: &str, _: include::Kind, _: Option<&str>| match path {
            "footer" => Ok(include::Partial {
                name: "footer".into(),
                content:
                    "<mj-section><mj-column><mj-text>Unsubscribe</mj-text></mj-column></mj-section>"
                        .into(),
            }),
            "broken" => Ok(include::Partial {
                name: "broken".into(),
                content:
                    "<mj-section><mj-column><mj-raw><!--[if mso]x</mj-raw></mj-column></mj-section>"
                        .into(),
            }),
            _ => Err("no such template".into()),
        };
        let mut options = Options::new(&limits);
        options.resolve = Some(&resolve);
        let out = compile(doc, &options).unwrap();
        assert!(out.html.contains("Unsubscribe"));
        assert_eq!(out.partials, vec!["footer"]);
        let e = compile(&doc.replace("footer", "broken"), &options).unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(1)), "{e}");
        assert!(e.message.starts_with("in partial \"broken\": "), "{e}");
        let e = to_html(doc).unwrap_err();
        assert!(e.message.contains("partials are not available here"), "{e}");
    }

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
    fn windows_and_mac_line_endings_compile_as_unix_ones() {
        let lf = "<mjml>\n  <mj-head>\n    <mj-title>x</mj-title>\n  </mj-head>\n  <mj-body><mj-navbar>\n    <mj-navbar-link href=\"/a\">A</mj-navbar-link>\n    <mj-navbar-link href=\"/b\">B</mj-navbar-link>\n  </mj-navbar></mj-body>\n</mjml>";
        let crlf = lf.replace('\n', "\r\n");
        let cr = lf.replace('\n', "\r");
        let expected = to_html(lf).unwrap().html;
        assert_eq!(to_html(&crlf).unwrap().html, expected);
        assert_eq!(to_html(&cr).unwrap().html, expected);
        // The smallest case that failed: whitespace holding \r inside mj-head.
        to_html("<mjml>\r\n  <mj-head>\r\n    <mj-title>x</mj-title>\r\n  </mj-head>\r\n  <mj-body></mj-body>\r\n</mjml>").unwrap();
        // Errors keep the source's lines.
        let e = to_html("<mjml>\r\n  <mj-body>\r\n    <mj-raw><!--[if mso]x</mj-raw>\r\n  </mj-body>\r\n</mjml>").unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(13)), "{e}");
    }

    #[test]
    fn raw_html_between_a_wrappers_sections_is_outside_outlook_comments() {
        let src = "<mjml><mj-body><mj-wrapper>\n<mj-section><mj-column><mj-text>ONE</mj-text></mj-column></mj-section>\n<mj-raw><p>RAW</p></mj-raw>\n<mj-section><mj-column><mj-text>TWO</mj-text></mj-column></mj-section>\n</mj-wrapper></mj-body></mjml>";
        let html = to_html(src).unwrap().html;
        let raw = html.find("<p>RAW</p>").expect("kept");
        let before = &html[..raw];
        let open = before.rfind("<!--[if mso | IE]>").unwrap();
        assert!(
            before[open..].contains("<![endif]-->"),
            "the raw HTML is not inside an Outlook-only comment: {}",
            &html[open..(raw + 40).min(html.len())]
        );
        assert!(!html.contains("facteur:raw"), "no mark left");
        // The comment it was in is closed before it and opened again after: one more of each
        // than mrml wrote.
        let mrml_html = mrml::parse(src)
            .unwrap()
            .element
            .render(&RenderOptions::default())
            .unwrap();
        let count = |h: &str, s: &str| h.matches(s).count();
        assert_eq!(count(&html, MSO_OPEN), count(&mrml_html, MSO_OPEN) + 1);
        assert_eq!(count(&html, MSO_CLOSE), count(&mrml_html, MSO_CLOSE) + 1);
        assert!(html.contains("ONE") && html.contains("TWO"));
        // Two in a row in the same comment: both lifted out, the comment still balanced.
        let two = src.replace(
            "<mj-raw><p>RAW</p></mj-raw>",
            "<mj-raw><p>RAW</p></mj-raw><mj-raw><p>RAW2</p></mj-raw>",
        );
        let html2 = to_html(&two).unwrap().html;
        for text in ["<p>RAW</p>", "<p>RAW2</p>"] {
            let b = &html2[..html2.find(text).unwrap()];
            let open = b.rfind(MSO_OPEN).unwrap();
            assert!(b[open..].contains(MSO_CLOSE), "{text} is outside: {html2}");
        }
        let balance = |h: &str| count(h, MSO_OPEN) as i64 - count(h, MSO_CLOSE) as i64;
        assert_eq!(balance(&html2), balance(&mrml_html));
        // Outside a wrapper, and in the head, it stays as it was (marks gone).
        let plain = to_html("<mjml><mj-head><mj-raw><meta name=\"x\" content=\"y\"></mj-raw></mj-head><mj-body><mj-raw><p>HI</p></mj-raw></mj-body></mjml>").unwrap().html;
        assert!(plain.contains("<p>HI</p>") && plain.contains("name=\"x\""));
        assert!(!plain.contains("facteur:raw"));
        // Language statements in mj-raw still reach the HTML.
        let lang = to_html("<mjml><mj-body><mj-wrapper><mj-raw>{% if var:vip %}</mj-raw><mj-section><mj-column><mj-text>VIP</mj-text></mj-column></mj-section><mj-raw>{% endif %}</mj-raw></mj-wrapper></mj-body></mjml>").unwrap().html;
        assert!(lang.contains("{% if var:vip %}") && lang.contains("{% endif %}"));
        let i = lang.find("{% if var:vip %}").unwrap();
        let b = &lang[..i];
        assert!(
            b.rfind("<!--[if mso | IE]>")
                .is_none_or(|o| b[o..].contains("<![endif]-->"))
        );
    }

    #[test]
    fn html_attributes_are_set_on_the_elements_their_selectors_match() {
        let src = "<mjml>\n  <mj-head>\n    <mj-html-attributes>\n      <mj-selector path=\".cta a\">\n        <mj-html-attribute name=\"data-id\">buy-1</mj-html-attribute>\n        <mj-html-attribute name=\"aria-label\">Buy &amp; save</mj-html-attribute>\n      </mj-selector>\n    </mj-html-attributes>\n  </mj-head>\n  <mj-body><mj-section><mj-column>\n    <mj-button css-class=\"cta\" href=\"https://shop.example/\">Buy</mj-button>\n    <mj-text>plain</mj-text>\n  </mj-column></mj-section></mj-body>\n</mjml>";
        let html = to_html(src).unwrap().html;
        let a = &html[html
            .find("href=\"https://shop.example/\"")
            .unwrap()
            .saturating_sub(300)..];
        let tag = &a[a[..300].rfind("<a").unwrap()..];
        let tag = &tag[..tag.find('>').unwrap()];
        assert!(tag.contains("data-id=\"buy-1\""), "{tag}");
        // `&` written `&amp;` (a browser reads "Buy & save").
        assert!(tag.contains("aria-label=\"Buy &amp; save\""), "{tag}");
        assert_eq!(
            html.matches("data-id=").count(),
            1,
            "only the matching element"
        );
        // Errors after the block keep their lines (the block is blanked, not removed).
        let broken = src.replace("<mj-text>plain</mj-text>", "<mj-text>plain");
        let e = to_html(&broken).unwrap_err();
        assert!(e.line.is_some_and(|l| l >= 12), "{e}");
        // An empty block, self-closing or not, sets nothing.
        for empty in [
            "<mj-html-attributes/>",
            "<mj-html-attributes></mj-html-attributes>",
        ] {
            let doc = format!(
                "<mjml><mj-head>{empty}</mj-head><mj-body><mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section></mj-body></mjml>"
            );
            if let Err(e) = to_html(&doc) {
                panic!("{empty}: {e}");
            }
        }
        let open = to_html("<mjml><mj-head>\n<mj-html-attributes>\n</mj-head></mjml>").unwrap_err();
        assert_eq!(open.line, Some(2), "{open}");
        // A selector this compiler cannot read is an error, not a silent skip.
        let bad = src.replace(".cta a", "a::before(");
        assert!(to_html(&bad).unwrap_err().message.contains("mj-selector"));
    }

    #[test]
    fn validation_levels_warn_refuse_or_skip() {
        let doc = "<mjml>\n  <mj-body>\n    <mj-unknown><mj-section><mj-column><mj-text>GONE</mj-text></mj-column></mj-section></mj-unknown>\n    <mj-section><mj-column><mj-text color=\"nope\" bad=\"1\" font-size=\"{{ var:size }}\">KEPT</mj-text></mj-column></mj-section>\n  </mj-body>\n</mjml>";
        let limits = Limits::default();
        // Soft (the default): compiled, findings as warnings with their place; the unknown
        // element is left out with its content, as node mjml does.
        let soft = to_html(doc).unwrap();
        assert!(soft.html.contains("KEPT") && !soft.html.contains("GONE"));
        let found: Vec<(Option<usize>, Option<usize>, &str)> = soft
            .warnings
            .iter()
            .map(|w| (w.line, w.column, w.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    Some(3),
                    Some(5),
                    "Element mj-unknown doesn't exist or is not registered (mj-unknown)"
                ),
                (Some(4), Some(28), "Attribute bad is illegal (mj-text)"),
                (
                    Some(4),
                    Some(28),
                    "Attribute color has invalid value: nope for type Color (mj-text)"
                ),
            ]
        );
        // Strict: refused at the first finding, the others listed.
        let mut options = Options::new(&limits);
        options.validation = Level::Strict;
        let e = compile(doc, &options).unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(5)), "{e}");
        assert!(
            e.message
                .contains("(and 2 more: line 4: Attribute bad is illegal"),
            "{e}"
        );
        // Skip: no findings, the unknown element still left out.
        options.validation = Level::Skip;
        let skip = compile(doc, &options).unwrap();
        assert!(skip.warnings.is_empty() && !skip.html.contains("GONE"));
        assert_eq!(skip.html, soft.html);
    }

    #[test]
    fn unknown_elements_go_with_their_content_nested_ones_counted() {
        let src = "<mjml><mj-body><mj-section><mj-column><mj-foo><mj-foo>in</mj-foo>still in</mj-foo><mj-text>kept</mj-text><mj-bar/><mj-text>after</mj-text></mj-column></mj-section></mj-body></mjml>";
        let html = to_html(src).unwrap().html;
        assert!(html.contains("kept") && html.contains("after"), "{html}");
        assert!(
            !html.contains("still in") && !html.contains(">in<"),
            "{html}"
        );
        // One never closed leaves the document unbalanced: an error with its position.
        let open = "<mjml><mj-body><mj-section><mj-column><mj-text>kept</mj-text><mj-foo><mj-text>gone</mj-text></mj-column></mj-section></mj-body></mjml>";
        let e = to_html(open).unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
    }

    #[test]
    fn attribute_values_come_out_as_written() {
        // mrml writes values as Rust strings (`\\`, `\n`, `\u{200d}`, `\"`); node mjml
        // 5.4.1 as they are: the same backslashes, line breaks and emoji sequences here. A `"`
        // from a single-quoted value is `&quot;` here; node writes it bare (`title="say "hi""`,
        // which ends the attribute early) or keeps the single quotes in raw HTML.
        let src = "<mjml><mj-body><mj-section><mj-column><mj-image alt=\"C:\\dir \u{1F468}\u{200D}\u{1F469}\nline\" title='say \"hi\"' src=\"https://x.test/a.png\" /><mj-button href=\"https://x.test/?q=a\\b\">Go</mj-button><mj-text><a href=\"https://x.test/t\\u\" title='a \"b\"'>raw</a></mj-text></mj-column></mj-section></mj-body></mjml>";
        let html = to_html(src).unwrap().html;
        assert!(
            html.contains("alt=\"C:\\dir \u{1F468}\u{200D}\u{1F469}\nline\""),
            "{html}"
        );
        assert!(html.contains("title=\"say &quot;hi&quot;\""), "{html}");
        assert!(html.contains("href=\"https://x.test/?q=a\\b\""), "{html}");
        assert!(html.contains("href=\"https://x.test/t\\u\""), "{html}");
        assert!(html.contains("title=\"a &quot;b&quot;\""), "{html}");
        assert!(!html.contains("\\\\") && !html.contains("\\n"), "{html}");
    }

    #[test]
    fn close_tags_inside_html_attributes_values_do_not_end_them() {
        // Found by the fuzzer: a close tag written inside the start tag's attribute value.
        for src in [
            "<mjml><mj-head><mj-html-attributes><mj-selector path=\"p</mj-selector>\"><mj-html-attribute name=\"a\">v</mj-html-attribute></mj-selector></mj-html-attributes></mj-head><mj-body></mj-body></mjml>",
            "<mjml><mj-head><mj-html-attributes><mj-selector path=\"p\"><mj-html-attribute name=\"a</mj-html-attribute>\">v</mj-html-attribute></mj-selector></mj-html-attributes></mj-head><mj-body></mj-body></mjml>",
        ] {
            let _ = to_html(src);
        }
    }

    #[test]
    fn a_less_than_sign_in_text_is_text() {
        // Node mjml reads these as text; mrml's tokenizer refused them ("invalid name token").
        let src = "<mjml><mj-head><mj-title>I <3 news</mj-title></mj-head><mj-body><mj-section><mj-column><mj-text>5 < 6 and 7 <= 8 <</mj-text><mj-button href=\"x\">a < b</mj-button><mj-image alt=\"A < B\" src=\"i.png\"/></mj-column></mj-section></mj-body></mjml>";
        let html = to_html(src).unwrap().html;
        assert!(html.contains("<title>I &lt;3 news</title>"), "{html}");
        assert!(html.contains("5 &lt; 6 and 7 &lt;= 8 &lt;"), "{html}");
        assert!(html.contains("a &lt; b"), "{html}");
        assert!(html.contains("alt=\"A < B\""), "{html}");
        // In a language statement it stays a `<`, for the language to read.
        let lang = "<mjml><mj-body><mj-raw>{% if var:n < 2 %}</mj-raw><mj-section><mj-column><mj-text>{{ var:a < 3 }} 1 < 2 [[ x < y ]]</mj-text></mj-column></mj-section><mj-raw>{% endif %}</mj-raw></mj-body></mjml>";
        let html = to_html(lang).unwrap().html;
        assert!(
            html.contains("{% if var:n < 2 %}")
                && html.contains("{{ var:a < 3 }} 1 &lt; 2 [[ x < y ]]"),
            "{html}"
        );
        // In a style sheet it is not touched (it would reach the CSS as `&lt;`): mrml refuses
        // it there, with its position. An error after an escape keeps its line.
        let css = "<mjml><mj-head>\n<mj-style>/* 1 < 2 */ a { }</mj-style></mj-head><mj-body></mj-body></mjml>";
        assert_eq!(to_html(css).unwrap_err().line, Some(2));
        let e = to_html("<mjml><mj-body><mj-text>1 < 2</mj-text><mj-section></mj-body></mjml>")
            .unwrap_err();
        assert_eq!(e.line, Some(1), "{e:?}");
    }

    #[test]
    fn unquoted_attribute_values_are_read_as_html_reads_them() {
        // Node mjml reads them; mrml refused ("expected quote mark").
        let src = "<mjml><mj-body><mj-section><mj-column><mj-image src=https://x.test/a.png alt=pic/><mj-text><table><tr><td width=100 nowrap align = center>cell</td></tr></table><img src=x.png alt=it's><a href=https://x.test/?a=1&b=2>l</a></mj-text></mj-column></mj-section></mj-body></mjml>";
        let html = to_html(src).unwrap().html;
        assert!(html.contains("src=\"https://x.test/a.png\""), "{html}");
        assert!(html.contains("alt=\"pic\""), "{html}");
        assert!(html.contains("width=\"100\""), "{html}");
        assert!(html.contains("align=\"center\""), "{html}");
        assert!(html.contains("alt=\"it's\""), "{html}");
        assert!(html.contains("href=\"https://x.test/?a=1&b=2\""), "{html}");
        // An error after quoted values keeps its line and column.
        let e = to_html(
            "<mjml><mj-body><mj-text><td width=100></mj-text>\n  <mj-foo x=\"\"></mj-body></mjml>",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2), "{e:?}");
    }

    #[test]
    fn comments_with_double_dashes_compile() {
        // Decorative comments: node mjml keeps them, mrml refused `--` in a comment.
        let src = "<mjml><mj-body><!-- ======== header -- top ======== --><mj-section><mj-column><mj-text><!-- ------------ -->x<!-- a --->y</mj-text></mj-column></mj-section>\n<mj-raw><p <</mj-raw></mj-body></mjml>";
        // An error after them is on its line in the source.
        assert_eq!(to_html(src).unwrap_err().line, Some(2));
        let ok = src.replace("\n<mj-raw><p <</mj-raw>", "");
        let html = to_html(&ok).unwrap().html;
        assert!(html.contains(">x") && html.contains("y<"), "{html}");
        assert!(html.contains("<!-- - - - -"), "{html}");
    }

    #[test]
    fn errors_have_a_position() {
        let e = to_html(
            "<mjml>\n  <mj-body>\n    <mj-raw><!--[if mso]x</mj-raw>\n  </mj-body>\n</mjml>",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(13)), "{e}");
        let e = to_html(
            "<mjml>\n  <mj-body>\n    <mj-text>unclosed <b>bold</mj-text>\n  </mj-body>\n</mjml>",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        // A `<` that starts a tag mrml cannot read: the error says where.
        let e = to_html("<mjml><mj-body>\n<mj-raw><p <</mj-raw>\n</mj-body></mjml>").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = to_html("not mjml at all").unwrap_err();
        assert!(!e.message.is_empty());
    }
}

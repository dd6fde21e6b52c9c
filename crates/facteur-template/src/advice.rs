//! Content advice: checks computed from a template's rendered (or compiled) HTML, its subject,
//! its locale and its purpose, each naming the element it is about. No I/O; the same advice is
//! meant for `POST /v3/REST/template/{id}/check`, `facteur template check` and the web app's
//! preview.
//!
//! ```
//! use facteur_template::advice::{check, Input, Severity};
//! let html = r#"<body><p>Our spring sale starts today.</p><img src="https://cdn.example.com/hero.png"></body>"#;
//! let advice = check(&Input { html, subject: Some("Spring sale"), marketing: true, ..Input::default() });
//! let missing_alt = advice.iter().find(|a| a.code == "image-missing-alt").unwrap();
//! assert_eq!(missing_alt.severity, Severity::Warning);
//! assert_eq!(missing_alt.element.as_deref(), Some(r#"<img src="https://cdn.example.com/hero.png">"#));
//! assert!(advice.iter().any(|a| a.code == "unsubscribe-missing"));
//! ```
//!
//! # Checks and thresholds
//!
//! Every advice has a stable kebab-case code ([`CODES`] lists them all); docs/templates.md
//! ("Content advice") explains each one.
//!
//! - **Text and images.** Visible text is counted in characters (whitespace, hidden blocks,
//!   `<head>`, `<style>`, `{% … %}` statements left out; a `{{ … }}` placeholder counts as its
//!   quoted default, or [`PLACEHOLDER_CHARS`] without one). Each character is taken to cover
//!   0.55 em × 1.5 em at its font size (16 px when not declared; 14 px text: 160 px²). Image
//!   area comes from the `width` and `height` attributes or inline styles (px), shown at most
//!   600 px wide; with only one side known the image is taken as 3:2, with neither as
//!   300 × 200. Spacers (≤ 2 px), hidden images and CSS background images do not count. Below [`TEXT_SHARE_MIN`] of text by area: `text-image-ratio` (aim for
//!   60 % text, 40 % images); below [`IMAGE_ONLY_SHARE`]: `image-only` (error).
//! - **Weight.** HTML over [`HTML_SIZE_MAX`] bytes: `html-size` (Gmail clips messages past
//!   about 102 KB). `data:` images: `image-data-uri`, with their size. Images declared wider
//!   than [`IMAGE_WIDTH_MAX`] px: `image-wide`. More than [`IMAGES_MAX`] images:
//!   `too-many-images`.
//! - **Calls to action.** A button is a link with visible text that is styled as one: the only
//!   content of a table cell with a background (what mrml makes of `<mj-button>`), or an `<a>`
//!   with a background colour, or with padding and a border or `display:block|inline-block`, or
//!   with a class containing `button`/`btn`, or `role="button"`. No button: `cta-missing`
//!   (warning for marketing, info otherwise). More than [`CTA_WORDINGS_MAX`] different button
//!   wordings: `cta-competing`. The first button after [`CTA_LOW_SHARE`] of the visible text
//!   and after [`CTA_LOW_CHARS`] characters: `cta-low`. The first button not centred (the
//!   first explicit alignment above it: `align`, `text-align`, `<center>`, a table with
//!   `margin: auto`): `cta-not-centered`.
//! - **Button wording.** More than [`CTA_WORDS_MAX`] words or [`CTA_CHARS_MAX`] characters:
//!   `cta-too-long`; not starting with a verb of the locale's list (English and French built
//!   in; both without a locale; not checked for other languages; French first-person wording
//!   such as "Je découvre" or "J'en profite" counts): `cta-no-verb`. Any link reading "click
//!   here", "here", "cliquez ici", "ici", …: `cta-vague`.
//! - **Button contrast.** WCAG 2 contrast between the button's text colour and its background
//!   (the `<a>`'s own, else the nearest enclosing one), both found in inline styles,
//!   `bgcolor` or `<font color>`: below 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold:
//!   WCAG's 18 pt and 14 pt), `cta-contrast`. Colours: `#rgb`, `#rrggbb` (and with alpha),
//!   `rgb()`/`rgba()`, and the common CSS names; anything else is skipped, never guessed.
//! - **Preheader.** A hidden block (`display:none`, `visibility:hidden`, `max-height:0` with
//!   `overflow:hidden`, or `hidden`) with text before any visible text, as mrml renders
//!   `<mj-preview>`. None: `preheader-missing`; two or more: `preheader-duplicate`; the same
//!   text as the subject: `preheader-same-as-subject`.
//! - **Subject** (only when [`Input::subject`] is given). Empty: `subject-missing`; longer
//!   than [`SUBJECT_CHARS_MAX`] characters: `subject-too-long`; shorter than
//!   [`SUBJECT_CHARS_MIN`]: `subject-too-short`; at least five letters all in capitals:
//!   `subject-all-caps`; two or more `!`: `subject-exclamation`.
//! - **Unsubscribe** (marketing only). No link to `[[UNSUB_LINK_xx]]`, `{{ mj:unsub_link }}`,
//!   a `/u/` path, or with text containing "unsubscribe", "opt out", "désinscri" or
//!   "désabonn": `unsubscribe-missing` (error).
//! - **Links.** To a domain of [`Input::blocklist`] or one of its subdomains (images too):
//!   `link-blocklisted` (error); text that reads as a URL or domain of another site than the
//!   link's: `link-text-mismatch`; `http:`: `link-insecure` (info); empty or `#`:
//!   `link-empty`; a URL shortener: `link-shortener`; with [`Input::sender_domain`] given,
//!   no web link to the sender's site: `link-no-sender-domain` (info). Links holding template
//!   placeholders (`{{…}}`, `[[…]]`, `{%…%}`) are not judged as URLs.
//! - **Images.** No `alt` attribute: `image-missing-alt`; `alt=""` on an image larger than a
//!   spacer (> 2 px): `image-empty-alt` (info: right for decoration only).
//!
//! # Bounds
//!
//! Hostile input costs bounded time and memory and never panics: one streaming pass with
//! lol_html, ancestry walks of at most [`MAX_DEPTH`] frames per link or closed element, only the
//! first [`MAX_ANALYSED_BYTES`] and at most [`MAX_ELEMENTS`] elements analysed, attribute values
//! and texts read up to a few kilobytes, and each code reported at most [`MAX_PER_CODE`] times.
//! When a bound cut the analysis short, `analysis-partial` (info) says so.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use lol_html::html_content::{Element, TextChunk, TextType};
use lol_html::{
    DocumentContentHandlers, ElementContentHandlers, HandlerResult, HtmlRewriter, MemorySettings,
    Selector, Settings,
};
use serde_json::{Value, json};

/// HTML size above which `html-size` warns (Gmail clips past about 102 KB).
pub const HTML_SIZE_MAX: usize = 100_000;
/// Characters a `{{ … }}` / `[[ … ]]` placeholder without a quoted default is taken to print.
pub const PLACEHOLDER_CHARS: usize = 10;
/// Share of text (by estimated area) below which `text-image-ratio` warns.
pub const TEXT_SHARE_MIN: f64 = 0.40;
/// Share of text (by estimated area) below which the email is `image-only`.
pub const IMAGE_ONLY_SHARE: f64 = 0.15;
/// Widest declared image width (px) before `image-wide`.
pub const IMAGE_WIDTH_MAX: u32 = 640;
/// Most images (spacers aside) before `too-many-images`.
pub const IMAGES_MAX: usize = 30;
/// Most different button wordings before `cta-competing`.
pub const CTA_WORDINGS_MAX: usize = 2;
/// Share of the visible text after which the first button is `cta-low`…
pub const CTA_LOW_SHARE: f64 = 0.6;
/// …when that many characters come before it.
pub const CTA_LOW_CHARS: usize = 500;
/// Most words of a button's text.
pub const CTA_WORDS_MAX: usize = 5;
/// Most characters of a button's text.
pub const CTA_CHARS_MAX: usize = 30;
/// Longest subject, in characters, before it is clipped on mobile.
pub const SUBJECT_CHARS_MAX: usize = 60;
/// Shortest useful subject, in characters.
pub const SUBJECT_CHARS_MIN: usize = 10;

/// Bytes of HTML analysed; past them the rest is skipped (`analysis-partial`).
pub const MAX_ANALYSED_BYTES: usize = 4 * 1024 * 1024;
/// Elements analysed; past them the rest is skipped (`analysis-partial`).
pub const MAX_ELEMENTS: usize = 200_000;
/// Deepest element nesting followed for ancestry (styles, alignment, hidden blocks).
pub const MAX_DEPTH: usize = 256;
/// Most advice of one code.
pub const MAX_PER_CODE: usize = 20;

const MAX_LINKS: usize = 5_000;
const MAX_IMAGES: usize = 5_000;
const MAX_HIDDEN: usize = 64;
/// Bytes kept of a link's or hidden block's text, of an `href` or `src`.
const MAX_TEXT: usize = 2048;
/// Bytes of a `style` attribute read.
const MAX_STYLE: usize = 4096;
/// Memory lol_html may use for its own buffers.
const MAX_PARSER_MEMORY: usize = 64 * 1024 * 1024;

/// Every advice code, in the order the checks run.
pub const CODES: &[&str] = &[
    "html-size",
    "analysis-partial",
    "subject-missing",
    "subject-too-long",
    "subject-too-short",
    "subject-all-caps",
    "subject-exclamation",
    "preheader-missing",
    "preheader-duplicate",
    "preheader-same-as-subject",
    "image-missing-alt",
    "image-empty-alt",
    "image-data-uri",
    "image-wide",
    "too-many-images",
    "image-only",
    "text-image-ratio",
    "link-empty",
    "link-blocklisted",
    "link-shortener",
    "link-insecure",
    "link-text-mismatch",
    "link-no-sender-domain",
    "unsubscribe-missing",
    "cta-missing",
    "cta-competing",
    "cta-low",
    "cta-not-centered",
    "cta-vague",
    "cta-too-long",
    "cta-no-verb",
    "cta-contrast",
];

/// What is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    /// The template's HTML, rendered (with test values) or as compiled from MJML.
    pub html: &'a str,
    /// The subject; `None` skips the subject checks (and the preheader's comparison with it).
    pub subject: Option<&'a str>,
    /// The template's locale (`"fr"`, `"en-GB"`, …): the language of the buttons' verbs.
    pub locale: Option<&'a str>,
    /// A marketing email (needs an unsubscribe link and a call to action).
    pub marketing: bool,
    /// Domains no link or image may point to (subdomains included).
    pub blocklist: &'a [&'a str],
    /// The sender's domain, when known (`link-no-sender-domain`).
    pub sender_domain: Option<&'a str>,
}

/// How much an advice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Likely to get the email blocked, clipped or unreadable: fix before sending.
    Error,
    /// Hurts delivery, reading or clicks: should be fixed.
    Warning,
    /// Worth a look; may be intended.
    Info,
}

impl Severity {
    /// `"error"`, `"warning"` or `"info"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// Stable kebab-case identifier, one of [`CODES`].
    pub code: &'static str,
    pub severity: Severity,
    /// What is wrong and what to do, in English.
    pub message: String,
    /// The element it is about, shortly: `<img src="https://…/hero.png">`,
    /// `<a href="https://shop.example.com/">Buy now</a>` (at most about 80 characters).
    pub element: Option<String>,
    /// 1-based line of that element in the HTML.
    pub line: Option<usize>,
}

/// Checks a template; the advice comes errors first, then warnings, then info, each in the
/// order of the checks and of the document.
pub fn check(input: &Input<'_>) -> Vec<Advice> {
    let mut out = Out::default();
    let html = input.html;
    if html.len() > HTML_SIZE_MAX {
        out.push(
            "html-size",
            Severity::Warning,
            format!(
                "The HTML weighs {} KB: Gmail clips messages past about 102 KB and hides the rest \
                 (footer and unsubscribe link included). Keep it under {} KB: remove unused styles, \
                 comments and repeated blocks.",
                html.len() / 1000,
                HTML_SIZE_MAX / 1000
            ),
            None,
            None,
        );
    }
    let analysed = &html[..crate::floor_char_boundary(html, html.len().min(MAX_ANALYSED_BYTES))];
    let scan = scan(analysed);
    if scan.partial || analysed.len() < html.len() {
        out.push(
            "analysis-partial",
            Severity::Info,
            format!(
                "Only part of this HTML was checked (the first {} KB, at most {} elements): \
                 advice about the rest is missing.",
                MAX_ANALYSED_BYTES / 1024,
                MAX_ELEMENTS
            ),
            None,
            None,
        );
    }
    let lines = Lines::new(analysed, &scan);
    check_subject(input, &mut out);
    check_preheader(input, &scan, &lines, &mut out);
    check_images(input, &scan, &lines, &mut out);
    check_links(input, &scan, &lines, &mut out);
    check_ctas(input, &scan, &lines, &mut out);
    let mut list = out.list;
    list.sort_by_key(|a| a.severity);
    list
}

/// The advice as a JSON array of `{"Code", "Severity", "Message", "Element", "Line"}` (the
/// REST API's casing; `Element` and `Line` are `null` when unknown).
pub fn to_json(advice: &[Advice]) -> Value {
    Value::Array(
        advice
            .iter()
            .map(|a| {
                json!({
                    "Code": a.code,
                    "Severity": a.severity.as_str(),
                    "Message": a.message,
                    "Element": a.element,
                    "Line": a.line,
                })
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Collecting advice

#[derive(Default)]
struct Out {
    list: Vec<Advice>,
    counts: HashMap<&'static str, usize>,
}

impl Out {
    fn push(
        &mut self,
        code: &'static str,
        severity: Severity,
        message: String,
        element: Option<String>,
        line: Option<usize>,
    ) {
        debug_assert!(CODES.contains(&code), "unlisted code {code}");
        let n = self.counts.entry(code).or_default();
        if *n >= MAX_PER_CODE {
            return;
        }
        *n += 1;
        self.list.push(Advice {
            code,
            severity,
            message,
            element,
            line,
        });
    }
}

/// 1-based lines of the offsets of the elements found, computed in one pass over the HTML.
struct Lines {
    /// (offset, line), sorted by offset.
    known: Vec<(usize, usize)>,
}

impl Lines {
    fn new(src: &str, scan: &Scan) -> Self {
        let mut offsets: Vec<usize> = (scan.links.iter().map(|l| l.offset))
            .chain(scan.images.iter().map(|i| i.offset))
            .chain(scan.hidden.iter().map(|h| h.offset))
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        let bytes = src.as_bytes();
        let (mut from, mut line) = (0, 1);
        let known = offsets
            .into_iter()
            .map(|offset| {
                let offset = offset.min(bytes.len());
                line += bytes[from..offset].iter().filter(|&&b| b == b'\n').count();
                from = offset;
                (offset, line)
            })
            .collect();
        Lines { known }
    }

    fn line(&self, offset: usize) -> usize {
        match self.known.binary_search_by_key(&offset, |&(o, _)| o) {
            Ok(i) => self.known[i].1,
            Err(i) => i.checked_sub(1).map_or(1, |i| self.known[i].1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scanning the HTML

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Rgb(u8, u8, u8);

/// A colour as declared on one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    /// Not declared here: look further up.
    Unset,
    /// Declared transparent: look further up (backgrounds).
    Transparent,
    /// Declared but not understood (a placeholder, an image, a colour with alpha): unknown.
    Unknown,
    Color(Rgb),
}

#[derive(Debug, Default)]
struct Scan {
    /// Visible characters.
    text: usize,
    /// Their estimated area in px² ([`char_area`]).
    text_area: f64,
    links: Vec<Link>,
    images: Vec<Image>,
    hidden: Vec<HiddenBlock>,
    /// A bound stopped the scan early.
    partial: bool,
}

#[derive(Debug)]
struct Link {
    href: Option<String>,
    /// Raw text, entities undecoded, up to [`MAX_TEXT`] bytes.
    text: String,
    offset: usize,
    hidden: bool,
    /// Visible characters before the link.
    pos: usize,
    /// Looks like a button on its own (background, padded box, class, role).
    styled: bool,
    /// The only content of a table cell with a background.
    in_button_cell: bool,
    fg: Option<Rgb>,
    bg: Option<Rgb>,
    font_px: Option<f64>,
    bold: bool,
    /// First explicit alignment above the link.
    align_near: Option<Align>,
    /// First explicit alignment from the link's nearest table up.
    align_outer: Option<Align>,
}

#[derive(Debug)]
struct Image {
    src: String,
    /// Bytes of a `data:` URI's content.
    data_bytes: Option<usize>,
    alt: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    hidden: bool,
    offset: usize,
}

#[derive(Debug)]
struct HiddenBlock {
    tag: String,
    text: String,
    /// Visible characters before the block.
    before: usize,
    offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Table,
    Cell,
    Other,
}

/// A table cell's content, to tell a button cell.
#[derive(Debug, Default)]
struct CellContent {
    has_bg: bool,
    links: usize,
    link: Option<usize>,
    other_text: usize,
}

#[derive(Debug)]
struct Frame {
    id: u64,
    kind: Kind,
    head: bool,
    hidden: bool,
    hidden_block: Option<usize>,
    link: Option<usize>,
    /// Stack index of the innermost table cell (maybe this frame).
    cell: Option<usize>,
    cell_content: Option<CellContent>,
    align: Option<Align>,
    fg: Paint,
    bg: Paint,
    /// Declared here or above.
    font_px: Option<f64>,
    bold: Option<bool>,
}

#[derive(Debug, Default)]
struct State {
    scan: Scan,
    stack: Vec<Frame>,
    next_id: u64,
    elements: usize,
}

impl State {
    fn close(&mut self, id: u64) {
        let Some(at) = self.stack.iter().rposition(|f| f.id == id) else {
            return;
        };
        while self.stack.len() > at {
            if let Some(frame) = self.stack.pop() {
                self.finish(frame);
            }
        }
    }

    fn finish(&mut self, frame: Frame) {
        if let Some(c) = frame.cell_content
            && c.has_bg
            && c.links == 1
            && c.other_text == 0
            && let Some(link) = c.link.and_then(|l| self.scan.links.get_mut(l))
        {
            link.in_button_cell = true;
        }
    }

    fn on_element(state: &Rc<RefCell<State>>, el: &mut Element<'_, '_>) -> HandlerResult {
        let mut guard = state.borrow_mut();
        let st = &mut *guard;
        st.elements += 1;
        if st.elements > MAX_ELEMENTS {
            st.scan.partial = true;
            return Err("element limit".into());
        }
        let tag = el.tag_name();
        let offset = el.source_location().bytes().start;
        let style = Style::parse(&el.get_attribute("style").unwrap_or_default());
        let (parent_head, parent_hidden, parent_block, parent_link, parent_cell, parent_font_px) =
            st.stack
                .last()
                .map_or((false, false, None, None, None, None), |p| {
                    (p.head, p.hidden, p.hidden_block, p.link, p.cell, p.font_px)
                });
        let head = tag == "head" || parent_head;
        let hides = !head && (style.hides() || el.has_attribute("hidden"));
        let hidden = parent_hidden || hides;

        if tag == "img" {
            if st.scan.images.len() < MAX_IMAGES && !head {
                st.scan.images.push(image(el, &style, hidden, offset));
            } else {
                st.scan.partial |= !head;
            }
            return Ok(());
        }
        if el.end_tag_handlers().is_none() {
            return Ok(());
        }
        if st.stack.len() >= MAX_DEPTH {
            st.scan.partial = true;
            return Ok(());
        }

        let mut hidden_block = parent_block;
        if hides && !parent_hidden && st.scan.hidden.len() < MAX_HIDDEN {
            hidden_block = Some(st.scan.hidden.len());
            st.scan.hidden.push(HiddenBlock {
                tag: tag.clone(),
                text: String::new(),
                before: st.scan.text,
                offset,
            });
        }
        let kind = match tag.as_str() {
            "table" => Kind::Table,
            "td" | "th" => Kind::Cell,
            _ => Kind::Other,
        };
        let mut align = style.align();
        if align.is_none() {
            align = el.get_attribute("align").and_then(|a| align_word(&a));
        }
        if tag == "center" || (kind == Kind::Table && style.margin_auto()) {
            align = align.or(Some(Align::Center));
        }
        let mut fg = style.paint("color", false);
        if fg == Paint::Unset && tag == "font" {
            fg = el
                .get_attribute("color")
                .map_or(Paint::Unset, |c| paint(&c, false));
        }
        let mut bg = style.background();
        if bg == Paint::Unset {
            bg = el
                .get_attribute("bgcolor")
                .map_or(Paint::Unset, |c| paint(&c, true));
        }
        let own_font_px = style.get("font-size").and_then(font_px);
        let inherited_font_px = own_font_px.or(parent_font_px);
        let mut bold = style.get("font-weight").map(is_bold);
        if matches!(
            tag.as_str(),
            "b" | "strong" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        ) {
            bold = bold.or(Some(true));
        }

        let mut link = parent_link;
        let mut cell = parent_cell;
        if tag == "a" {
            if st.scan.links.len() < MAX_LINKS {
                let index = st.scan.links.len();
                let l = new_link(
                    st,
                    el,
                    &style,
                    hidden,
                    offset,
                    bg,
                    fg,
                    inherited_font_px,
                    bold,
                );
                st.scan.links.push(l);
                link = Some(index);
                if !hidden
                    && let Some(c) = cell
                    && let Some(content) = st.stack.get_mut(c).and_then(|f| f.cell_content.as_mut())
                {
                    content.links += 1;
                    content.link = Some(index);
                }
            } else {
                st.scan.partial = true;
            }
        }
        let cell_content = (kind == Kind::Cell).then(|| {
            cell = Some(st.stack.len());
            CellContent {
                has_bg: matches!(bg, Paint::Color(_) | Paint::Unknown),
                ..CellContent::default()
            }
        });
        let id = st.next_id;
        st.next_id += 1;
        st.stack.push(Frame {
            id,
            kind,
            head,
            hidden,
            hidden_block,
            link,
            cell,
            cell_content,
            align,
            fg,
            bg,
            font_px: inherited_font_px,
            bold,
        });
        drop(guard);
        let state = Rc::clone(state);
        if let Some(handlers) = el.end_tag_handlers() {
            handlers.push(Box::new(move |_| {
                state.borrow_mut().close(id);
                Ok(())
            }));
        }
        Ok(())
    }

    fn on_text(state: &Rc<RefCell<State>>, t: &mut TextChunk<'_>) -> HandlerResult {
        if t.text_type() != TextType::Data {
            return Ok(());
        }
        let s = t.as_str();
        if s.is_empty() {
            return Ok(());
        }
        let mut guard = state.borrow_mut();
        let st = &mut *guard;
        let (head, hidden, hidden_block, link, cell, font_px) = st
            .stack
            .last()
            .map_or((false, false, None, None, None, None), |f| {
                (f.head, f.hidden, f.hidden_block, f.link, f.cell, f.font_px)
            });
        if head {
            return Ok(());
        }
        if let Some(l) = link.and_then(|l| st.scan.links.get_mut(l)) {
            push_capped(&mut l.text, s);
        }
        if hidden {
            if let Some(b) = hidden_block.and_then(|b| st.scan.hidden.get_mut(b)) {
                push_capped(&mut b.text, s);
            }
            return Ok(());
        }
        let n = visible_chars(s);
        st.scan.text += n;
        st.scan.text_area += n as f64 * char_area(font_px);
        if n > 0
            && link.is_none()
            && let Some(content) = cell
                .and_then(|c| st.stack.get_mut(c))
                .and_then(|f| f.cell_content.as_mut())
        {
            content.other_text += n;
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn new_link(
    st: &State,
    el: &Element<'_, '_>,
    style: &Style,
    hidden: bool,
    offset: usize,
    bg: Paint,
    fg: Paint,
    font_px: Option<f64>,
    bold: Option<bool>,
) -> Link {
    let href = el.get_attribute("href").map(|h| capped(&decode(&h)));
    let class = el
        .get_attribute("class")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let role_button = el
        .get_attribute("role")
        .is_some_and(|r| r.eq_ignore_ascii_case("button"));
    let boxed = style.padded()
        && (style.get("display").is_some_and(|d| d.contains("block"))
            || style
                .get("border")
                .is_some_and(|b| !matches!(b, "none" | "0" | "0px")));
    let styled = matches!(bg, Paint::Color(_))
        || boxed
        || class.contains("button")
        || class.contains("btn")
        || role_button;
    let stack = &st.stack;
    let resolve_fg = || {
        std::iter::once(fg)
            .chain(stack.iter().rev().map(|f| f.fg))
            .find(|p| *p != Paint::Unset)
            .and_then(|p| match p {
                Paint::Color(c) => Some(c),
                _ => None,
            })
    };
    let resolve_bg = || {
        std::iter::once(bg)
            .chain(stack.iter().rev().map(|f| f.bg))
            .find(|p| !matches!(p, Paint::Unset | Paint::Transparent))
            .and_then(|p| match p {
                Paint::Color(c) => Some(c),
                _ => None,
            })
    };
    let bold = bold
        .or_else(|| stack.iter().rev().find_map(|f| f.bold))
        .unwrap_or(false);
    let align_near = stack.iter().rev().find_map(|f| f.align);
    let align_outer = stack
        .iter()
        .rposition(|f| f.kind == Kind::Table)
        .and_then(|t| stack[..=t].iter().rev().find_map(|f| f.align));
    Link {
        href,
        text: String::new(),
        offset,
        hidden,
        pos: st.scan.text,
        styled,
        in_button_cell: false,
        fg: resolve_fg(),
        bg: resolve_bg(),
        font_px,
        bold,
        align_near,
        align_outer,
    }
}

fn image(el: &Element<'_, '_>, style: &Style, hidden: bool, offset: usize) -> Image {
    let raw = el.get_attribute("src").unwrap_or_default();
    let src = capped(&decode(&capped(&raw)));
    let data_bytes = raw
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("data:"))
        .map(|_| {
            let (meta, content) = raw.split_once(',').unwrap_or((&raw, ""));
            if meta.to_ascii_lowercase().contains(";base64") {
                content.trim().len() / 4 * 3
            } else {
                content.len()
            }
        });
    let dimension = |name: &str| {
        el.get_attribute(name)
            .and_then(|v| px(&v))
            .or_else(|| style.get(name).and_then(px))
    };
    Image {
        src,
        data_bytes,
        alt: el.get_attribute("alt").map(|a| decode(&capped(&a))),
        width: dimension("width"),
        height: dimension("height"),
        hidden,
        offset,
    }
}

fn scan(html: &str) -> Scan {
    let state = Rc::new(RefCell::new(State::default()));
    let all: Selector = match "*".parse() {
        Ok(s) => s,
        Err(_) => return Scan::default(),
    };
    let on_element = {
        let state = Rc::clone(&state);
        move |el: &mut Element<'_, '_>| State::on_element(&state, el)
    };
    let on_text = {
        let state = Rc::clone(&state);
        move |t: &mut TextChunk<'_>| State::on_text(&state, t)
    };
    let settings = Settings::new()
        .with_strict(false)
        .with_memory_settings(
            MemorySettings::new().with_max_allowed_memory_usage(MAX_PARSER_MEMORY),
        )
        .append_element_content_handler((
            std::borrow::Cow::Owned(all),
            ElementContentHandlers::default().element(on_element),
        ))
        .append_document_content_handler(DocumentContentHandlers::default().text(on_text));
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let complete = rewriter.write(html.as_bytes()).is_ok() && rewriter.end().is_ok();
    let mut st = state.borrow_mut();
    if !complete {
        st.scan.partial = true;
    }
    // Elements left open at the end (or whose end tag was implied) close now.
    while let Some(frame) = st.stack.pop() {
        st.finish(frame);
    }
    std::mem::take(&mut st.scan)
}

// ---------------------------------------------------------------------------------------------
// Subject and preheader

fn check_subject(input: &Input<'_>, out: &mut Out) {
    let Some(subject) = input.subject else {
        return;
    };
    let subject = subject.trim();
    if subject.is_empty() {
        out.push(
            "subject-missing",
            Severity::Error,
            "The subject is empty: write one that says what the email brings (spam filters \
             penalise emails without a subject)."
                .into(),
            None,
            None,
        );
        return;
    }
    let len = estimated_chars(subject);
    if len > SUBJECT_CHARS_MAX {
        out.push(
            "subject-too-long",
            Severity::Warning,
            format!(
                "The subject is about {len} characters long: mobile inboxes cut it after about \
                 {SUBJECT_CHARS_MAX}. Put the important words first or shorten it."
            ),
            None,
            None,
        );
    } else if len < SUBJECT_CHARS_MIN {
        out.push(
            "subject-too-short",
            Severity::Info,
            format!(
                "The subject is only {len} characters long: a few more words (at least \
                 {SUBJECT_CHARS_MIN} characters) tell readers why to open it."
            ),
            None,
            None,
        );
    }
    let letters: Vec<char> = without_placeholders(subject)
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect();
    if letters.len() >= 5 && letters.iter().all(|c| !c.is_lowercase()) {
        out.push(
            "subject-all-caps",
            Severity::Warning,
            "The subject is written in capitals: it reads as shouting and spam filters score \
             it. Use sentence case."
                .into(),
            None,
            None,
        );
    }
    let bangs = subject.matches('!').count();
    if bangs >= 2 {
        out.push(
            "subject-exclamation",
            Severity::Warning,
            format!(
                "The subject has {bangs} exclamation marks: spam filters score them. Keep one at \
                 most."
            ),
            None,
            None,
        );
    }
}

fn check_preheader(input: &Input<'_>, scan: &Scan, lines: &Lines, out: &mut Out) {
    let at_top: Vec<&HiddenBlock> = scan
        .hidden
        .iter()
        .filter(|b| b.before == 0 && meaningful(&b.text))
        .collect();
    let describe = |b: &HiddenBlock| {
        let text = clean_text(&b.text);
        shorten_element(&format!(
            "<{} style=\"display:none\">{}",
            b.tag,
            shorten(&text, 40)
        ))
    };
    match at_top.as_slice() {
        [] => out.push(
            "preheader-missing",
            Severity::Warning,
            "No preheader: inboxes show the first text of the email next to the subject. Add a \
             hidden preview text at the top of the body (<mj-preview> in MJML) that completes \
             the subject."
                .into(),
            None,
            None,
        ),
        [first, rest @ ..] => {
            if let Some(second) = rest.first() {
                out.push(
                    "preheader-duplicate",
                    Severity::Warning,
                    format!(
                        "{} hidden preview texts at the top of the body: inboxes join them. Keep \
                         one.",
                        at_top.len()
                    ),
                    Some(describe(second)),
                    Some(lines.line(second.offset)),
                );
            }
            if let Some(subject) = input.subject
                && !subject.trim().is_empty()
                && normalise(&clean_text(&first.text)) == normalise(subject)
            {
                out.push(
                    "preheader-same-as-subject",
                    Severity::Warning,
                    "The preheader repeats the subject: inboxes show both side by side. Use it \
                     to add something (an offer, a detail, a date)."
                        .into(),
                    Some(describe(first)),
                    Some(lines.line(first.offset)),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Images

fn is_spacer(img: &Image) -> bool {
    img.width.is_some_and(|w| w <= 2) || img.height.is_some_and(|h| h <= 2)
}

/// Shown area in px².
fn area(img: &Image) -> f64 {
    let (w, h) = match (img.width, img.height) {
        (Some(w), Some(h)) => (f64::from(w), f64::from(h)),
        (Some(w), None) => (f64::from(w), f64::from(w) * 2.0 / 3.0),
        (None, Some(h)) => (f64::from(h) * 1.5, f64::from(h)),
        (None, None) => (300.0, 200.0),
    };
    if w > 600.0 {
        600.0 * h * 600.0 / w
    } else {
        w * h
    }
}

fn describe_image(img: &Image) -> String {
    shorten_element(&format!("<img src=\"{}\">", shorten(&img.src, 60)))
}

fn check_images(input: &Input<'_>, scan: &Scan, lines: &Lines, out: &mut Out) {
    let blocklist = blocklist(input);
    let mut shown = 0usize;
    let mut image_area = 0.0f64;
    let mut largest: Option<(&Image, f64)> = None;
    for img in &scan.images {
        let element = || Some(describe_image(img));
        let line = || Some(lines.line(img.offset));
        match img.alt.as_deref() {
            None => out.push(
                "image-missing-alt",
                Severity::Warning,
                "This image has no alt attribute: many clients block images by default and \
                 screen readers read its file name. Describe it in alt (alt=\"\" if it is only \
                 decoration)."
                    .into(),
                element(),
                line(),
            ),
            Some(alt) if alt.trim().is_empty() && !is_spacer(img) && !img.hidden => out.push(
                "image-empty-alt",
                Severity::Info,
                "This image has an empty alt text: right for decoration only. If it carries \
                 content (an offer, a title, a product), describe it."
                    .into(),
                element(),
                line(),
            ),
            _ => {}
        }
        if let Some(bytes) = img.data_bytes {
            out.push(
                "image-data-uri",
                Severity::Warning,
                format!(
                    "This image is embedded as a data: URI ({} KB): Gmail and Outlook do not \
                     show such images and they weigh on the HTML. Host it and link it by URL.",
                    bytes.div_ceil(1000)
                ),
                element(),
                line(),
            );
        }
        if let Some(w) = img.width
            && w > IMAGE_WIDTH_MAX
        {
            out.push(
                "image-wide",
                Severity::Info,
                format!(
                    "This image is declared {w} px wide: Outlook shows it at that width, wider \
                     than the email. Declare at most 600 px (a file twice as large stays sharp \
                     on high-density screens)."
                ),
                element(),
                line(),
            );
        }
        if let Some(host) = url(&img.src).map(|u| u.host)
            && let Some(d) = blocklist.iter().find(|d| within(&host, d))
        {
            out.push(
                "link-blocklisted",
                Severity::Error,
                format!(
                    "This image is loaded from {host}, under the blocklisted domain {d}: \
                     filters reject emails that reference it. Host it elsewhere."
                ),
                element(),
                line(),
            );
        }
        if !img.hidden && !is_spacer(img) {
            shown += 1;
            let a = area(img);
            image_area += a;
            if largest.is_none_or(|(_, l)| a > l) {
                largest = Some((img, a));
            }
        }
    }
    if shown > IMAGES_MAX {
        out.push(
            "too-many-images",
            Severity::Warning,
            format!(
                "{shown} images: each one is a download, and many clients block images until \
                 the reader allows them. Keep it under {IMAGES_MAX}."
            ),
            None,
            None,
        );
    }
    if image_area > 0.0 {
        let text_area = scan.text_area;
        let share = text_area / (text_area + image_area);
        let percent = (share * 100.0).round();
        let (element, line) = largest.map_or((None, None), |(img, _)| {
            (Some(describe_image(img)), Some(lines.line(img.offset)))
        });
        if share < IMAGE_ONLY_SHARE {
            out.push(
                "image-only",
                Severity::Error,
                format!(
                    "The email is nearly all image (about {percent}% text by area): spam filters \
                     flag image-only emails and readers who block images see nothing. Put the \
                     message in real text, aiming at 60% text and 40% images."
                ),
                element,
                line,
            );
        } else if share < TEXT_SHARE_MIN {
            out.push(
                "text-image-ratio",
                Severity::Warning,
                format!(
                    "Images dominate: about {percent}% of the email is text by area. Aim at 60% \
                     text and 40% images: add text, or use fewer or smaller images."
                ),
                element,
                line,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Links

fn describe_link(link: &Link) -> String {
    let text = clean_text(&link.text);
    match &link.href {
        Some(href) => shorten_element(&format!(
            "<a href=\"{}\">{}</a>",
            shorten(href, 40),
            shorten(&text, 30)
        )),
        None => shorten_element(&format!("<a>{}</a>", shorten(&text, 30))),
    }
}

fn has_placeholder(s: &str) -> bool {
    s.contains("{{") || s.contains("[[") || s.contains("{%")
}

fn blocklist(input: &Input<'_>) -> Vec<String> {
    input
        .blocklist
        .iter()
        .map(|d| {
            let d = d.trim().to_ascii_lowercase();
            d.strip_prefix("*.")
                .unwrap_or(&d)
                .trim_matches('.')
                .to_string()
        })
        .filter(|d| !d.is_empty())
        .collect()
}

#[rustfmt::skip]
const SHORTENERS: &[&str] = &[
    "bit.ly", "bitly.com", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "v.gd",
    "buff.ly", "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "t.ly", "bl.ink",
    "lnkd.in", "s.id", "shorte.st", "adf.ly", "soo.gd", "clck.ru", "qr.ae", "po.st", "x.co",
    "tr.im",
];

/// A link that unsubscribes: to a placeholder of Mailjet's, a `/u/` path, or reading so (and
/// leading somewhere).
fn is_unsubscribe(link: &Link) -> bool {
    let href = link
        .href
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if href.is_empty() || href == "#" {
        return false;
    }
    if href.contains("unsub_link") {
        return true;
    }
    if let Some(u) = url(&href)
        && !u.host.is_empty()
        && u.path.contains("/u/")
    {
        return true;
    }
    let text = fold(&clean_text(&link.text));
    ["unsubscribe", "opt out", "opt-out", "desinscri", "desabonn"]
        .iter()
        .any(|w| text.contains(w))
}

fn check_links(input: &Input<'_>, scan: &Scan, lines: &Lines, out: &mut Out) {
    let blocklist = blocklist(input);
    let sender = input
        .sender_domain
        .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let mut web_links = 0usize;
    let mut to_sender = false;
    let mut unsubscribe = false;
    for link in &scan.links {
        let Some(href) = link.href.as_deref() else {
            continue;
        };
        unsubscribe |= is_unsubscribe(link);
        let element = || Some(describe_link(link));
        let line = || Some(lines.line(link.offset));
        let text = clean_text(&link.text);
        if is_vague(&text) {
            out.push(
                "cta-vague",
                Severity::Warning,
                format!(
                    "The link text \"{}\" says nothing about where it leads: screen readers list \
                     links by their text and readers scan for it. Name the action (\"Download \
                     the guide\", \"Téléchargez le guide\").",
                    shorten(&text, 30)
                ),
                element(),
                line(),
            );
        }
        if has_placeholder(href) {
            continue;
        }
        let trimmed = href.trim();
        if trimmed.is_empty() || trimmed == "#" {
            out.push(
                "link-empty",
                Severity::Warning,
                "This link leads nowhere (empty or \"#\" href): give it its real address or \
                 remove it."
                    .into(),
                element(),
                line(),
            );
            continue;
        }
        let Some(u) = url(trimmed) else {
            continue;
        };
        if u.host.is_empty() {
            continue;
        }
        web_links += 1;
        if let Some(d) = &sender
            && same_site(&u.host, d)
        {
            to_sender = true;
        }
        if let Some(d) = blocklist.iter().find(|d| within(&u.host, d)) {
            out.push(
                "link-blocklisted",
                Severity::Error,
                format!(
                    "This link goes to {}, under the blocklisted domain {d}: filters reject \
                     emails that link to it. Remove or replace the link.",
                    u.host
                ),
                element(),
                line(),
            );
        }
        if let Some(s) = SHORTENERS.iter().find(|s| within(&u.host, s)) {
            out.push(
                "link-shortener",
                Severity::Warning,
                format!(
                    "This link goes through the URL shortener {s}: spammers use them to hide \
                     destinations and filters score them. Link to the full address."
                ),
                element(),
                line(),
            );
        }
        if u.scheme == "http" {
            out.push(
                "link-insecure",
                Severity::Info,
                "This link uses http: browsers warn about unencrypted pages. Use https if the \
                 site has it."
                    .into(),
                element(),
                line(),
            );
        }
        if let Some(shown) = text_domain(&text)
            && !same_site(&shown, &u.host)
        {
            out.push(
                "link-text-mismatch",
                Severity::Warning,
                format!(
                    "The link text shows {shown} but the link goes to {}: this is what phishing \
                     looks like to filters and readers. Show the real address or use words.",
                    u.host
                ),
                element(),
                line(),
            );
        }
    }
    if let Some(d) = sender
        && web_links > 0
        && !to_sender
    {
        out.push(
            "link-no-sender-domain",
            Severity::Info,
            format!(
                "No link goes to the sender's site ({d}): filters trust emails whose links match \
                 the From domain. Link to your own site where you can."
            ),
            None,
            None,
        );
    }
    if input.marketing && !unsubscribe {
        out.push(
            "unsubscribe-missing",
            Severity::Error,
            "No unsubscribe link: marketing emails must have one (the law in most countries, \
             and Gmail and Yahoo for bulk senders). Add a link to [[UNSUB_LINK_EN]] or \
             {{ mj:unsub_link }} in the footer."
                .into(),
            None,
            None,
        );
    }
}

struct Url {
    scheme: String,
    host: String,
    path: String,
}

/// Scheme, host and path of an absolute or protocol-relative URL; `mailto:` and such give an
/// empty host. `None` for a relative reference.
fn url(href: &str) -> Option<Url> {
    let h = href.trim();
    let (scheme, rest) = if let Some(rest) = h.strip_prefix("//") {
        (String::new(), rest)
    } else {
        let colon = h.find(':')?;
        let scheme = &h[..colon];
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Some(Url {
                scheme,
                host: String::new(),
                path: String::new(),
            });
        }
        let rest = h[colon + 1..].trim_start_matches(['/', '\\']);
        (scheme, rest)
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    Some(Url {
        scheme,
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        path: rest[end..].to_string(),
    })
}

/// `host` is `domain` or one of its subdomains.
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The registrable part of a host, roughly: the last two labels, three under `co.uk`-like
/// second levels.
fn site(host: &str) -> &str {
    let labels: Vec<&str> = host.rsplitn(4, '.').collect();
    let keep = match labels.as_slice() {
        [tld, second, ..]
            if tld.len() == 2
                && matches!(*second, "co" | "com" | "net" | "org" | "gov" | "ac" | "edu") =>
        {
            3
        }
        _ => 2,
    };
    let mut dots = 0;
    for (i, b) in host.bytes().enumerate().rev() {
        if b == b'.' {
            dots += 1;
            if dots == keep {
                return &host[i + 1..];
            }
        }
    }
    host
}

fn same_site(a: &str, b: &str) -> bool {
    let a = a.strip_prefix("www.").unwrap_or(a);
    let b = b.strip_prefix("www.").unwrap_or(b);
    within(a, b) || within(b, a) || site(a) == site(b)
}

#[rustfmt::skip]
const COMMON_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "co", "app", "dev", "shop", "store", "online",
    "fr", "de", "uk", "eu", "be", "ch", "ca", "us", "es", "it", "nl", "pt", "lu", "ie", "at",
    "se", "no", "dk", "fi", "pl", "au", "jp", "br", "ru", "cn", "in", "me", "ly", "gl", "gov",
    "edu",
];

/// The host a link's text shows, when the whole text reads as a URL or a domain name.
fn text_domain(text: &str) -> Option<String> {
    let t = text
        .trim()
        .trim_end_matches(['/', '.', ',', '!', '?', ')', '>', '»'])
        .to_ascii_lowercase();
    if t.is_empty() || t.contains(char::is_whitespace) || t.contains('@') {
        return None;
    }
    let (schemed, rest) = match t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
    {
        Some(rest) => (true, rest),
        None => (false, t.as_str()),
    };
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    let tld = *labels.last()?;
    let valid = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && (2..=24).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic());
    if !valid {
        return None;
    }
    if !schemed && !host.starts_with("www.") && !COMMON_TLDS.contains(&tld) {
        return None;
    }
    Some(host.to_string())
}

// ---------------------------------------------------------------------------------------------
// Calls to action

const VAGUE: &[&str] = &[
    "click here",
    "click",
    "here",
    "click me",
    "this link",
    "link",
    "go",
    "cliquez ici",
    "cliquer ici",
    "clique ici",
    "clic ici",
    "cliquez",
    "ici",
    "ce lien",
    "lien",
];

const VAGUE_STARTS: &[&str] = &[
    "click here ",
    "click this link",
    "cliquez ici ",
    "cliquer ici ",
    "clique ici ",
    "en cliquant ici",
];

fn is_vague(text: &str) -> bool {
    let t = fold(text);
    let t = t.trim_matches(|c: char| !c.is_alphanumeric());
    VAGUE.contains(&t) || VAGUE_STARTS.iter().any(|s| t.starts_with(s))
}

#[rustfmt::skip]
const VERBS_EN: &[&str] = &[
    "access", "accept", "activate", "add", "apply", "ask", "attend", "begin", "book", "browse",
    "build", "buy", "call", "catch", "chat", "check", "choose", "claim", "come", "compare",
    "complete", "confirm", "connect", "contact", "continue", "create", "customise",
    "customize", "design", "discover", "dive", "donate", "download", "earn", "enjoy",
    "explore", "find", "finish", "follow", "get", "give", "go", "grab", "hear", "help", "hire",
    "install", "invite", "join", "keep", "launch", "learn", "listen", "log", "make", "manage",
    "meet", "open", "order", "pay", "personalise", "personalize", "pick", "plan", "play",
    "preview", "print", "read", "redeem", "refer", "register", "renew", "rent", "reply",
    "request", "reserve", "reset", "review", "rate", "rsvp", "save", "schedule", "see", "sell",
    "send", "set", "share", "shop", "show", "sign", "start", "stay", "subscribe", "support",
    "take", "tell", "test", "track", "try", "unlock", "update", "upgrade", "upload", "use",
    "verify", "view", "visit", "vote", "watch", "win", "write",
];

/// French infinitives, and imperatives (vous, tu), accents folded.
#[rustfmt::skip]
const VERBS_FR: &[&str] = &[
    "abonner", "abonnez", "abonne", "acceder", "accedez", "accede", "acheter", "achetez",
    "achete", "activer", "activez", "active", "adherer", "adherez", "ajouter", "ajoutez",
    "ajoute", "beneficier", "beneficiez", "beneficie", "choisir", "choisissez", "choisis",
    "commander", "commandez", "commande", "commencer", "commencez", "commence", "comparer",
    "comparez", "compare", "completer", "completez", "confirmer", "confirmez", "confirme",
    "connecter", "connectez", "consulter", "consultez", "consulte", "contacter", "contactez",
    "contacte", "continuer", "continuez", "continue", "creer", "creez", "cree", "decouvrir",
    "decouvrez", "decouvre", "demander", "demandez", "demande", "donner", "donnez", "donne",
    "ecouter", "ecoutez", "ecoute", "economiser", "economisez", "economise", "essayer",
    "essayez", "essaie", "essaye", "evaluer", "evaluez", "explorer", "explorez", "explore",
    "faire", "faites", "fais", "finaliser", "finalisez", "gagner", "gagnez", "gagne", "gerer",
    "gerez", "gere", "inscrire", "inscrivez", "inscris", "installer", "installez", "installe",
    "jouer", "jouez", "joue", "lancer", "lancez", "lance", "lire", "lisez", "lis", "modifier",
    "modifiez", "noter", "notez", "obtenir", "obtenez", "obtiens", "ouvrir", "ouvrez", "ouvre",
    "participer", "participez", "participe", "partager", "partagez", "partage", "payer",
    "payez", "paie", "paye", "personnaliser", "personnalisez", "planifier", "planifiez",
    "postuler", "postulez", "profiter", "profitez", "profite", "recevoir", "recevez",
    "recuperer", "recuperez", "regarder", "regardez", "regarde", "reinitialiser",
    "reinitialisez", "rejoindre", "rejoignez", "rejoins", "renouveler", "renouvelez",
    "repondre", "repondez", "reponds", "reprendre", "reprenez", "reserver", "reservez",
    "reserve", "retrouver", "retrouvez", "retrouve", "revoir", "revoyez", "soutenir",
    "soutenez", "suivre", "suivez", "suis", "telecharger", "telechargez", "telecharge",
    "tester", "testez", "teste", "trouver", "trouvez", "trouve", "utiliser", "utilisez",
    "utilise", "valider", "validez", "valide", "verifier", "verifiez", "verifie", "visiter",
    "visitez", "visite", "voir", "voyez", "vois", "voter", "votez",
];

#[derive(Clone, Copy)]
struct Langs {
    en: bool,
    fr: bool,
}

fn langs(locale: Option<&str>) -> Langs {
    match locale {
        None => Langs { en: true, fr: true },
        Some(l) => {
            let primary = l
                .split(['-', '_'])
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match primary.as_str() {
                "" => Langs { en: true, fr: true },
                "en" => Langs {
                    en: true,
                    fr: false,
                },
                "fr" => Langs {
                    en: false,
                    fr: true,
                },
                _ => Langs {
                    en: false,
                    fr: false,
                },
            }
        }
    }
}

/// Whether a button's text starts with a verb of one of `langs`.
fn starts_with_verb(text: &str, langs: Langs) -> bool {
    let t = fold(text);
    let mut words = t
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\''))
        .filter(|w| w.chars().any(char::is_alphabetic));
    let Some(first) = words.next() else {
        return false;
    };
    if langs.fr {
        // First-person wording: "Je découvre", "J'en profite", "Je m'inscris".
        if (first == "je" && words.next().is_some()) || first.starts_with("j'") {
            return true;
        }
        if t.starts_with("en savoir plus") || t.starts_with("en profiter") {
            return true;
        }
        let verb = first
            .split('-')
            .next()
            .unwrap_or(first)
            .trim_start_matches("s'")
            .trim_start_matches("m'")
            .trim_start_matches("t'");
        if VERBS_FR.contains(&verb) {
            return true;
        }
    }
    if langs.en {
        let verb = first.strip_suffix("'s").unwrap_or(first);
        if VERBS_EN.contains(&verb) || verb == "let" {
            return true;
        }
    }
    false
}

fn is_button(link: &Link) -> bool {
    !link.hidden
        && link.href.is_some()
        && (link.styled || link.in_button_cell)
        && meaningful(&link.text)
}

fn check_ctas(input: &Input<'_>, scan: &Scan, lines: &Lines, out: &mut Out) {
    let buttons: Vec<&Link> = scan.links.iter().filter(|l| is_button(l)).collect();
    let Some(first) = buttons.first() else {
        out.push(
            "cta-missing",
            if input.marketing {
                Severity::Warning
            } else {
                Severity::Info
            },
            "No call to action: no link is styled as a button. Give readers one clear next step \
             (<mj-button> in MJML) near the top."
                .into(),
            None,
            None,
        );
        return;
    };
    let mut wordings: HashSet<String> = HashSet::new();
    for b in &buttons {
        let w = normalise(&clean_text(&b.text));
        if wordings.insert(w) && wordings.len() == CTA_WORDINGS_MAX + 1 {
            out.push(
                "cta-competing",
                Severity::Warning,
                format!(
                    "More than {CTA_WORDINGS_MAX} different calls to action compete for \
                     the click: make one primary button and turn the others into plain \
                     links."
                ),
                Some(describe_link(b)),
                Some(lines.line(b.offset)),
            );
        }
    }
    if scan.text > 0
        && first.pos > CTA_LOW_CHARS
        && first.pos as f64 > CTA_LOW_SHARE * scan.text as f64
    {
        out.push(
            "cta-low",
            Severity::Warning,
            format!(
                "The first call to action comes after {}% of the text: many readers never \
                 scroll that far. Put a button near the top.",
                (first.pos as f64 * 100.0 / scan.text as f64).round()
            ),
            Some(describe_link(first)),
            Some(lines.line(first.offset)),
        );
    }
    let align = if first.in_button_cell {
        first.align_outer
    } else {
        first.align_near
    };
    if align != Some(Align::Center) {
        out.push(
            "cta-not-centered",
            Severity::Info,
            "The first call to action is not centred: a centred button stands out and is \
             easier to tap on mobile (align=\"center\" in MJML)."
                .into(),
            Some(describe_link(first)),
            Some(lines.line(first.offset)),
        );
    }
    let langs = langs(input.locale);
    let mut seen_wording: HashSet<String> = HashSet::new();
    let mut seen_colours: HashSet<(Rgb, Rgb, bool)> = HashSet::new();
    for b in &buttons {
        let text = clean_text(&b.text);
        let element = || Some(describe_link(b));
        let line = || Some(lines.line(b.offset));
        let key = normalise(&text);
        if !has_placeholder(&text) && !is_vague(&text) && seen_wording.insert(key) {
            let words = text.split_whitespace().count();
            let chars = text.chars().count();
            if words > CTA_WORDS_MAX || chars > CTA_CHARS_MAX {
                out.push(
                    "cta-too-long",
                    Severity::Warning,
                    format!(
                        "The button text \"{}\" is long ({words} words, {chars} characters): \
                         keep it to {CTA_WORDS_MAX} words and {CTA_CHARS_MAX} characters, an \
                         action and its object.",
                        shorten(&text, 40)
                    ),
                    element(),
                    line(),
                );
            }
            if (langs.en || langs.fr) && !starts_with_verb(&text, langs) {
                let example = if langs.fr && !langs.en {
                    "\"Découvrez l'offre\""
                } else {
                    "\"Get the guide\""
                };
                out.push(
                    "cta-no-verb",
                    Severity::Info,
                    format!(
                        "The button text \"{}\" does not start with a verb: say what the click \
                         does ({example}).",
                        shorten(&text, 40)
                    ),
                    element(),
                    line(),
                );
            }
        }
        if let (Some(fg), Some(bg)) = (b.fg, b.bg) {
            let px = b.font_px.unwrap_or(16.0);
            let large = px >= 24.0 || (b.bold && px >= 18.66);
            if !seen_colours.insert((fg, bg, large)) {
                continue;
            }
            let ratio = contrast(fg, bg);
            let needed = if large { 3.0 } else { 4.5 };
            if ratio < needed {
                out.push(
                    "cta-contrast",
                    Severity::Warning,
                    format!(
                        "The button's text ({}) on its background ({}) has a contrast of \
                         {:.1}:1, below the {needed}:1 that WCAG asks for {} text: darken one \
                         or lighten the other.",
                        hex(fg),
                        hex(bg),
                        (ratio * 10.0).floor() / 10.0,
                        if large { "large" } else { "normal" }
                    ),
                    element(),
                    line(),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Colours

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn luminance(c: Rgb) -> f64 {
    let channel = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(c.0) + 0.7152 * channel(c.1) + 0.0722 * channel(c.2)
}

/// WCAG 2 contrast ratio, 1 to 21.
fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

const NAMED: &[(&str, Rgb)] = &[
    ("black", Rgb(0, 0, 0)),
    ("silver", Rgb(192, 192, 192)),
    ("gray", Rgb(128, 128, 128)),
    ("grey", Rgb(128, 128, 128)),
    ("white", Rgb(255, 255, 255)),
    ("maroon", Rgb(128, 0, 0)),
    ("red", Rgb(255, 0, 0)),
    ("purple", Rgb(128, 0, 128)),
    ("fuchsia", Rgb(255, 0, 255)),
    ("magenta", Rgb(255, 0, 255)),
    ("green", Rgb(0, 128, 0)),
    ("lime", Rgb(0, 255, 0)),
    ("olive", Rgb(128, 128, 0)),
    ("yellow", Rgb(255, 255, 0)),
    ("navy", Rgb(0, 0, 128)),
    ("blue", Rgb(0, 0, 255)),
    ("teal", Rgb(0, 128, 128)),
    ("aqua", Rgb(0, 255, 255)),
    ("cyan", Rgb(0, 255, 255)),
    ("orange", Rgb(255, 165, 0)),
    ("darkgray", Rgb(169, 169, 169)),
    ("darkgrey", Rgb(169, 169, 169)),
    ("lightgray", Rgb(211, 211, 211)),
    ("lightgrey", Rgb(211, 211, 211)),
    ("dimgray", Rgb(105, 105, 105)),
    ("dimgrey", Rgb(105, 105, 105)),
    ("gainsboro", Rgb(220, 220, 220)),
    ("whitesmoke", Rgb(245, 245, 245)),
    ("slategray", Rgb(112, 128, 144)),
    ("slategrey", Rgb(112, 128, 144)),
    ("darkslategray", Rgb(47, 79, 79)),
    ("darkslategrey", Rgb(47, 79, 79)),
    ("lightslategray", Rgb(119, 136, 153)),
    ("lightslategrey", Rgb(119, 136, 153)),
    ("snow", Rgb(255, 250, 250)),
    ("ivory", Rgb(255, 255, 240)),
    ("beige", Rgb(245, 245, 220)),
    ("gold", Rgb(255, 215, 0)),
    ("pink", Rgb(255, 192, 203)),
    ("brown", Rgb(165, 42, 42)),
    ("crimson", Rgb(220, 20, 60)),
    ("tomato", Rgb(255, 99, 71)),
    ("coral", Rgb(255, 127, 80)),
    ("darkred", Rgb(139, 0, 0)),
    ("darkgreen", Rgb(0, 100, 0)),
    ("darkblue", Rgb(0, 0, 139)),
    ("lightblue", Rgb(173, 216, 230)),
    ("skyblue", Rgb(135, 206, 235)),
    ("royalblue", Rgb(65, 105, 225)),
    ("steelblue", Rgb(70, 130, 180)),
    ("indigo", Rgb(75, 0, 130)),
    ("violet", Rgb(238, 130, 238)),
];

/// A colour value: `Some(Ok(rgb))` when opaque, `Some(Err(alpha))` when translucent (0 for
/// fully transparent), `None` when not a colour.
fn color(value: &str) -> Option<Result<Rgb, f64>> {
    let v = value.trim().to_ascii_lowercase();
    if let Some(hex) = v.strip_prefix('#') {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok();
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        let (rgb, alpha) = match hex.len() {
            3 | 4 => (
                Rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17),
                if hex.len() == 4 { digit(3)? * 17 } else { 255 },
            ),
            6 | 8 => (
                Rgb(pair(0)?, pair(2)?, pair(4)?),
                if hex.len() == 8 { pair(6)? } else { 255 },
            ),
            _ => return None,
        };
        return Some(if alpha == 255 {
            Ok(rgb)
        } else {
            Err(f64::from(alpha) / 255.0)
        });
    }
    if let Some(inner) = v
        .strip_prefix("rgba(")
        .or_else(|| v.strip_prefix("rgb("))
        .and_then(|s| s.strip_suffix(')'))
    {
        let parts: Vec<&str> = inner
            .split([',', ' ', '/'])
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() != 3 && parts.len() != 4 {
            return None;
        }
        let channel = |p: &str| -> Option<u8> {
            let n = match p.strip_suffix('%') {
                Some(pc) => pc.parse::<f64>().ok()? * 2.55,
                None => p.parse::<f64>().ok()?,
            };
            n.is_finite().then(|| n.round().clamp(0.0, 255.0) as u8)
        };
        let rgb = Rgb(channel(parts[0])?, channel(parts[1])?, channel(parts[2])?);
        let alpha = match parts.get(3) {
            None => 1.0,
            Some(p) => match p.strip_suffix('%') {
                Some(pc) => pc.parse::<f64>().ok()? / 100.0,
                None => p.parse::<f64>().ok()?,
            },
        };
        if !alpha.is_finite() {
            return None;
        }
        return Some(if alpha >= 1.0 {
            Ok(rgb)
        } else {
            Err(alpha.max(0.0))
        });
    }
    if v == "transparent" {
        return Some(Err(0.0));
    }
    NAMED.iter().find(|(n, _)| *n == v).map(|(_, c)| Ok(*c))
}

/// A declared colour (`color`, `bgcolor`, `background-color`) or a `background` shorthand.
fn paint(value: &str, background: bool) -> Paint {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() || matches!(v.as_str(), "inherit" | "initial" | "unset" | "currentcolor") {
        return Paint::Unset;
    }
    let from = |c: Result<Rgb, f64>| match c {
        Ok(rgb) => Paint::Color(rgb),
        Err(0.0) => Paint::Transparent,
        Err(_) => Paint::Unknown,
    };
    if let Some(c) = color(&v) {
        return from(c);
    }
    if !background || has_placeholder(&v) {
        return Paint::Unknown;
    }
    // A shorthand: `#fff url(x.png) no-repeat`, `rgb(1, 2, 3) center`, `none`.
    if let Some(at) = v.find("rgb")
        && let Some(end) = v[at..].find(')')
        && let Some(c) = color(&v[at..=at + end])
    {
        return from(c);
    }
    let mut has_image = false;
    for token in v.split_whitespace() {
        if token.starts_with("url(") || token.contains("gradient(") {
            has_image = true;
        }
        if let Some(c) = color(token.trim_end_matches(',')) {
            return from(c);
        }
    }
    if !has_image && v.split_whitespace().all(|t| t == "none") {
        return Paint::Transparent;
    }
    Paint::Unknown
}

// ---------------------------------------------------------------------------------------------
// Inline styles and attributes

#[derive(Debug, Default)]
struct Style {
    decls: Vec<crate::inline_css::Declaration>,
}

impl Style {
    /// The declarations of a `style` attribute (its first [`MAX_STYLE`] bytes, at most 128
    /// declarations), read as the CSS inliner reads them: `;` inside quotes or `url(…)`
    /// does not end a declaration.
    fn parse(s: &str) -> Style {
        let s = &s[..crate::floor_char_boundary(s, s.len().min(MAX_STYLE))];
        let mut decls = crate::inline_css::parse_declarations(s);
        decls.truncate(128);
        Style { decls }
    }

    /// The last declaration of `name` (the one that applies).
    fn get(&self, name: &str) -> Option<&str> {
        self.decls
            .iter()
            .rev()
            .find(|d| d.property == name)
            .map(|d| d.value.as_str())
    }

    fn is(&self, name: &str, value: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
    }

    fn hides(&self) -> bool {
        self.is("display", "none")
            || self.is("visibility", "hidden")
            || (self.get("max-height").and_then(px) == Some(0) && self.is("overflow", "hidden"))
    }

    fn paint(&self, name: &str, background: bool) -> Paint {
        self.get(name)
            .map_or(Paint::Unset, |v| paint(v, background))
    }

    fn background(&self) -> Paint {
        let last = self
            .decls
            .iter()
            .rev()
            .find(|d| d.property == "background" || d.property == "background-color");
        last.map_or(Paint::Unset, |d| paint(&d.value, true))
    }

    fn align(&self) -> Option<Align> {
        self.get("text-align").and_then(align_word)
    }

    fn margin_auto(&self) -> bool {
        self.get("margin").is_some_and(|m| m.contains("auto"))
            || (self.is("margin-left", "auto") && self.is("margin-right", "auto"))
    }

    /// Some padding above zero.
    fn padded(&self) -> bool {
        self.decls
            .iter()
            .filter(|d| d.property == "padding" || d.property.starts_with("padding-"))
            .any(|d| {
                d.value.split_whitespace().any(|t| {
                    t.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%')
                        .parse::<f64>()
                        .is_ok_and(|x| x > 0.0)
                })
            })
    }
}

fn align_word(v: &str) -> Option<Align> {
    match v.trim().to_ascii_lowercase().as_str() {
        "center" | "middle" | "-webkit-center" => Some(Align::Center),
        "left" | "start" | "justify" => Some(Align::Left),
        "right" | "end" => Some(Align::Right),
        _ => None,
    }
}

/// A length in whole pixels: `600`, `600px`; `None` for `auto`, percentages and others.
fn px(v: &str) -> Option<u32> {
    let v = v.trim();
    let n = v.strip_suffix("px").unwrap_or(v).trim();
    let n: f64 = n.parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| n.min(100_000.0).round() as u32)
}

fn font_px(v: &str) -> Option<f64> {
    let v = v.trim().to_ascii_lowercase();
    let (number, factor) = if let Some(n) = v.strip_suffix("px") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("pt") {
        (n, 4.0 / 3.0)
    } else if let Some(n) = v.strip_suffix("rem").or_else(|| v.strip_suffix("em")) {
        (n, 16.0)
    } else if let Some(n) = v.strip_suffix('%') {
        (n, 0.16)
    } else {
        (v.as_str(), 1.0)
    };
    let n: f64 = number.trim().parse().ok()?;
    (n.is_finite() && n > 0.0).then_some(n * factor)
}

/// Estimated area of one character of text in px² at a font size (16 px when not declared):
/// about 0.55 em wide on a line 1.5 em high.
fn char_area(font_px: Option<f64>) -> f64 {
    let px = font_px.unwrap_or(16.0).clamp(8.0, 48.0);
    0.55 * px * 1.5 * px
}

fn is_bold(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    v == "bold" || v == "bolder" || v.parse::<u32>().is_ok_and(|w| w >= 700)
}

// ---------------------------------------------------------------------------------------------
// Text

fn capped(s: &str) -> String {
    s[..crate::floor_char_boundary(s, s.len().min(MAX_TEXT))].to_string()
}

fn push_capped(to: &mut String, s: &str) {
    let room = MAX_TEXT.saturating_sub(to.len());
    if room > 0 {
        to.push_str(&s[..crate::floor_char_boundary(s, s.len().min(room))]);
    }
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(h) => u32::from_str_radix(h, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(n).filter(|&c| c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" | "rsquo" | "lsquo" => '\'',
        "nbsp" => '\u{a0}',
        "ldquo" | "rdquo" | "laquo" | "raquo" => '"',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "middot" => '·',
        "bull" => '•',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "shy" => '\u{ad}',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "Egrave" => 'È',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "agrave" => 'à',
        "Agrave" => 'À',
        "acirc" => 'â',
        "auml" => 'ä',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ocirc" => 'ô',
        "ouml" => 'ö',
        "ugrave" => 'ù',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "oelig" => 'œ',
        _ => return None,
    })
}

/// `s` with its character references decoded (the common named ones and all numeric ones).
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(end) = after.bytes().take(12).position(|b| b == b';')
            && let Some(c) = entity(&after[..end])
        {
            out.push(c);
            rest = &after[end + 1..];
            continue;
        }
        out.push('&');
        rest = after;
    }
    out.push_str(rest);
    out
}

fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200b}'..='\u{200d}' | '\u{34f}' | '\u{ad}' | '\u{feff}'
        )
}

/// Decoded, invisible characters dropped, whitespace collapsed.
fn clean_text(raw: &str) -> String {
    let decoded = decode(raw);
    let mut out = String::with_capacity(decoded.len());
    for word in decoded
        .split(|c: char| c.is_whitespace())
        .map(|w| w.replace(invisible, ""))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

/// Some letter or digit, character references aside (`&zwnj;` fillers are not text).
fn meaningful(raw: &str) -> bool {
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('&')
            && let Some(end) = after.bytes().take(12).position(|b| b == b';')
        {
            if entity(&after[..end]).is_some_and(char::is_alphanumeric) {
                return true;
            }
            rest = &after[end + 1..];
            continue;
        }
        let mut chars = rest.chars();
        if chars.next().is_some_and(char::is_alphanumeric) {
            return true;
        }
        rest = chars.as_str();
    }
    false
}

/// Lower case, accents folded, typographic apostrophes straightened.
fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            '’' | '‘' | 'ʼ' => '\'',
            c => c,
        })
        .collect()
}

/// For comparing texts: folded, letters and digits only, single spaces.
fn normalise(s: &str) -> String {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The next `{{`, `[[` or `{%` in `s`: its offset and the closing mark it needs.
fn next_placeholder(s: &str) -> Option<(usize, &'static str)> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find(['{', '[']) {
        let at = from + i;
        match (bytes[at], bytes.get(at + 1)) {
            (b'{', Some(b'{')) => return Some((at, "}}")),
            (b'{', Some(b'%')) => return Some((at, "%}")),
            (b'[', Some(b'[')) => return Some((at, "]]")),
            _ => from = at + 1,
        }
    }
    None
}

/// The text outside `{{ … }}`, `[[ … ]]` and `{% … %}`.
fn without_placeholders(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let Some((i, close)) = next_placeholder(rest) else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i]);
        match rest[i + 2..].find(close) {
            Some(j) => rest = &rest[i + 2 + j + 2..],
            None => return out,
        }
    }
}

/// Characters a text shows once rendered, roughly: placeholders count as their quoted default
/// or [`PLACEHOLDER_CHARS`], statements as nothing.
fn estimated_chars(s: &str) -> usize {
    count_text(s, |t| t.chars().count())
}

/// Visible characters of a text chunk (raw HTML text: a character reference counts one,
/// whitespace and invisible characters none).
fn visible_chars(s: &str) -> usize {
    count_text(s, |t| {
        let mut n = 0;
        let mut rest = t;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('&')
                && let Some(end) = after.bytes().take(12).position(|b| b == b';')
                && let Some(c) = entity(&after[..end])
            {
                n += usize::from(!invisible(c) && c != '\u{a0}');
                rest = &after[end + 1..];
                continue;
            }
            let mut chars = rest.chars();
            n += usize::from(chars.next().is_some_and(|c| !invisible(c)));
            rest = chars.as_str();
        }
        n
    })
}

/// `count` over the plain parts of `s`, plus each placeholder's estimate.
fn count_text(s: &str, count: impl Fn(&str) -> usize) -> usize {
    let mut n = 0;
    let mut rest = s;
    loop {
        let Some((i, close)) = next_placeholder(rest) else {
            return n + count(rest);
        };
        n += count(&rest[..i]);
        let Some(j) = rest[i + 2..].find(close) else {
            return n + count(&rest[i..]);
        };
        let inner = &rest[i + 2..i + 2 + j];
        if close != "%}" {
            n += placeholder_default(inner).map_or(PLACEHOLDER_CHARS, &count);
        }
        rest = &rest[i + 2 + j + 2..];
    }
}

/// The quoted default of `var:name:'default'` / `var:name:"default"`.
fn placeholder_default(inner: &str) -> Option<&str> {
    let inner = inner.trim();
    let quote = inner.chars().last().filter(|c| *c == '\'' || *c == '"')?;
    let body = &inner[..inner.len() - 1];
    let open = body.rfind(quote)?;
    body[..open].ends_with(':').then(|| &body[open + 1..])
}

/// At most `max` characters: longer texts keep their start and end around an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    let head = max / 2;
    let tail = max.saturating_sub(head + 1);
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

/// An element's description, at most 80 characters.
fn shorten_element(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(79).collect();
        out.push('…');
        out
    }
}

//! Linear scans of markup nesting, run before input reaches a parser whose cost grows with the
//! depth: mrml recurses once per element level (a deep document overflows the stack, which no
//! `catch_unwind` can recover from) and html5ever walks its stack of open elements for most tags
//! (a deep document takes time quadratic in its size).
//!
//! * [`scan_xml`] follows mrml's tokenizer (the `htmlparser` crate) exactly where it matters:
//!   comments, conditional comments, CDATA, quoted attribute values, `/>`, void elements, and
//!   every close tag closing the current element (mrml does not compare names). It also finds
//!   the two inputs that make that tokenizer panic (a malformed conditional comment, and a `>`
//!   right after a character of three or four bytes in text) so they can be refused or escaped,
//!   and the `<` in text that HTML reads as text and that tokenizer refuses (`5 < 6`).
//! * [`scan_html`] models html5ever's tree builder conservatively: its depth is at least the
//!   depth html5ever builds (the element closing rules it knows pop no more than html5ever pops,
//!   unknown cases pop nothing), with void elements, raw-text elements (`<script>` escapes
//!   included), implied closes (`<p>`, `<li>`, table cells and rows), foreign content (SVG,
//!   MathML), and the reopening of unclosed formatting elements (`<p><b></p><p>x` reopens the
//!   `<b>`), whose total is bounded too.

/// A change [`scan_xml`] asks for so that mrml reads the document as HTML does, at byte offsets
/// of the document, in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    /// The `<` or `>` at this offset, written `&lt;` or `&gt;`.
    Escape(usize),
    /// An attribute value written without quotes (`width=100`), from..to: quoted, with `"` or,
    /// when the value holds one, `'`.
    Quote(usize, usize),
    /// A space before the `-` at this offset: a comment's text cannot hold `--` for mrml (XML's
    /// rule); HTML and node mjml take `<!-- ----- -->`.
    Space(usize),
}

/// Why a scan refused its input. Offsets are in bytes from the start of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// The element starting here opens one level more than the limit.
    TooDeep { at: usize },
    /// A conditional comment mrml's tokenizer cannot read (it panics on these).
    BadConditionalComment { at: usize },
    /// A `>` right after a multi-byte character inside `<mj-style>`, `<style>` or `<script>`,
    /// where mrml's tokenizer panics and escaping it would change the CSS or script.
    UnreadableGreaterThan { at: usize },
    /// Unclosed formatting elements (`<b>`, `<font>`…) reopened too many times in total.
    TooManyReopened { at: usize },
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    memchr::memchr(needle, b.get(from..)?).map(|p| from + p)
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    memchr::memmem::find(b.get(from..)?, pat).map(|p| from + p)
}

fn starts_with_ignore_case(b: &[u8], at: usize, pat: &[u8]) -> bool {
    b.get(at..at + pat.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(pat))
}

/// mrml's void elements (`crate::prelude::is_void_element`, compared on the local name, case
/// sensitive).
pub(crate) fn is_xml_void(local: &str) -> bool {
    matches!(
        local,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Where the conditional comment starting at `lt` ends, or `None` where htmlparser 0.2 panics
/// (`panic!("oops")`, or an index past the end when no `]` follows).
pub(crate) fn conditional_comment_end(b: &[u8], lt: usize) -> Option<usize> {
    let rest = &b[lt..];
    let skip = if rest.starts_with(b"<!--[if") {
        5
    } else if rest.starts_with(b"<![if") || rest.starts_with(b"<![endif]") {
        3
    } else if rest.starts_with(b"<!--<![endif") {
        7
    } else {
        return None;
    };
    let close = find_byte(b, lt + skip, b']')?;
    let after = &b[close + 1..];
    [&b">-->"[..], b"><!-->", b"-->", b">"]
        .iter()
        .find(|end| after.starts_with(end))
        .map(|end| close + 1 + end.len())
}

/// Checks an MJML document before mrml parses it. Returns the offsets of the `>` characters that
/// must be written `&gt;` for mrml's tokenizer not to panic (a `>` right after a character of
/// three or four bytes, in text where HTML reads `&gt;` as `>`), and of the `<` characters that
/// cannot start a tag (not followed by a letter, `/`, `!` or `?`), to be written `&lt;`, outside
/// style sheets and scripts.
pub(crate) fn scan_xml(src: &str, max_depth: usize) -> Result<Vec<Edit>, ScanError> {
    let b = src.as_bytes();
    // Local names of the open elements, as mrml nests them.
    let mut open: Vec<&str> = Vec::new();
    let mut escapes = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let lt = find_byte(b, i, b'<').unwrap_or(b.len());
        if lt > i {
            text_escapes(src, i, lt, &open, &mut escapes)?;
        }
        if lt == b.len() {
            break;
        }
        let rest = &b[lt..];
        if rest.starts_with(b"<!--[if")
            || rest.starts_with(b"<![if")
            || rest.starts_with(b"<![endif")
            || rest.starts_with(b"<!--<![endif")
        {
            i = conditional_comment_end(b, lt)
                .ok_or(ScanError::BadConditionalComment { at: lt })?;
        } else if rest.starts_with(b"<!--") {
            match find(b, lt + 4, b"-->") {
                Some(end) => {
                    // Dashes that follow a dash in the text (and a last one before `-->`) are
                    // spaced out.
                    let body = lt + 4;
                    for k in body..end {
                        if b[k] == b'-' && (k > body && b[k - 1] == b'-') {
                            escapes.push(Edit::Space(k));
                        }
                    }
                    if end > body && b[end - 1] == b'-' {
                        escapes.push(Edit::Space(end));
                    }
                    i = end + 3;
                }
                None => break, // unclosed: a tokenizer error
            }
        } else if rest.starts_with(b"<![CDATA[") {
            match find(b, lt + 9, b"]]>") {
                Some(end) => i = end + 3,
                None => break,
            }
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            // Declarations, DOCTYPEs and processing instructions: mrml refuses them.
            i = lt + 2;
        } else if rest.starts_with(b"</") {
            // Every close tag closes the current element (mrml does not compare the names).
            open.pop();
            match find_byte(b, lt + 2, b'>') {
                Some(end) => i = end + 1,
                None => break,
            }
        } else if !rest.get(1).is_some_and(u8::is_ascii_alphabetic) {
            // `<` before anything that cannot start a tag (`5 < 6`, `I <3 you`): text for an
            // HTML reader and for node mjml, an error for mrml's tokenizer. Written `&lt;`
            // (read the same), except in style sheets and scripts, which mrml reads raw.
            if !matches!(open.last(), Some(&("mj-style" | "style" | "script"))) {
                escapes.push(Edit::Escape(lt));
            }
            i = lt + 1;
        } else {
            // A start tag: the name, then attributes whose quoted values may hold `>`.
            let mut j = lt + 1;
            while j < b.len() && !is_space(b[j]) && !matches!(b[j], b'/' | b'>' | b'"' | b'\'') {
                j += 1;
            }
            let name = &src[lt + 1..j];
            let local = name.rsplit(':').next().unwrap_or(name);
            let mut end = None;
            while j < b.len() {
                match b[j] {
                    b'"' | b'\'' => match find_byte(b, j + 1, b[j]) {
                        Some(close) => j = close + 1,
                        None => break,
                    },
                    b'>' => {
                        end = Some(j);
                        break;
                    }
                    b'=' => {
                        // An unquoted value (`width=100`, HTML's): quoted for mrml, which
                        // refuses it. It runs to a space or `>` (a `/` just before `>` closes
                        // the element).
                        let mut v = j + 1;
                        while v < b.len() && is_space(b[v]) {
                            v += 1;
                        }
                        if v < b.len() && !matches!(b[v], b'"' | b'\'' | b'>') {
                            let start = v;
                            while v < b.len() && !is_space(b[v]) && b[v] != b'>' {
                                v += 1;
                            }
                            let mut stop = v;
                            if b.get(v) == Some(&b'>') && stop - 1 > start && b[stop - 1] == b'/' {
                                stop -= 1;
                            }
                            let value = &b[start..stop];
                            if !(value.contains(&b'"') && value.contains(&b'\'')) {
                                escapes.push(Edit::Quote(start, stop));
                            }
                            j = stop;
                        } else {
                            j = v;
                        }
                    }
                    _ => j += 1,
                }
            }
            let Some(gt) = end else { break };
            let empty = b[gt - 1] == b'/' && gt - 1 > lt;
            if !empty && !is_xml_void(local) {
                if open.len() >= max_depth {
                    return Err(ScanError::TooDeep { at: lt });
                }
                open.push(local);
            }
            i = gt + 1;
        }
    }
    Ok(escapes)
}

/// htmlparser checks the first `>` of a text token for `]]>` by slicing two bytes before it,
/// which panics when those bytes are inside a character. In HTML text `&gt;` reads as `>`; in
/// CSS or script it would not, so there the input is refused.
fn text_escapes(
    src: &str,
    start: usize,
    end: usize,
    open: &[&str],
    escapes: &mut Vec<Edit>,
) -> Result<(), ScanError> {
    let b = src.as_bytes();
    let raw = matches!(open.last(), Some(&("mj-style" | "style" | "script")));
    let mut from = start;
    while let Some(gt) = find_byte(&b[..end], from, b'>') {
        if gt - start >= 2 && !src.is_char_boundary(gt - 2) {
            if raw {
                return Err(ScanError::UnreadableGreaterThan { at: gt });
            }
            escapes.push(Edit::Escape(gt));
        } else if raw {
            // Only the first `>` of the token is checked.
            break;
        }
        from = gt + 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HTML, as html5ever builds it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Html,
    Svg,
    Math,
}

/// Properties of the HTML element names the model knows.
const SPECIAL: u16 = 1;
/// A boundary of the default scope ("has an element in scope").
const SCOPE: u16 = 1 << 1;
/// Inserts a marker in the list of active formatting elements.
const MARKER: u16 = 1 << 2;
const VOID: u16 = 1 << 3;
const FORMATTING: u16 = 1 << 4;
/// A start tag that closes an open `<p>` first.
const CLOSES_P: u16 = 1 << 5;
/// A start tag that leaves SVG or MathML content.
const BREAKOUT: u16 = 1 << 6;
/// The tokenizer reads the element's content as text up to its end tag.
const RAW: u16 = 1 << 7;
const HEADING: u16 = 1 << 8;
/// Elements of table structure, handled by the table rules.
const TABLE: u16 = 1 << 9;
/// An end tag html5ever closes through the default scope (other end tags close the nearest
/// element of that name unless a special element comes first).
const END_BLOCK: u16 = 1 << 10;

/// (lowercase name, properties), sorted by name for a binary search.
const HTML_TAGS: &[(&str, u16)] = &[
    ("a", FORMATTING),
    ("address", SPECIAL | CLOSES_P | END_BLOCK),
    ("applet", SPECIAL | SCOPE | MARKER | END_BLOCK),
    ("area", SPECIAL | VOID),
    ("article", SPECIAL | CLOSES_P | END_BLOCK),
    ("aside", SPECIAL | CLOSES_P | END_BLOCK),
    ("b", FORMATTING | BREAKOUT),
    ("base", SPECIAL | VOID),
    ("basefont", SPECIAL | VOID),
    ("bgsound", SPECIAL | VOID),
    ("big", FORMATTING | BREAKOUT),
    ("blockquote", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("body", SPECIAL | BREAKOUT),
    ("br", SPECIAL | VOID | BREAKOUT),
    ("button", SPECIAL | END_BLOCK),
    ("caption", SPECIAL | SCOPE | MARKER | TABLE),
    ("center", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("code", FORMATTING | BREAKOUT),
    ("col", SPECIAL | VOID),
    ("colgroup", SPECIAL | TABLE),
    ("dd", SPECIAL | CLOSES_P | BREAKOUT),
    ("details", SPECIAL | CLOSES_P | END_BLOCK),
    ("dialog", CLOSES_P | END_BLOCK),
    ("dir", SPECIAL | CLOSES_P | END_BLOCK),
    ("div", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("dl", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("dt", SPECIAL | CLOSES_P | BREAKOUT),
    ("em", FORMATTING | BREAKOUT),
    ("embed", SPECIAL | VOID | BREAKOUT),
    ("fieldset", SPECIAL | CLOSES_P | END_BLOCK),
    ("figcaption", SPECIAL | CLOSES_P | END_BLOCK),
    ("figure", SPECIAL | CLOSES_P | END_BLOCK),
    ("font", FORMATTING),
    ("footer", SPECIAL | CLOSES_P | END_BLOCK),
    ("form", SPECIAL | CLOSES_P),
    ("frame", SPECIAL | VOID),
    ("frameset", SPECIAL),
    ("h1", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h2", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h3", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h4", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h5", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("h6", SPECIAL | CLOSES_P | HEADING | BREAKOUT),
    ("head", SPECIAL | BREAKOUT),
    ("header", SPECIAL | CLOSES_P | END_BLOCK),
    ("hgroup", SPECIAL | CLOSES_P | END_BLOCK),
    ("hr", SPECIAL | VOID | CLOSES_P | BREAKOUT),
    ("html", SPECIAL | SCOPE),
    ("i", FORMATTING | BREAKOUT),
    ("iframe", SPECIAL | RAW),
    ("image", VOID),
    ("img", SPECIAL | VOID | BREAKOUT),
    ("input", SPECIAL | VOID),
    ("isindex", SPECIAL),
    ("keygen", SPECIAL | VOID),
    ("li", SPECIAL | CLOSES_P | BREAKOUT),
    ("link", SPECIAL | VOID),
    ("listing", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("main", SPECIAL | CLOSES_P | END_BLOCK),
    ("marquee", SPECIAL | SCOPE | MARKER | END_BLOCK),
    ("menu", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("meta", SPECIAL | VOID | BREAKOUT),
    ("nav", SPECIAL | CLOSES_P | END_BLOCK),
    ("nobr", FORMATTING | BREAKOUT),
    ("noembed", SPECIAL | RAW),
    ("noframes", SPECIAL | RAW),
    ("noscript", SPECIAL),
    ("object", SPECIAL | SCOPE | MARKER | END_BLOCK),
    ("ol", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("p", SPECIAL | CLOSES_P | BREAKOUT),
    ("param", SPECIAL | VOID),
    ("plaintext", SPECIAL | CLOSES_P | RAW),
    ("pre", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("ruby", BREAKOUT),
    ("s", FORMATTING | BREAKOUT),
    ("script", SPECIAL | RAW),
    ("search", CLOSES_P | END_BLOCK),
    ("section", SPECIAL | CLOSES_P | END_BLOCK),
    ("select", SPECIAL | SCOPE | END_BLOCK),
    ("small", FORMATTING | BREAKOUT),
    ("source", SPECIAL | VOID),
    ("span", BREAKOUT),
    ("strike", FORMATTING | BREAKOUT),
    ("strong", FORMATTING | BREAKOUT),
    ("style", SPECIAL | RAW),
    ("sub", BREAKOUT),
    ("summary", SPECIAL | CLOSES_P | END_BLOCK),
    ("sup", BREAKOUT),
    ("table", SPECIAL | SCOPE | TABLE | BREAKOUT),
    ("tbody", SPECIAL | TABLE),
    ("td", SPECIAL | SCOPE | MARKER | TABLE),
    ("template", SPECIAL | SCOPE | MARKER),
    ("textarea", SPECIAL | RAW),
    ("tfoot", SPECIAL | TABLE),
    ("th", SPECIAL | SCOPE | MARKER | TABLE),
    ("thead", SPECIAL | TABLE),
    ("title", SPECIAL | RAW),
    ("tr", SPECIAL | TABLE),
    ("track", SPECIAL | VOID),
    ("tt", FORMATTING | BREAKOUT),
    ("u", FORMATTING | BREAKOUT),
    ("ul", SPECIAL | CLOSES_P | BREAKOUT | END_BLOCK),
    ("var", BREAKOUT),
    ("wbr", SPECIAL | VOID),
    ("xmp", SPECIAL | CLOSES_P | RAW),
];

/// A tag name in ASCII lowercase (names longer than any known tag are not lowered: they are
/// only compared, case-insensitively, with each other).
#[derive(Clone, Copy)]
struct Name<'a> {
    raw: &'a str,
    lower: [u8; 16],
    len: u8,
}

impl<'a> Name<'a> {
    fn new(raw: &'a str) -> Self {
        let mut lower = [0u8; 16];
        let len = if raw.len() <= 16 {
            for (d, s) in lower.iter_mut().zip(raw.bytes()) {
                *d = s.to_ascii_lowercase();
            }
            raw.len() as u8
        } else {
            0
        };
        Name { raw, lower, len }
    }

    /// The lowercase name, or "" for a long one.
    fn lower(&self) -> &[u8] {
        &self.lower[..self.len as usize]
    }

    fn is(&self, name: &str) -> bool {
        self.lower() == name.as_bytes()
    }

    fn same(&self, other: &Name<'_>) -> bool {
        self.raw.eq_ignore_ascii_case(other.raw)
    }

    fn html_flags(&self) -> u16 {
        let lower = self.lower();
        HTML_TAGS
            .binary_search_by(|(n, _)| n.as_bytes().cmp(lower))
            .map_or(0, |i| HTML_TAGS[i].1)
    }
}

/// An element on the model's stack of open elements.
#[derive(Clone, Copy)]
struct Entry<'a> {
    name: Name<'a>,
    ns: Ns,
    flags: u16,
    /// For a formatting element: its entry in the list of active formatting elements.
    fmt: Option<u32>,
    /// An SVG or MathML element whose content is read as HTML (`foreignObject`, `mtext`…).
    integration: bool,
    /// Its depth in the document tree, which can exceed its place on the stack: `</form>`
    /// removes the form from the stack but not from the tree.
    depth: usize,
    /// For a `<template>`: how its first start tag made html5ever read its content.
    content: Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// No start tag yet.
    Unknown,
    /// As a body: table parts directly in the template are ignored.
    Body,
    /// As the parts of a table (started with `<caption>`, `<colgroup>`, `<tbody>`…).
    Table,
    /// As the rows of a table body (started with `<tr>`).
    Rows,
    /// As the cells of a row (started with `<td>` or `<th>`).
    Cells,
    /// Started with `<col>`: everything but `<col>` and `<template>` is ignored until its end
    /// tag.
    Columns,
}

impl Entry<'_> {
    fn html(&self, name: &str) -> bool {
        self.ns == Ns::Html && self.name.is(name)
    }

    fn special(&self) -> bool {
        self.flags & SPECIAL != 0
    }

    /// A boundary of the default scope.
    fn scope(&self) -> bool {
        self.flags & SCOPE != 0
    }
}

/// An entry of the list of active formatting elements.
enum Active<'a> {
    Marker,
    Element {
        id: u32,
        name: Name<'a>,
        /// The whole start tag, for the "Noah's Ark" rule (at most three identical entries).
        tag: &'a str,
        /// On the stack of open elements; when not, the next text or tag reopens it.
        open: bool,
    },
}

struct Model<'a> {
    stack: Vec<Entry<'a>>,
    active: Vec<Active<'a>>,
    next_id: u32,
    /// Content has started: until then `<noscript>` and the like go to the `<head>`.
    in_body: bool,
    /// html5ever's form element pointer: a `<form>` inside a form is ignored.
    form: bool,
    /// Quirks mode, from the DOCTYPE (or its absence) before the first tag: outside it,
    /// `<table>` closes an open `<p>`.
    quirks: Option<bool>,
    max_depth: usize,
    /// Elements reopened so far, and how many may be.
    reopened: usize,
    max_reopened: usize,
}

impl<'a> Model<'a> {
    fn push(&mut self, mut entry: Entry<'a>, at: usize) -> Result<(), ScanError> {
        entry.depth = self.stack.last().map_or(1, |parent| parent.depth + 1);
        if entry.depth > self.max_depth {
            return Err(ScanError::TooDeep { at });
        }
        if entry.ns == Ns::Html && entry.flags & MARKER != 0 {
            self.push_active(Active::Marker, at)?;
        }
        self.stack.push(entry);
        Ok(())
    }

    /// html5ever keeps the markers of elements closed by other means than their end tag (an
    /// `<object>` in a table closed with the table): the list can grow with the input.
    fn push_active(&mut self, a: Active<'a>, at: usize) -> Result<(), ScanError> {
        if self.active.len() > 8 * self.max_depth + 64 {
            return Err(ScanError::TooManyReopened { at });
        }
        self.active.push(a);
        Ok(())
    }

    /// Forgets the formatting elements opened since the last marker, and the marker.
    fn clear_to_marker(&mut self) {
        while let Some(a) = self.active.pop() {
            if matches!(a, Active::Marker) {
                break;
            }
        }
    }

    fn push_html(&mut self, name: Name<'a>, at: usize) -> Result<(), ScanError> {
        let flags = name.html_flags();
        self.push(
            Entry {
                name,
                ns: Ns::Html,
                flags,
                fmt: None,
                integration: false,
                depth: 0,
                content: Content::Unknown,
            },
            at,
        )
    }

    fn popped(&mut self, e: Entry<'a>) {
        if let Some(id) = e.fmt {
            for a in self.active.iter_mut().rev() {
                if let Active::Element { id: i, open, .. } = a
                    && *i == id
                {
                    *open = false;
                    break;
                }
            }
        }
    }

    /// Pops the entry at `i` and everything above it.
    fn pop_to(&mut self, i: usize) {
        while self.stack.len() > i {
            if let Some(e) = self.stack.pop() {
                self.popped(e);
            }
        }
    }

    fn find_in_scope(
        &self,
        is_target: impl Fn(&Entry<'a>) -> bool,
        boundary: impl Fn(&Entry<'a>) -> bool,
    ) -> Option<usize> {
        for (i, e) in self.stack.iter().enumerate().rev() {
            if is_target(e) {
                return Some(i);
            }
            if boundary(e) {
                return None;
            }
        }
        None
    }

    fn close_p(&mut self) {
        if let Some(i) = self.find_in_scope(|e| e.html("p"), |e| e.scope() || e.html("button")) {
            self.pop_to(i);
        }
    }

    /// Reopens the formatting elements closed implicitly since they were opened.
    fn reconstruct(&mut self, at: usize) -> Result<(), ScanError> {
        let mut first = self.active.len();
        while first > 0 && matches!(self.active[first - 1], Active::Element { open: false, .. }) {
            first -= 1;
        }
        if first == self.active.len() {
            return Ok(());
        }
        self.reopened += self.active.len() - first;
        if self.reopened > self.max_reopened {
            return Err(ScanError::TooManyReopened { at });
        }
        for k in first..self.active.len() {
            let Active::Element { id, name, open, .. } = &mut self.active[k] else {
                continue;
            };
            *open = true;
            let entry = Entry {
                name: *name,
                ns: Ns::Html,
                flags: FORMATTING,
                fmt: Some(*id),
                integration: false,
                depth: 0,
                content: Content::Unknown,
            };
            self.push(entry, at)?;
        }
        Ok(())
    }

    /// The end tag of a formatting element: html5ever's adoption agency algorithm, on the
    /// stack. It never makes the tree deeper, so the depths recorded stay upper bounds.
    fn formatting_end(&mut self, name: &Name<'a>) {
        if let Some(top) = self.stack.last()
            && top.ns == Ns::Html
            && top.name.same(name)
            && top.fmt.is_none_or(|id| !self.is_active(id))
        {
            let i = self.stack.len() - 1;
            self.pop_to(i);
            return;
        }
        for _ in 0..8 {
            let mut found = None;
            for (k, a) in self.active.iter().enumerate().rev() {
                match a {
                    Active::Marker => break,
                    Active::Element { name: n, .. } if n.same(name) => {
                        found = Some(k);
                        break;
                    }
                    Active::Element { .. } => {}
                }
            }
            let Some(k) = found else {
                self.other_end(name);
                return;
            };
            let Active::Element { id, .. } = self.active[k] else {
                return;
            };
            let Some(i) = self.stack.iter().rposition(|e| e.fmt == Some(id)) else {
                self.active.remove(k);
                return;
            };
            if self.stack[i + 1..].iter().any(Entry::scope) {
                return;
            }
            let furthest = (i + 1..self.stack.len())
                .find(|&j| self.stack[j].ns == Ns::Html && self.stack[j].special());
            let Some(mut furthest) = furthest else {
                self.active.remove(k);
                self.pop_to(i);
                return;
            };
            // Between the formatting element and the furthest block: formatting elements are
            // cloned in place (three at most), the others leave the stack.
            let mut node = furthest;
            let mut counter = 0;
            loop {
                counter += 1;
                node -= 1;
                if node == i {
                    break;
                }
                let active = self.stack[node].fmt.and_then(|id| self.active_index(id));
                if counter > 3 || active.is_none() {
                    if let Some(a) = active {
                        self.active.remove(a);
                    }
                    self.stack.remove(node);
                    furthest -= 1;
                }
            }
            // The formatting element moves inside the furthest block, as a new element.
            let mut moved = self.stack.remove(i);
            furthest -= 1;
            let new_id = self.next_id;
            self.next_id += 1;
            if let Some(k) = self.active_index(id)
                && let Active::Element { id, .. } = &mut self.active[k]
            {
                *id = new_id;
            }
            moved.fmt = Some(new_id);
            moved.depth = self.stack[furthest].depth + 1;
            self.stack.insert(furthest + 1, moved);
        }
    }

    fn active_index(&self, id: u32) -> Option<usize> {
        self.active
            .iter()
            .rposition(|a| matches!(a, Active::Element { id: i, .. } if *i == id))
    }

    fn is_active(&self, id: u32) -> bool {
        self.active
            .iter()
            .any(|a| matches!(a, Active::Element { id: i, .. } if *i == id))
    }

    /// "Any other end tag": pops to the nearest element of that name unless a special element
    /// comes first.
    fn other_end(&mut self, name: &Name<'_>) {
        for i in (0..self.stack.len()).rev() {
            let e = &self.stack[i];
            if e.ns == Ns::Html && e.name.same(name) {
                self.pop_to(i);
                return;
            }
            if e.special() {
                return;
            }
        }
    }

    fn text(&mut self, text: &[u8], at: usize) -> Result<(), ScanError> {
        if !self.in_body && (self.in_template() || text.iter().all(|&c| is_space(c))) {
            return Ok(());
        }
        if self
            .stack
            .last()
            .is_some_and(|e| e.content == Content::Columns)
        {
            return Ok(());
        }
        self.quirks.get_or_insert(true);
        self.in_body = true;
        self.reconstruct(at)
    }

    fn in_template(&self) -> bool {
        self.stack.iter().any(|e| e.html("template"))
    }

    /// In a table, outside its cells and caption (html5ever's table insertion modes).
    fn in_table(&self) -> bool {
        self.stack
            .iter()
            .rev()
            .find(|e| e.ns == Ns::Html && e.flags & TABLE != 0)
            .is_some_and(|e| {
                matches!(
                    e.name.lower(),
                    b"table" | b"tbody" | b"thead" | b"tfoot" | b"tr"
                )
            })
    }

    /// In SVG or MathML content, outside an integration point.
    fn in_foreign(&self) -> bool {
        self.stack
            .last()
            .is_some_and(|e| e.ns != Ns::Html && !e.integration)
    }

    /// Processes a start tag; returns whether the tokenizer now reads raw text.
    fn start_tag(
        &mut self,
        name: Name<'a>,
        tag: &'a str,
        self_closing: bool,
        at: usize,
    ) -> Result<bool, ScanError> {
        let flags = name.html_flags();
        if self.in_foreign() {
            let is_font_breakout = name.is("font")
                && attributes(tag).any(|(n, _)| {
                    ["color", "face", "size"]
                        .iter()
                        .any(|a| n.eq_ignore_ascii_case(a))
                });
            if flags & BREAKOUT == 0 && !is_font_breakout {
                if !self_closing {
                    // `<svg>` in `<annotation-xml>` starts SVG; otherwise the namespace goes on.
                    let in_annotation = self
                        .stack
                        .last()
                        .is_some_and(|e| e.ns == Ns::Math && e.name.is("annotation-xml"));
                    let ns = match self.stack.last() {
                        _ if in_annotation && name.is("svg") => Ns::Svg,
                        Some(e) => e.ns,
                        None => Ns::Html,
                    };
                    self.push_foreign(name, tag, ns, at)?;
                }
                return Ok(false);
            }
            while self.in_foreign() {
                if let Some(e) = self.stack.pop() {
                    self.popped(e);
                }
            }
        }
        let lower = name.lower();
        self.quirks.get_or_insert(true);
        if let Some(top) = self.stack.last_mut()
            && top.html("template")
        {
            // The first start tag in a template, head elements aside, sets how its content
            // is read.
            if top.content == Content::Unknown {
                top.content = match lower {
                    b"base" | b"basefont" | b"bgsound" | b"link" | b"meta" | b"noframes"
                    | b"script" | b"style" | b"template" | b"title" => Content::Unknown,
                    b"col" => Content::Columns,
                    b"caption" | b"colgroup" | b"tbody" | b"tfoot" | b"thead" => Content::Table,
                    b"tr" => Content::Rows,
                    b"td" | b"th" => Content::Cells,
                    _ => Content::Body,
                };
            }
            if top.content == Content::Columns && !name.is("col") && !name.is("template") {
                return Ok(false);
            }
        }
        if matches!(lower, b"html" | b"body" | b"head" | b"frameset") {
            self.in_body |= name.is("body");
            return Ok(false);
        }
        if !self.in_body {
            // Head elements before any content stay in the `<head>`.
            if matches!(
                lower,
                b"base"
                    | b"basefont"
                    | b"bgsound"
                    | b"link"
                    | b"meta"
                    | b"noframes"
                    | b"style"
                    | b"script"
                    | b"title"
                    | b"noscript"
            ) {
                return Ok(flags & RAW != 0);
            }
            if !name.is("template") && !self.in_template() {
                self.in_body = true;
            }
        }
        if name.is("form") {
            if self.form && !self.in_template() {
                return Ok(false);
            }
            if self.in_table() {
                // Inserted and closed at once.
                self.form |= !self.in_template();
                return Ok(false);
            }
            self.form |= !self.in_template();
        }
        if matches!(lower, b"svg" | b"math") {
            self.reconstruct(at)?;
            if !self_closing {
                let ns = if name.is("svg") { Ns::Svg } else { Ns::Math };
                self.push_foreign(name, tag, ns, at)?;
            }
            return Ok(false);
        }
        if flags & TABLE != 0 {
            self.table_start(name, at)?;
            return Ok(false);
        }
        if flags & CLOSES_P != 0 {
            if name.is("li") {
                self.close_list_item(&["li"]);
            } else if name.is("dd") || name.is("dt") {
                self.close_list_item(&["dd", "dt"]);
            }
            self.close_p();
            if flags & HEADING != 0
                && self
                    .stack
                    .last()
                    .is_some_and(|e| e.ns == Ns::Html && e.flags & HEADING != 0)
            {
                let i = self.stack.len() - 1;
                self.pop_to(i);
            }
        }
        if name.is("button")
            && let Some(i) = self.find_in_scope(|e| e.html("button"), Entry::scope)
        {
            self.pop_to(i);
        }
        let select = || self.find_in_scope(|e| e.html("select"), Entry::scope);
        match lower {
            // In a select, `<select>` and `<input>` close it.
            b"select" | b"input" => {
                if let Some(i) = select() {
                    self.pop_to(i);
                    if name.is("select") {
                        return Ok(false);
                    }
                }
            }
            b"hr" if select().is_some() => self.implied_end(&[]),
            b"option" | b"optgroup" => {
                if select().is_some() {
                    let except: &[&[u8]] = if name.is("option") {
                        &[b"optgroup"]
                    } else {
                        &[]
                    };
                    self.implied_end(except);
                } else if self.stack.last().is_some_and(|e| e.html("option")) {
                    let i = self.stack.len() - 1;
                    self.pop_to(i);
                }
            }
            b"rb" | b"rtc" | b"rp" | b"rt"
                if self
                    .find_in_scope(|e| e.html("ruby"), Entry::scope)
                    .is_some() =>
            {
                let except: &[&[u8]] = if matches!(lower, b"rp" | b"rt") {
                    &[b"rtc"]
                } else {
                    &[]
                };
                self.implied_end(except);
            }
            b"col" => {
                // In a table, `<col>` closes cells and rows, and implies a `<colgroup>`.
                let context = self.stack.iter().rposition(|e| {
                    e.ns == Ns::Html && (e.flags & TABLE != 0 || e.name.is("template"))
                });
                if context.is_some_and(|i| !self.stack[i].html("template"))
                    && !self.stack.last().is_some_and(|e| e.html("colgroup"))
                {
                    self.table_start(Name::new("colgroup"), at)?;
                }
            }
            _ => {}
        }
        if name.is("a") {
            let open_a = self
                .active
                .iter()
                .rev()
                .take_while(|a| !matches!(a, Active::Marker))
                .find_map(|a| match a {
                    Active::Element { name: n, id, .. } if n.is("a") => Some(*id),
                    _ => None,
                });
            if let Some(id) = open_a {
                self.formatting_end(&name);
                // The `<a>` leaves the list and the stack if it is still there.
                if let Some(k) = self.active_index(id) {
                    self.active.remove(k);
                }
                if let Some(i) = self.stack.iter().rposition(|e| e.fmt == Some(id)) {
                    self.stack.remove(i);
                }
            }
        } else if name.is("nobr") {
            // Reopened first, so a `<nobr>` closed implicitly is in scope again.
            self.reconstruct(at)?;
            if self
                .find_in_scope(|e| e.html("nobr"), Entry::scope)
                .is_some()
            {
                self.formatting_end(&name);
            }
        }
        if reopens_formatting(lower, flags) {
            self.reconstruct(at)?;
        }
        if flags & (RAW | VOID) != 0 {
            // Raw-text elements are closed by their own end tag, read with their text.
            return Ok(flags & RAW != 0);
        }
        if flags & FORMATTING != 0 {
            self.noahs_ark(tag);
            let id = self.next_id;
            self.next_id += 1;
            self.push(
                Entry {
                    name,
                    ns: Ns::Html,
                    flags,
                    fmt: Some(id),
                    integration: false,
                    depth: 0,
                    content: Content::Unknown,
                },
                at,
            )?;
            self.push_active(
                Active::Element {
                    id,
                    name,
                    tag,
                    open: true,
                },
                at,
            )?;
            return Ok(false);
        }
        self.push_html(name, at)?;
        Ok(false)
    }

    fn push_foreign(
        &mut self,
        name: Name<'a>,
        tag: &str,
        ns: Ns,
        at: usize,
    ) -> Result<(), ScanError> {
        let lower = name.lower();
        let (integration, flags) = match ns {
            Ns::Svg if matches!(lower, b"foreignobject" | b"desc" | b"title") => {
                (true, SPECIAL | SCOPE)
            }
            Ns::Math if matches!(lower, b"mi" | b"mo" | b"mn" | b"ms" | b"mtext") => {
                (true, SPECIAL | SCOPE)
            }
            // An HTML integration point only with an HTML encoding.
            Ns::Math if lower == b"annotation-xml" => {
                let html = attributes(tag).find(|(n, _)| n.eq_ignore_ascii_case("encoding"));
                let html = html.is_some_and(|(_, v)| {
                    v.eq_ignore_ascii_case("text/html")
                        || v.eq_ignore_ascii_case("application/xhtml+xml")
                });
                (html, 0)
            }
            _ => (false, 0),
        };
        self.push(
            Entry {
                name,
                ns,
                flags,
                fmt: None,
                integration,
                depth: 0,
                content: Content::Unknown,
            },
            at,
        )
    }

    /// Pops the elements whose end tag is implied (`<p>`, `<li>`, `<option>`…) from the top,
    /// except those named in `except`.
    fn implied_end(&mut self, except: &[&[u8]]) {
        while let Some(top) = self.stack.last() {
            let lower = top.name.lower();
            let implied = matches!(
                lower,
                b"dd"
                    | b"dt"
                    | b"li"
                    | b"option"
                    | b"optgroup"
                    | b"p"
                    | b"rb"
                    | b"rp"
                    | b"rt"
                    | b"rtc"
            );
            if top.ns != Ns::Html || !implied || except.contains(&lower) {
                return;
            }
            let i = self.stack.len() - 1;
            self.pop_to(i);
        }
    }

    /// At most three identical formatting elements after the last marker: the oldest goes.
    fn noahs_ark(&mut self, tag: &str) {
        let mut same = 0;
        let mut oldest = None;
        for (k, a) in self.active.iter().enumerate().rev() {
            match a {
                Active::Marker => break,
                Active::Element { tag: t, .. } if *t == tag => {
                    same += 1;
                    oldest = Some(k);
                }
                Active::Element { .. } => {}
            }
        }
        if same >= 3
            && let Some(k) = oldest
        {
            self.active.remove(k);
        }
    }

    fn close_list_item(&mut self, names: &[&str]) {
        for i in (0..self.stack.len()).rev() {
            let e = &self.stack[i];
            if e.ns == Ns::Html && names.iter().any(|n| e.name.is(n)) {
                self.pop_to(i);
                return;
            }
            if e.special() && !(e.html("address") || e.html("div") || e.html("p")) {
                return;
            }
        }
    }

    /// `<table>`, `<tbody>`, `<tr>`, `<td>`… with the elements html5ever implies or closes.
    fn table_start(&mut self, name: Name<'a>, at: usize) -> Result<(), ScanError> {
        let is_cell = name.is("td") || name.is("th");
        loop {
            let context = self
                .stack
                .iter()
                .rposition(|e| e.ns == Ns::Html && (e.flags & TABLE != 0 || e.name.is("template")));
            let Some(i) = context else {
                // Outside a table only `<table>` counts; the others are ignored.
                if name.is("table") {
                    if self.quirks == Some(false) {
                        self.close_p();
                    }
                    self.push_html(name, at)?;
                }
                return Ok(());
            };
            let c = self.stack[i].name;
            let lower = c.lower();
            if c.is("template") {
                // Table parts are content only in a template that started with one.
                let lower = name.lower();
                match self.stack[i].content {
                    Content::Table if name.is("table") => {}
                    Content::Table if is_cell || lower == b"tr" => {
                        self.push_html(Name::new("tbody"), at)?;
                        if is_cell {
                            self.push_html(Name::new("tr"), at)?;
                        }
                        self.push_html(name, at)?;
                    }
                    Content::Table => self.push_html(name, at)?,
                    Content::Rows if is_cell => {
                        self.push_html(Name::new("tr"), at)?;
                        self.push_html(name, at)?;
                    }
                    Content::Rows if lower == b"tr" => self.push_html(name, at)?,
                    Content::Cells if is_cell => self.push_html(name, at)?,
                    Content::Body | Content::Unknown if name.is("table") => {
                        self.push_html(name, at)?
                    }
                    _ => {}
                }
                return Ok(());
            }
            if name.is("table") {
                if matches!(lower, b"td" | b"th" | b"caption") {
                    if self.quirks == Some(false) {
                        self.close_p();
                    }
                    return self.push_html(name, at);
                }
                // A table in a table closes the open one first; in the table parts of a
                // template there is no table to close, and the new one is ignored.
                let table = self.stack[..=i]
                    .iter()
                    .rposition(|e| e.html("table") || e.html("template"));
                let Some(t) = table.filter(|&t| self.stack[t].html("table")) else {
                    if table.is_some() {
                        return Ok(());
                    }
                    return self.push_html(name, at);
                };
                self.pop_to(t);
                continue;
            }
            match lower {
                b"td" | b"th" | b"caption" => {
                    // Closing a cell or caption clears the formatting elements opened in it.
                    self.pop_to(i);
                    self.clear_to_marker();
                }
                b"colgroup" => self.pop_to(i),
                b"tr" => {
                    if is_cell {
                        self.pop_to(i + 1);
                        return self.push_html(name, at);
                    }
                    self.pop_to(i);
                }
                b"tbody" | b"thead" | b"tfoot" => {
                    if is_cell || name.is("tr") {
                        self.pop_to(i + 1);
                        if is_cell {
                            self.push_html(Name::new("tr"), at)?;
                        }
                        return self.push_html(name, at);
                    }
                    // html5ever closes the section only with a table, tbody or tfoot in table
                    // scope (a thead alone, in a template, is not enough).
                    let outer = self.find_in_scope(
                        |e| e.html("table") || e.html("tbody") || e.html("tfoot"),
                        |e| e.html("template") || e.html("html"),
                    );
                    if outer.is_none() {
                        return Ok(());
                    }
                    self.pop_to(i);
                }
                _ => {
                    // `table`
                    self.pop_to(i + 1);
                    if is_cell || name.is("tr") {
                        self.push_html(Name::new("tbody"), at)?;
                        if is_cell {
                            self.push_html(Name::new("tr"), at)?;
                        }
                    }
                    return self.push_html(name, at);
                }
            }
        }
    }

    fn end_tag(&mut self, name: Name<'a>, at: usize) -> Result<(), ScanError> {
        self.quirks.get_or_insert(true);
        if self
            .stack
            .last()
            .is_some_and(|e| e.content == Content::Columns)
            && !name.is("template")
        {
            return Ok(());
        }
        if !self.in_body && !self.in_template() {
            // In the head, these end it and start the body; other end tags are ignored.
            if (name.is("body") || name.is("html") || name.is("br")) && !self.in_template() {
                self.in_body = true;
            } else {
                if name.is("template")
                    && let Some(i) = self.stack.iter().rposition(|e| e.html("template"))
                {
                    self.pop_to(i);
                    self.clear_to_marker();
                }
                return Ok(());
            }
        }
        if (name.is("p") || name.is("br")) && self.in_foreign() {
            // Leaves SVG or MathML content, like the start tags that do.
            while self.in_foreign() {
                if let Some(e) = self.stack.pop() {
                    self.popped(e);
                }
            }
        } else if self.stack.last().is_some_and(|e| e.ns != Ns::Html) {
            // Foreign content: the nearest foreign element of that name, else the HTML rules.
            let mut i = self.stack.len();
            while i > 0 && self.stack[i - 1].ns != Ns::Html {
                i -= 1;
                if self.stack[i].name.same(&name) {
                    self.pop_to(i);
                    return Ok(());
                }
            }
        }
        let flags = name.html_flags();
        let lower = name.lower();
        if flags & FORMATTING != 0 {
            self.formatting_end(&name);
            return Ok(());
        }
        match lower {
            b"p" => self.close_p(),
            b"br" => self.reconstruct(at)?,
            b"body" | b"html" | b"head" => {}
            b"li" => {
                if let Some(i) = self.find_in_scope(
                    |e| e.html("li"),
                    |e| e.scope() || e.html("ol") || e.html("ul"),
                ) {
                    self.pop_to(i);
                }
            }
            b"form" => {
                let template = self.in_template();
                // Outside a template the form pointer goes, whether or not the form closes.
                let pointer = template || std::mem::take(&mut self.form);
                if pointer
                    && self
                        .find_in_scope(|e| e.html("form"), Entry::scope)
                        .is_some()
                {
                    self.implied_end(&[]);
                    if let Some(i) = self.find_in_scope(|e| e.html("form"), Entry::scope) {
                        if template {
                            self.pop_to(i);
                        } else {
                            // Removes the form alone: what it contains stays open.
                            let e = self.stack.remove(i);
                            self.popped(e);
                        }
                    }
                }
            }
            _ if flags & HEADING != 0 => {
                if let Some(i) =
                    self.find_in_scope(|e| e.ns == Ns::Html && e.flags & HEADING != 0, Entry::scope)
                {
                    self.pop_to(i);
                }
            }
            _ if flags & TABLE != 0 => {
                // In a caption, `</table>` closes the caption first, even without a table.
                if name.is("table")
                    && let Some(c) = self.find_in_scope(
                        |e| e.html("caption"),
                        |e| e.html("table") || e.html("template") || e.html("html"),
                    )
                    && self.stack[c + 1..].iter().all(|e| e.flags & TABLE == 0)
                {
                    self.pop_to(c);
                    self.clear_to_marker();
                }
                if let Some(i) = self.find_in_scope(
                    |e| e.ns == Ns::Html && e.name.same(&name),
                    |e| e.html("table") || e.html("template") || e.html("html"),
                ) {
                    let cell = self.stack[i..]
                        .iter()
                        .any(|e| e.html("td") || e.html("th") || e.html("caption"));
                    self.pop_to(i);
                    if cell {
                        self.clear_to_marker();
                    }
                }
            }
            _ if flags & END_BLOCK != 0 => {
                if let Some(i) =
                    self.find_in_scope(|e| e.ns == Ns::Html && e.name.same(&name), Entry::scope)
                {
                    self.pop_to(i);
                    if flags & MARKER != 0 {
                        self.clear_to_marker();
                    }
                }
            }
            b"template" => {
                // Closes the template whatever is open in it.
                if let Some(i) = self.stack.iter().rposition(|e| e.html("template")) {
                    self.pop_to(i);
                    self.clear_to_marker();
                }
            }
            b"dd" | b"dt" => {
                if let Some(i) =
                    self.find_in_scope(|e| e.ns == Ns::Html && e.name.same(&name), Entry::scope)
                {
                    self.pop_to(i);
                }
            }
            _ => self.other_end(&name),
        }
        Ok(())
    }
}

/// Whether a DOCTYPE (what follows `<!DOCTYPE`, up to its `>`) puts html5ever in quirks mode
/// (tree_builder/data.rs).
fn doctype_quirks(decl: &[u8]) -> bool {
    let decl = String::from_utf8_lossy(decl).to_ascii_lowercase();
    let decl = decl.trim_end_matches('>').trim_start_matches(is_space_char);
    let name_end = decl.find(is_space_char).unwrap_or(decl.len());
    if &decl[..name_end] != "html" {
        return true;
    }
    // The identifiers, each quoted.
    let rest = decl[name_end..].trim_start_matches(is_space_char);
    let quoted = |s: &str| -> Option<(String, usize)> {
        let trimmed = s.trim_start_matches(is_space_char);
        let skipped = s.len() - trimmed.len();
        let q = trimmed.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let end = trimmed[1..].find(q)?;
        Some((trimmed[1..1 + end].to_string(), skipped + end + 2))
    };
    let (public, system) = if let Some(after) = rest.strip_prefix("public") {
        let Some((public, used)) = quoted(after) else {
            return true;
        };
        (Some(public), quoted(&after[used..]).map(|(s, _)| s))
    } else if let Some(after) = rest.strip_prefix("system") {
        let Some((system, _)) = quoted(after) else {
            return true;
        };
        (None, Some(system))
    } else if rest.is_empty() {
        (None, None)
    } else {
        return true;
    };
    let public = public.as_deref();
    let prefixed = |list: &[&str]| public.is_some_and(|p| list.iter().any(|x| p.starts_with(x)));
    if public.is_some_and(|p| QUIRKY_PUBLIC_MATCHES.contains(&p))
        || system.as_deref() == Some("http://www.ibm.com/data/dtd/v11/ibmxhtml1-transitional.dtd")
        || prefixed(QUIRKY_PUBLIC_PREFIXES)
    {
        return true;
    }
    if prefixed(LIMITED_QUIRKY_PUBLIC_PREFIXES) {
        return false;
    }
    prefixed(HTML4_PUBLIC_PREFIXES) && system.is_none()
}

fn is_space_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

const QUIRKY_PUBLIC_MATCHES: &[&str] = &[
    "-//w3o//dtd w3 html strict 3.0//en//",
    "-/w3c/dtd html 4.0 transitional/en",
    "html",
];
const LIMITED_QUIRKY_PUBLIC_PREFIXES: &[&str] = &[
    "-//w3c//dtd xhtml 1.0 frameset//",
    "-//w3c//dtd xhtml 1.0 transitional//",
];
const HTML4_PUBLIC_PREFIXES: &[&str] = &[
    "-//w3c//dtd html 4.01 frameset//",
    "-//w3c//dtd html 4.01 transitional//",
];
const QUIRKY_PUBLIC_PREFIXES: &[&str] = &[
    "-//advasoft ltd//dtd html 3.0 aswedit + extensions//",
    "-//as//dtd html 3.0 aswedit + extensions//",
    "-//ietf//dtd html 2.0 level 1//",
    "-//ietf//dtd html 2.0 level 2//",
    "-//ietf//dtd html 2.0 strict level 1//",
    "-//ietf//dtd html 2.0 strict level 2//",
    "-//ietf//dtd html 2.0 strict//",
    "-//ietf//dtd html 2.0//",
    "-//ietf//dtd html 2.1e//",
    "-//ietf//dtd html 3.0//",
    "-//ietf//dtd html 3.2 final//",
    "-//ietf//dtd html 3.2//",
    "-//ietf//dtd html 3//",
    "-//ietf//dtd html level 0//",
    "-//ietf//dtd html level 1//",
    "-//ietf//dtd html level 2//",
    "-//ietf//dtd html level 3//",
    "-//ietf//dtd html strict level 0//",
    "-//ietf//dtd html strict level 1//",
    "-//ietf//dtd html strict level 2//",
    "-//ietf//dtd html strict level 3//",
    "-//ietf//dtd html strict//",
    "-//ietf//dtd html//",
    "-//metrius//dtd metrius presentational//",
    "-//microsoft//dtd internet explorer 2.0 html strict//",
    "-//microsoft//dtd internet explorer 2.0 html//",
    "-//microsoft//dtd internet explorer 2.0 tables//",
    "-//microsoft//dtd internet explorer 3.0 html strict//",
    "-//microsoft//dtd internet explorer 3.0 html//",
    "-//microsoft//dtd internet explorer 3.0 tables//",
    "-//netscape comm. corp.//dtd html//",
    "-//netscape comm. corp.//dtd strict html//",
    "-//o'reilly and associates//dtd html 2.0//",
    "-//o'reilly and associates//dtd html extended 1.0//",
    "-//o'reilly and associates//dtd html extended relaxed 1.0//",
    "-//softquad software//dtd hotmetal pro 6.0::19990601::extensions to html 4.0//",
    "-//softquad//dtd hotmetal pro 4.0::19971010::extensions to html 4.0//",
    "-//spyglass//dtd html 2.0 extended//",
    "-//sq//dtd html 2.0 hotmetal + extensions//",
    "-//sun microsystems corp.//dtd hotjava html//",
    "-//sun microsystems corp.//dtd hotjava strict html//",
    "-//w3c//dtd html 3 1995-03-24//",
    "-//w3c//dtd html 3.2 draft//",
    "-//w3c//dtd html 3.2 final//",
    "-//w3c//dtd html 3.2//",
    "-//w3c//dtd html 3.2s draft//",
    "-//w3c//dtd html 4.0 frameset//",
    "-//w3c//dtd html 4.0 transitional//",
    "-//w3c//dtd html experimental 19960712//",
    "-//w3c//dtd html experimental 970421//",
    "-//w3c//dtd w3 html//",
    "-//w3o//dtd w3 html 3.0//",
    "-//webtechs//dtd mozilla html 2.0//",
    "-//webtechs//dtd mozilla html//",
];

/// The attributes of a whole start tag (`<a href="x">`), as the tokenizer reads them; values
/// are raw (character references not decoded).
fn attributes(tag: &str) -> impl Iterator<Item = (&str, &str)> {
    let b = tag.as_bytes();
    let mut j = html_name_end(b, 1);
    std::iter::from_fn(move || {
        while j < b.len() && (is_space(b[j]) || b[j] == b'/') {
            j += 1;
        }
        if j >= b.len() || b[j] == b'>' {
            return None;
        }
        let name_start = j;
        j += 1;
        while j < b.len() && !is_space(b[j]) && !matches!(b[j], b'/' | b'>' | b'=') {
            j += 1;
        }
        let name = &tag[name_start..j];
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            return Some((name, ""));
        }
        j += 1;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        let value = match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let end = find_byte(b, j + 1, q).unwrap_or(b.len());
                let value = &tag[j + 1..end];
                j = end + 1;
                value
            }
            _ => {
                let start = j;
                while j < b.len() && !is_space(b[j]) && b[j] != b'>' {
                    j += 1;
                }
                &tag[start..j]
            }
        };
        Some((name, value))
    })
}

/// Whether html5ever reopens the closed formatting elements before inserting this start tag
/// (in body: text, phrasing and unknown elements do; blocks, tables and head elements do not).
fn reopens_formatting(lower: &[u8], flags: u16) -> bool {
    if flags & CLOSES_P != 0 {
        return lower == b"xmp";
    }
    if flags & TABLE != 0 {
        return false;
    }
    !matches!(
        lower,
        b"hr"
            | b"textarea"
            | b"plaintext"
            | b"param"
            | b"source"
            | b"track"
            | b"meta"
            | b"link"
            | b"base"
            | b"basefont"
            | b"bgsound"
            | b"style"
            | b"script"
            | b"title"
            | b"noframes"
            | b"template"
            | b"iframe"
            | b"noembed"
            | b"frame"
            | b"col"
            | b"rb"
            | b"rp"
            | b"rt"
            | b"rtc"
    )
}

/// Skips a tag's attributes from `from` (just after the name); returns where the tag ends
/// (after its `>`) and whether it ends with `/>`, or `None` when the input ends inside it.
fn html_tag_end(b: &[u8], mut j: usize) -> Option<(usize, bool)> {
    loop {
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        match *b.get(j)? {
            b'>' => return Some((j + 1, false)),
            b'/' => {
                if b.get(j + 1) == Some(&b'>') {
                    return Some((j + 2, true));
                }
                j += 1;
                continue;
            }
            _ => {}
        }
        // An attribute name (its first character may be `=`).
        j += 1;
        while j < b.len() && !is_space(b[j]) && !matches!(b[j], b'/' | b'>' | b'=') {
            j += 1;
        }
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if b.get(j) == Some(&b'=') {
            j += 1;
            while j < b.len() && is_space(b[j]) {
                j += 1;
            }
            match *b.get(j)? {
                q @ (b'"' | b'\'') => j = find_byte(b, j + 1, q)? + 1,
                b'>' => return Some((j + 1, false)),
                _ => {
                    while j < b.len() && !is_space(b[j]) && b[j] != b'>' {
                        j += 1;
                    }
                }
            }
        }
    }
}

/// Where a comment whose text starts at `from` ends: after the first `-->` or `--!>`.
fn html_comment_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(p) = find(b, i, b"--") {
        match b.get(p + 2) {
            Some(b'>') => return p + 3,
            Some(b'!') if b.get(p + 3) == Some(&b'>') => return p + 4,
            _ => i = p + 1,
        }
    }
    b.len()
}

/// The end of a tag name starting at `from`.
fn html_name_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() && !is_space(b[j]) && !matches!(b[j], b'/' | b'>') {
        j += 1;
    }
    j
}

/// Where `</name` followed by a space, `/` or `>` starts, from `from`.
fn appropriate_end(b: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut i = from;
    while let Some(lt) = find_byte(b, i, b'<') {
        if b.get(lt + 1) == Some(&b'/')
            && starts_with_ignore_case(b, lt + 2, name)
            && b.get(lt + 2 + name.len())
                .is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
        {
            return Some(lt);
        }
        i = lt + 1;
    }
    None
}

/// The end tag closing a `<script>` from `from`, through the script data escape states (in
/// `<!--<script>…</script>-->` the inner `</script>` does not end the script).
fn script_end(b: &[u8], from: usize) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Data,
        Escaped,
        DoubleEscaped,
    }
    let tag_at = |i: usize, close: bool| {
        let name_at = i + if close { 2 } else { 1 };
        b[i] == b'<'
            && (!close || b.get(i + 1) == Some(&b'/'))
            && starts_with_ignore_case(b, name_at, b"script")
            && b.get(name_at + 6)
                .is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
    };
    let mut state = State::Data;
    let mut i = from;
    while i < b.len() {
        match state {
            State::Data => {
                if b[i..].starts_with(b"<!--") {
                    state = State::Escaped;
                    i += 4;
                    // `<!-->` and `<!--->` close at once.
                    while b.get(i) == Some(&b'-') {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'>') {
                        state = State::Data;
                        i += 1;
                    }
                    continue;
                }
                if tag_at(i, true) {
                    return Some(i);
                }
            }
            State::Escaped => {
                if b[i..].starts_with(b"-->") {
                    state = State::Data;
                    i += 3;
                    continue;
                }
                if tag_at(i, true) {
                    return Some(i);
                }
                if tag_at(i, false) {
                    state = State::DoubleEscaped;
                    i += 7;
                    continue;
                }
            }
            State::DoubleEscaped => {
                if b[i..].starts_with(b"-->") {
                    state = State::Data;
                    i += 3;
                    continue;
                }
                if tag_at(i, true) {
                    state = State::Escaped;
                    i += 8;
                    continue;
                }
            }
        }
        i += 1;
    }
    None
}

/// Checks HTML before html5ever parses it: the deepest nesting it may build, and how many
/// unclosed formatting elements it would reopen (at most `max(10 000, input length)`).
pub(crate) fn scan_html(src: &str, max_depth: usize) -> Result<(), ScanError> {
    let b = src.as_bytes();
    let mut m = Model {
        stack: Vec::new(),
        active: Vec::new(),
        next_id: 0,
        in_body: false,
        form: false,
        quirks: None,
        max_depth,
        reopened: 0,
        max_reopened: src.len().max(10_000),
    };
    let mut i = 0;
    while i < b.len() {
        let Some(lt) = find_byte(b, i, b'<') else {
            m.text(&b[i..], i)?;
            break;
        };
        if lt > i {
            m.text(&b[i..lt], i)?;
        }
        i = match b.get(lt + 1) {
            Some(b'!') => {
                if b[lt..].starts_with(b"<!--") {
                    if b.get(lt + 4) == Some(&b'>') {
                        lt + 5
                    } else if b[lt + 4..].starts_with(b"->") {
                        lt + 6
                    } else {
                        html_comment_end(b, lt + 4)
                    }
                } else if b[lt..].starts_with(b"<![CDATA[")
                    && m.stack.last().is_some_and(|e| e.ns != Ns::Html)
                {
                    find(b, lt + 9, b"]]>").map_or(b.len(), |e| e + 3)
                } else {
                    // DOCTYPE, bogus comment, CDATA in HTML content: up to the next `>`.
                    let end = find_byte(b, lt + 2, b'>').map_or(b.len(), |e| e + 1);
                    if m.quirks.is_none() && starts_with_ignore_case(b, lt + 2, b"doctype") {
                        m.quirks = Some(doctype_quirks(&b[(lt + 9).min(end)..end]));
                    }
                    end
                }
            }
            Some(b'?') => find_byte(b, lt + 2, b'>').map_or(b.len(), |e| e + 1),
            Some(b'/') => match b.get(lt + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = html_name_end(b, lt + 2);
                    let Some((end, _)) = html_tag_end(b, name_end) else {
                        break;
                    };
                    m.end_tag(Name::new(&src[lt + 2..name_end]), lt)?;
                    end
                }
                Some(b'>') => lt + 3,
                None => {
                    m.text(b"</", lt)?;
                    b.len()
                }
                Some(_) => find_byte(b, lt + 2, b'>').map_or(b.len(), |e| e + 1),
            },
            Some(c) if c.is_ascii_alphabetic() => {
                let name_end = html_name_end(b, lt + 1);
                let Some((end, self_closing)) = html_tag_end(b, name_end) else {
                    break;
                };
                let name = Name::new(&src[lt + 1..name_end]);
                if m.start_tag(name, &src[lt..end], self_closing, lt)? {
                    let lower = name.lower();
                    if lower == b"plaintext" {
                        break;
                    }
                    let close = if lower == b"script" {
                        script_end(b, end)
                    } else {
                        appropriate_end(b, end, lower)
                    };
                    let Some(close) = close else { break };
                    let name_end = html_name_end(b, close + 2);
                    match html_tag_end(b, name_end) {
                        Some((after, _)) => after,
                        None => break,
                    }
                } else {
                    end
                }
            }
            _ => {
                // A `<` that starts no tag is text.
                m.text(b"<", lt)?;
                lt + 1
            }
        };
    }
    Ok(())
}

/// The deepest nesting [`scan_html`]'s model reaches, for tests comparing it with html5ever.
#[cfg(test)]
pub(crate) fn html_model_depth(src: &str) -> usize {
    let mut lo = 0;
    let mut hi = src.len() + 2;
    // The smallest limit the scan accepts.
    while lo < hi {
        let mid = (lo + hi) / 2;
        match scan_html(src, mid) {
            Err(ScanError::TooDeep { .. }) => lo = mid + 1,
            _ => hi = mid,
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_depth_counts_elements() {
        let nest = |n: usize| "<div>".repeat(n) + &"</div>".repeat(n);
        assert_eq!(scan_xml(&nest(10), 10), Ok(vec![]));
        assert_eq!(scan_xml(&nest(11), 10), Err(ScanError::TooDeep { at: 50 }));
        // Void elements, `/>`, comments, CDATA and quoted `>` do not nest.
        let flat = "<br><img src='a>b'/><x/><!-- <div> --><![CDATA[<div>]]><a title=\"<div>\"></a>"
            .repeat(50);
        assert_eq!(scan_xml(&flat, 2), Ok(vec![]));
        // Every close tag closes one element, whatever its name.
        assert_eq!(scan_xml(&"<a><b></a>".repeat(4), 5), Ok(vec![]));
        assert_eq!(
            scan_xml(&"<a><b></a>".repeat(5), 5),
            Err(ScanError::TooDeep { at: 43 })
        );
    }

    #[test]
    fn xml_finds_what_panics_mrml() {
        for bad in ["<!--[if mso]x", "<![endifx", "<!--[if mso", "<![if x]y"] {
            assert_eq!(
                scan_xml(&format!("<a>{bad}</a>"), 10),
                Err(ScanError::BadConditionalComment { at: 3 }),
                "{bad}"
            );
        }
        for good in [
            "<!--[if mso]><b>x</b><![endif]-->",
            "<!--[if !mso]><!-->x<!--<![endif]-->",
        ] {
            assert_eq!(scan_xml(good, 10), Ok(vec![]), "{good}");
        }
        // `€>` (three-byte character) and `😀>` panic; `é>` and `a€ >` do not.
        assert_eq!(scan_xml("<p>a€>b</p>", 10), Ok(vec![Edit::Escape(7)]));
        assert_eq!(scan_xml("<p>😀></p>", 10), Ok(vec![Edit::Escape(7)]));
        assert_eq!(scan_xml("<p>é> €></p>", 10), Ok(vec![Edit::Escape(10)]));
        assert_eq!(
            scan_xml("<mj-style>a€>b</mj-style>", 10),
            Err(ScanError::UnreadableGreaterThan { at: 14 })
        );
        assert_eq!(scan_xml("<mj-style>a > b €></mj-style>", 10), Ok(vec![]));
    }

    #[test]
    fn html_model_follows_html5ever() {
        assert_eq!(html_model_depth("<div><div>x</div></div>"), 2);
        assert_eq!(
            html_model_depth("<p>a<p>b<p>c"),
            1,
            "a <p> closes the open one"
        );
        assert_eq!(html_model_depth("<ul><li>a<li>b<li>c</ul>"), 2);
        assert_eq!(
            html_model_depth("<table><tr><td>a<td>b<tr><td>c</table>"),
            4,
            "table, implied tbody, tr, td"
        );
        assert_eq!(html_model_depth("<br><img><hr><input>"), 0);
        assert_eq!(html_model_depth("<script><div><div></script>"), 0);
        assert_eq!(
            html_model_depth("<script><!--<script></script></div></div>--></script><div>"),
            1
        );
        assert_eq!(html_model_depth("<svg><path/><path/></svg>"), 1);
        assert_eq!(html_model_depth("<div/><div/>"), 2, "/> is ignored in HTML");
        assert_eq!(html_model_depth("<!-- <div><div> -->"), 0);
        // A close tag across a table cell does not close what is outside it.
        assert_eq!(html_model_depth(&"<div><table><td></div>".repeat(5)), 25);
        // Unclosed formatting elements are reopened in each paragraph.
        let reopen: String = (0..5).map(|i| format!("<p><b id={i}></p>")).collect();
        assert_eq!(html_model_depth(&(reopen + "x")), 6);
        // …but identical ones at most three times.
        assert_eq!(html_model_depth(&("<p><b></p>".repeat(10) + "x")), 5);
        // `</b>` with a block inside keeps the depth (html5ever moves the block out).
        assert_eq!(html_model_depth(&"<b><div></b>".repeat(5)), 10);
        // `</form>` removes the form alone.
        assert_eq!(html_model_depth(&"<form><div></form>".repeat(5)), 10);
    }

    #[test]
    fn doctypes_set_quirks_mode() {
        // Without quirks, `<table>` closes the paragraph.
        assert_eq!(html_model_depth("<p><table>"), 2);
        assert_eq!(html_model_depth("<!DOCTYPE html><p><table>"), 1);
        assert!(!doctype_quirks(b" html>"));
        assert!(doctype_quirks(b" svg>"));
        assert!(!doctype_quirks(
            br#" html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">"#
        ));
        assert!(doctype_quirks(
            br#" HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">"#
        ));
        assert!(doctype_quirks(
            br#" html PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">"#
        ));
        assert!(doctype_quirks(b" html PUBLIC>"));
    }

    #[test]
    fn tag_table_is_sorted() {
        assert!(HTML_TAGS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn html_reopening_is_bounded() {
        let opens: String = (0..150).map(|i| format!("<p><b id={i}></p>")).collect();
        let src = opens + &"<p>x</p>".repeat(2_000);
        assert!(matches!(
            scan_html(&src, 200),
            Err(ScanError::TooManyReopened { .. })
        ));
    }
}

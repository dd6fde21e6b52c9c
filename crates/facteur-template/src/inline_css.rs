//! A CSS inliner made for email, for `<mj-style inline="inline">`: the rules of a style sheet
//! are written into the `style` attribute of the elements they match, as node mjml does with
//! juice (`applyStyleTags: false`, `insertPreservedExtraCss: false`): the sheet itself is not
//! kept in the page.
//!
//! - Cascade: for each property, `!important` wins, then the higher specificity, then the later
//!   rule. The element's own `style` attribute counts as the highest specificity, so it wins over
//!   the sheet unless the sheet's declaration is `!important` (and its own is not). `!important`
//!   is not written out.
//! - Rules that cannot be inlined are left out: at-rules (`@media`, `@font-face`, …), selectors
//!   with a pseudo-element or a state pseudo-class (`:hover`, `:focus`, …), and selectors the
//!   matcher does not read (sibling combinators); each is reported as a warning.
//! - On table elements, `background-color`, `text-align` and `vertical-align` also set the
//!   `bgcolor`, `align` and `valign` attributes, and a pixel `width`/`height` on `img`, `table`,
//!   `td` and `th` sets the attribute, as juice does for old clients.
//!
//! Matching uses [`crate::css_select`] (types, `*`, classes, ids, attribute operators,
//! descendant and child combinators, `:first-child`, `:nth-child()`, `:not()`, …) on one pass
//! over the HTML ([`apply`]), which also sets the attributes of `<mj-html-attributes>`: a
//! tag scanner made for this (comments, raw-text elements, void elements and implied end tags
//! as HTML reads them) that copies the page and rewrites only the start tags it changes.

use std::borrow::Cow;

use crate::css_select::{Element, Key, Prefilter, Selector};

/// One `property: value` of a rule or a style attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub property: String,
    pub value: String,
    pub important: bool,
}

/// One selector of a rule with its declarations (a rule `a, b { … }` gives two).
#[derive(Debug, Clone)]
pub struct Rule {
    pub selector: String,
    /// The selector as the matcher reads it (parsed once, when the sheet is read).
    pub matcher: Selector,
    /// (ids, classes + attributes + pseudo-classes, types).
    pub specificity: (u32, u32, u32),
    pub declarations: Vec<Declaration>,
}

/// A parsed style sheet: the rules to inline, in source order, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub rules: Vec<Rule>,
    pub skipped: Vec<String>,
}

/// Removes `/* … */` comments.
fn strip_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        out.push(' ');
        rest = rest[at + 2..]
            .find("*/")
            .map_or("", |e| &rest[at + 2 + e + 2..]);
    }
    out.push_str(rest);
    out
}

/// Splits at `sep` outside quotes, parentheses and brackets.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut depth, mut quote, mut start) = (Vec::new(), 0i32, None, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, c) if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The declarations of a block or a `style` attribute.
pub fn parse_declarations(block: &str) -> Vec<Declaration> {
    split_top(block, ';')
        .into_iter()
        .filter_map(|d| {
            let (property, value) = d.split_once(':')?;
            let property = property.trim().to_ascii_lowercase();
            let mut value = value.trim();
            let mut important = false;
            if let Some(bang) = value.rfind('!')
                && value[bang + 1..].trim().eq_ignore_ascii_case("important")
            {
                important = true;
                value = value[..bang].trim_end();
            }
            (!property.is_empty() && !value.is_empty()).then(|| Declaration {
                property,
                value: value.to_string(),
                important,
            })
        })
        .collect()
}

/// Specificity of one selector (`:not(x)` counts as `x`; `*` counts nothing).
pub fn specificity(selector: &str) -> (u32, u32, u32) {
    let (mut a, mut b, mut c) = (0, 0, 0);
    let chars: Vec<char> = selector.chars().collect();
    let mut i = 0;
    let ident = |i: &mut usize| {
        while *i < chars.len()
            && (chars[*i].is_alphanumeric() || chars[*i] == '-' || chars[*i] == '_')
        {
            *i += 1;
        }
    };
    while i < chars.len() {
        match chars[i] {
            '#' => {
                a += 1;
                i += 1;
                ident(&mut i);
            }
            '.' => {
                b += 1;
                i += 1;
                ident(&mut i);
            }
            '[' => {
                b += 1;
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                i += 1;
            }
            ':' => {
                i += 1;
                let start = i;
                ident(&mut i);
                let name: String = chars[start..i].iter().collect();
                if name.eq_ignore_ascii_case("not") {
                    // The argument is counted by the loop itself.
                    if i < chars.len() && chars[i] == '(' {
                        i += 1;
                    }
                } else {
                    b += 1;
                    if i < chars.len() && chars[i] == '(' {
                        let mut depth = 0;
                        while i < chars.len() {
                            match chars[i] {
                                '(' => depth += 1,
                                ')' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        i += 1;
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            i += 1;
                        }
                    }
                }
            }
            ch if ch.is_alphabetic() => {
                c += 1;
                ident(&mut i);
            }
            _ => i += 1,
        }
    }
    (a, b, c)
}

/// Pseudo-classes that describe a state the email has no way to be in when it is inlined.
const STATE_PSEUDOS: &[&str] = &[
    ":hover",
    ":active",
    ":focus",
    ":visited",
    ":link",
    ":target",
    ":checked",
    ":focus-within",
    ":focus-visible",
];

/// Reads a style sheet. Never fails: what cannot be inlined is listed in `skipped`.
pub fn parse(css: &str) -> Sheet {
    let css = strip_comments(css);
    let mut sheet = Sheet::default();
    let mut rest = css.as_str();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('@') {
            // `@import …;` or `@media … { … }`: the whole at-rule is skipped.
            let semi = rest.find(';');
            let brace = rest.find('{');
            let head_end = match (semi, brace) {
                (Some(s), Some(b)) if s < b => {
                    sheet.skipped.push(rest[..s].trim().to_string());
                    rest = &rest[s + 1..];
                    continue;
                }
                (Some(s), None) => {
                    sheet.skipped.push(rest[..s].trim().to_string());
                    rest = &rest[s + 1..];
                    continue;
                }
                (_, Some(b)) => b,
                (None, None) => break,
            };
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest[head_end..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = head_end + i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            sheet.skipped.push(rest[..head_end].trim().to_string());
            rest = &rest[end..];
            continue;
        }
        let Some(open) = rest.find('{') else { break };
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let selectors = &rest[..open];
        let declarations = parse_declarations(&rest[open + 1..close]);
        rest = rest.get(close + 1..).unwrap_or("");
        for selector in split_top(selectors, ',') {
            let selector = selector.split_whitespace().collect::<Vec<_>>().join(" ");
            if selector.is_empty() {
                continue;
            }
            let lower = selector.to_ascii_lowercase();
            let stateful = lower.contains("::")
                || [":before", ":after", ":first-line", ":first-letter"]
                    .iter()
                    .chain(STATE_PSEUDOS)
                    .any(|p| {
                        lower.match_indices(p).any(|(i, _)| {
                            !lower[i + p.len()..]
                                .starts_with(|c: char| c.is_alphanumeric() || c == '-')
                        })
                    });
            let matcher = match selector.parse::<Selector>() {
                Ok(matcher) if !stateful => matcher,
                _ => {
                    sheet.skipped.push(selector);
                    continue;
                }
            };
            sheet.rules.push(Rule {
                specificity: specificity(&selector),
                matcher,
                selector,
                declarations: declarations.clone(),
            });
        }
    }
    sheet
}

/// How a declaration ranks: `(important, from the style attribute, specificity, rule index)`.
type Weight = (bool, bool, (u32, u32, u32), usize);

/// What one element received: the winning declaration of each property with its [`Weight`]
/// (its own style attribute is offered first, with the weight that beats any rule that is not
/// `!important`), in the order properties first appeared. An element gets a few properties: a
/// list searched in place is cheaper than a map.
#[derive(Default)]
struct Touched<'d> {
    winners: Vec<(Weight, &'d Declaration)>,
}

const TABLE_TAGS: &[&str] = &[
    "table", "th", "tr", "td", "caption", "colgroup", "col", "thead", "tbody", "tfoot",
];

impl<'d> Touched<'d> {
    fn offer(&mut self, weight: Weight, d: &'d Declaration) {
        match self
            .winners
            .iter_mut()
            .find(|(_, w)| w.property == d.property)
        {
            Some((w, _)) if *w > weight => {}
            Some(slot) => *slot = (weight, d),
            None => self.winners.push((weight, d)),
        }
    }

    fn style(&self) -> String {
        let mut out = String::new();
        for (_, d) in &self.winners {
            out.push_str(&d.property);
            out.push(':');
            out.push_str(&d.value);
            out.push(';');
        }
        out
    }

    fn value(&self, property: &str) -> Option<&str> {
        self.winners
            .iter()
            .find(|(_, d)| d.property == property)
            .map(|(_, d)| d.value.as_str())
    }
}

/// A selector of `<mj-html-attributes>` and the attributes it sets.
pub type AttributeRule = (Selector, Vec<(String, String)>);

/// The rules of `<mj-html-attributes>`, in document order.
pub type AttributeRules = [AttributeRule];

/// Writes the sheet's rules into the HTML's `style` attributes.
pub fn inline(html: &str, sheet: &Sheet) -> String {
    apply(html, &[], sheet)
}

/// One pass over `html`: on each element, the attributes of the `attributes` rules whose
/// selector matches it are set (in order; a later rule wins), then the sheet's declarations
/// that match it are written into its `style` attribute. Both see the attributes set before
/// them, as two passes one after the other would (node mjml sets html-attributes, then
/// inlines).
pub fn apply(html: &str, attributes: &AttributeRules, sheet: &Sheet) -> String {
    if attributes.is_empty() && sheet.rules.is_empty() {
        return html.to_string();
    }
    // What each rule needs among an element's ancestors, as bits of `keys`: most elements are
    // turned down by comparing two integers, without walking up the open elements.
    let mut keys: Vec<Key> = Vec::new();
    let mut required = |selector: &Selector| -> u64 {
        let mut bits = 0;
        for key in selector.ancestor_keys() {
            let i = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            if i < 64 {
                bits |= 1 << i;
            }
        }
        bits
    };
    let needs = Needs {
        attributes: attributes.iter().map(|(s, _)| required(s)).collect(),
        sheet: sheet.rules.iter().map(|r| required(&r.matcher)).collect(),
    };
    let prefilter = Prefilter::new(
        attributes
            .iter()
            .map(|(s, _)| s)
            .chain(sheet.rules.iter().map(|r| &r.matcher)),
    );
    // Counting siblings by name (a list per parent) only when a selector asks for it.
    let of_type = attributes
        .iter()
        .map(|(s, _)| s)
        .chain(sheet.rules.iter().map(|r| &r.matcher))
        .any(Selector::counts_of_type);
    // Attribute lists of closed elements, kept for the next ones (no allocation per element).
    let mut pool: Vec<Vec<(Cow<'_, str>, Cow<'_, str>)>> = Vec::new();
    let mut changed: Vec<(String, String)> = Vec::new();
    let comment_end = memchr::memmem::Finder::new(b"-->");
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut stack: Vec<Frame<'_>> = Vec::new();
    // The children of the document itself (no parent frame).
    let mut top = Siblings::default();
    let mut copied = 0;
    let mut i = 0;
    // The attributes of the start tag being read (one buffer for the whole page).
    let mut spans: Vec<AttributeSpan> = Vec::new();
    while let Some(p) = memchr::memchr(b'<', &b[i..]) {
        let lt = i + p;
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            i = comment_end
                .find(&b[lt + 4..])
                .map_or(b.len(), |e| lt + 4 + e + 3);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = memchr::memchr(b'>', &b[lt..]).map_or(b.len(), |e| lt + e + 1);
            continue;
        }
        if rest.starts_with(b"</") {
            let name_len = rest[2..]
                .iter()
                .take_while(|c| !c.is_ascii_whitespace() && **c != b'>' && **c != b'/')
                .count();
            i = memchr::memchr(b'>', &b[lt..]).map_or(b.len(), |e| lt + e + 1);
            if name_len > 0 {
                let name = &html[lt + 2..lt + 2 + name_len];
                if let Some(at) = stack
                    .iter()
                    .rposition(|f| f.element.name.eq_ignore_ascii_case(name))
                {
                    for frame in stack.drain(at..) {
                        recycle(&mut pool, frame.element.attributes);
                    }
                }
            }
            continue;
        }
        if !rest.get(1).is_some_and(u8::is_ascii_alphabetic) {
            i = lt + 1;
            continue;
        }
        let Some(tag) = StartTag::read(html, lt, std::mem::take(&mut spans)) else {
            // A `<` that never closes: the rest is text.
            break;
        };
        i = tag.end;
        let name = lowercase(&html[lt + 1..tag.name_end]);
        // Implied end tags (`<p>` closes an open `<p>`, `<td>` an open cell…).
        while stack
            .last()
            .is_some_and(|f| implied_close(&f.element.name, &name))
        {
            if let Some(frame) = stack.pop() {
                recycle(&mut pool, frame.element.attributes);
            }
        }
        let siblings = stack.last_mut().map_or(&mut top, |f| &mut f.children);
        let (index, type_index) = siblings.add(of_type.then(|| name.clone()));
        // The first of two same-named attributes counts, as in HTML.
        let first = |attribute: &str| {
            tag.attributes
                .iter()
                .find(|a| html[a.name.0..a.name.1].eq_ignore_ascii_case(attribute))
        };
        let concerned = prefilter.concerns(
            &name,
            first("id").map(|a| a.value(html)).as_deref(),
            first("class").map(|a| a.value(html)).as_deref(),
        );
        let mut element = Element {
            name,
            // An element no compound can match is never asked for its attributes.
            attributes: if concerned {
                let mut read = pool.pop().unwrap_or_default();
                for a in &tag.attributes {
                    let name = lowercase(&html[a.name.0..a.name.1]);
                    if !read.iter().any(|(n, _)| *n == name) {
                        read.push((name, a.value(html)));
                    }
                }
                read
            } else {
                Vec::new()
            },
            index,
            type_index,
        };
        let above = stack.last().map_or(0, |f| f.keys);
        changed.clear();
        if concerned {
            change(
                &stack,
                above,
                &needs,
                &mut element,
                attributes,
                sheet,
                &mut changed,
            );
        }
        // A tag nothing changed is copied with the text around it.
        if !changed.is_empty() {
            out.push_str(&html[copied..lt]);
            tag.write(html, &changed, &mut out);
            copied = tag.end;
        }
        let raw_text = matches!(
            element.name.as_ref(),
            "script" | "style" | "title" | "textarea" | "xmp"
        );
        if raw_text && !tag.self_closing {
            // Its content is text up to its end tag, which the loop then reads.
            i = find_end_tag(b, i, element.name.as_bytes());
        }
        spans = tag.attributes;
        if is_void(&element.name) {
            recycle(&mut pool, element.attributes);
        } else {
            let keys = if keys.is_empty() {
                0
            } else {
                above | Key::bits(&keys, &element)
            };
            stack.push(Frame {
                element,
                children: Siblings::default(),
                keys,
            });
        }
    }
    out.push_str(&html[copied..]);
    out
}

/// The open element and the count of its children so far.
struct Frame<'h> {
    element: Element<'h>,
    children: Siblings<'h>,
    /// The keys this element and its ancestors carry (bits of the pass's keys).
    keys: u64,
}

/// For each rule, the keys its selector needs among the ancestors (bits).
struct Needs {
    attributes: Vec<u64>,
    sheet: Vec<u64>,
}

impl<'h> std::borrow::Borrow<Element<'h>> for Frame<'h> {
    fn borrow(&self) -> &Element<'h> {
        &self.element
    }
}

/// Keeps an attribute list for a later element.
fn recycle<'h>(
    pool: &mut Vec<Vec<(Cow<'h, str>, Cow<'h, str>)>>,
    mut list: Vec<(Cow<'h, str>, Cow<'h, str>)>,
) {
    if list.capacity() > 0 {
        list.clear();
        pool.push(list);
    }
}

/// Children seen so far under one parent: how many, and how many of each name.
#[derive(Default)]
struct Siblings<'h> {
    count: u32,
    of_type: Vec<(Cow<'h, str>, u32)>,
}

impl<'h> Siblings<'h> {
    /// Counts a child: its 1-based index among all children and, when its name is given,
    /// among those of its name (else 0).
    fn add(&mut self, name: Option<Cow<'h, str>>) -> (u32, u32) {
        self.count += 1;
        let Some(name) = name else {
            return (self.count, 0);
        };
        let of_type = match self.of_type.iter_mut().find(|(n, _)| *n == name) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.of_type.push((name, 1));
                1
            }
        };
        (self.count, of_type)
    }
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Whether opening `opening` ends the open element `open` (HTML's implied end tags).
fn implied_close(open: &str, opening: &str) -> bool {
    match open {
        "p" => matches!(
            opening,
            "p" | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "address"
                | "article"
                | "aside"
                | "blockquote"
                | "details"
                | "div"
                | "dl"
                | "fieldset"
                | "figcaption"
                | "figure"
                | "footer"
                | "form"
                | "header"
                | "hr"
                | "main"
                | "nav"
                | "ol"
                | "pre"
                | "section"
                | "table"
                | "ul"
        ),
        "li" => opening == "li",
        "dd" | "dt" => matches!(opening, "dd" | "dt"),
        "option" => matches!(opening, "option" | "optgroup"),
        "td" | "th" => matches!(opening, "td" | "th" | "tr"),
        "tr" => opening == "tr",
        _ => false,
    }
}

fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// The offset of the `<` of `</name` (any case) at or after `from`, or the end of `b`.
pub(crate) fn find_end_tag(b: &[u8], from: usize, name: &[u8]) -> usize {
    let mut at = from;
    while let Some(p) = memchr::memchr(b'<', &b[at..]) {
        let lt = at + p;
        let rest = &b[lt..];
        if rest.len() > 2 + name.len()
            && rest[1] == b'/'
            && rest[2..2 + name.len()].eq_ignore_ascii_case(name)
            && matches!(
                rest[2 + name.len()],
                b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'
            )
        {
            return lt;
        }
        at = lt + 1;
    }
    b.len()
}

/// A start tag as written: where its name ends, its attributes and where it ends.
struct StartTag {
    /// The `<`.
    lt: usize,
    name_end: usize,
    attributes: Vec<AttributeSpan>,
    /// Where what follows the last attribute starts (the whitespace before `>` or `/>`).
    attributes_end: usize,
    /// After the `>`.
    end: usize,
    self_closing: bool,
}

struct AttributeSpan {
    /// The whole `name="value"`.
    whole: (usize, usize),
    name: (usize, usize),
    /// The value without its quotes, if there is one.
    value: Option<(usize, usize)>,
}

impl AttributeSpan {
    fn value<'h>(&self, html: &'h str) -> Cow<'h, str> {
        self.value
            .map_or(Cow::Borrowed(""), |(s, e)| decode(&html[s..e]))
    }
}

impl StartTag {
    /// Reads the start tag whose `<` is at `lt` (a letter follows it); `None` when no `>` ends it.
    fn read(html: &str, lt: usize, mut attributes: Vec<AttributeSpan>) -> Option<StartTag> {
        attributes.clear();
        let b = html.as_bytes();
        let mut i = lt + 1;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'/' && b[i] != b'>' {
            i += 1;
        }
        let name_end = i;
        let mut attributes_end = name_end;
        let mut self_closing = false;
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i)? {
                b'>' => break,
                b'/' => {
                    if b.get(i + 1) == Some(&b'>') {
                        self_closing = true;
                        i += 1;
                        break;
                    }
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let start = i;
            // A name runs to whitespace, `/`, `>` or `=` (an `=` first is part of it).
            i += 1;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'/' | b'>' | b'=')
            {
                i += 1;
            }
            let name = (start, i);
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut value = None;
            if b.get(j) == Some(&b'=') {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                match b.get(j)? {
                    q @ (b'"' | b'\'') => {
                        let close = memchr::memchr(*q, &b[j + 1..])?;
                        value = Some((j + 1, j + 1 + close));
                        i = j + 1 + close + 1;
                    }
                    b'>' => {
                        // `a=>`: an empty value.
                        value = Some((j, j));
                        i = j;
                    }
                    _ => {
                        let s = j;
                        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                            j += 1;
                        }
                        value = Some((s, j));
                        i = j;
                    }
                }
            }
            attributes.push(AttributeSpan {
                whole: (start, i),
                name,
                value,
            });
            attributes_end = i;
        }
        let end = i + 1;
        Some(StartTag {
            lt,
            name_end,
            attributes,
            attributes_end,
            end,
            self_closing,
        })
    }

    /// Writes the tag with the attributes of `changed` set: an attribute it has gets its new
    /// value where it stands, the others are added after its last one.
    fn write(&self, html: &str, changed: &[(String, String)], out: &mut String) {
        // `<name`
        out.push_str(&html[self.lt..self.name_end]);
        let mut from = self.name_end;
        let mut seen: Vec<&str> = Vec::with_capacity(self.attributes.len());
        for a in &self.attributes {
            out.push_str(&html[from..a.whole.0]);
            let name = &html[a.name.0..a.name.1];
            let first = !seen.iter().any(|s| s.eq_ignore_ascii_case(name));
            seen.push(name);
            match changed
                .iter()
                .find(|(n, _)| first && n.eq_ignore_ascii_case(name))
            {
                Some((_, value)) => {
                    out.push_str(name);
                    out.push_str("=\"");
                    encode(value, out);
                    out.push('"');
                }
                None => out.push_str(&html[a.whole.0..a.whole.1]),
            }
            from = a.whole.1;
        }
        out.push_str(&html[from..self.attributes_end]);
        for (name, value) in changed {
            if !seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                out.push(' ');
                out.push_str(name);
                out.push_str("=\"");
                encode(value, out);
                out.push('"');
            }
        }
        out.push_str(&html[self.attributes_end..self.end]);
    }
}

/// An attribute value as the page means it (the entities email HTML uses decoded).
fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').filter(|e| *e <= 10).map(|e| e + 1);
        let decoded = end.and_then(|e| {
            let entity = &rest[1..e];
            let c = match entity {
                "quot" => '"',
                "amp" => '&',
                "apos" => '\'',
                "lt" => '<',
                "gt" => '>',
                "nbsp" => '\u{a0}',
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A value written between double quotes.
fn encode(value: &str, out: &mut String) {
    let mut from = 0;
    for at in memchr::memchr2_iter(b'&', b'"', value.as_bytes()) {
        out.push_str(&value[from..at]);
        out.push_str(if value.as_bytes()[at] == b'&' {
            "&amp;"
        } else {
            "&quot;"
        });
        from = at + 1;
    }
    out.push_str(&value[from..]);
}

/// What the rules set on `element` (whose open ancestors are `stack`), in order: the
/// attributes of the matching `attributes` rules, then the inlined `style` and the attributes
/// it implies. `element` is updated as they are set.
fn change<'h>(
    stack: &[Frame<'h>],
    above: u64,
    needs: &Needs,
    element: &mut Element<'h>,
    attributes: &AttributeRules,
    sheet: &Sheet,
    changed: &mut Vec<(String, String)>,
) {
    let set = |element: &mut Element<'h>,
               changed: &mut Vec<(String, String)>,
               name: &str,
               value: &str| {
        match element.attributes.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = Cow::Owned(value.to_string()),
            None => element
                .attributes
                .push((Cow::Owned(name.to_string()), Cow::Owned(value.to_string()))),
        }
        match changed.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => changed.push((name.to_string(), value.to_string())),
        }
    };
    for ((selector, attrs), need) in attributes.iter().zip(&needs.attributes) {
        if need & !above != 0 || !selector.may_match(element) {
            continue;
        }
        if selector.ancestors_match(stack) {
            for (name, value) in attrs {
                set(element, changed, &name.to_ascii_lowercase(), value);
            }
        }
    }
    let matched: Vec<(usize, &Rule)> = sheet
        .rules
        .iter()
        .enumerate()
        .zip(&needs.sheet)
        .filter(|((_, rule), need)| {
            *need & !above == 0
                && rule.matcher.may_match(element)
                && rule.matcher.ancestors_match(stack)
        })
        .map(|(rule, _)| rule)
        .collect();
    // The element's own declarations come first.
    let own = if matched.is_empty() {
        Vec::new()
    } else {
        parse_declarations(element.attribute("style").unwrap_or_default())
    };
    let touched = (!matched.is_empty()).then(|| {
        let mut t = Touched::default();
        for d in &own {
            t.offer((d.important, true, (0, 0, 0), 0), d);
        }
        for (index, rule) in &matched {
            for d in &rule.declarations {
                t.offer((d.important, false, rule.specificity, *index), d);
            }
        }
        t
    });
    if let Some(t) = touched {
        set(element, changed, "style", &t.style());
        let tag = element.name.clone();
        if TABLE_TAGS.contains(&tag.as_ref()) {
            for (property, attribute) in [
                ("background-color", "bgcolor"),
                ("text-align", "align"),
                ("vertical-align", "valign"),
            ] {
                if let Some(v) = t.value(property) {
                    set(element, changed, attribute, v);
                }
            }
        }
        if matches!(tag.as_ref(), "img" | "table" | "td" | "th") {
            for property in ["width", "height"] {
                if let Some(px) = t.value(property).and_then(|v| v.strip_suffix("px"))
                    && px.trim().parse::<f64>().is_ok()
                {
                    set(element, changed, property, px.trim());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(css: &str, html: &str) -> String {
        inline(html, &parse(css))
    }

    #[test]
    fn specificity_counts_ids_classes_and_types() {
        assert_eq!(specificity("p"), (0, 0, 1));
        assert_eq!(specificity("div.a > p#x[href]"), (1, 2, 2));
        assert_eq!(specificity("a:not(.b)"), (0, 1, 1));
        assert_eq!(specificity("li:nth-child(2n+1)"), (0, 1, 1));
        assert_eq!(specificity("*"), (0, 0, 0));
    }

    #[test]
    fn declarations_keep_important_and_values_with_semicolons_in_quotes() {
        let d = parse_declarations(" color : Red !important; font-family:'a;b', serif ;;x:");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].property, "color");
        assert_eq!(d[0].value, "Red");
        assert!(d[0].important);
        assert_eq!(d[1].value, "'a;b', serif");
    }

    #[test]
    fn rules_land_in_style_attributes_and_the_marks_go() {
        let out = run(
            ".red { color: red } p > span { font-weight: bold }",
            r#"<p class="red">a <span>b</span></p><div><span>c</span></div>"#,
        );
        assert_eq!(
            out,
            r#"<p class="red" style="color:red;">a <span style="font-weight:bold;">b</span></p><div><span>c</span></div>"#
        );
    }

    #[test]
    fn cascade_specificity_then_order_and_own_style_wins_unless_important() {
        let out = run(
            "#x { color: blue } p { color: red; margin: 0 } p { color: green } .k { padding: 1px !important; font-size: 9px !important }",
            r#"<p id="x" class="k" style="padding:4px;font-size:12px !important;">t</p><p>u</p>"#,
        );
        assert!(
            out.contains(
                r#"<p id="x" class="k" style="padding:1px;font-size:12px;color:blue;margin:0;">"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"<p style="color:green;margin:0;">u</p>"#),
            "{out}"
        );
    }

    #[test]
    fn media_queries_hover_and_pseudo_elements_are_left_out() {
        let sheet = parse(
            "/* c */ @media (max-width:480px) { .a { color: red } } a:hover { color: red } p::before { content: 'x' } a:focus-visible{x:y} a:linked{b:c} @import url(x.css); .b { color: blue }",
        );
        assert_eq!(
            sheet
                .rules
                .iter()
                .map(|r| r.selector.as_str())
                .collect::<Vec<_>>(),
            vec![".b"]
        );
        assert_eq!(sheet.skipped.len(), 6, "{:?}", sheet.skipped);
    }

    #[test]
    fn table_attributes_follow_the_inlined_style() {
        let out = run(
            "td.c { background-color: #eee; text-align: center; width: 120px } img { height: 40px; width: 50% }",
            r#"<table><tr><td class="c">x</td></tr></table><img src="a.png">"#,
        );
        assert!(
            out.contains(r##"<td class="c" style="background-color:#eee;text-align:center;width:120px;" bgcolor="#eee" align="center" width="120">"##),
            "{out}"
        );
        assert!(
            out.contains(r#"<img src="a.png" style="height:40px;width:50%;" height="40">"#),
            "{out}"
        );
    }

    #[test]
    fn the_scanner_reads_html_as_a_browser_does() {
        // Markup inside comments (Outlook's conditional ones too) and raw-text elements is not
        // an element; void elements and implied end tags keep the ancestry right; the first of
        // two same-named attributes counts; names are not case-sensitive.
        let html = concat!(
            "<!doctype html><html><head><style>td > p { x: y }</style><title><p></title></head>",
            "<body><!--[if mso]><table><tr><td><p>mso</p></td></tr></table><![endif]-->",
            "<TABLE><tr><TD Class=\"c\" class=\"z\"><p>one<p>two<br><img src=x></td>",
            "<td class='c'/>text</td></tr></table><p>out</p></body></html>"
        );
        let out = run(
            "td.c > p { color: red } td p { margin: 0 } td.z { x: y }",
            html,
        );
        assert!(out.contains("<p>mso</p>"), "{out}");
        assert!(
            out.contains("<style>td > p { x: y }</style><title><p></title>"),
            "{out}"
        );
        assert!(
            out.contains(r#"<p style="color:red;margin:0;">one<p style="color:red;margin:0;">two"#),
            "{out}"
        );
        assert!(out.contains("<p>out</p>"), "{out}");
        assert!(
            !out.contains("x:y"),
            "only the first class attribute counts: {out}"
        );
        // A cell opened with `/>` is still open (HTML ignores the slash on a non-void element).
        assert!(out.contains("<td class='c'/>text</td>"), "{out}");
        // Attribute values are read decoded and written encoded.
        let out = run(
            "p { font-family: \"A&B\" }",
            r#"<p style="color:&quot;x&quot;">t</p>"#,
        );
        assert_eq!(
            out,
            r#"<p style="color:&quot;x&quot;;font-family:&quot;A&amp;B&quot;;">t</p>"#
        );
    }

    #[test]
    fn html_attributes_and_inline_styles_in_one_pass() {
        // The attributes are set first: a class they add is seen by the style sheet.
        let rules = vec![(
            "table td".parse::<Selector>().unwrap(),
            vec![
                ("class".to_string(), "k".to_string()),
                ("data-x".to_string(), "1".to_string()),
            ],
        )];
        let out = apply(
            r#"<table><tr><td class="a">x</td></tr></table><td>y</td>"#,
            &rules,
            &parse(".k { color: red }"),
        );
        assert_eq!(
            out,
            r#"<table><tr><td class="k" data-x="1" style="color:red;">x</td></tr></table><td>y</td>"#
        );
    }

    #[test]
    fn a_comma_list_is_one_rule_per_selector() {
        let out = run("h1, .t { color: red }", r#"<h1>a</h1><b class="t">b</b>"#);
        assert_eq!(
            out,
            r#"<h1 style="color:red;">a</h1><b class="t" style="color:red;">b</b>"#
        );
    }
}

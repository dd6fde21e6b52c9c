//! Facteur's reader for the body of an MJML document: it builds the tree mrml's parser would
//! build (the same components, HTML nodes, texts and comments, read by the same rules), in one
//! pass over the source without mrml's tokenizer, and mrml renders it. mrml still reads the
//! rest of the document (the head, the root's and the body's attributes), which is small.
//!
//! The reader declines (`None`) whatever it does not read exactly as mrml does: conditional
//! comments outside raw HTML, CDATA, processing instructions, `mj-include`, prefixed element
//! names, names outside ASCII, a close tag that is not the open element's,
//! unquoted attribute values, a `<` that starts no tag, and the inputs that compile only once
//! rewritten for mrml (see `nesting::scan_xml`). The document then goes the other way, through
//! mrml's parser, which gives the same HTML (the tests compare both ways on every corpus) and
//! the errors with their positions.

use std::marker::PhantomData;

use mrml::comment::Comment;
use mrml::conditional_comment::ConditionalComment;
use mrml::mj_accordion::MjAccordionChild;
use mrml::mj_accordion_element::MjAccordionElementChildren;
use mrml::mj_body::MjBodyChild;
use mrml::mj_carousel::MjCarouselChild;
use mrml::mj_navbar::MjNavbarChild;
use mrml::mj_raw::MjRawChild;
use mrml::mj_social::MjSocialChild;
use mrml::mjml::Mjml;
use mrml::node::Node;
use mrml::prelude::{AttributeMap, Component};
use mrml::text::Text;

/// The comments that mark the content of each `<mj-raw>` (see `mjml::mark_raw`), as mrml
/// reads them: their text.
const RAW_START_TEXT: &str = "facteur:raw";
const RAW_END_TEXT: &str = "/facteur:raw";

/// Reads `source` (a whole document, its partials expanded): the tree mrml's parser gives for
/// it with the content of each `<mj-raw>` marked, or `None` when this reader declines it.
/// `mark_raw` marks the raw content of the rest of the document (mrml reads it) as
/// `mjml::mark_raw` does.
pub(crate) fn parse(
    source: &str,
    max_depth: usize,
    mark_raw: impl Fn(&str) -> Option<String>,
) -> Option<Mjml> {
    let b = source.as_bytes();
    let start = body_start(b)?;
    let mut reader = Reader {
        s: source,
        b,
        at: start,
        depth: 2,
        max_depth: max_depth / 2,
        raw_elements: 0,
        raw_closes: 0,
    };
    let Token::Start { name, empty, .. } = reader.token()? else {
        return None;
    };
    if name != "mj-body" || empty {
        return None;
    }
    let content_start = reader.at;
    let children = reader.body_children("mj-body")?;
    // `reader.at` is after `</mj-body>`: the close tag stays for mrml.
    let content_end = source[..reader.at].rfind("</")?;
    // `mjml::mark_raw` marks every `<mj-raw` it finds, in attribute values and comments too:
    // a body where it would mark something else than the elements goes the other way.
    let content = &source.as_bytes()[content_start..content_end];
    if memchr::memmem::find_iter(content, b"<mj-raw").count() != reader.raw_elements
        || memchr::memmem::find_iter(content, b"</mj-raw>").count() != reader.raw_closes
    {
        return None;
    }
    let rest = &source[reader.at..];
    // A second body, or anything but space after the root (mrml's tokenizer would read it in
    // another state): the other way.
    if memchr::memmem::find(rest.as_bytes(), b"<mj-body").is_some() {
        return None;
    }
    let root_end = memchr::memmem::rfind(rest.as_bytes(), b"</mjml>")?;
    if !rest[root_end + "</mjml>".len()..].trim().is_empty() {
        return None;
    }
    // `mjml::mark_raw` runs over the whole document: each `<mj-raw>` it marks in the head must
    // end there (the marks it puts in the head are then the ones it puts in the skeleton), and
    // none may follow the body.
    if !raw_marks_end_in(&source[..start])
        || memchr::memmem::find(rest.as_bytes(), b"<mj-raw").is_some()
    {
        return None;
    }
    let skeleton = format!("{}{}", &source[..content_start], &source[content_end..]);
    // mrml's tokenizer panics on some inputs, which the scan finds (and rewrites others): a
    // head that needs it goes the other way.
    if !crate::nesting::scan_xml(&skeleton, max_depth).is_ok_and(|edits| edits.is_empty()) {
        return None;
    }
    let marked = mark_raw(&skeleton);
    let mut mjml = mrml::parse(marked.as_deref().unwrap_or(&skeleton))
        .ok()?
        .element;
    let body = mjml.children.body.as_mut()?;
    if !body.children.is_empty() {
        return None;
    }
    body.children = children;
    Some(mjml)
}

/// Whether each `<mj-raw>` that `mjml::mark_raw` would mark in `head` has the close tag it
/// pairs it with (the next `</mj-raw>`) in `head` too (the same walk as `mark_raw`'s).
fn raw_marks_end_in(head: &str) -> bool {
    let mut rest = head;
    while let Some(at) = memchr::memmem::find(rest.as_bytes(), b"<mj-raw") {
        let after = &rest[at + "<mj-raw".len()..];
        if !after.starts_with(['>', ' ', '\t', '\n']) {
            rest = after;
            continue;
        }
        let Some(end) = after.find('>') else {
            return false;
        };
        rest = &after[end + 1..];
        if after[..end].ends_with('/') {
            continue;
        }
        match memchr::memmem::find(rest.as_bytes(), b"</mj-raw>") {
            Some(close) => rest = &rest[close + "</mj-raw>".len()..],
            None => return false,
        }
    }
    true
}

/// Where the body's start tag is: the first `<mj-body` that starts a tag, outside comments,
/// declarations and the quoted values of other tags.
fn body_start(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'<', &b[i..]) {
        let lt = i + p;
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            i = lt + 4 + memchr::memmem::find(&rest[4..], b"-->")? + 3;
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = lt + memchr::memchr(b'>', rest)? + 1;
        } else if rest.starts_with(b"<mj-body")
            && rest
                .get(8)
                .is_some_and(|&c| is_space(c) || c == b'>' || c == b'/')
        {
            return Some(lt);
        } else {
            // Another tag (or a `<` in text): past its `>`, quoted values skipped.
            let mut j = lt + 1;
            loop {
                let k = j + memchr::memchr3(b'>', b'"', b'\'', &b[j..])?;
                if b[k] == b'>' {
                    i = k + 1;
                    break;
                }
                j = k + 1 + memchr::memchr(b[k], &b[k + 1..])? + 1;
            }
        }
    }
    None
}

enum Token<'a> {
    Text(&'a str),
    Comment(&'a str),
    /// A conditional comment's opening (`<!--[if mso]>`) or closing (`<![endif]-->`), as
    /// written: raw HTML keeps them as they are.
    Conditional(&'a str),
    Start {
        name: &'a str,
        attributes: AttributeMap,
        empty: bool,
        /// The start tag as written.
        tag: &'a str,
        /// How many attributes are written (a name written twice counts twice).
        written: usize,
    },
    Close(&'a str),
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    at: usize,
    depth: usize,
    max_depth: usize,
    /// The `<mj-raw>` elements read, and those of them that have a close tag.
    raw_elements: usize,
    raw_closes: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// A name as this reader takes it: ASCII, a letter first (or `_` for an attribute), then
/// letters, digits, `-`, `.`, `_` (and one `:` inside, for an attribute). (`<_x` starts no
/// tag for the scan that prepares documents for mrml: it is rewritten, so read the other way.)
fn name_len(b: &[u8], attribute: bool) -> Option<usize> {
    let first = *b.first()?;
    if !(first.is_ascii_alphabetic() || (attribute && first == b'_')) {
        return None;
    }
    let colon = attribute;
    let mut colons = 0;
    let len = b
        .iter()
        .position(|&c| {
            if c == b':' && colon {
                colons += 1;
                return colons > 1;
            }
            !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
        })
        .unwrap_or(b.len());
    // Two `:`, or a local part that does not start with a letter or `_` (`a:-b`, `a:`): mrml's
    // tokenizer refuses the name.
    if colons > 1 {
        return None;
    }
    if colons == 1 {
        let colon_at = b[..len].iter().position(|&c| c == b':')?;
        if !b
            .get(colon_at + 1)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
            || colon_at + 1 >= len
        {
            return None;
        }
    }
    Some(len)
}

/// Characters XML (and mrml's tokenizer) accept: no control character but tab and line
/// breaks, no U+FFFE or U+FFFF.
fn xml_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let mut suspect = false;
    for &c in b {
        suspect |= c < 0x20 || c == 0xEF;
    }
    !suspect
        || (b
            .iter()
            .all(|&c| c >= 0x20 || matches!(c, b'\t' | b'\n' | b'\r'))
            && !s.contains(['\u{FFFE}', '\u{FFFF}']))
}

/// A text mrml's tokenizer leaves out: a line break, then only space.
fn skipped(text: &str) -> bool {
    let b = text.as_bytes();
    b.first() == Some(&b'\n') && (b.iter().all(u8::is_ascii_whitespace) || text.trim().is_empty())
}

impl<'a> Reader<'a> {
    /// The next token, texts mrml's tokenizer leaves out (a line break then only space) left
    /// out; `None` at the end or where the reader declines.
    fn token(&mut self) -> Option<Token<'a>> {
        loop {
            let token = self.raw_token()?;
            match token {
                Token::Text(text) if skipped(text) => {}
                other => return Some(other),
            }
        }
    }

    fn raw_token(&mut self) -> Option<Token<'a>> {
        let b = self.b;
        let at = self.at;
        if at >= b.len() {
            return None;
        }
        if b[at] != b'<' {
            let end = memchr::memchr(b'<', &b[at..]).map_or(b.len(), |p| at + p);
            let text = &self.s[at..end];
            // Space between tags (most texts) needs no more checks.
            if !text.bytes().all(|c| matches!(c, b' ' | b'\n' | b'\t')) {
                if !xml_chars(text) {
                    return None;
                }
                // `]]>` is refused by mrml's tokenizer, and a `>` just after a character of
                // three or four bytes is rewritten for it (`&gt;`): both the other way.
                for gt in memchr::memchr_iter(b'>', text.as_bytes()) {
                    let before = &text.as_bytes()[gt.saturating_sub(2)..gt];
                    if before == b"]]" || before.iter().any(|&c| c >= 0x80) {
                        return None;
                    }
                }
            }
            self.at = end;
            return Some(Token::Text(text));
        }
        let rest = &b[at..];
        if rest.starts_with(b"<!--[if")
            || rest.starts_with(b"<![if")
            || rest.starts_with(b"<![endif]")
            || rest.starts_with(b"<!--<![endif")
        {
            // Read as mrml's tokenizer reads them (it panics on others: declined).
            let end = crate::nesting::conditional_comment_end(b, at)?;
            let span = &self.s[at..end];
            if !xml_chars(span) {
                return None;
            }
            self.at = end;
            return Some(Token::Conditional(span));
        }
        if rest.starts_with(b"<!--") {
            let end = memchr::memmem::find(&rest[4..], b"-->")?;
            let text = &self.s[at + 4..at + 4 + end];
            if text.contains("--") || text.ends_with('-') || !xml_chars(text) {
                return None;
            }
            self.at = at + 4 + end + 3;
            return Some(Token::Comment(text));
        }
        if rest.starts_with(b"</") {
            let len = name_len(&rest[2..], false)?;
            let name = &self.s[at + 2..at + 2 + len];
            let mut i = at + 2 + len;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            if b.get(i) != Some(&b'>') {
                return None;
            }
            self.at = i + 1;
            return Some(Token::Close(name));
        }
        let len = name_len(&rest[1..], false)?;
        let name = &self.s[at + 1..at + 1 + len];
        let mut i = at + 1 + len;
        let mut attributes = AttributeMap::new();
        let mut written = 0;
        loop {
            let spaced = i < b.len() && is_space(b[i]);
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            match b.get(i)? {
                b'/' => {
                    if b.get(i + 1) != Some(&b'>') {
                        return None;
                    }
                    self.at = i + 2;
                    return Some(Token::Start {
                        name,
                        attributes,
                        empty: true,
                        tag: &self.s[at..self.at],
                        written,
                    });
                }
                b'>' => {
                    self.at = i + 1;
                    return Some(Token::Start {
                        name,
                        attributes,
                        empty: false,
                        tag: &self.s[at..self.at],
                        written,
                    });
                }
                _ if !spaced => return None,
                _ => {}
            }
            let len = name_len(&b[i..], true)?;
            let attribute = &self.s[i..i + len];
            i += len;
            // `=` with space around it, else an attribute without value.
            let mut j = i;
            while j < b.len() && is_space(b[j]) {
                j += 1;
            }
            let value = if b.get(j) == Some(&b'=') {
                j += 1;
                while j < b.len() && is_space(b[j]) {
                    j += 1;
                }
                let quote = *b.get(j)?;
                if quote != b'"' && quote != b'\'' {
                    return None;
                }
                let close = memchr::memchr(quote, &b[j + 1..])?;
                let value = &self.s[j + 1..j + 1 + close];
                if !xml_chars(value) {
                    return None;
                }
                i = j + 1 + close + 1;
                Some(value.to_string())
            } else {
                None
            };
            attributes.insert(attribute.to_string(), value);
            written += 1;
        }
    }

    /// Children of a component or HTML element of the body, up to the close tag of `parent`.
    fn body_children(&mut self, parent: &str) -> Option<Vec<MjBodyChild>> {
        let mut children = Vec::new();
        loop {
            match self.token()? {
                Token::Text(text) => children.push(MjBodyChild::Text(Text::from(text))),
                Token::Comment(text) => children.push(MjBodyChild::Comment(Comment::from(text))),
                // mrml refuses a conditional comment outside raw HTML.
                Token::Conditional(_) => return None,
                Token::Close(name) => return (name == parent).then_some(children),
                Token::Start {
                    name,
                    attributes,
                    empty,
                    tag,
                    written,
                } => children.push(self.body_element(name, attributes, empty, tag, written)?),
            }
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= self.max_depth).then_some(())
    }

    fn body_element(
        &mut self,
        name: &'a str,
        attributes: AttributeMap,
        empty: bool,
        tag: &str,
        written: usize,
    ) -> Option<MjBodyChild> {
        self.enter()?;
        // A component with these children (none when the tag closes itself).
        macro_rules! component {
            ($variant:ident, $children:expr) => {
                MjBodyChild::$variant(Component {
                    tag: PhantomData,
                    attributes,
                    children: if empty { Default::default() } else { $children },
                })
            };
        }
        macro_rules! without_children {
            ($variant:ident) => {{
                if !empty {
                    self.close_of_childless(name)?;
                }
                MjBodyChild::$variant(Component {
                    tag: PhantomData,
                    attributes,
                    children: (),
                })
            }};
        }
        let child = match name {
            "mj-section" => component!(MjSection, self.body_children(name)?),
            "mj-column" => component!(MjColumn, self.body_children(name)?),
            "mj-group" => component!(MjGroup, self.body_children(name)?),
            "mj-wrapper" => component!(MjWrapper, self.body_children(name)?),
            "mj-hero" => component!(MjHero, self.body_children(name)?),
            "mj-button" => component!(MjButton, self.body_children(name)?),
            "mj-table" => component!(MjTable, self.body_children(name)?),
            "mj-text" => component!(MjText, self.raw_children(name)?),
            "mj-image" => without_children!(MjImage),
            "mj-divider" => without_children!(MjDivider),
            "mj-spacer" => without_children!(MjSpacer),
            "mj-raw" => {
                // Marked as `mjml::mark_raw` marks it: a start tag it reads (no `>` inside a
                // value) and no `<mj-raw` inside.
                if tag[..tag.len() - 1].contains('>') {
                    return None;
                }
                // mrml reads one attribute on it (and leaves it out): two are an error.
                if written > 1 {
                    return None;
                }
                self.raw_elements += 1;
                self.raw_closes += usize::from(!empty);
                let children = if empty {
                    Vec::new()
                } else {
                    let from = self.at;
                    let inner = self.raw_children(name)?;
                    // `mjml::mark_raw` ends the mark at the first `</mj-raw>` written so: this
                    // close tag must be it.
                    let content = &self.s[from..self.at];
                    if !content.ends_with("</mj-raw>") || content.matches("</mj-raw").count() != 1 {
                        return None;
                    }
                    let mut children = Vec::with_capacity(inner.len() + 2);
                    children.push(MjRawChild::Comment(Comment::from(RAW_START_TEXT)));
                    children.extend(inner);
                    children.push(MjRawChild::Comment(Comment::from(RAW_END_TEXT)));
                    children
                };
                MjBodyChild::MjRaw(Component {
                    tag: PhantomData,
                    attributes: (),
                    children,
                })
            }
            "mj-social" => component!(
                MjSocial,
                self.list_children(
                    name,
                    "mj-social-element",
                    MjSocialChild::Comment,
                    |reader, name, attributes, empty| {
                        Some(MjSocialChild::MjSocialElement(Component {
                            tag: PhantomData,
                            attributes,
                            children: if empty {
                                Vec::new()
                            } else {
                                reader.raw_children(name)?
                            },
                        }))
                    }
                )?
            ),
            "mj-navbar" => component!(
                MjNavbar,
                self.list_children(
                    name,
                    "mj-navbar-link",
                    MjNavbarChild::Comment,
                    |reader, name, attributes, empty| {
                        Some(MjNavbarChild::MjNavbarLink(Component {
                            tag: PhantomData,
                            attributes,
                            children: if empty {
                                Vec::new()
                            } else {
                                reader.raw_children(name)?
                            },
                        }))
                    }
                )?
            ),
            "mj-carousel" => component!(
                MjCarousel,
                self.list_children(
                    name,
                    "mj-carousel-image",
                    MjCarouselChild::Comment,
                    |reader, name, attributes, empty| {
                        if !empty {
                            reader.close_of_childless(name)?;
                        }
                        Some(MjCarouselChild::MjCarouselImage(Component {
                            tag: PhantomData,
                            attributes,
                            children: (),
                        }))
                    }
                )?
            ),
            "mj-accordion" => component!(
                MjAccordion,
                self.list_children(
                    name,
                    "mj-accordion-element",
                    MjAccordionChild::Comment,
                    |reader, name, attributes, empty| {
                        Some(MjAccordionChild::MjAccordionElement(Component {
                            tag: PhantomData,
                            attributes,
                            children: if empty {
                                MjAccordionElementChildren::default()
                            } else {
                                reader.accordion_element_children(name)?
                            },
                        }))
                    }
                )?
            ),
            "mj-include" => return None,
            _ => MjBodyChild::Node(Node {
                tag: name.to_string(),
                attributes,
                children: if empty || crate::nesting::is_xml_void(name) {
                    Vec::new()
                } else {
                    self.body_children(name)?
                },
            }),
        };
        self.depth -= 1;
        Some(child)
    }

    /// After the start tag of a component without children: space, then its close tag.
    fn close_of_childless(&mut self, name: &str) -> Option<()> {
        loop {
            match self.token()? {
                Token::Text(text) if text.trim().is_empty() => {}
                Token::Close(closed) if closed == name => return Some(()),
                _ => return None,
            }
        }
    }

    /// Raw HTML (the content of `mj-raw`, `mj-text` and the elements that hold text), up to
    /// the close tag of `parent`.
    fn raw_children(&mut self, parent: &str) -> Option<Vec<MjRawChild>> {
        let mut children = Vec::new();
        loop {
            match self.token()? {
                Token::Text(text) => children.push(MjRawChild::Text(Text::from(text))),
                Token::Comment(text) => children.push(MjRawChild::Comment(Comment::from(text))),
                Token::Conditional(span) => children.push(MjRawChild::ConditionalComment(
                    ConditionalComment::from(span),
                )),
                Token::Close(name) => return (name == parent).then_some(children),
                // `mjml::mark_raw` marks an `<mj-raw>` anywhere, this one too: the other way.
                Token::Start { name: "mj-raw", .. } => return None,
                Token::Start {
                    name,
                    attributes,
                    empty,
                    ..
                } => {
                    self.enter()?;
                    children.push(MjRawChild::Node(Node {
                        tag: name.to_string(),
                        attributes,
                        children: if empty || crate::nesting::is_xml_void(name) {
                            Vec::new()
                        } else {
                            self.raw_children(name)?
                        },
                    }));
                    self.depth -= 1;
                }
            }
        }
    }

    /// The children of a component that holds comments and one kind of element (the
    /// carousel's images, the accordion's elements, the social icons, the navbar's links), up to
    /// the close tag of `parent`: `element` makes the child of each `child` element.
    fn list_children<T>(
        &mut self,
        parent: &str,
        child: &str,
        comment: fn(Comment) -> T,
        mut element: impl FnMut(&mut Self, &'a str, AttributeMap, bool) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut children = Vec::new();
        loop {
            match self.token()? {
                Token::Comment(text) => children.push(comment(Comment::from(text))),
                Token::Close(name) => return (name == parent).then_some(children),
                Token::Start {
                    name,
                    attributes,
                    empty,
                    ..
                } if name == child => {
                    self.enter()?;
                    children.push(element(self, name, attributes, empty)?);
                    self.depth -= 1;
                }
                _ => return None,
            }
        }
    }

    /// An accordion element's title and text (a later one of either replaces the earlier).
    fn accordion_element_children(&mut self, parent: &str) -> Option<MjAccordionElementChildren> {
        let mut children = MjAccordionElementChildren::default();
        loop {
            match self.token()? {
                Token::Close(name) => return (name == parent).then_some(children),
                Token::Start {
                    name: name @ "mj-accordion-text",
                    attributes,
                    empty,
                    ..
                } => {
                    self.enter()?;
                    children.text = Some(Component {
                        tag: PhantomData,
                        attributes,
                        children: if empty {
                            Vec::new()
                        } else {
                            self.raw_children(name)?
                        },
                    });
                    self.depth -= 1;
                }
                Token::Start {
                    name: name @ "mj-accordion-title",
                    attributes,
                    empty,
                    ..
                } => {
                    let mut texts = Vec::new();
                    if !empty {
                        // Texts only (space-only ones left out), then the close tag.
                        loop {
                            match self.token()? {
                                Token::Text(text) => {
                                    if !text.trim().is_empty() {
                                        texts.push(Text::from(text));
                                    }
                                }
                                Token::Close(closed) if closed == name => break,
                                _ => return None,
                            }
                        }
                    }
                    children.title = Some(Component {
                        tag: PhantomData,
                        attributes,
                        children: texts,
                    });
                }
                _ => return None,
            }
        }
    }
}

//! Facteur's reader for MJML documents: it builds the tree mrml's parser would build (the root,
//! the head's elements, the body's components, HTML nodes, texts and comments, read by the same
//! rules), in one pass over the source without mrml's tokenizer, and mrml renders it.
//!
//! The reader declines (`None`) whatever it does not read exactly as mrml does: conditional
//! comments outside raw HTML, CDATA, processing instructions, `mj-include`, prefixed names
//! where mrml keeps only the local part, repeated attributes on the elements whose attributes
//! mrml assigns one by one, names outside ASCII, a close tag that is not the open element's,
//! unquoted attribute values, a `<` that starts no tag, and the inputs that compile only once
//! rewritten for mrml (see `nesting::scan_xml`). The document then goes the other way, through
//! mrml's parser, which gives the same HTML (the tests compare both ways on every corpus, the
//! fuzzer on every case) and the errors with their positions.

use std::marker::PhantomData;

use mrml::comment::Comment;
use mrml::conditional_comment::ConditionalComment;
use mrml::mj_accordion::MjAccordionChild;
use mrml::mj_accordion_element::MjAccordionElementChildren;
use mrml::mj_attributes::MjAttributesChild;
use mrml::mj_attributes_class::MjAttributesClassAttributes;
use mrml::mj_attributes_element::MjAttributesElement;
use mrml::mj_body::MjBodyChild;
use mrml::mj_breakpoint::MjBreakpointAttributes;
use mrml::mj_carousel::MjCarouselChild;
use mrml::mj_font::MjFontAttributes;
use mrml::mj_head::MjHeadChild;
use mrml::mj_navbar::MjNavbarChild;
use mrml::mj_preview::MjPreviewChild;
use mrml::mj_raw::MjRaw;
use mrml::mj_raw::MjRawChild;
use mrml::mj_social::MjSocialChild;
use mrml::mj_style::MjStyleAttributes;
use mrml::mjml::{Mjml, MjmlAttributes, MjmlChildren};
use mrml::node::Node;
use mrml::prelude::OneOrMany;
use mrml::prelude::{AttributeMap, Component};
use mrml::text::Text;

/// The comments that mark the content of each `<mj-raw>` (see `mjml::mark_raw`), as mrml
/// reads them: their text.
const RAW_START_TEXT: &str = "facteur:raw";
const RAW_END_TEXT: &str = "/facteur:raw";

/// Reads `source` (a whole document, its partials expanded): the tree mrml's parser gives for
/// it with the content of each `<mj-raw>` marked as `mjml::mark_raw` marks it, and whether any
/// was marked; `None` when this reader declines the document.
pub(crate) fn parse(source: &str, max_depth: usize) -> Option<(Mjml, bool)> {
    let b = source.as_bytes();
    let mut reader = Reader {
        s: source,
        b,
        at: 0,
        depth: 0,
        max_depth: max_depth / 2,
        raw_elements: 0,
        raw_closes: 0,
    };
    // Before the root: space and comments (mrml leaves the comments out).
    loop {
        while reader.at < b.len() && is_space(b[reader.at]) {
            reader.at += 1;
        }
        if !b[reader.at..].starts_with(b"<!--") {
            break;
        }
        let Token::Comment(_) = reader.raw_token()? else {
            return None;
        };
    }
    let Token::Start {
        name: "mjml",
        attributes,
        empty,
        written,
        ..
    } = reader.raw_token()?
    else {
        return None;
    };
    let mjml = Mjml {
        tag: PhantomData,
        attributes: MjmlAttributes {
            owa: named(&attributes, written, "owa")?,
            lang: named(&attributes, written, "lang")?,
            dir: named(&attributes, written, "dir")?,
        },
        children: if empty {
            MjmlChildren::default()
        } else {
            reader.enter()?;
            reader.root_children()?
        },
    };
    // After the root: space only (mrml's tokenizer reads anything else in another state). A
    // second root is another document.
    if !source[reader.at..]
        .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        .is_empty()
    {
        return None;
    }
    // `mjml::mark_raw` marks every `<mj-raw` it finds, in attribute values and comments too:
    // a document where it would mark something else than the elements goes the other way.
    if memchr::memmem::find_iter(b, b"<mj-raw").count() != reader.raw_elements
        || memchr::memmem::find_iter(b, b"</mj-raw>").count() != reader.raw_closes
    {
        return None;
    }
    Some((mjml, reader.raw_closes > 0))
}

/// The value an element of fixed attributes (the root, a font, a breakpoint, a style) gets for
/// attribute `name`: as mrml assigns them in the order written, which the map keeps only
/// without repeated or prefixed names (else declined: `None`).
fn named(attributes: &AttributeMap, written: usize, name: &str) -> Option<Option<String>> {
    if written != attributes.len() || attributes.keys().any(|k| k.contains(':')) {
        return None;
    }
    Some(attributes.get(name).cloned().flatten())
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

/// An element's name: a letter first (`<_x` starts no tag for the scan), one `:` at most
/// (`o:PixelsPerInch` in raw HTML; the body's components and HTML elements decline it).
fn element_name_len(b: &[u8]) -> Option<usize> {
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    name_len(b, true)
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
            let len = element_name_len(&rest[2..])?;
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
        let len = element_name_len(&rest[1..])?;
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
        // mrml names an HTML element of the body by its local name: a prefixed one is declined.
        if name.contains(':') {
            return None;
        }
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
            "mj-raw" => MjBodyChild::MjRaw(self.raw(name, empty, tag, written)?),
            "mj-social" => component!(
                MjSocial,
                self.list_children(
                    name,
                    "mj-social-element",
                    MjSocialChild::Comment,
                    |reader, name, attributes, empty| {
                        Some(MjSocialChild::MjSocialElement(
                            reader.raw_component(name, attributes, empty)?,
                        ))
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
                        Some(MjNavbarChild::MjNavbarLink(
                            reader.raw_component(name, attributes, empty)?,
                        ))
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

    /// An `<mj-raw>` (of the body or the head), its content marked as `mjml::mark_raw` marks
    /// it.
    fn raw(&mut self, name: &str, empty: bool, tag: &str, written: usize) -> Option<MjRaw> {
        // Marked as `mjml::mark_raw` marks it: a start tag it reads (no `>` inside a value).
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
            // `mjml::mark_raw` ends the mark at the first `</mj-raw>` written so: this close
            // tag must be it.
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
        Some(Component {
            tag: PhantomData,
            attributes: (),
            children,
        })
    }

    /// The root's children, up to `</mjml>`: its head and body (a later one replaces an
    /// earlier), space and comments left out.
    fn root_children(&mut self) -> Option<MjmlChildren> {
        let mut children = MjmlChildren::default();
        loop {
            match self.token()? {
                Token::Text(text) if text.trim().is_empty() => {}
                Token::Comment(_) => {}
                Token::Close("mjml") => return Some(children),
                Token::Start {
                    name: "mj-head",
                    empty,
                    written,
                    ..
                } => {
                    if written > 1 {
                        return None;
                    }
                    self.enter()?;
                    children.head = Some(Component {
                        tag: PhantomData,
                        attributes: (),
                        children: if empty {
                            Vec::new()
                        } else {
                            self.head_children()?
                        },
                    });
                    self.depth -= 1;
                }
                Token::Start {
                    name: "mj-body",
                    attributes,
                    empty,
                    ..
                } => {
                    self.enter()?;
                    children.body = Some(Component {
                        tag: PhantomData,
                        attributes,
                        children: if empty {
                            Vec::new()
                        } else {
                            self.body_children("mj-body")?
                        },
                    });
                    self.depth -= 1;
                }
                _ => return None,
            }
        }
    }

    /// The head's children, up to `</mj-head>`.
    fn head_children(&mut self) -> Option<Vec<MjHeadChild>> {
        let mut children = Vec::new();
        loop {
            let (name, attributes, empty, tag, written) = match self.token()? {
                Token::Comment(text) => {
                    children.push(MjHeadChild::Comment(Comment::from(text)));
                    continue;
                }
                Token::Close("mj-head") => return Some(children),
                Token::Start {
                    name,
                    attributes,
                    empty,
                    tag,
                    written,
                } => (name, attributes, empty, tag, written),
                _ => return None,
            };
            self.enter()?;
            let child = match name {
                "mj-attributes" => {
                    if written > 1 {
                        return None;
                    }
                    MjHeadChild::MjAttributes(Component {
                        tag: PhantomData,
                        attributes: (),
                        children: if empty {
                            Vec::new()
                        } else {
                            self.attributes_children()?
                        },
                    })
                }
                "mj-breakpoint" => {
                    let width = named(&attributes, written, "width")?.unwrap_or_default();
                    if !empty {
                        self.close_of_childless(name)?;
                    }
                    MjHeadChild::MjBreakpoint(Component {
                        tag: PhantomData,
                        attributes: MjBreakpointAttributes { width },
                        children: (),
                    })
                }
                "mj-font" => {
                    let font = MjFontAttributes {
                        name: named(&attributes, written, "name")?.unwrap_or_default(),
                        href: named(&attributes, written, "href")?.unwrap_or_default(),
                    };
                    if !empty {
                        self.close_of_childless(name)?;
                    }
                    MjHeadChild::MjFont(Component {
                        tag: PhantomData,
                        attributes: font,
                        children: (),
                    })
                }
                "mj-preview" => {
                    if written > 1 {
                        return None;
                    }
                    MjHeadChild::MjPreview(Component {
                        tag: PhantomData,
                        attributes: (),
                        children: if empty {
                            OneOrMany::default()
                        } else {
                            OneOrMany::Many(self.preview_children()?)
                        },
                    })
                }
                "mj-raw" => MjHeadChild::MjRaw(self.raw(name, empty, tag, written)?),
                "mj-style" => MjHeadChild::MjStyle(Component {
                    tag: PhantomData,
                    attributes: MjStyleAttributes {
                        inline: named(&attributes, written, "inline")?,
                    },
                    children: if empty {
                        String::new()
                    } else {
                        self.text_content(name)?
                    },
                }),
                "mj-title" => {
                    if written > 1 {
                        return None;
                    }
                    MjHeadChild::MjTitle(Component {
                        tag: PhantomData,
                        attributes: (),
                        children: if empty {
                            String::new()
                        } else {
                            self.text_content(name)?
                        },
                    })
                }
                _ => return None,
            };
            self.depth -= 1;
            children.push(child);
        }
    }

    /// `<mj-attributes>`'s children (elements only), up to its close tag.
    fn attributes_children(&mut self) -> Option<Vec<MjAttributesChild>> {
        let mut children = Vec::new();
        loop {
            let (name, mut attributes, empty) = match self.token()? {
                Token::Close("mj-attributes") => return Some(children),
                Token::Start {
                    name,
                    attributes,
                    empty,
                    ..
                } => (name, attributes, empty),
                _ => return None,
            };
            // mrml names these by their local name: a prefixed one is declined.
            if name.contains(':') {
                return None;
            }
            let child = match name {
                "mj-include" => return None,
                "mj-all" => MjAttributesChild::MjAttributesAll(Component {
                    tag: PhantomData,
                    attributes,
                    children: (),
                }),
                "mj-class" => {
                    let class = attributes.remove("name").flatten()?;
                    MjAttributesChild::MjAttributesClass(Component {
                        tag: PhantomData,
                        attributes: MjAttributesClassAttributes {
                            name: class,
                            others: attributes,
                        },
                        children: (),
                    })
                }
                _ => MjAttributesChild::MjAttributesElement(MjAttributesElement {
                    name: name.to_string(),
                    attributes,
                }),
            };
            if !empty {
                self.close_of_childless(name)?;
            }
            children.push(child);
        }
    }

    /// `<mj-preview>`'s comments and texts, up to its close tag.
    fn preview_children(&mut self) -> Option<Vec<MjPreviewChild>> {
        let mut children = Vec::new();
        loop {
            match self.token()? {
                Token::Comment(text) => children.push(MjPreviewChild::Comment(Comment::from(text))),
                Token::Text(text) => children.push(MjPreviewChild::Text(Text::from(text))),
                Token::Close("mj-preview") => return Some(children),
                _ => return None,
            }
        }
    }

    /// The text of `<mj-title>` or `<mj-style>` (its first text, then only space up to the
    /// close tag).
    fn text_content(&mut self, name: &str) -> Option<String> {
        match self.token()? {
            Token::Close(closed) if closed == name => Some(String::new()),
            Token::Text(text) => {
                self.close_of_childless(name)?;
                Some(text.to_string())
            }
            _ => None,
        }
    }

    /// A component whose content is raw HTML (a social icon, a navbar link, an accordion's
    /// text, `mj-text`).
    fn raw_component<T>(
        &mut self,
        name: &str,
        attributes: AttributeMap,
        empty: bool,
    ) -> Option<Component<PhantomData<T>, AttributeMap, Vec<MjRawChild>>> {
        Some(Component {
            tag: PhantomData,
            attributes,
            children: if empty {
                Vec::new()
            } else {
                self.raw_children(name)?
            },
        })
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
                        children: if empty
                            || crate::nesting::is_xml_void(name.rsplit(':').next().unwrap_or(name))
                        {
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
                    children.text = Some(self.raw_component(name, attributes, empty)?);
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

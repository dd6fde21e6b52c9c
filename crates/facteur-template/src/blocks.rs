//! The block document of the visual editor: sections → columns → blocks, each with an id,
//! content properties and style properties (kept apart: locks apply to them separately).
//! It compiles to MJML ([`Document::to_mjml`]) and hand-written MJML imports into it
//! ([`Document::from_mjml`]): what has no block kind becomes an `mjml` block or section holding
//! its source, so nothing is lost.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

/// Properties by name: MJML attributes (style) or a block kind's content fields.
pub type Props = BTreeMap<String, String>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// `<mjml>`'s attributes (`lang`, `dir`, `owa`).
    #[serde(default, skip_serializing_if = "Props::is_empty")]
    pub root: Props,
    /// `<mj-body>`'s attributes.
    #[serde(default)]
    pub attributes: Props,
    /// What goes inside `<mj-head>`, verbatim.
    #[serde(default)]
    pub head: String,
    #[serde(default)]
    pub sections: Vec<Section>,
}

/// A section's locks: set by people with the lock permission, enforced by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub style: bool,
    #[serde(default)]
    pub content: bool,
}

impl Lock {
    pub fn any(self) -> bool {
        self.style || self.content
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    /// `<mj-section>` with columns.
    #[default]
    Section,
    /// MJML without a block kind (`mj-wrapper`, `mj-hero`…) in `content.source`, verbatim.
    Mjml,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    #[serde(default)]
    pub kind: SectionKind,
    #[serde(default)]
    pub style: Props,
    #[serde(default)]
    pub content: Props,
    #[serde(default)]
    pub lock: Lock,
    #[serde(default)]
    pub columns: Vec<Column>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub id: String,
    #[serde(default)]
    pub style: Props,
    #[serde(default)]
    pub blocks: Vec<Block>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    Text,
    Image,
    Button,
    Divider,
    Spacer,
    Social,
    Raw,
    Mjml,
    If,
    For,
}

impl BlockKind {
    pub const ALL: [BlockKind; 10] = [
        BlockKind::Text,
        BlockKind::Image,
        BlockKind::Button,
        BlockKind::Divider,
        BlockKind::Spacer,
        BlockKind::Social,
        BlockKind::Raw,
        BlockKind::Mjml,
        BlockKind::If,
        BlockKind::For,
    ];

    /// The content properties this kind has (anything else is refused).
    pub fn content_keys(self) -> &'static [&'static str] {
        match self {
            BlockKind::Text | BlockKind::Raw => &["html"],
            BlockKind::Image => &["src", "alt", "href"],
            BlockKind::Button => &["text", "href"],
            BlockKind::Divider | BlockKind::Spacer => &[],
            BlockKind::Social => &SOCIAL_NETWORKS,
            BlockKind::Mjml => &["source"],
            BlockKind::If | BlockKind::For => &["expr"],
        }
    }

    /// Whether the kind holds blocks (`if`, `for`).
    pub fn is_wrapper(self) -> bool {
        matches!(self, BlockKind::If | BlockKind::For)
    }

    /// Whether style properties mean anything for it (verbatim MJML and templating-language
    /// wrappers have none).
    pub fn has_style(self) -> bool {
        !matches!(
            self,
            BlockKind::Raw | BlockKind::Mjml | BlockKind::If | BlockKind::For
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Text => "text",
            BlockKind::Image => "image",
            BlockKind::Button => "button",
            BlockKind::Divider => "divider",
            BlockKind::Spacer => "spacer",
            BlockKind::Social => "social",
            BlockKind::Raw => "raw",
            BlockKind::Mjml => "mjml",
            BlockKind::If => "if",
            BlockKind::For => "for",
        }
    }
}

/// The networks of a social block, in the order they are drawn.
pub const SOCIAL_NETWORKS: [&str; 5] = ["facebook", "x", "linkedin", "instagram", "youtube"];

/// Networks whose plain mjml name links to a "share this page" URL: a profile link needs the
/// `-noshare` name.
fn shares(network: &str) -> bool {
    matches!(network, "facebook" | "x" | "linkedin")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub id: String,
    pub kind: BlockKind,
    #[serde(default)]
    pub content: Props,
    #[serde(default)]
    pub style: Props,
    /// The blocks inside an `if` or `for`.
    #[serde(default)]
    pub children: Vec<Block>,
}

impl Block {
    pub fn new(id: impl Into<String>, kind: BlockKind) -> Block {
        Block {
            id: id.into(),
            kind,
            content: Props::new(),
            style: Props::new(),
            children: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> Block {
        self.content.insert(key.into(), value.into());
        self
    }
}

/// An attribute value as MJML reads it between double quotes.
fn attr_escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
}

fn open(out: &mut String, tag: &str, attrs: &[(&str, &str)], style: &Props, close: bool) {
    out.push('<');
    out.push_str(tag);
    for (k, v) in attrs.iter().copied().chain(
        style
            .iter()
            .filter(|(k, _)| !attrs.iter().any(|(a, _)| a == k))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    ) {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        attr_escape(v, out);
        out.push('"');
    }
    out.push_str(if close { " />" } else { ">" });
}

impl Document {
    /// The document as MJML: what the templates' pipeline (mrml) compiles to HTML.
    pub fn to_mjml(&self) -> String {
        let mut out = String::with_capacity(4096);
        let root: Vec<(&str, &str)> = self
            .root
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        open(&mut out, "mjml", &root, &Props::new(), false);
        out.push('\n');
        if !self.head.trim().is_empty() {
            out.push_str("  <mj-head>");
            out.push_str(&self.head);
            out.push_str("</mj-head>\n");
        }
        out.push_str("  ");
        open(&mut out, "mj-body", &[], &self.attributes, false);
        out.push('\n');
        for s in &self.sections {
            match s.kind {
                SectionKind::Mjml => {
                    out.push_str("    ");
                    out.push_str(s.content.get("source").map_or("", String::as_str));
                    out.push('\n');
                }
                SectionKind::Section => {
                    out.push_str("    ");
                    open(&mut out, "mj-section", &[], &s.style, false);
                    out.push('\n');
                    for c in &s.columns {
                        out.push_str("      ");
                        open(&mut out, "mj-column", &[], &c.style, false);
                        out.push('\n');
                        for b in &c.blocks {
                            block_mjml(b, 4, &mut out);
                        }
                        out.push_str("      </mj-column>\n");
                    }
                    out.push_str("    </mj-section>\n");
                }
            }
        }
        out.push_str("  </mj-body>\n</mjml>\n");
        out
    }

    /// Every id in the document (sections, columns, blocks at any depth).
    pub fn ids(&self) -> Vec<&str> {
        let mut ids = Vec::new();
        for s in &self.sections {
            ids.push(s.id.as_str());
            for c in &s.columns {
                ids.push(c.id.as_str());
                collect_block_ids(&c.blocks, &mut ids);
            }
        }
        ids
    }

    /// Where the element `id` is: its section's index and what it is.
    pub fn find(&self, id: &str) -> Option<(usize, Found)> {
        for (i, s) in self.sections.iter().enumerate() {
            if s.id == id {
                return Some((i, Found::Section));
            }
            for c in &s.columns {
                if c.id == id {
                    return Some((i, Found::Column));
                }
                if let Some(kind) = find_block(&c.blocks, id) {
                    return Some((i, Found::Block(kind)));
                }
            }
        }
        None
    }

    /// The text a reader sees and the links they can follow: what an export must keep.
    pub fn texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(blocks: &[Block], out: &mut Vec<String>) {
            for b in blocks {
                match b.kind {
                    BlockKind::Text => out.extend(b.content.get("html").cloned()),
                    BlockKind::Button => out.extend(b.content.get("text").cloned()),
                    _ => {}
                }
                walk(&b.children, out);
            }
        }
        for s in &self.sections {
            for c in &s.columns {
                walk(&c.blocks, &mut out);
            }
        }
        out
    }
}

/// What an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Section,
    Column,
    Block(BlockKind),
}

fn find_block(blocks: &[Block], id: &str) -> Option<BlockKind> {
    blocks.iter().find_map(|b| {
        if b.id == id {
            Some(b.kind)
        } else {
            find_block(&b.children, id)
        }
    })
}

fn collect_block_ids<'a>(blocks: &'a [Block], ids: &mut Vec<&'a str>) {
    for b in blocks {
        ids.push(&b.id);
        collect_block_ids(&b.children, ids);
    }
}

fn block_mjml(b: &Block, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    out.push_str(&pad);
    let get = |k: &str| b.content.get(k).map_or("", String::as_str);
    match b.kind {
        BlockKind::Text => {
            open(out, "mj-text", &[], &b.style, false);
            out.push_str(get("html"));
            out.push_str("</mj-text>");
        }
        BlockKind::Image => {
            let mut attrs = vec![("src", get("src"))];
            for k in ["alt", "href"] {
                if !get(k).is_empty() {
                    attrs.push((k, get(k)));
                }
            }
            open(out, "mj-image", &attrs, &b.style, true);
        }
        BlockKind::Button => {
            let attrs: Vec<(&str, &str)> = if get("href").is_empty() {
                vec![]
            } else {
                vec![("href", get("href"))]
            };
            open(out, "mj-button", &attrs, &b.style, false);
            out.push_str(get("text"));
            out.push_str("</mj-button>");
        }
        BlockKind::Divider => open(out, "mj-divider", &[], &b.style, true),
        BlockKind::Spacer => open(out, "mj-spacer", &[], &b.style, true),
        BlockKind::Social => {
            open(out, "mj-social", &[], &b.style, false);
            for network in SOCIAL_NETWORKS {
                let href = get(network);
                if href.is_empty() {
                    continue;
                }
                let name = if shares(network) {
                    format!("{network}-noshare")
                } else {
                    network.to_string()
                };
                open(
                    out,
                    "mj-social-element",
                    &[("name", &name), ("href", href)],
                    &Props::new(),
                    false,
                );
                out.push_str("</mj-social-element>");
            }
            out.push_str("</mj-social>");
        }
        BlockKind::Raw => {
            out.push_str("<mj-raw>");
            out.push_str(get("html"));
            out.push_str("</mj-raw>");
        }
        BlockKind::Mjml => out.push_str(get("source")),
        BlockKind::If | BlockKind::For => {
            let (word, end) = if b.kind == BlockKind::If {
                ("if", "endif")
            } else {
                ("for", "endfor")
            };
            let _ = writeln!(
                out,
                "<mj-raw>{{% {word} {} %}}</mj-raw>",
                get("expr").trim()
            );
            for child in &b.children {
                block_mjml(child, depth + 1, out);
            }
            let _ = write!(out, "{pad}<mj-raw>{{% {end} %}}</mj-raw>");
        }
    }
    out.push('\n');
}

// ---- Import ----

/// A node of the MJML source, with its byte span.
#[derive(Debug)]
enum Node<'a> {
    Element(Element<'a>),
    Text(&'a str),
    Comment(&'a str),
}

#[derive(Debug)]
struct Element<'a> {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node<'a>>,
    /// The raw content of an ending tag (`mj-text`, `mj-raw`…).
    inner: Option<&'a str>,
    /// The whole element in the source.
    source: &'a str,
}

/// Elements whose content is HTML, not MJML.
fn is_ending(name: &str) -> bool {
    matches!(
        name,
        "mj-text"
            | "mj-button"
            | "mj-raw"
            | "mj-table"
            | "mj-navbar-link"
            | "mj-social-element"
            | "mj-accordion-title"
            | "mj-accordion-text"
            | "mj-style"
            | "mj-title"
            | "mj-preview"
            | "mj-html-attribute"
    )
}

struct Reader<'a> {
    src: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.at..]
    }

    /// Nodes until `</…>` (consumed when `closing` names it) or the end.
    fn nodes(&mut self, closing: Option<&str>) -> Result<Vec<Node<'a>>, String> {
        let mut out = Vec::new();
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return match closing {
                    None => Ok(out),
                    Some(name) => Err(format!("<{name}> is not closed")),
                };
            }
            if let Some(after) = rest.strip_prefix("<!--") {
                let end = after.find("-->").ok_or("a comment is not closed")?;
                let len = 4 + end + 3;
                out.push(Node::Comment(&rest[..len]));
                self.at += len;
            } else if rest.starts_with("</") {
                let end = rest.find('>').ok_or("a closing tag is not finished")?;
                let name = rest[2..end].trim().to_ascii_lowercase();
                self.at += end + 1;
                return match closing {
                    Some(open) if open == name => Ok(out),
                    _ => Err(format!("</{name}> closes nothing")),
                };
            } else if rest.starts_with("<?") || rest.starts_with("<!") {
                let end = rest.find('>').ok_or("a declaration is not finished")?;
                self.at += end + 1;
            } else if rest.starts_with('<') {
                out.push(Node::Element(self.element()?));
            } else {
                let len = rest.find('<').unwrap_or(rest.len());
                out.push(Node::Text(&rest[..len]));
                self.at += len;
            }
        }
    }

    fn element(&mut self) -> Result<Element<'a>, String> {
        let start = self.at;
        let b = self.src.as_bytes();
        let mut i = self.at + 1;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
            i += 1;
        }
        let name = self.src[self.at + 1..i].to_ascii_lowercase();
        if name.is_empty() {
            return Err("a '<' starts no element".into());
        }
        let mut attrs = Vec::new();
        let self_closing;
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                None => return Err(format!("<{name}> is not finished")),
                Some(b'>') => {
                    self_closing = false;
                    i += 1;
                    break;
                }
                Some(b'/') if b.get(i + 1) == Some(&b'>') => {
                    self_closing = true;
                    i += 2;
                    break;
                }
                _ => {}
            }
            let key_start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            if i == key_start {
                return Err(format!("<{name}> has a stray character"));
            }
            let key = self.src[key_start..i].to_string();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if b.get(i) == Some(&b'=') {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let end = self.src[i + 1..]
                            .find(q as char)
                            .ok_or_else(|| format!("an attribute of <{name}> is not closed"))?;
                        value = unescape(&self.src[i + 1..i + 1 + end]);
                        i += end + 2;
                    }
                    _ => {
                        let s = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = unescape(&self.src[s..i]);
                    }
                }
            }
            attrs.push((key, value));
        }
        self.at = i;
        let mut el = Element {
            name,
            attrs,
            children: Vec::new(),
            inner: None,
            source: "",
        };
        if !self_closing {
            if is_ending(&el.name) {
                let close = format!("</{}", el.name);
                let rest = self.rest();
                let end = find_ignore_case(rest, &close)
                    .ok_or_else(|| format!("<{}> is not closed", el.name))?;
                el.inner = Some(&rest[..end]);
                let gt = rest[end..]
                    .find('>')
                    .ok_or_else(|| format!("</{}> is not finished", el.name))?;
                self.at += end + gt + 1;
            } else {
                el.children = self.nodes(Some(&el.name.clone()))?;
            }
        }
        el.source = &self.src[start..self.at];
        Ok(el)
    }
}

fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn unescape(v: &str) -> String {
    if !v.contains('&') {
        return v.to_string();
    }
    v.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Makes up the ids of an import: `s1`, `c1`, `b1`…
#[derive(Default)]
struct Ids {
    n: usize,
}

impl Ids {
    fn next(&mut self, prefix: char) -> String {
        self.n += 1;
        format!("{prefix}{}", self.n)
    }
}

fn props(attrs: &[(String, String)]) -> Props {
    attrs.iter().cloned().collect()
}

fn verbatim_section(ids: &mut Ids, source: &str) -> Section {
    Section {
        id: ids.next('s'),
        kind: SectionKind::Mjml,
        style: Props::new(),
        content: Props::from([("source".to_string(), source.trim().to_string())]),
        lock: Lock::default(),
        columns: Vec::new(),
    }
}

fn verbatim_block(ids: &mut Ids, source: &str) -> Block {
    Block::new(ids.next('b'), BlockKind::Mjml).with("source", source.trim())
}

impl Document {
    /// Imports MJML. A source that does not read as well-formed MJML becomes one `mjml` section
    /// with all of it; elements without a block kind become `mjml` blocks or sections holding
    /// their source.
    ///
    /// `clean` decides what a text block may hold: it returns the HTML to keep (the editor shows
    /// it as rich text), or `None` when the text must stay verbatim MJML (an `mjml` block), for
    /// instance because sanitising it would lose something.
    pub fn from_mjml(source: &str, clean: &dyn Fn(&str) -> Option<String>) -> Document {
        let mut ids = Ids::default();
        let mut reader = Reader { src: source, at: 0 };
        let nodes = match reader.nodes(None) {
            Ok(nodes) => nodes,
            Err(_) => return whole(source, &mut ids),
        };
        let Some(root) = nodes.iter().find_map(|n| match n {
            Node::Element(e) if e.name == "mjml" => Some(e),
            _ => None,
        }) else {
            return whole(source, &mut ids);
        };
        let mut doc = Document {
            root: props(&root.attrs),
            ..Document::default()
        };
        for n in &root.children {
            let Node::Element(e) = n else { continue };
            match e.name.as_str() {
                "mj-head" => {
                    doc.head = inner_source(e).trim().to_string();
                }
                "mj-body" => {
                    doc.attributes = props(&e.attrs);
                    for child in &e.children {
                        match child {
                            Node::Element(s) if s.name == "mj-section" => {
                                doc.sections.push(import_section(s, &mut ids, clean))
                            }
                            Node::Element(s) => {
                                doc.sections.push(verbatim_section(&mut ids, s.source))
                            }
                            Node::Comment(c) => doc.sections.push(verbatim_section(&mut ids, c)),
                            Node::Text(t) if t.trim().is_empty() => {}
                            Node::Text(t) => doc.sections.push(verbatim_section(&mut ids, t)),
                        }
                    }
                }
                _ => {}
            }
        }
        doc
    }
}

/// The source between an element's opening and closing tags.
fn inner_source<'a>(e: &Element<'a>) -> &'a str {
    if let Some(inner) = e.inner {
        return inner;
    }
    let Some(gt) = e.source.find('>') else {
        return "";
    };
    if e.source[..=gt].ends_with("/>") {
        return "";
    }
    let close = e.source.rfind("</").unwrap_or(e.source.len());
    &e.source[gt + 1..close.max(gt + 1)]
}

/// The whole source as one verbatim section (what could not be read as MJML).
fn whole(source: &str, ids: &mut Ids) -> Document {
    let body = Reader { src: source, at: 0 }
        .nodes(None)
        .ok()
        .and_then(|nodes| {
            nodes.into_iter().find_map(|n| match n {
                Node::Element(e) if e.name == "mjml" => Some(e),
                _ => None,
            })
        });
    let inner = body.as_ref().map_or(source, inner_source);
    let mut doc = Document::default();
    if !inner.trim().is_empty() {
        doc.sections.push(verbatim_section(ids, inner));
    }
    doc
}

fn import_section(
    s: &Element<'_>,
    ids: &mut Ids,
    clean: &dyn Fn(&str) -> Option<String>,
) -> Section {
    let columns_only = s.children.iter().all(|n| match n {
        Node::Element(e) => e.name == "mj-column",
        Node::Text(t) => t.trim().is_empty(),
        Node::Comment(_) => false,
    });
    if !columns_only {
        return verbatim_section(ids, s.source);
    }
    let id = ids.next('s');
    let columns = s
        .children
        .iter()
        .filter_map(|n| match n {
            Node::Element(c) => Some(Column {
                id: ids.next('c'),
                style: props(&c.attrs),
                blocks: import_blocks(&c.children, ids, clean),
            }),
            _ => None,
        })
        .collect();
    Section {
        id,
        kind: SectionKind::Section,
        style: props(&s.attrs),
        content: Props::new(),
        lock: Lock::default(),
        columns,
    }
}

/// `{% if … %}` / `{% for … %}` alone in an `mj-raw`: the opening of a wrapper block.
fn wrapper_open(raw: &str) -> Option<(BlockKind, String)> {
    let t = raw.trim().strip_prefix("{%")?.strip_suffix("%}")?.trim();
    let (kind, expr) = if let Some(e) = t.strip_prefix("if ") {
        (BlockKind::If, e)
    } else {
        (BlockKind::For, t.strip_prefix("for ")?)
    };
    if expr.contains("%}") || expr.trim().is_empty() {
        return None;
    }
    Some((kind, expr.trim().to_string()))
}

fn wrapper_close(raw: &str) -> Option<BlockKind> {
    let t = raw.trim().strip_prefix("{%")?.strip_suffix("%}")?.trim();
    match t {
        "endif" => Some(BlockKind::If),
        "endfor" => Some(BlockKind::For),
        _ => None,
    }
}

fn import_blocks(
    nodes: &[Node<'_>],
    ids: &mut Ids,
    clean: &dyn Fn(&str) -> Option<String>,
) -> Vec<Block> {
    // A stack of open wrappers; the bottom is the column itself.
    let mut stack: Vec<Block> = vec![Block::new(String::new(), BlockKind::If)];
    for n in nodes {
        let e = match n {
            Node::Element(e) => e,
            Node::Comment(c) => {
                let b = verbatim_block(ids, c);
                stack.last_mut().expect("the column").children.push(b);
                continue;
            }
            Node::Text(t) if t.trim().is_empty() => continue,
            Node::Text(t) => {
                let b = verbatim_block(ids, t);
                stack.last_mut().expect("the column").children.push(b);
                continue;
            }
        };
        if e.name == "mj-raw" && e.attrs.is_empty() {
            let inner = e.inner.unwrap_or("");
            if let Some((kind, expr)) = wrapper_open(inner) {
                stack.push(Block::new(ids.next('b'), kind).with("expr", &expr));
                continue;
            }
            if let Some(kind) = wrapper_close(inner)
                && stack.len() > 1
                && stack.last().is_some_and(|b| b.kind == kind)
            {
                let done = stack.pop().expect("an open wrapper");
                stack.last_mut().expect("the column").children.push(done);
                continue;
            }
        }
        let b = import_block(e, ids, clean);
        stack.last_mut().expect("the column").children.push(b);
    }
    // Wrappers left open: their opening becomes a raw block again, their blocks stay in place.
    while stack.len() > 1 {
        let open = stack.pop().expect("an open wrapper");
        let word = if open.kind == BlockKind::If {
            "if"
        } else {
            "for"
        };
        let raw = format!(
            "{{% {word} {} %}}",
            open.content.get("expr").map_or("", String::as_str)
        );
        let parent = stack.last_mut().expect("the column");
        parent
            .children
            .push(Block::new(open.id, BlockKind::Raw).with("html", &raw));
        parent.children.extend(open.children);
    }
    stack.pop().expect("the column").children
}

fn import_block(e: &Element<'_>, ids: &mut Ids, clean: &dyn Fn(&str) -> Option<String>) -> Block {
    let split = |kind: BlockKind, ids: &mut Ids| {
        let mut b = Block::new(ids.next('b'), kind);
        for (k, v) in &e.attrs {
            if kind.content_keys().contains(&k.as_str()) {
                b.content.insert(k.clone(), v.clone());
            } else {
                b.style.insert(k.clone(), v.clone());
            }
        }
        b
    };
    match e.name.as_str() {
        "mj-text" => match clean(e.inner.unwrap_or("").trim()) {
            Some(html) => {
                let mut b = split(BlockKind::Text, ids);
                b.content.insert("html".into(), html);
                b
            }
            None => verbatim_block(ids, e.source),
        },
        "mj-image" if e.inner.is_none() && e.children.is_empty() => split(BlockKind::Image, ids),
        "mj-button" => {
            let mut b = split(BlockKind::Button, ids);
            b.content
                .insert("text".into(), e.inner.unwrap_or("").trim().to_string());
            b
        }
        "mj-divider" if e.children.is_empty() => split(BlockKind::Divider, ids),
        "mj-spacer" if e.children.is_empty() => split(BlockKind::Spacer, ids),
        "mj-raw" if e.attrs.is_empty() => {
            Block::new(ids.next('b'), BlockKind::Raw).with("html", e.inner.unwrap_or(""))
        }
        "mj-social" => social(e, ids).unwrap_or_else(|| verbatim_block(ids, e.source)),
        _ => verbatim_block(ids, e.source),
    }
}

/// An `mj-social` whose elements are all profile links of the block's networks, without
/// labels or their own attributes.
fn social(e: &Element<'_>, ids: &mut Ids) -> Option<Block> {
    let mut b = Block::new(ids.next('b'), BlockKind::Social);
    b.style = props(&e.attrs);
    for n in &e.children {
        let el = match n {
            Node::Element(el) if el.name == "mj-social-element" => el,
            Node::Text(t) if t.trim().is_empty() => continue,
            _ => return None,
        };
        if el.attrs.len() != 2 || !el.inner.unwrap_or("").trim().is_empty() {
            return None;
        }
        let attr = |k: &str| el.attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v);
        let (name, href) = (attr("name")?, attr("href")?);
        let network = name.strip_suffix("-noshare").unwrap_or(name);
        let known = SOCIAL_NETWORKS.contains(&network);
        let plain = name.ends_with("-noshare") == shares(network);
        if !known || !plain || b.content.contains_key(network) || href.is_empty() {
            return None;
        }
        b.content.insert(network.to_string(), href.clone());
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(html: &str) -> Option<String> {
        (!html.contains("<script")).then(|| html.to_string())
    }

    fn sample() -> Document {
        let mut doc = Document::default();
        doc.attributes
            .insert("background-color".into(), "#f4f4f4".into());
        doc.sections.push(Section {
            id: "s1".into(),
            kind: SectionKind::Section,
            style: Props::from([("padding".to_string(), "20px".to_string())]),
            content: Props::new(),
            lock: Lock::default(),
            columns: vec![Column {
                id: "c1".into(),
                style: Props::new(),
                blocks: vec![
                    Block::new("b1", BlockKind::Text).with("html", "<p>Hello {{var:name}}</p>"),
                    Block::new("b2", BlockKind::Button)
                        .with("text", "Buy")
                        .with("href", "https://example.com/?a=1&b=\"2\""),
                    Block {
                        children: vec![
                            Block::new("b4", BlockKind::Image).with("src", "https://x/y.png"),
                        ],
                        ..Block::new("b3", BlockKind::If).with("expr", "var:vip")
                    },
                    Block::new("b5", BlockKind::Social)
                        .with("facebook", "https://facebook.com/acme")
                        .with("instagram", "https://instagram.com/acme"),
                ],
            }],
        });
        doc
    }

    #[test]
    fn compiles_and_renders() {
        let mjml = sample().to_mjml();
        assert!(mjml.contains("{% if var:vip %}"), "{mjml}");
        assert!(mjml.contains("href=\"https://example.com/?a=1&amp;b=&quot;2&quot;\""));
        let html = crate::mjml::to_html(&mjml).expect("mrml renders it").html;
        assert!(html.contains("Hello {{var:name}}"));
        assert!(html.contains("https://facebook.com/acme"));
        assert!(html.contains("{% endif %}"));
    }

    #[test]
    fn round_trips_through_mjml() {
        let doc = sample();
        let back = Document::from_mjml(&doc.to_mjml(), &keep);
        // Ids are made up again on import; everything else survives.
        assert_eq!(back.to_mjml(), doc.to_mjml());
        assert_eq!(back.texts(), doc.texts());
        assert_eq!(back.sections[0].columns[0].blocks[2].kind, BlockKind::If);
        assert_eq!(
            back.sections[0].columns[0].blocks[2].children[0].kind,
            BlockKind::Image
        );
    }

    #[test]
    fn unknown_elements_are_kept_verbatim() {
        let src = r#"<mjml lang="fr"><mj-head><mj-title>T</mj-title></mj-head><mj-body width="500px">
          <mj-hero background-url="x.png"><mj-text>Hero</mj-text></mj-hero>
          <mj-section><mj-column><mj-navbar><mj-navbar-link href="/a">A</mj-navbar-link></mj-navbar>
          <!-- note --><mj-text>Hi</mj-text><mj-raw>{% if var:a %}</mj-raw><mj-text>A</mj-text></mj-column></mj-section>
          <mj-section><mj-group><mj-column><mj-text>G</mj-text></mj-column></mj-group></mj-section>
        </mj-body></mjml>"#;
        let doc = Document::from_mjml(src, &keep);
        assert_eq!(doc.root["lang"], "fr");
        assert_eq!(doc.head, "<mj-title>T</mj-title>");
        assert_eq!(doc.attributes["width"], "500px");
        assert_eq!(doc.sections.len(), 3);
        assert_eq!(doc.sections[0].kind, SectionKind::Mjml);
        assert!(doc.sections[0].content["source"].starts_with("<mj-hero"));
        let blocks = &doc.sections[1].columns[0].blocks;
        let kinds: Vec<_> = blocks.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Mjml,
                BlockKind::Mjml,
                BlockKind::Text,
                BlockKind::Raw,
                BlockKind::Text
            ]
        );
        assert_eq!(doc.sections[2].kind, SectionKind::Mjml);
        let html = crate::mjml::to_html(&doc.to_mjml()).expect("renders").html;
        for text in ["Hero", "Hi", "G", ">A<", "x.png"] {
            assert!(html.contains(text), "{text} kept");
        }
    }

    #[test]
    fn broken_mjml_is_kept_whole() {
        let doc = Document::from_mjml("<mjml><mj-body><mj-section><mj-column>", &keep);
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].kind, SectionKind::Mjml);
        let doc = Document::from_mjml("<p>plain html</p>", &keep);
        assert!(doc.sections[0].content["source"].contains("plain html"));
    }
}

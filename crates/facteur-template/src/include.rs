//! `<mj-include>`: shared partials (a header, a footer, a brand block) written once and used by
//! many templates. Facteur expands includes itself, before compiling, so that the rest of the
//! pipeline (validation, mj-raw, inline styles) sees one document, and so that where a partial
//! comes from is the caller's business: the store (another template of the same account, by
//! name) for the API and the web app, files next to the document for the command line.
//!
//! As in node mjml:
//! - `<mj-include path="x">` takes MJML. A partial written as a whole document
//!   (`<mjml><mj-head>…</mj-head><mj-body>…</mj-body></mjml>`) gives its body's children in
//!   place and its head's children to the document's `<mj-head>`; a fragment goes in place.
//! - `type="css"` adds the partial as an `<mj-style>` in the head (`css-inline="inline"` makes
//!   it an inlined one); `type="html"` puts it in place as an `<mj-raw>`.
//!
//! Partials may include partials, up to [`MAX_DEPTH`] levels; a cycle or a missing partial is
//! an error at the position of the `<mj-include>` in the document being compiled.

use crate::mjml::MjmlError;

/// How deep partials may include partials.
pub const MAX_DEPTH: usize = 8;

/// What an `<mj-include>` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mjml,
    Css { inline: bool },
    Html,
}

/// One `<mj-include>` of a source: its path, kind, and the byte range of the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// A resolved partial: a name that identifies it (for cycles and messages) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    pub name: String,
    pub content: String,
}

/// Finds partials: `(path, kind, the name of the partial that includes it, if not the
/// document)` → the partial, or a message saying why there is none.
pub type Resolver<'a> = dyn Fn(&str, Kind, Option<&str>) -> Result<Partial, String> + 'a;

/// The `<mj-include …>` tags of `source`, outside comments, in order.
pub fn requests(source: &str) -> Vec<Request> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(rel) = source[from..].find('<') {
        let at = from + rel;
        let rest = &source[at..];
        if rest.starts_with("<!--") {
            from = rest.find("-->").map_or(source.len(), |e| at + e + 3);
            continue;
        }
        if let Some(after) = rest.strip_prefix("<mj-include")
            && after.starts_with([' ', '\t', '\n', '\r', '/', '>'])
            && let Some(close) = rest.find('>')
        {
            let tag = &rest[..close + 1];
            let attr = |name: &str| crate::mjml::attribute(tag, name);
            let kind = match attr("type").as_deref() {
                Some("css") => Kind::Css {
                    inline: attr("css-inline").as_deref() == Some("inline"),
                },
                Some("html") => Kind::Html,
                _ => Kind::Mjml,
            };
            // `<mj-include …></mj-include>` is one include too.
            let mut end = at + close + 1;
            if !tag.ends_with("/>")
                && let Some(c) = source[end..].trim_start().strip_prefix("</mj-include>")
            {
                end = source.len() - c.len();
            }
            found.push(Request {
                path: attr("path").unwrap_or_default(),
                kind,
                start: at,
                end,
            });
            from = end;
            continue;
        }
        from = at + 1;
    }
    found
}

/// Where a stretch of the expanded text comes from.
#[derive(Debug, Clone)]
struct Piece {
    /// Start in the expanded text.
    at: usize,
    /// `None`: the document itself, from byte `offset`. `Some`: a partial (its chain of names,
    /// outermost first), and the byte where the outermost include starts in the document.
    partial: Option<(String, usize)>,
    offset: usize,
}

/// The document with its includes expanded, and how to find where any byte came from.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub source: String,
    /// Every partial used (names, each once, in the order first met).
    pub used: Vec<String>,
    pieces: Vec<Piece>,
}

impl Expanded {
    /// Maps an error on the expanded text to the document: an error inside a partial is given
    /// at its `<mj-include>` in the document, naming the partial.
    pub fn locate(&self, document: &str, mut e: MjmlError) -> MjmlError {
        if self.pieces.is_empty() {
            return e;
        }
        let (Some(line), Some(column)) = (e.line, e.column) else {
            return e;
        };
        let at = crate::offset_of(&self.source, line, column);
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.at <= at)
            .unwrap_or(&self.pieces[0]);
        match &piece.partial {
            None => {
                let (l, c) =
                    crate::position(document, (piece.offset + at - piece.at).min(document.len()));
                e.line = Some(l);
                e.column = Some(c);
            }
            Some((chain, include_at)) => {
                let (l, c) = crate::position(document, *include_at);
                e.message = format!("in partial {chain}: {}", e.message);
                e.line = Some(l);
                e.column = Some(c);
            }
        }
        e
    }
}

struct Builder<'r> {
    resolve: &'r Resolver<'r>,
    out: String,
    pieces: Vec<Piece>,
    head: Vec<(String, Option<(String, usize)>)>,
    used: Vec<String>,
}

impl<'r> Builder<'r> {
    fn new(resolve: &'r Resolver<'r>, capacity: usize) -> Self {
        Builder {
            resolve,
            out: String::with_capacity(capacity),
            pieces: Vec::new(),
            head: Vec::new(),
            used: Vec::new(),
        }
    }

    fn push(&mut self, text: &str, partial: &Option<(String, usize)>, offset: usize) {
        if text.is_empty() {
            return;
        }
        self.pieces.push(Piece {
            at: self.out.len(),
            partial: partial.clone(),
            offset,
        });
        self.out.push_str(text);
    }

    /// Copies `src` into the output with its includes expanded. `stack` holds the names of
    /// the partials being expanded (cycle detection); `origin` is `None` for the document.
    fn expand(
        &mut self,
        document: &str,
        src: &str,
        origin: &Option<(String, usize)>,
        stack: &mut Vec<String>,
    ) -> Result<(), MjmlError> {
        let mut from = 0;
        for r in requests(src) {
            self.push(&src[from..r.start], origin, from);
            from = r.end;
            // Errors are given at the include in the document.
            let include_at = origin.as_ref().map_or(r.start, |(_, at)| *at);
            let error = |message: String| {
                let (line, column) = crate::position(document, include_at);
                MjmlError {
                    message,
                    line: Some(line),
                    column: Some(column),
                }
            };
            if r.path.trim().is_empty() {
                return Err(error(
                    "<mj-include> needs a path: the partial's name".into(),
                ));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(error(format!(
                    "partials include each other more than {MAX_DEPTH} levels deep (at {:?})",
                    r.path
                )));
            }
            // The including partial (not the document, which resolves from its own place).
            let from = stack
                .last()
                .filter(|_| origin.is_some())
                .map(String::as_str);
            let partial = (self.resolve)(&r.path, r.kind, from)
                .map_err(|m| error(format!("mj-include {:?}: {m}", r.path)))?;
            if let Some(first) = stack.iter().position(|n| *n == partial.name) {
                let mut cycle: Vec<&str> = stack[first..].iter().map(String::as_str).collect();
                cycle.push(&partial.name);
                return Err(error(format!(
                    "mj-include cycle: {} (a partial cannot include itself)",
                    cycle.join(" → ")
                )));
            }
            if !self.used.contains(&partial.name) {
                self.used.push(partial.name.clone());
            }
            let chain = match origin {
                Some((chain, _)) => format!("{chain} → {:?}", partial.name),
                None => format!("{:?}", partial.name),
            };
            let inner_origin = Some((chain, include_at));
            let content = if partial.content.contains('\r') {
                partial.content.replace("\r\n", "\n").replace('\r', "\n")
            } else {
                partial.content.clone()
            };
            match r.kind {
                Kind::Css { inline } => {
                    let open = if inline {
                        "<mj-style inline=\"inline\">"
                    } else {
                        "<mj-style>"
                    };
                    self.head.push((
                        format!("{open}{}</mj-style>", content.replace('<', "\\3c ")),
                        inner_origin,
                    ));
                }
                Kind::Html => {
                    self.push("<mj-raw>", &inner_origin, 0);
                    self.push(&content, &inner_origin, 0);
                    self.push("</mj-raw>", &inner_origin, 0);
                }
                Kind::Mjml => {
                    stack.push(partial.name.clone());
                    let (head, body) = split_document(&content);
                    if let Some(head) = head {
                        // The head's own includes are expanded into a separate builder's text.
                        let mut sub = Builder::new(self.resolve, head.len());
                        sub.used = std::mem::take(&mut self.used);
                        sub.expand(document, head, &inner_origin, stack)?;
                        self.used = sub.used;
                        self.head.append(&mut sub.head);
                        self.head.push((sub.out, inner_origin.clone()));
                    }
                    self.expand(document, body, &inner_origin, stack)?;
                    stack.pop();
                }
            }
        }
        self.push(&src[from..], origin, from);
        Ok(())
    }
}

/// `(the head's inside, the body's inside)` of a whole document, or `(None, everything)` for
/// a fragment.
fn split_document(content: &str) -> (Option<&str>, &str) {
    let inner = |open: &str, close: &str| -> Option<&str> {
        let start = content.find(open)?;
        let tag_end = start + content[start..].find('>')? + 1;
        if content[..tag_end].ends_with("/>") {
            return Some("");
        }
        let end = tag_end + content[tag_end..].find(close)?;
        Some(&content[tag_end..end])
    };
    if !content.trim_start().starts_with("<mjml") {
        return (None, content);
    }
    (
        inner("<mj-head", "</mj-head>"),
        inner("<mj-body", "</mj-body>").unwrap_or(""),
    )
}

/// Expands every `<mj-include>` of `document`. Without includes, returns `None` (nothing to
/// map).
/// `name` is the document's own name when it can itself be included (a template of the
/// store): including it again through other partials is then a cycle too.
pub fn expand(
    document: &str,
    name: Option<&str>,
    resolve: &Resolver<'_>,
) -> Result<Option<Expanded>, MjmlError> {
    if memchr::memmem::find(document.as_bytes(), b"<mj-include").is_none()
        || requests(document).is_empty()
    {
        return Ok(None);
    }
    let mut b = Builder::new(resolve, document.len() * 2);
    let mut stack: Vec<String> = name.map(str::to_string).into_iter().collect();
    b.expand(document, document, &None, &mut stack)?;
    let Builder {
        mut out,
        mut pieces,
        head,
        used,
        ..
    } = b;
    if !head.is_empty() {
        // The partials' head elements go at the end of the document's head (a head is made
        // after `<mjml …>` when there is none).
        let (at, wrap) = match out.find("</mj-head>") {
            Some(at) => (at, false),
            None => match out
                .find("<mjml")
                .and_then(|s| out[s..].find('>').map(|e| s + e + 1))
            {
                Some(at) => (at, true),
                None => (0, true),
            },
        };
        let mut insert = String::new();
        let mut inserted = Vec::new();
        if wrap {
            insert.push_str("<mj-head>");
        }
        for (text, origin) in head {
            inserted.push(Piece {
                at: at + insert.len(),
                partial: origin,
                offset: 0,
            });
            insert.push_str(&text);
        }
        if wrap {
            insert.push_str("</mj-head>");
        }
        out.insert_str(at, &insert);
        // Pieces after the insertion point move; the one that spans it is split.
        let mut moved = Vec::with_capacity(pieces.len() + inserted.len() + 1);
        for p in pieces.drain(..) {
            if p.at >= at {
                moved.push(Piece {
                    at: p.at + insert.len(),
                    ..p
                });
            } else {
                moved.push(p);
            }
        }
        let split = moved.iter().rposition(|p| p.at <= at);
        if let Some(i) = split {
            let p = moved[i].clone();
            let tail = Piece {
                at: at + insert.len(),
                offset: p.offset + (at - p.at),
                partial: p.partial,
            };
            moved.insert(i + 1, tail);
            for (k, piece) in inserted.into_iter().enumerate() {
                moved.insert(i + 1 + k, piece);
            }
        } else {
            for (k, piece) in inserted.into_iter().enumerate() {
                moved.insert(k, piece);
            }
        }
        moved.sort_by_key(|p| p.at);
        pieces = moved;
    }
    Ok(Some(Expanded {
        source: out,
        used,
        pieces,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn store(parts: &[(&str, &str)]) -> HashMap<String, String> {
        parts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(doc: &str, parts: &[(&str, &str)]) -> Result<Option<Expanded>, MjmlError> {
        let map = store(parts);
        let resolve = move |path: &str, _: Kind, _: Option<&str>| {
            map.get(path)
                .map(|c| Partial {
                    name: path.to_string(),
                    content: c.clone(),
                })
                .ok_or_else(|| "no template of that name in this account".to_string())
        };
        expand(doc, None, &resolve)
    }

    #[test]
    fn finds_include_tags_outside_comments() {
        let r = requests(
            r#"<mj-include path="a"/><!-- <mj-include path="no"/> --><mj-include path='b' type="css" css-inline="inline"></mj-include><mj-includex/>"#,
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].path, "a");
        assert_eq!(r[1].kind, Kind::Css { inline: true });
        assert!(r[1].end > r[1].start + 40);
    }

    #[test]
    fn fragments_go_in_place_and_whole_documents_split_head_and_body() {
        let doc = "<mjml><mj-head><mj-title>T</mj-title></mj-head><mj-body><mj-include path=\"header\" /><mj-include path=\"css\" type=\"css\" /></mj-body></mjml>";
        let e = run(
            doc,
            &[
                (
                    "header",
                    "<mjml><mj-head><mj-preview>P</mj-preview></mj-head><mj-body><mj-section>H</mj-section><mj-include path=\"logo\"/></mj-body></mjml>",
                ),
                ("logo", "<mj-section>L</mj-section>"),
                ("css", ".a{color:red}"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            e.source,
            "<mjml><mj-head><mj-title>T</mj-title><mj-preview>P</mj-preview><mj-style>.a{color:red}</mj-style></mj-head><mj-body><mj-section>H</mj-section><mj-section>L</mj-section></mj-body></mjml>"
        );
        assert_eq!(e.used, vec!["header", "logo", "css"]);
    }

    #[test]
    fn a_head_is_made_when_the_document_has_none() {
        let e = run(
            "<mjml><mj-body><mj-include path=\"c\" type=\"css\" css-inline=\"inline\"/></mj-body></mjml>",
            &[("c", "p{margin:0}")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            e.source,
            "<mjml><mj-head><mj-style inline=\"inline\">p{margin:0}</mj-style></mj-head><mj-body></mj-body></mjml>"
        );
    }

    #[test]
    fn html_includes_are_raw() {
        let e = run(
            "<mjml><mj-body><mj-include path=\"x\" type=\"html\"/></mj-body></mjml>",
            &[("x", "<p>hi</p>")],
        )
        .unwrap()
        .unwrap();
        assert!(e.source.contains("<mj-raw><p>hi</p></mj-raw>"));
    }

    #[test]
    fn cycles_and_missing_partials_are_errors_at_the_include() {
        let doc = "<mjml>\n<mj-body>\n  <mj-include path=\"a\"/>\n</mj-body></mjml>";
        let e = run(
            doc,
            &[
                ("a", "<mj-include path=\"b\"/>"),
                ("b", "<mj-include path=\"a\"/>"),
            ],
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(3)));
        assert!(e.message.contains("cycle: a → b → a"), "{}", e.message);
        let e = run(doc, &[]).unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(3)));
        assert!(
            e.message.contains("mj-include \"a\": no template"),
            "{}",
            e.message
        );
        let e = run("<mjml><mj-body><mj-include/></mj-body></mjml>", &[]).unwrap_err();
        assert!(e.message.contains("needs a path"), "{}", e.message);
    }

    #[test]
    fn errors_map_back_to_the_document_or_to_the_include() {
        let doc = "<mjml>\n<mj-body>\n<mj-include path=\"a\"/>\n<mj-x/>\n</mj-body></mjml>";
        let e = run(doc, &[("a", "<mj-section>\n<mj-y/>\n</mj-section>")])
            .unwrap()
            .unwrap();
        // `<mj-x/>` is at line 4, column 1 of the document; line 5 in the expanded text.
        let at = e.source.find("<mj-x").unwrap();
        let (l, c) = crate::position(&e.source, at);
        let mapped = e.locate(
            doc,
            MjmlError {
                message: "bad".into(),
                line: Some(l),
                column: Some(c),
            },
        );
        assert_eq!((mapped.line, mapped.column), (Some(4), Some(1)));
        let at = e.source.find("<mj-y").unwrap();
        let (l, c) = crate::position(&e.source, at);
        let mapped = e.locate(
            doc,
            MjmlError {
                message: "bad".into(),
                line: Some(l),
                column: Some(c),
            },
        );
        assert_eq!((mapped.line, mapped.column), (Some(3), Some(1)));
        assert_eq!(mapped.message, "in partial \"a\": bad");
    }

    #[test]
    fn a_document_included_back_by_its_partial_is_a_cycle() {
        let map = store(&[
            ("news", "<mj-include path=\"footer\"/>"),
            ("footer", "<mj-include path=\"news\"/>"),
        ]);
        let resolve = move |path: &str, _: Kind, _: Option<&str>| {
            map.get(path)
                .map(|c| Partial {
                    name: path.to_string(),
                    content: c.clone(),
                })
                .ok_or_else(|| "missing".to_string())
        };
        let e = expand("<mj-include path=\"news\"/>", Some("footer"), &resolve).unwrap_err();
        assert!(
            e.message.contains("cycle: footer → news → footer"),
            "{}",
            e.message
        );
    }

    #[test]
    fn no_include_means_nothing_to_do() {
        assert!(run("<mjml><mj-body/></mjml>", &[]).unwrap().is_none());
    }
}

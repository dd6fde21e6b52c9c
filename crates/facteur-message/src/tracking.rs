//! Open and click tracking, pure: the signed tokens that carry everything the public endpoints
//! need (the recipient, and for a click the link's URL and position), so that answering a
//! click reads no database and a token edited by hand is refused, never an open redirect;
//! and the rewriting of one recipient's HTML part with lol_html (streaming): every http(s)
//! link through its click URL, an open pixel at the end of the body; and the unsubscribe link
//! of marketing mail: Mailjet's `[[UNSUB_LINK_xx]]` placeholders replaced in the HTML and text
//! parts, and RFC 8058's `List-Unsubscribe` / `List-Unsubscribe-Post` headers.

use base64::Engine as _;
use lol_html::{ElementContentHandlers, HtmlRewriter, Selector, Settings};
use ring::hmac;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// Bytes of HMAC kept in a token (96 bits).
const TAG_BYTES: usize = 12;
const VERSION: u8 = 1;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Open,
    Click,
    /// A recipient's unsubscribe link (and its RFC 8058 one-click `POST`).
    Unsub,
}

/// A token, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// The recipient (Mailjet's MessageID).
    pub recipient_id: i64,
    /// When the message was written for the recipient (Unix seconds): a click a few seconds
    /// after it is a link scanner's.
    pub issued_at: i64,
    /// For a click: the link's position in the part (0 first) and where it goes.
    pub link: Option<(u16, String)>,
}

/// Signs and reads tokens with a key only the server has.
pub struct Tokens {
    key: hmac::Key,
}

impl Tokens {
    pub fn new(key: hmac::Key) -> Tokens {
        Tokens { key }
    }

    fn seal(&self, payload: Vec<u8>) -> String {
        let tag = hmac::sign(&self.key, &payload);
        let mut out = B64.encode(&payload);
        out.push('.');
        out.push_str(&B64.encode(&tag.as_ref()[..TAG_BYTES]));
        out
    }

    /// A payload's head: the version, the kind, the recipient, when it was written.
    fn head(kind: u8, recipient_id: i64, issued_at: i64, extra: usize) -> Vec<u8> {
        let mut p = Vec::with_capacity(14 + extra);
        p.extend_from_slice(&[VERSION, kind]);
        p.extend_from_slice(&recipient_id.to_be_bytes());
        p.extend_from_slice(&(issued_at.clamp(0, u32::MAX.into()) as u32).to_be_bytes());
        p
    }

    /// The token of a recipient's open pixel, written at `issued_at` (Unix seconds).
    pub fn open(&self, recipient_id: i64, issued_at: i64) -> String {
        self.seal(Self::head(b'o', recipient_id, issued_at, 0))
    }

    /// The token of a recipient's unsubscribe link.
    pub fn unsub(&self, recipient_id: i64, issued_at: i64) -> String {
        self.seal(Self::head(b'u', recipient_id, issued_at, 0))
    }

    /// The token of one link of a recipient's message.
    pub fn click(&self, recipient_id: i64, issued_at: i64, position: u16, url: &str) -> String {
        let mut p = Self::head(b'c', recipient_id, issued_at, 2 + url.len());
        p.extend_from_slice(&position.to_be_bytes());
        p.extend_from_slice(url.as_bytes());
        self.seal(p)
    }

    /// A token's facts, if it is one of ours and untouched.
    pub fn read(&self, token: &str) -> Option<Token> {
        let (payload, tag) = token.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let tag = B64.decode(tag).ok()?;
        let full = hmac::sign(&self.key, &payload);
        if tag.len() != TAG_BYTES {
            return None;
        }
        let diff = full.as_ref()[..TAG_BYTES]
            .iter()
            .zip(&tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return None;
        }
        let (head, rest) = payload.split_at_checked(14)?;
        if head[0] != VERSION {
            return None;
        }
        let recipient_id = i64::from_be_bytes(head[2..10].try_into().ok()?);
        let issued_at = i64::from(u32::from_be_bytes(head[10..14].try_into().ok()?));
        match head[1] {
            b'o' | b'u' if rest.is_empty() => Some(Token {
                kind: if head[1] == b'o' {
                    TokenKind::Open
                } else {
                    TokenKind::Unsub
                },
                recipient_id,
                issued_at,
                link: None,
            }),
            b'c' => {
                let (pos, url) = rest.split_at_checked(2)?;
                let url = std::str::from_utf8(url).ok()?;
                if !is_trackable(url) {
                    return None;
                }
                Some(Token {
                    kind: TokenKind::Click,
                    recipient_id,
                    issued_at,
                    link: Some((u16::from_be_bytes([pos[0], pos[1]]), url.to_string())),
                })
            }
            _ => None,
        }
    }
}

/// A link that goes through a click URL: http(s) only (never `mailto:`, `tel:`, anchors,
/// `javascript:`), and not an unsubscribe link or a placeholder the template language fills.
pub fn is_trackable(href: &str) -> bool {
    let h = href.trim().as_bytes();
    let scheme = |s: &[u8]| h.len() >= s.len() && h[..s.len()].eq_ignore_ascii_case(s);
    // One pass: no placeholder (`{{…}}`, `[[…]]`, the unsubscribe link's among them), no
    // space or control character (ASCII or not).
    (scheme(b"http://") || scheme(b"https://"))
        && !h
            .windows(2)
            .any(|w| w == b"{{" || w == b"[[" || w[0] <= b' ' || w[0] == 0x7f)
        && h.last().is_none_or(|b| *b > b' ' && *b != 0x7f)
        && (h.is_ascii()
            || !std::str::from_utf8(h)
                .unwrap_or("")
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()))
}

/// How one recipient's HTML is rewritten.
pub struct Rewrite<'a> {
    /// The open pixel's URL; `None`: opens are not tracked.
    pub pixel: Option<&'a str>,
    /// The click URL of link `position` going to `url`; `None`: clicks are not tracked.
    #[allow(clippy::type_complexity)]
    pub click: Option<&'a dyn Fn(u16, &str) -> String>,
    /// The recipient's unsubscribe URL, which replaces the `[[UNSUB_LINK…]]` placeholders of
    /// the HTML and text parts; `None`: they are left as they are.
    pub unsub: Option<&'a str>,
}

const UNSUB_PLACEHOLDER: &str = "[[UNSUB_LINK";

/// Whether a text holds an unsubscribe placeholder (`[[UNSUB_LINK]]`, `[[UNSUB_LINK_EN]]`…).
pub fn has_unsub_placeholder(s: &[u8]) -> bool {
    memchr::memmem::find(s, UNSUB_PLACEHOLDER.as_bytes()).is_some()
}

/// Whether a whole message holds an unsubscribe placeholder in its text or HTML body, read
/// decoded: a quoted-printable soft line break or a base64 part hides it from the raw bytes.
/// The raw bytes answer first; only a message with an encoded part is parsed.
pub fn message_has_unsub_placeholder(raw: &[u8]) -> bool {
    use mail_parser::{MessageParser, PartType};
    if has_unsub_placeholder(raw) {
        return true;
    }
    let encoded = |name: &[u8]| {
        memchr::memmem::find_iter(raw, name).any(|at| {
            let value = &raw[at + name.len()..raw.len().min(at + name.len() + 40)];
            let v = String::from_utf8_lossy(value).to_ascii_lowercase();
            v.contains("base64") || v.contains("quoted-printable")
        })
    };
    if !encoded(b"ransfer-Encoding:")
        && !encoded(b"ransfer-encoding:")
        && !encoded(b"RANSFER-ENCODING:")
    {
        return false;
    }
    let Some(m) = MessageParser::new().parse(raw) else {
        return false;
    };
    m.text_body.iter().chain(&m.html_body).any(|&i| {
        match m.parts.get(i as usize).map(|p| &p.body) {
            Some(PartType::Text(t)) | Some(PartType::Html(t)) => t.contains(UNSUB_PLACEHOLDER),
            _ => false,
        }
    })
}

/// Replaces Mailjet's unsubscribe placeholders with `url`: `[[UNSUB_LINK]]` (what
/// `{{mj:unsub_link}}` renders to) by the URL itself, `[[UNSUB_LINK_FR]]` (any language code)
/// by the URL with `?l=fr`, which the hosted page is shown in. Anything else is kept.
pub fn replace_unsub_placeholders(s: &str, url: &str) -> String {
    let mut out = String::with_capacity(s.len() + 64);
    let mut rest = s;
    while let Some(at) = rest.find(UNSUB_PLACEHOLDER) {
        out.push_str(&rest[..at]);
        let after = &rest[at + UNSUB_PLACEHOLDER.len()..];
        let lang = after
            .strip_prefix('_')
            .and_then(|a| a.split_once("]]"))
            .filter(|(l, _)| {
                (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic())
            });
        if let Some(tail) = after.strip_prefix("]]") {
            out.push_str(url);
            rest = tail;
        } else if let Some((l, tail)) = lang {
            out.push_str(url);
            out.push_str(if url.contains('?') { "&l=" } else { "?l=" });
            out.push_str(&l.to_ascii_lowercase());
            rest = tail;
        } else {
            out.push_str(UNSUB_PLACEHOLDER);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Adds RFC 8058's `List-Unsubscribe: <url>` and `List-Unsubscribe-Post:
/// List-Unsubscribe=One-Click` at the end of the header, unless the message has its own
/// `List-Unsubscribe` (the sender's is kept).
pub fn add_list_unsubscribe(raw: &mut Vec<u8>, url: &str) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1));
    let Some(end) = end else { return };
    if crate::header_value(raw, "list-unsubscribe").is_some() {
        return;
    }
    let fields = format!(
        "List-Unsubscribe: <{url}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    );
    raw.splice(end..end, fields.into_bytes());
}

/// The selectors the rewriter matches, parsed once (not once per recipient's copy).
static A_HREF: std::sync::LazyLock<Selector> =
    std::sync::LazyLock::new(|| "a[href]".parse().expect("a valid selector"));

/// An element handler on a selector parsed once.
fn on<'h>(
    selector: &'static Selector,
    handler: impl FnMut(&mut lol_html::html_content::Element<'_, '_>) -> lol_html::HandlerResult + 'h,
) -> (
    std::borrow::Cow<'static, Selector>,
    ElementContentHandlers<'h>,
) {
    (
        std::borrow::Cow::Borrowed(selector),
        ElementContentHandlers::default().element(handler),
    )
}

/// Rewrites an HTML part for one recipient: each trackable `<a href>` (not marked
/// `data-notrack`, at most 65,535) through its click URL, the pixel appended inside `<body>`
/// (or at the end when there is none). Everything else stays byte for byte.
pub fn rewrite_html(html: &str, how: &Rewrite<'_>) -> Result<String, String> {
    let unsub = |s: String| match how.unsub {
        Some(url) if s.contains(UNSUB_PLACEHOLDER) => {
            replace_unsub_placeholders(&s, &html_attr(url))
        }
        _ => s,
    };
    if how.pixel.is_none() && how.click.is_none() {
        return Ok(unsub(html.to_string()));
    }
    let mut out = Vec::with_capacity(html.len() + 2048);
    let position = std::cell::Cell::new(0u32);
    let pixel_tag = how.pixel.map(|src| {
        format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" border=\"0\" style=\"height:1px !important;width:1px !important;border-width:0 !important;margin:0 !important;padding:0 !important\" />",
            html_attr(src)
        )
    });
    let mut element_handlers = Vec::new();
    if let Some(click) = how.click {
        element_handlers.push(on(&A_HREF, move |el| {
            if el.has_attribute("data-notrack") {
                el.remove_attribute("data-notrack");
                return Ok(());
            }
            let Some(href) = el.get_attribute("href") else {
                return Ok(());
            };
            let href = decode_entities(&href);
            if !is_trackable(&href) || position.get() > u32::from(u16::MAX) {
                return Ok(());
            }
            let n = position.get() as u16;
            position.set(position.get() + 1);
            // The value is written as it is given: its entities are ours to write.
            el.set_attribute("href", &html_attr(&click(n, href.trim())))?;
            Ok(())
        }));
    }
    let mut settings = Settings::new();
    for h in element_handlers {
        settings = settings.append_element_content_handler(h);
    }
    let mut rewriter = HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
    rewriter
        .write(html.as_bytes())
        .map_err(|e| format!("rewriting the HTML part: {e}"))?;
    rewriter
        .end()
        .map_err(|e| format!("rewriting the HTML part: {e}"))?;
    let mut out =
        String::from_utf8(out).map_err(|_| "the rewritten HTML part is not UTF-8".to_string())?;
    if let Some(tag) = &pixel_tag {
        // Before the body's end tag (the last one), else at the end.
        let at = out
            .as_bytes()
            .windows(7)
            .rposition(|w| w.eq_ignore_ascii_case(b"</body>"))
            .unwrap_or(out.len());
        out.insert_str(at, tag);
    }
    Ok(unsub(out))
}

/// Rewrites every HTML part of a whole message (not attachments) for one recipient: each is
/// rewritten by [`rewrite_html`] and written back base64 (its other headers kept); the rest of
/// the message — text parts, attachments, headers, boundaries — stays byte for byte. `None`:
/// the message has no HTML part to rewrite.
pub fn rewrite_message(raw: &[u8], how: &Rewrite<'_>) -> Result<Option<Vec<u8>>, String> {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    let Some(message) = MessageParser::new().parse(raw) else {
        return Ok(None);
    };
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for (index, part) in message.parts.iter().enumerate() {
        let (rewritten, content_type) = match &part.body {
            PartType::Html(_) => (None, "text/html"),
            // A text body part (text/plain; not a calendar, a CSV or a text attachment)
            // changes only for its unsubscribe placeholders.
            PartType::Text(text)
                if how.unsub.is_some()
                    && message.text_body.contains(&(index as u32))
                    && part.content_type().is_none_or(|c| {
                        c.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
                    })
                    && text.contains(UNSUB_PLACEHOLDER) =>
            {
                (
                    Some(replace_unsub_placeholders(
                        text,
                        how.unsub.unwrap_or_default(),
                    )),
                    "text/plain",
                )
            }
            _ => continue,
        };
        if part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
        {
            continue;
        }
        let (head, body, end) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        if !(head <= body && body <= end && end <= raw.len()) {
            return Err("the message's MIME structure could not be read".into());
        }
        let rewritten = match (rewritten, &part.body) {
            (Some(text), _) => text,
            (None, PartType::Html(html)) => rewrite_html(html, how)?,
            (None, _) => continue,
        };
        // The part's header without its transfer encoding (a field and its folded lines).
        let mut header = Vec::with_capacity(body - head + 40);
        let mut skipping = false;
        for line in raw[head..body].split_inclusive(|&b| b == b'\n') {
            let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
            if !folded {
                // The text is written back as UTF-8: its old charset label would lie.
                skipping = (line.len() > 26
                    && line[..26].eq_ignore_ascii_case(b"content-transfer-encoding:"))
                    || (line.len() > 13 && line[..13].eq_ignore_ascii_case(b"content-type:"));
            }
            if skipping || line == b"\r\n" || line == b"\n" {
                continue;
            }
            header.extend_from_slice(line);
        }
        header.extend_from_slice(
            format!("Content-Type: {content_type}; charset=utf-8\r\n").as_bytes(),
        );
        header.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        header.extend(crate::compose::base64_lines(rewritten.as_bytes()));
        // The body ended where the original did (its line end before the boundary is kept).
        if header.ends_with(b"\r\n") && !raw[..end].ends_with(b"\r\n") {
            header.truncate(header.len() - 2);
        }
        edits.push((head, end, header));
    }
    if edits.is_empty() {
        return Ok(None);
    }
    edits.sort_by_key(|e| e.0);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 2);
    let mut at = 0;
    for (start, end, with) in edits {
        if start < at {
            return Err("overlapping HTML parts".into());
        }
        out.extend_from_slice(&raw[at..start]);
        out.extend(with);
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Ok(Some(out))
}

/// `&amp;` and the other entities a URL in an attribute may carry, read as the browser reads
/// them (the click URL must go where the link went).
fn decode_entities(s: &str) -> String {
    const ENTITIES: [(&str, char); 6] = [
        ("&amp;", '&'),
        ("&#38;", '&'),
        ("&quot;", '"'),
        ("&#39;", '\''),
        ("&lt;", '<'),
        ("&gt;", '>'),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    // One pass: each `&` is an entity of the list, or itself.
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match ENTITIES.iter().find(|(e, _)| tail.starts_with(e)) {
            Some((e, c)) => {
                out.push(*c);
                rest = &tail[e.len()..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn html_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(hmac::Key::new(hmac::HMAC_SHA256, b"test key"))
    }

    #[test]
    fn tokens_carry_what_they_need_and_refuse_edits() {
        let t = tokens();
        let open = t.open(42, 1_800_000_000);
        assert_eq!(
            t.read(&open),
            Some(Token {
                kind: TokenKind::Open,
                recipient_id: 42,
                issued_at: 1_800_000_000,
                link: None
            })
        );
        let url = "https://shop.example.com/a?b=1&c=%20x#top";
        let click = t.click(7_000_000_000_000, 1_800_000_000, 3, url);
        let read = t.read(&click).unwrap();
        assert_eq!(read.kind, TokenKind::Click);
        assert_eq!(read.recipient_id, 7_000_000_000_000);
        assert_eq!(read.link, Some((3, url.to_string())));
        // Any change to the payload or the tag, another key, garbage: refused.
        let (payload, tag) = click.split_once('.').unwrap();
        let mut p = B64.decode(payload).unwrap();
        let last = p.len() - 1;
        p[last] ^= 1;
        assert_eq!(t.read(&format!("{}.{tag}", B64.encode(&p))), None);
        assert_eq!(t.read(&format!("{payload}.{}", &tag[1..])), None);
        let other = Tokens::new(hmac::Key::new(hmac::HMAC_SHA256, b"other"));
        assert_eq!(other.read(&click), None);
        for junk in ["", ".", "abc", "abc.def", "é.é", &open[..open.len() - 1]] {
            assert_eq!(t.read(junk), None, "{junk}");
        }
        // A signed token for a non-http URL is still refused (never a javascript: redirect).
        assert_eq!(t.read(&t.click(1, 0, 0, "javascript:alert(1)")), None);
    }

    #[test]
    fn links_go_through_click_urls_and_the_pixel_ends_the_body() {
        let html = "<html><body><p>Hi</p>\
            <a href=\"https://a.test/x?y=1&amp;z=2\">one</a>\
            <a href=\"mailto:me@a.test\">mail</a>\
            <a href=\"#top\">anchor</a>\
            <a href=\"[[UNSUB_LINK_EN]]\">unsubscribe</a>\
            <a href=\"http://b.test/\" data-notrack>quiet</a>\
            <A HREF=\"HTTPS://c.test/\">three</A>\
            </body></html>";
        let click = |n: u16, url: &str| format!("https://t.test/c/{n}?u={url}");
        let out = rewrite_html(
            html,
            &Rewrite {
                pixel: Some("https://t.test/o/TOKEN"),
                click: Some(&click),
                unsub: None,
            },
        )
        .unwrap();
        assert!(
            out.contains("href=\"https://t.test/c/0?u=https://a.test/x?y=1&amp;z=2\""),
            "{out}"
        );
        // (An attribute keeps the case it was written in.)
        assert!(
            out.contains("HREF=\"https://t.test/c/1?u=HTTPS://c.test/\""),
            "{out}"
        );
        assert!(out.contains("href=\"mailto:me@a.test\""));
        assert!(out.contains("href=\"#top\""));
        assert!(out.contains("href=\"[[UNSUB_LINK_EN]]\""));
        assert!(
            out.contains("<a href=\"http://b.test/\">quiet</a>"),
            "{out}"
        );
        let pixel = out.find("https://t.test/o/TOKEN").unwrap();
        assert!(pixel < out.find("</body>").unwrap());
        assert!(pixel > out.find("three").unwrap());
        // Without a body, the pixel goes at the end.
        let out = rewrite_html(
            "<p>x</p>",
            &Rewrite {
                pixel: Some("https://t.test/o/T"),
                click: None,
                unsub: None,
            },
        )
        .unwrap();
        assert!(
            out.starts_with("<p>x</p><img src=\"https://t.test/o/T\""),
            "{out}"
        );
        // Nothing tracked: the part is byte for byte the same.
        let none = Rewrite {
            pixel: None,
            click: None,
            unsub: None,
        };
        assert_eq!(rewrite_html(html, &none).unwrap(), html);
    }

    fn composed(html: &str, text: &str) -> Vec<u8> {
        use crate::compose::{Composed, Mailbox, compose};
        let to = vec![Mailbox {
            name: String::new(),
            email: "reader@example.net".into(),
        }];
        compose(&Composed {
            from: Some(&Mailbox {
                name: "News".into(),
                email: "news@example.com".into(),
            }),
            sender: None,
            to: &to,
            cc: &[],
            reply_to: None,
            subject: "Spring",
            text,
            html,
            message_id: "m1@example.com",
            date: 1_800_000_000,
            headers: &[],
            attachments: &[],
            inline: &[],
        })
    }

    #[test]
    fn whole_messages_get_their_html_parts_rewritten_and_nothing_else() {
        let link = "https://shop.example.com/spring?utm_source=news";
        let long = "x".repeat(300);
        for (html, text) in [
            (
                format!("<html><body><p>{long}</p><a href=\"{link}\">Shop</a></body></html>"),
                format!("Shop: {link}"),
            ),
            (
                format!("<p>Bonjour é</p><a href=\"{link}\">Shop</a>"),
                String::new(),
            ),
            (
                format!("<p>short</p><a href=\"{link}\">x</a>"),
                "plain".to_string(),
            ),
        ] {
            let raw = composed(&html, &text);
            let click = |n: u16, _: &str| format!("https://t.test/c/{n}");
            let how = Rewrite {
                pixel: Some("https://t.test/o/P"),
                click: Some(&click),
                unsub: None,
            };
            let out = rewrite_message(&raw, &how).unwrap().expect("an HTML part");
            let parsed = mail_parser::MessageParser::new().parse(&out).unwrap();
            let got = parsed.body_html(0).unwrap();
            assert!(got.contains("href=\"https://t.test/c/0\""), "{got}");
            assert!(got.contains("https://t.test/o/P"), "{got}");
            assert!(!got.contains(link));
            if !text.is_empty() {
                assert_eq!(
                    parsed.body_text(0).unwrap().trim_end(),
                    text,
                    "text parts keep their links"
                );
            }
            assert_eq!(parsed.subject(), Some("Spring"));
            // Every line fits SMTP; the rest of the message is unchanged.
            assert!(out.split(|b| *b == b'\n').all(|l| l.len() <= 1000));
            let head =
                |m: &[u8]| m[..m.windows(4).position(|w| w == b"\r\n\r\n").unwrap()].to_vec();
            if !text.is_empty() {
                assert_eq!(head(&out), head(&raw));
            }
        }
        // A message without HTML: nothing to do.
        let plain = composed("", "just text https://a.test/");
        let click = |_: u16, _: &str| String::new();
        let how = Rewrite {
            pixel: Some("p"),
            click: Some(&click),
            unsub: None,
        };
        assert_eq!(rewrite_message(&plain, &how).unwrap(), None);
    }

    #[test]
    fn unsubscribe_placeholders_and_headers() {
        let t = tokens();
        let u = t.unsub(9, 1_800_000_000);
        assert_eq!(
            t.read(&u).map(|t| (t.kind, t.recipient_id)),
            Some((TokenKind::Unsub, 9))
        );
        let open = t.read(&t.open(9, 1_800_000_000)).unwrap();
        assert_eq!(
            open.kind,
            TokenKind::Open,
            "an open token is not an unsubscribe token"
        );
        let url = "https://t.test/u/TOK";
        assert_eq!(
            replace_unsub_placeholders(
                "a [[UNSUB_LINK]] b [[UNSUB_LINK_FR]] c [[UNSUB_LINK_EN]]",
                url
            ),
            "a https://t.test/u/TOK b https://t.test/u/TOK?l=fr c https://t.test/u/TOK?l=en"
        );
        // Not a placeholder: kept.
        for keep in [
            "[[UNSUB_LINK",
            "[[UNSUB_LINK_]]",
            "[[UNSUB_LINK_FRANCE]]",
            "[[UNSUB_LINKS]]",
        ] {
            assert_eq!(replace_unsub_placeholders(keep, url), keep);
        }
        let html = "<html><body><a href=\"https://a.test/\">shop</a> \
            <a href=\"[[UNSUB_LINK_FR]]\">désabonnement</a></body></html>";
        let raw = composed(html, "Se désabonner : [[UNSUB_LINK_FR]]");
        assert!(has_unsub_placeholder(&raw));
        let click = |n: u16, _: &str| format!("https://t.test/c/{n}");
        let how = Rewrite {
            pixel: None,
            click: Some(&click),
            unsub: Some(url),
        };
        let mut out = rewrite_message(&raw, &how).unwrap().unwrap();
        add_list_unsubscribe(&mut out, url);
        let parsed = mail_parser::MessageParser::new().parse(&out).unwrap();
        let got = parsed.body_html(0).unwrap();
        // The unsubscribe link is not a tracked click.
        assert!(got.contains("href=\"https://t.test/c/0\""), "{got}");
        assert!(got.contains("href=\"https://t.test/u/TOK?l=fr\""), "{got}");
        assert!(!got.contains("/c/1"), "{got}");
        assert_eq!(
            parsed.body_text(0).unwrap().trim_end(),
            "Se désabonner : https://t.test/u/TOK?l=fr"
        );
        assert_eq!(
            crate::header_value(&out, "list-unsubscribe").as_deref(),
            Some("<https://t.test/u/TOK>")
        );
        assert_eq!(
            crate::header_value(&out, "list-unsubscribe-post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        // The sender's own List-Unsubscribe is kept, and not doubled.
        let mut again = out.clone();
        add_list_unsubscribe(&mut again, "https://other.test/");
        assert_eq!(again, out);
        // Without a placeholder and nothing tracked, the HTML reads the same (written back
        // base64).
        let plain = composed("<p>hi</p>", "hi");
        let how = Rewrite {
            pixel: None,
            click: None,
            unsub: Some(url),
        };
        let out = rewrite_message(&plain, &how).unwrap().unwrap();
        let parsed = mail_parser::MessageParser::new().parse(&out).unwrap();
        assert_eq!(parsed.body_html(0).unwrap().trim(), "<p>hi</p>");
    }

    #[test]
    fn placeholders_are_found_in_encoded_parts() {
        let head =
            "From: a@example.com\r\nTo: b@example.net\r\nSubject: x\r\nMIME-Version: 1.0\r\n";
        // Quoted-printable with a soft line break inside the placeholder.
        let qp = format!(
            "{head}Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"[[UNSUB_LI=\r\nNK_EN]]\">stop</a>\r\n"
        );
        assert!(!has_unsub_placeholder(qp.as_bytes()));
        assert!(message_has_unsub_placeholder(qp.as_bytes()));
        // Base64.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode("Stop: [[UNSUB_LINK_FR]]");
        let raw = format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: BASE64\r\n\r\n{b64}\r\n"
        );
        assert!(message_has_unsub_placeholder(raw.as_bytes()));
        // Plain text, or a placeholder only in an attachment: no.
        let plain = format!("{head}\r\nHello\r\n");
        assert!(!message_has_unsub_placeholder(plain.as_bytes()));
        let attached = format!(
            "{head}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        );
        assert!(!message_has_unsub_placeholder(attached.as_bytes()));
    }

    #[test]
    fn what_is_trackable() {
        assert!(is_trackable("https://a.test/"));
        assert!(is_trackable(" http://a.test/x "));
        for no in [
            "mailto:a@b.test",
            "tel:+331",
            "#x",
            "javascript:x",
            "/relative",
            "https://a.test/{{var:x}}",
            "https://a.test/a b",
            "ftp://a.test/",
            "https://a.test/\u{a0}x",
            "https://a.test/\tx",
            "https://a.test/[[UNSUB_LINK_EN]]",
        ] {
            assert!(!is_trackable(no), "{no}");
        }
        assert!(is_trackable("HTTPS://a.test/é?q=1#x"));
        // Entities are read once, as a browser reads them.
        assert_eq!(
            decode_entities("a?b=1&amp;c=2&amp;lt;&x"),
            "a?b=1&c=2&lt;&x"
        );
        assert_eq!(html_attr("a?b=\"1\"&c"), "a?b=&quot;1&quot;&amp;c");
    }
}

//! mrml writes most attribute values with Rust's `{:?}` (`Debug`): a backslash comes out
//! doubled (`href="https://x.test/a\\b"`), a line break as `\n`, a `"` as `\"` (which ends the
//! attribute for an HTML reader) and characters Rust does not print, such as the zero-width
//! joiner of emoji sequences, as `\u{200d}`. Node mjml writes the value as it is. [`fix`] reads
//! mrml's output back to what the document said: in every double-quoted attribute value outside
//! comments and raw-text elements, those escapes are undone (`"` is written `&quot;`).
//!
//! The `style` and `class` attributes mrml builds itself are written as they are, not escaped:
//! a backslash there is followed by something `Debug` never writes after one (CSS escapes are
//! hex digits), so it is left alone; only the sequences `Debug` makes are read.

use std::borrow::Cow;

/// The HTML with mrml's `Debug` escapes in attribute values undone (the input itself when it
/// has no backslash, which is nearly always).
pub fn fix(html: String) -> String {
    if memchr::memchr(b'\\', html.as_bytes()).is_none() {
        return html;
    }
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'<', &b[i..]) {
        let lt = i + p;
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            i = memchr::memmem::find(&b[lt + 4..], b"-->").map_or(b.len(), |e| lt + 4 + e + 3);
            continue;
        }
        if !rest.get(1).is_some_and(u8::is_ascii_alphabetic) {
            i = lt + 1;
            continue;
        }
        // A start tag: its name, then attributes up to `>`.
        let mut j = lt + 1;
        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' && b[j] != b'/' {
            j += 1;
        }
        let name = &html[lt + 1..j];
        loop {
            match b.get(j) {
                None => break,
                Some(b'>') => {
                    j += 1;
                    break;
                }
                Some(b'"') => {
                    let start = j + 1;
                    let Some((end, escaped)) = value_end(b, start) else {
                        j = b.len();
                        break;
                    };
                    if escaped && let Cow::Owned(value) = unescape(&html[start..end]) {
                        out.push_str(&html[copied..start]);
                        out.push_str(&value);
                        copied = end;
                    }
                    j = end + 1;
                }
                Some(b'\'') => {
                    j = memchr::memchr(b'\'', &b[j + 1..]).map_or(b.len(), |e| j + 1 + e + 1);
                }
                Some(_) => j += 1,
            }
        }
        i = j;
        // Raw text (CSS, scripts): no attributes in it.
        for raw in ["style", "script", "title", "textarea"] {
            if name.eq_ignore_ascii_case(raw) {
                i = crate::inline_css::find_end_tag(b, i, raw.as_bytes());
            }
        }
    }
    if copied == 0 {
        return html;
    }
    out.push_str(&html[copied..]);
    out
}

/// Where the double-quoted value starting at `start` ends (its closing `"`, one not escaped by
/// a backslash), and whether it holds a backslash.
fn value_end(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut k = start;
    let mut escaped = false;
    loop {
        let p = memchr::memchr2(b'"', b'\\', &b[k..])?;
        k += p;
        if b[k] == b'"' {
            return Some((k, escaped));
        }
        escaped = true;
        k += 2;
        if k > b.len() {
            return None;
        }
    }
}

/// The value without `Debug`'s escapes (`\\`, `\"`, `\n`, `\r`, `\t`, `\0`, `\'`, `\u{…}`); a
/// `"` is written `&quot;`. Anything else after a backslash is kept as written.
fn unescape(value: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut changed = false;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (text, len): (Cow<'_, str>, usize) = match after.as_bytes().first() {
            Some(b'\\') => ("\\".into(), 1),
            Some(b'"') => ("&quot;".into(), 1),
            Some(b'\'') => ("'".into(), 1),
            Some(b'n') => ("\n".into(), 1),
            Some(b'r') => ("\r".into(), 1),
            Some(b't') => ("\t".into(), 1),
            Some(b'0') => ("\0".into(), 1),
            Some(b'u') => match after
                .strip_prefix("u{")
                .and_then(|h| h.find('}').map(|e| (&h[..e], e)))
                .and_then(|(hex, e)| {
                    let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                    Some((c, e))
                }) {
                Some((c, e)) => (c.to_string().into(), 2 + e + 1),
                None => ("\\".into(), 0),
            },
            _ => ("\\".into(), 0),
        };
        changed |= len > 0;
        out.push_str(&text);
        rest = &after[len..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_escapes_are_undone_in_attribute_values() {
        let html = r#"<img alt="C:\\dir \"q\" x\nline \u{200d}" src="a.png"><a href="https://x.test/?q=a\\b" style="x:y">t\\n</a>"#;
        assert_eq!(
            fix(html.to_string()),
            "<img alt=\"C:\\dir &quot;q&quot; x\nline \u{200d}\" src=\"a.png\"><a href=\"https://x.test/?q=a\\b\" style=\"x:y\">t\\\\n</a>"
        );
    }

    #[test]
    fn comments_raw_text_and_css_escapes_are_left_alone() {
        for html in [
            r#"<!--[if mso]><v:rect href="a\\b"><![endif]--><p>x</p>"#,
            r#"<style>.a:before { content: "\\201C" }</style><p title="t">x</p>"#,
            r#"<p style="font-family:\201C">x</p>"#,
            "<p>no backslash</p>",
        ] {
            assert_eq!(fix(html.to_string()), html);
        }
    }

    #[test]
    fn a_broken_tag_does_not_panic() {
        for html in [
            r#"<a href="\"#,
            r#"<a href="x\u{zz}" "#,
            "<a href=\"\\u{110000}\">",
            "<p \\",
            "\\<",
        ] {
            let _ = fix(html.to_string());
        }
    }
}

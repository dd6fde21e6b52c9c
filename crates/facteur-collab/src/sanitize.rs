//! Rich text from the editor, cleaned by ammonia before it is stored: the tags a text block's
//! toolbar makes, links with safe schemes (or a templating-language expression), nothing that
//! runs script.

use std::collections::HashSet;
use std::sync::LazyLock;

static RICH_TEXT: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let tags: HashSet<&str> = [
        "p",
        "br",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "a",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "span",
        "div",
        "sup",
        "sub",
        "blockquote",
    ]
    .into_iter()
    .collect();
    let mut b = ammonia::Builder::default();
    b.tags(tags)
        .add_tag_attributes("a", ["href", "title", "target"])
        .add_tag_attributes("span", ["style"])
        .add_tag_attributes("p", ["style"])
        .add_tag_attributes("div", ["style"])
        .url_schemes(["http", "https", "mailto", "tel"].into_iter().collect())
        // Emails are not web pages: keep links as written.
        .link_rel(None)
        // `{{var:url}}` in an href is a relative URL to ammonia: kept.
        .url_relative(ammonia::UrlRelative::PassThrough);
    b
});

/// A text block's HTML as it may be stored and shown in the editor.
pub fn rich_text(html: &str) -> String {
    RICH_TEXT.clean(html).to_string()
}

/// Whether sanitising `html` keeps it as it is (ignoring how it is serialised): an import
/// turns such an `mj-text` into a text block, anything else stays verbatim MJML.
pub fn import_text(html: &str) -> Option<String> {
    let clean = rich_text(html);
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .replace("/>", ">")
            .replace('\'', "\"")
    };
    (squash(&clean) == squash(html)).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans() {
        assert_eq!(
            rich_text(r#"<p onclick="x()">Hi <b>there</b><script>alert(1)</script></p>"#),
            "<p>Hi <b>there</b></p>"
        );
        assert_eq!(
            rich_text(r#"<a href="javascript:alert(1)">x</a>"#),
            "<a>x</a>"
        );
        assert_eq!(
            rich_text(r#"<a href="{{var:link}}">x</a> {{var:name}}"#),
            r#"<a href="{{var:link}}">x</a> {{var:name}}"#
        );
        assert_eq!(rich_text("<img src=x onerror=alert(1)>ok"), "ok");
    }

    #[test]
    fn imports() {
        assert_eq!(
            import_text("<p>Hello<br/></p>").as_deref(),
            Some("<p>Hello<br></p>")
        );
        assert_eq!(import_text("<table><tr><td>x</td></tr></table>"), None);
        assert_eq!(import_text("<p class=\"c\">x</p>"), None);
    }
}

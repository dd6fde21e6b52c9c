//! The text part generated from the HTML part, when a template has none and text-part
//! generation is enabled (html2text; layout tables are read as plain flow, not drawn).

use std::io::Read;
use std::time::Instant;

use crate::limits::millis;
use crate::nesting::{self, ScanError};
use crate::{Limits, TemplateError};

/// Text width of the generated part.
const WIDTH: usize = 78;

/// html5ever reads the HTML in pieces this large; the time budget is checked between pieces.
const CHUNK: usize = 4 * 1024;

/// Plain text for an HTML email, wrapped at 78 columns; links keep their URLs. Never fails: HTML
/// refused by [`html_to_text_with`] with the default [`Limits`] (nested too deeply, too slow)
/// gets a rougher text, its tags stripped without layout.
pub fn html_to_text(html: &str) -> String {
    html_to_text_with(html, &Limits::default()).unwrap_or_else(|_| strip_tags(html))
}

/// Plain text for an HTML email within `limits`: HTML nested deeper than `max_depth` is refused
/// before parsing (with the position of the element that goes over), and a conversion longer
/// than `max_duration` stops with an error.
pub fn html_to_text_with(html: &str, limits: &Limits) -> Result<String, TemplateError> {
    let started = Instant::now();
    nesting::scan_html(html, limits.max_depth).map_err(|e| scan_error(html, e, limits))?;
    let config = html2text::config::plain().raw_mode(true).no_table_borders();
    let deadline = limits.max_duration.map(|d| started + d);
    let too_slow = || {
        let max = limits.max_duration.unwrap_or_default();
        TemplateError::limit_hit(
            html,
            0,
            &format!("HTML took longer than {} to convert to text", millis(max)),
            "max_duration",
        )
    };
    let input = Budgeted {
        rest: html.as_bytes(),
        deadline,
    };
    let dom = match config.parse_html(input) {
        Ok(dom) => dom,
        Err(_) if deadline.is_some_and(|d| Instant::now() > d) => return Err(too_slow()),
        Err(_) => return Ok(collapse("")),
    };
    // The scan bounds the depth html5ever builds; check the tree itself before html2text walks
    // it (the implied html and body elements add two levels, and in rare mixes of templates,
    // tables and foreign content html5ever nests a few levels more than the scan counts).
    if dom_depth(&dom.document) > limits.max_depth + 16 {
        return Err(TemplateError::limit_hit(
            html,
            0,
            &format!(
                "HTML nested too deeply once parsed: more than {} levels",
                limits.max_depth
            ),
            "max_depth",
        ));
    }
    if deadline.is_some_and(|d| Instant::now() > d) {
        return Err(too_slow());
    }
    let text = config
        .dom_to_render_tree(&dom)
        .and_then(|tree| config.render_to_string(tree, WIDTH))
        .unwrap_or_default();
    if deadline.is_some_and(|d| Instant::now() > d) {
        return Err(too_slow());
    }
    Ok(collapse(&text))
}

fn scan_error(html: &str, e: ScanError, limits: &Limits) -> TemplateError {
    match e {
        ScanError::TooDeep { at } => TemplateError::limit_hit(
            html,
            at,
            &format!(
                "HTML nested too deeply: more than {} levels",
                limits.max_depth
            ),
            "max_depth",
        ),
        ScanError::TooManyReopened { at } => TemplateError::limit_hit(
            html,
            at,
            "HTML reopens unclosed formatting elements (<b>, <font>…) too many times",
            "max_depth",
        ),
        // Only MJML scans report these.
        ScanError::BadConditionalComment { at } | ScanError::UnreadableGreaterThan { at } => {
            TemplateError::runtime(html, at, "HTML cannot be read".into())
        }
    }
}

/// The input of html5ever, a piece at a time, failing once the deadline has passed.
struct Budgeted<'a> {
    rest: &'a [u8],
    deadline: Option<Instant>,
}

impl Read for Budgeted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "time budget spent",
            ));
        }
        let n = buf.len().min(self.rest.len()).min(CHUNK);
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// The depth of a parsed document's elements (the document itself is 0, `<html>` 1), without
/// recursion.
fn dom_depth(root: &html2text::Handle) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(root.clone(), 0usize)];
    while let Some((node, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        for child in node.children.borrow().iter() {
            if matches!(child.data, html2text::Element { .. }) {
                pending.push((child.clone(), depth + 1));
            }
        }
    }
    deepest
}

/// Collapses the blank lines left by layout tables and hidden preheaders.
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string() + "\n"
}

/// The rough text of an HTML document: its tags stripped, entities decoded, no layout (what
/// [`html_to_text`] falls back to). Linear, never fails.
pub fn strip_tags(html: &str) -> String {
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < b.len() {
        let Some(lt) = b[i..].iter().position(|&c| c == b'<').map(|p| p + i) else {
            out.push_str(&decode_entities(&html[i..]));
            break;
        };
        out.push_str(&decode_entities(&html[i..lt]));
        let rest = &html[lt..];
        let skip_to = |pat: &str| rest.find(pat).map_or(b.len(), |p| lt + p + pat.len());
        let lower: String = rest
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        i = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if lower.starts_with("<style") || lower.starts_with("<script") {
            let close: &[u8] = if lower.starts_with("<style") {
                b"</style"
            } else {
                b"</script"
            };
            let mut from = lt + 1;
            let mut end = b.len();
            while let Some(p) = b[from..].iter().position(|&c| c == b'<') {
                let q = from + p;
                if b[q..].len() >= close.len() && b[q..q + close.len()].eq_ignore_ascii_case(close)
                {
                    end = html[q..].find('>').map_or(b.len(), |r| q + r + 1);
                    break;
                }
                from = q + 1;
            }
            end
        } else {
            let end = skip_to(">");
            let name: String = rest[1..]
                .trim_start_matches('/')
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "br" | "p"
                    | "div"
                    | "tr"
                    | "li"
                    | "h1"
                    | "h2"
                    | "h3"
                    | "h4"
                    | "h5"
                    | "h6"
                    | "table"
            ) {
                out.push('\n');
            }
            end
        };
    }
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    collapse(&lines.join("\n"))
}

fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let entity = [
            ("&amp;", "&"),
            ("&lt;", "<"),
            ("&gt;", ">"),
            ("&quot;", "\""),
            ("&#39;", "'"),
            ("&nbsp;", " "),
        ]
        .into_iter()
        .find(|(e, _)| rest.starts_with(e));
        match entity {
            Some((e, c)) => {
                out.push_str(c);
                rest = &rest[e.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The depth html5ever builds for `html`, in elements below `<body>`.
    fn real_depth(html: &str) -> usize {
        let dom = html2text::config::plain()
            .parse_html(html.as_bytes())
            .unwrap();
        let root = dom.document.children.borrow();
        let html = root
            .iter()
            .find(|n| matches!(n.data, html2text::Element { .. }));
        let body = html.and_then(|h| {
            h.children
                .borrow()
                .iter()
                .find(|n| {
                    matches!(&n.data, html2text::Element { name, .. } if &*name.local == "body")
                })
                .cloned()
        });
        body.map_or(0, |b| dom_depth(&b))
    }

    const SOUP: &[&str] = &[
        "<p>",
        "</p>",
        "<b>",
        "</b>",
        "<b id=1>",
        "<b id=2>",
        "<i>",
        "</i>",
        "<div>",
        "</div>",
        "<table>",
        "</table>",
        "<tr>",
        "</tr>",
        "<td>",
        "</td>",
        "<th>",
        "<tbody>",
        "</tbody>",
        "<thead>",
        "<caption>",
        "</caption>",
        "<col>",
        "<colgroup>",
        "<li>",
        "</li>",
        "<ul>",
        "</ul>",
        "<ol>",
        "<a href=x>",
        "<a>",
        "</a>",
        "<span>",
        "</span>",
        "<svg>",
        "</svg>",
        "<path/>",
        "<g>",
        "</g>",
        "<foreignObject>",
        "</foreignObject>",
        "<math>",
        "<mi>",
        "</math>",
        "<select>",
        "<option>",
        "<optgroup>",
        "</option>",
        "</select>",
        "<form>",
        "</form>",
        "<font face=a>",
        "<font color=b>",
        "</font>",
        "<nobr>",
        "</nobr>",
        "<button>",
        "</button>",
        "<h1>",
        "<h2>",
        "</h1>",
        "</h2>",
        "<script>",
        "</script>",
        "<!--",
        "-->",
        "<style>",
        "</style>",
        "<object>",
        "</object>",
        "<template>",
        "</template>",
        "x",
        " ",
        "<br>",
        "</br>",
        "<textarea>",
        "</textarea>",
        "<dd>",
        "<dt>",
        "</dd>",
        "<title>",
        "</title>",
        "<body>",
        "</body>",
        "<html>",
        "<head>",
        "<image>",
        "<input>",
        "<hr>",
        "<marquee>",
        "</marquee>",
        "<applet>",
        "<em>",
        "</em>",
        "<strong>",
        "<code>",
        "<u>",
        "<s>",
        "<tt>",
        "<small>",
        "<big>",
        "<strike>",
        "<xmp>",
        "</xmp>",
        "<pre>",
        "<listing>",
        "<noscript>",
        "</noscript>",
        "<iframe>",
        "</iframe>",
        "<desc>",
        "<mtext>",
        "<annotation-xml>",
        "<![CDATA[",
        "]]>",
        "<!doctype html>",
        "<ruby>",
        "<rt>",
        "<rb>",
        "<frameset>",
        "<frame>",
        "<dl>",
        "<address>",
        "<center>",
        "<menu>",
        "<sarcasm>",
        "</sarcasm>",
        "<div/>",
        "<b/>",
        "<table/>",
        "</x>",
        "<",
        "</",
        "<!x>",
        "<?x>",
        "<p/",
    ];

    fn soup(seed: u64, len: usize) -> Vec<&'static str> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                SOUP[(x % SOUP.len() as u64) as usize]
            })
            .collect()
    }

    /// How many levels html5ever builds deeper than the model (the implied `<html>` and
    /// `<body>` aside, and void elements, which the model does not count, one level below the
    /// deepest element).
    fn gap(tokens: &[&str]) -> usize {
        let html = tokens.concat();
        real_depth(&html).saturating_sub(crate::nesting::html_model_depth(&html) + 1)
    }

    /// The shortest token sequence, by removing tokens one at a time, with the same gap.
    fn minimize(mut tokens: Vec<&'static str>) -> String {
        let target = gap(&tokens);
        let mut i = 0;
        while i < tokens.len() {
            let mut shorter = tokens.clone();
            shorter.remove(i);
            if gap(&shorter) >= target {
                tokens = shorter;
            } else {
                i += 1;
            }
        }
        let html = tokens.concat();
        format!(
            "{} > {}: {html}",
            real_depth(&html),
            crate::nesting::html_model_depth(&html)
        )
    }

    /// The scan's model of html5ever never builds less deep than html5ever. With `strict`
    /// false, a constant gap of a few levels is allowed (the check after parsing has that
    /// slack), but not one that grows when the input repeats: that would let a document nest
    /// without bound.
    fn model_covers(cases: u64, len: usize, strict: bool) {
        let mut failures = Vec::new();
        let mut constant = 0;
        for seed in 0..cases {
            let tokens = soup(seed, 1 + (seed as usize % len));
            let g = gap(&tokens);
            if g == 0 {
                continue;
            }
            let repeated: Vec<&str> = tokens
                .iter()
                .cycle()
                .take(tokens.len() * 8)
                .copied()
                .collect();
            if strict || g > 6 || gap(&repeated) > g + 1 {
                failures.push(minimize(tokens));
            } else {
                constant += 1;
            }
        }
        failures.sort_by_key(String::len);
        failures.dedup();
        assert!(
            failures.is_empty(),
            "{} cases, first: {:#?}",
            failures.len(),
            &failures[..failures.len().min(8)]
        );
        eprintln!("{cases} cases, {constant} with a constant gap");
    }

    /// Real emails: the starters compiled, the MJML corpus's HTML. Their text is what
    /// html2text gives in one call, and the scan's depth stays far below the limit.
    #[test]
    fn real_html_converts_as_before() {
        let mut documents: Vec<String> = crate::starters::ALL
            .iter()
            .map(|s| crate::mjml::to_html(s.mjml).unwrap().html)
            .collect();
        let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mjml-corpus");
        for entry in std::fs::read_dir(corpus).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "html") {
                documents.push(std::fs::read_to_string(path).unwrap());
            }
        }
        assert!(documents.len() > 100);
        let mut deepest = 0;
        for html in &documents {
            let before = html2text::config::plain()
                .raw_mode(true)
                .no_table_borders()
                .string_from_read(html.as_bytes(), 78)
                .unwrap_or_default();
            assert_eq!(
                html_to_text_with(html, &Limits::default()).unwrap(),
                collapse(&before)
            );
            deepest = deepest.max(crate::nesting::html_model_depth(html));
        }
        assert!(deepest < 40, "{deepest}");
    }

    #[test]
    fn nesting_model_covers_html5ever() {
        model_covers(3_000, 60, true);
    }

    /// `cargo test --release -p facteur-template -- --ignored nesting_model_long`
    /// (`MODEL_CASES` and `MODEL_LEN`, the longest token sequence, change the run).
    #[test]
    #[ignore]
    fn nesting_model_long() {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        model_covers(
            var("MODEL_CASES").unwrap_or(1_000_000) as u64,
            var("MODEL_LEN").unwrap_or(200),
            false,
        );
    }

    #[test]
    fn text_from_a_starter() {
        let s = crate::starters::ALL
            .iter()
            .find(|s| s.slug == "newsletter")
            .unwrap();
        let html = crate::mjml::to_html(s.mjml).unwrap().html;
        let vars = serde_json::json!({"issue": {"title": "Spring update", "url": "https://x.test/n"}, "articles": [{"title": "Scheduled sends", "summary": "Pick the minute.", "url": "https://x.test/a", "image": "https://x.test/i.png"}]});
        let data = serde_json::json!({"firstname": "Camille"});
        let rendered = crate::render(
            &html,
            &crate::Context {
                vars: &vars,
                data: &data,
                ..crate::Context::default()
            },
            crate::Mode::Html,
        )
        .unwrap();
        let text = html_to_text(&rendered);
        assert!(
            text.contains("Spring update")
                && text.contains("Hello Camille,")
                && text.contains("Scheduled sends")
        );
        assert!(text.contains("https://x.test/a"), "links keep their URLs");
        assert!(!text.contains('<') && !text.contains("\n\n\n"));
        assert!(text.lines().all(|l| l.chars().count() <= 78));
    }
}

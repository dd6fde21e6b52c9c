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
//! Matching uses lol_html's selectors (types, `*`, classes, ids, attribute operators,
//! descendant and child combinators, `:first-child`, `:nth-child()`, `:not()`, …), streaming
//! over the HTML once.

use std::cell::RefCell;
use std::collections::HashMap;

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
    pub matcher: lol_html::Selector,
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
            let matcher = match selector.parse::<lol_html::Selector>() {
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
/// `!important`), and the order properties first appeared in.
#[derive(Default)]
struct Touched {
    winners: HashMap<String, (Weight, Declaration)>,
    order: Vec<String>,
}

const TABLE_TAGS: &[&str] = &[
    "table", "th", "tr", "td", "caption", "colgroup", "col", "thead", "tbody", "tfoot",
];

impl Touched {
    fn offer(&mut self, weight: Weight, d: &Declaration) {
        match self.winners.get(&d.property) {
            Some((w, _)) if *w > weight => {}
            Some(_) => {
                self.winners.insert(d.property.clone(), (weight, d.clone()));
            }
            None => {
                self.order.push(d.property.clone());
                self.winners.insert(d.property.clone(), (weight, d.clone()));
            }
        }
    }

    fn style(&self) -> String {
        let mut out = String::new();
        for p in &self.order {
            let d = &self.winners[p].1;
            out.push_str(&d.property);
            out.push(':');
            out.push_str(&d.value);
            out.push(';');
        }
        out
    }

    fn value(&self, property: &str) -> Option<&str> {
        self.winners.get(property).map(|(_, d)| d.value.as_str())
    }
}

/// The attribute marking an element being inlined while the page streams (removed after).
const MARK: &str = "data-facteur-inline";

/// Writes the sheet's rules into the HTML's `style` attributes.
pub fn inline(html: &str, sheet: &Sheet) -> Result<String, String> {
    if sheet.rules.is_empty() {
        return Ok(html.to_string());
    }
    let touched: RefCell<Vec<Touched>> = RefCell::new(Vec::new());
    let mut handlers = Vec::with_capacity(sheet.rules.len());
    for (index, rule) in sheet.rules.iter().enumerate() {
        let touched = &touched;
        handlers.push((
            std::borrow::Cow::Borrowed(&rule.matcher),
            lol_html::ElementContentHandlers::default().element(
                move |el: &mut lol_html::html_content::Element<'_, '_>| {
                    let mut all = touched.borrow_mut();
                    let slot = match el.get_attribute(MARK).and_then(|m| m.parse::<usize>().ok()) {
                        Some(slot) => slot,
                        None => {
                            let mut t = Touched::default();
                            let own = el.get_attribute("style").unwrap_or_default();
                            for d in &parse_declarations(&own) {
                                t.offer((d.important, true, (0, 0, 0), 0), d);
                            }
                            all.push(t);
                            el.set_attribute(MARK, &(all.len() - 1).to_string())?;
                            all.len() - 1
                        }
                    };
                    let t = &mut all[slot];
                    for d in &rule.declarations {
                        t.offer((d.important, false, rule.specificity, index), d);
                    }
                    el.set_attribute("style", &t.style())?;
                    let tag = el.tag_name();
                    if TABLE_TAGS.contains(&tag.as_str()) {
                        for (property, attribute) in [
                            ("background-color", "bgcolor"),
                            ("text-align", "align"),
                            ("vertical-align", "valign"),
                        ] {
                            if let Some(v) = t.value(property) {
                                el.set_attribute(attribute, v)?;
                            }
                        }
                    }
                    if matches!(tag.as_str(), "img" | "table" | "td" | "th") {
                        for property in ["width", "height"] {
                            if let Some(px) = t.value(property).and_then(|v| v.strip_suffix("px"))
                                && px.trim().parse::<f64>().is_ok()
                            {
                                el.set_attribute(property, px.trim())?;
                            }
                        }
                    }
                    Ok(())
                },
            ),
        ));
    }
    let marked = rewrite(html, handlers)?;
    // The marks go (` data-facteur-inline="N"`, as lol_html writes an attribute it sets): a
    // scan of the text, cheaper than a second rewriting pass.
    let pattern = format!(" {MARK}=\"");
    let mut out = String::with_capacity(marked.len());
    let mut rest = marked.as_str();
    while let Some(at) = rest.find(&pattern) {
        out.push_str(&rest[..at]);
        let after = &rest[at + pattern.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if after[digits..].starts_with('"') {
            rest = &after[digits + 1..];
        } else {
            out.push_str(&pattern);
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Element handlers for [`rewrite`].
pub(crate) type Handlers<'h> = Vec<(
    std::borrow::Cow<'h, lol_html::Selector>,
    lol_html::ElementContentHandlers<'h>,
)>;

/// Streams `html` once through lol_html with these element handlers.
pub(crate) fn rewrite(html: &str, handlers: Handlers<'_>) -> Result<String, String> {
    let mut out = Vec::with_capacity(html.len() + html.len() / 8);
    let mut settings = lol_html::Settings::new();
    for h in handlers {
        settings = settings.append_element_content_handler(h);
    }
    let mut rewriter =
        lol_html::HtmlRewriter::new(settings, |chunk: &[u8]| out.extend_from_slice(chunk));
    rewriter
        .write(html.as_bytes())
        .and_then(|()| rewriter.end())
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(css: &str, html: &str) -> String {
        inline(html, &parse(css)).unwrap()
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
    fn a_comma_list_is_one_rule_per_selector() {
        let out = run("h1, .t { color: red }", r#"<h1>a</h1><b class="t">b</b>"#);
        assert_eq!(
            out,
            r#"<h1 style="color:red;">a</h1><b class="t" style="color:red;">b</b>"#
        );
    }
}

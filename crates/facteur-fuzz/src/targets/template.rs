//! Fuzz targets of facteur-template: the templating language parsed and rendered in both modes
//! (`template-language`), MJML compiled with mrml (`mjml`), and the text part generated from HTML
//! (`html-to-text`).
//!
//! Besides "never panics, never slow", the targets check what the hardening promises: a render
//! stays within its limits (output size), and the scan that bounds html5ever's depth never
//! lets a deeper document through than the tree html5ever builds.

use std::sync::LazyLock;
use std::time::Duration;

use facteur_template::{Activity, Context, Limits, Mode, Template, mjml, starters, text};
use serde_json::{Value, json};

use crate::Target;

pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "template-language",
            seeds: language_seeds(),
            dict: LANGUAGE_DICT.to_vec(),
            run: language,
        },
        Target {
            name: "mjml",
            seeds: mjml_seeds(),
            dict: MJML_DICT.to_vec(),
            run: mjml_compile,
        },
        Target {
            name: "html-to-text",
            seeds: html_seeds(),
            dict: HTML_DICT.to_vec(),
            run: html_to_text,
        },
    ]
}

/// Renders get a quarter of the fuzzer's 2 s budget each: a slow case fails on the limit.
fn limits() -> Limits {
    Limits {
        max_duration: Some(Duration::from_millis(250)),
        ..Limits::default()
    }
}

static VARS: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "name": "Ada <3 & \"friends\"",
        "firstname": "Camille",
        "n": 3,
        "zero": 0,
        "price": 9.99,
        "big": 1e300,
        "vip": true,
        "empty": "",
        "nothing": null,
        "list": [1, 2, 3],
        "items": [
            {"name": "Tea", "qty": 2, "price": 4.5, "tags": ["hot", "green"]},
            {"name": "Cake <b>", "qty": 1, "price": 3},
            {"name": "Jam", "qty": 0, "discount": null}
        ],
        "order": {"id": 1042, "total": 321.5, "currency": "eur", "lines": [{"sku": "A"}, {"sku": "B"}]},
        "text": "x".repeat(1000),
    })
});

static DATA: LazyLock<Value> =
    LazyLock::new(|| json!({"firstname": "Camille", "city": "Lyon", "age": 31}));
static MJ: LazyLock<Value> =
    LazyLock::new(|| json!({"contact": {"email": "c@x.test"}, "unsub_link": "https://x.test/u"}));
static SEGMENTS: LazyLock<Vec<String>> = LazyLock::new(|| vec!["vip".into(), "Lyon".into()]);

fn language(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    match Template::parse(&src) {
        Ok(template) => render_both(&template),
        // A mutation that breaks one tag fails the whole parse: the lines alone still parse,
        // and render.
        Err(_) => {
            for line in src.lines().filter(|l| l.contains('{') || l.contains('[')) {
                if let Ok(template) = Template::parse(line) {
                    render_both(&template);
                }
            }
        }
    }
}

fn render_both(template: &Template) {
    let _ = template.variables();
    let ctx = Context {
        vars: &VARS,
        data: &DATA,
        mj: &MJ,
        segments: &SEGMENTS,
        activity: Activity {
            opened_days_ago: Some(3),
            clicked_days_ago: None,
        },
    };
    let limits = limits();
    for mode in [Mode::Html, Mode::Text] {
        if let Ok(out) = template.render_with(&ctx, mode, &limits) {
            assert!(
                out.len() <= limits.max_output_bytes,
                "output over the limit"
            );
        }
    }
}

/// Compiles with Facteur's body reader and with mrml's parser alone: the same HTML and
/// warnings, or the same error, both ways.
fn mjml_compile(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let limits = Limits::default();
    let run = |fast: bool| {
        let mut options = mjml::Options::new(&limits);
        options.fast_body = fast;
        mjml::compile(&source, &options).map(|c| (c.html, c.warnings))
    };
    let started = std::time::Instant::now();
    let fast = run(true);
    // A document mrml takes long to render (thousands of carousel images) is not compiled a
    // second time: the case would pass the slow threshold twice over.
    if started.elapsed() < std::time::Duration::from_millis(200) {
        let slow = run(false);
        assert!(
            fast == slow,
            "the body reader and mrml disagree:\n{fast:?}\n{slow:?}"
        );
    }
}

fn html_to_text(data: &[u8]) {
    let html = String::from_utf8_lossy(data);
    let _ = text::html_to_text(&html);
    // With a low limit, whatever the scan lets through must fit once parsed: the check after
    // parsing never fires unless the scan's model of html5ever missed a way to nest.
    let tight = Limits {
        max_depth: 24,
        ..limits()
    };
    if let Err(e) = text::html_to_text_with(&html, &tight) {
        assert!(
            !e.message.contains("once parsed"),
            "the nesting scan let a deeper document through: {e}"
        );
    }
}

fn language_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = starters::ALL
        .iter()
        .map(|s| s.mjml.as_bytes().to_vec())
        .collect();
    seeds.extend(GOLDEN.iter().map(|s| s.as_bytes().to_vec()));
    seeds.extend(LANGUAGE_SNIPPETS.iter().map(|s| s.as_bytes().to_vec()));
    seeds
}

fn mjml_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = starters::ALL
        .iter()
        .map(|s| s.mjml.as_bytes().to_vec())
        .collect();
    seeds.extend(MJML_CORPUS.iter().map(|s| s.as_bytes().to_vec()));
    seeds.extend(MJML_SNIPPETS.iter().map(|s| s.as_bytes().to_vec()));
    seeds
}

fn html_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = starters::ALL
        .iter()
        .filter_map(|s| mjml::to_html(s.mjml).ok())
        .map(|c| c.html.into_bytes())
        .collect();
    seeds.extend(HTML_SNIPPETS.iter().map(|s| s.as_bytes().to_vec()));
    seeds
}

/// The golden templates of facteur-template's tests: every statement, operator and function.
const GOLDEN: [&str; 31] = [
    include_str!("../../../facteur-template/tests/golden/01-variables.template"),
    include_str!("../../../facteur-template/tests/golden/02-escaping-html.template"),
    include_str!("../../../facteur-template/tests/golden/03-escaping-text.template"),
    include_str!("../../../facteur-template/tests/golden/04-if-elseif-else.template"),
    include_str!("../../../facteur-template/tests/golden/05-nested-if.template"),
    include_str!("../../../facteur-template/tests/golden/06-for-array.template"),
    include_str!("../../../facteur-template/tests/golden/07-for-object.template"),
    include_str!("../../../facteur-template/tests/golden/08-nested-for.template"),
    include_str!("../../../facteur-template/tests/golden/09-set-and-reassign.template"),
    include_str!("../../../facteur-template/tests/golden/10-arithmetic.template"),
    include_str!("../../../facteur-template/tests/golden/11-comparison.template"),
    include_str!("../../../facteur-template/tests/golden/12-logic.template"),
    include_str!("../../../facteur-template/tests/golden/13-functions.template"),
    include_str!("../../../facteur-template/tests/golden/14-activity.template"),
    include_str!("../../../facteur-template/tests/golden/15-simple-personalisation.template"),
    include_str!("../../../facteur-template/tests/golden/16-mj-and-data.template"),
    include_str!("../../../facteur-template/tests/golden/17-segment.template"),
    include_str!("../../../facteur-template/tests/golden/18-defaults-unquoted.template"),
    include_str!("../../../facteur-template/tests/golden/19-null-prints-empty.template"),
    include_str!("../../../facteur-template/tests/golden/20-whitespace-in-tags.template"),
    include_str!("../../../facteur-template/tests/golden/30-error-unknown-var.template"),
    include_str!("../../../facteur-template/tests/golden/31-error-unknown-local.template"),
    include_str!("../../../facteur-template/tests/golden/32-error-not-array.template"),
    include_str!("../../../facteur-template/tests/golden/33-error-unclosed-block.template"),
    include_str!("../../../facteur-template/tests/golden/34-error-unclosed-tag.template"),
    include_str!("../../../facteur-template/tests/golden/35-error-unknown-function.template"),
    include_str!("../../../facteur-template/tests/golden/36-error-division-by-zero.template"),
    include_str!("../../../facteur-template/tests/golden/37-error-stray-endif.template"),
    include_str!("../../../facteur-template/tests/golden/38-error-unknown-statement.template"),
    include_str!("../../../facteur-template/tests/golden/39-error-nested-unknown-path.template"),
    include_str!("../../../facteur-template/tests/golden/40-error-not-a-number.template"),
];

const LANGUAGE_SNIPPETS: &[&str] = &[
    "Hello {{ var:name:\"friend\" }}{% if var:vip %}, VIP{% endif %}!",
    "{% for item in var:items %}{{ item.name }} x{{ item.qty }} = {{ FormatNumberLocale(item.qty * item.price, \"fr-FR\", 2) }}\n{% endfor %}",
    "{% set total = 0 %}{% for i in var:list %}{% set total = total + i %}{% endfor %}{{ total }}",
    "{% if data:age >= 21 %}a{% elseif data:age >= 18 %}b{% else %}c{% endif %}",
    "{{ Upper(var:name) }}{{ Lower(\"ÀB\") }}{{ Capitalize(data:city) }}{{ Round(var:price, 1) }}{{ Int(var:price) }}",
    "{{ UrlEncode(mj:unsub_link) }}{{ Escape(var:name) }}{% if HasOpenedSince(7) and not HasClickedSince(7) %}x{% endif %}",
    "{% if segment:vip xor segment:other %}y{% endif %}{{ 7 div 2 }} {{ 7 mod 2 }} {{ 1 / 3 }} {{ -var:n }}",
    "[[var:firstname]] [[data:city]] {{ var:missing:\"\" }} {{ item.discount:0 }}",
    "{% set a = \"xxxxxxxxxxxxxxxx\" %}{% set a = a + a %}{% set a = a + a %}{{ a }}",
    "{% for x in var:list %}{% for y in var:list %}{% for z in var:list %}{{ x }}{{ y }}{{ z }}{% endfor %}{% endfor %}{% endfor %}",
    "{{ var:a === \"1\" }} {{ var:n == \"3\" }} {{ var:n <> 4 }} {{ \"a\" < \"b\" }} {{ !(var:vip) }}",
    "{% for line in var:order.lines %}{{ line.sku }}{% endfor %}{{ var:order.total }} {{ var:items.0.name }}",
];

/// Small documents of the MJML fidelity corpus (one per component family).
const MJML_CORPUS: &[&str] = &[
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-accordion.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-attributes.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-breakpoint.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-button-border.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-carousel.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-column-border.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-divider-in-mj-text.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-font.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-group.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-hero-mode.mjml"),
    include_str!("../../../facteur-template/tests/mjml-corpus/mj-image-align.mjml"),
];

const MJML_SNIPPETS: &[&str] = &[
    "<mjml><mj-head><mj-raw position=\"file-start\"><!-- first --></mj-raw><mj-breakpoint width=\"480px\"/><mj-font name=\"Lato\" href=\"https://fonts.test/lato\"/></mj-head><mj-body><mj-carousel thumbnails=\"supported\"><mj-carousel-image src=\"a.png\"/><mj-carousel-image src=\"b.png\"/></mj-carousel><mj-wrapper><mj-raw><p>between</p></mj-raw><mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section><mj-raw>{% endif %}</mj-raw></mj-wrapper><mj-foo><mj-foo>unknown</mj-foo></mj-foo><mj-navbar hamburger=\"hamburger\"><mj-navbar-link href=\"/a\">A</mj-navbar-link></mj-navbar></mj-body></mjml>",
    "\r\n<mj-section>\r\n  <mj-column><mj-text>a fragment</mj-text></mj-column>\r\n</mj-section>\r\n",
    "<mjml><mj-body><mj-raw><!--[if mso]><table><tr><td><![endif]--><div>{% if var:x %}</div><!--[if mso]></td></tr></table><![endif]--></mj-raw></mj-body></mjml>",
    "<mjml><mj-head><mj-title>T</mj-title><mj-preview>P</mj-preview><mj-style inline=\"inline\">.a > b { color: red }</mj-style><mj-attributes><mj-all padding=\"0\"/><mj-class name=\"c\" color=\"red\"/></mj-attributes></mj-head><mj-body><mj-wrapper><mj-section><mj-column><mj-text mj-class=\"c\">Hi {{ var:name }} →</mj-text></mj-column></mj-section></mj-wrapper></mj-body></mjml>",
    "<mjml><mj-body><mj-section><mj-column><mj-table><tr><td>a</td><td>b</td></tr></mj-table><mj-navbar><mj-navbar-link href=\"/\">Home</mj-navbar-link></mj-navbar><mj-social><mj-social-element name=\"facebook\">f</mj-social-element></mj-social><mj-spacer/><mj-divider/><mj-button href=\"#\">Go</mj-button></mj-column></mj-section></mj-body></mjml>",
    "<mjml><mj-body><mj-hero background-url=\"x\"><mj-text>€> 詳細></mj-text></mj-hero></mj-body></mjml>",
    "<mjml><mj-head><mj-html-attributes><mj-selector path=\"td p:nth-child(2n+1) > a[href^='https' i]\"><mj-html-attribute name=\"data-x\">a&amp;b\"</mj-html-attribute></mj-selector></mj-html-attributes><mj-style inline=\"inline\">div > p a, table td:first-child, .x:not(.y) [title~=é] { color: red !important; width: 10px } p::before { x: y }</mj-style></mj-head><mj-body><mj-section><mj-column><mj-text><p>one<p>two <a href=https://x.test title='é z'>l</a><br><TABLE><tr><td class=x>c<td>d</TABLE></mj-text><mj-raw><style>p > a { }</style><!--[if mso]><p><a href=\"https://m\">m</a></p><![endif]--><textarea><p>t</textarea><img src=x/></mj-raw></mj-column></mj-section></mj-body></mjml>",
];

const HTML_SNIPPETS: &[&str] = &[
    "<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body><p>Hello <b>world</b> &amp; <a href=\"https://x.test\">link</a></p><ul><li>one<li>two</ul><table><tr><td>a<td>b<tr><td colspan=2>c</table><pre>  code\n  here</pre><blockquote>q</blockquote><hr><img src=x alt=pic></body></html>",
    "<p><font face=Arial>sloppy<p>paragraphs<p><b>bold <i>both</b> italic</i></p><div><table><tr><td><table><tr><td>nested</td></tr></table></td></tr></table></div>",
    "<svg><path d='M0'/><foreignObject><div>in svg</div></foreignObject></svg><math><mi>x</mi></math><select><option>a<option>b</select><form><input></form><template><td>t</template>",
    "<script>if (a < b) { document.write('<div>') }</script><!-- comment <div> --><![CDATA[x]]><textarea><b>raw</b></textarea><noscript><p>n</p></noscript><xmp><i>x</i></xmp>",
];

const LANGUAGE_DICT: &[&[u8]] = &[
    b"{%",
    b"%}",
    b"{{",
    b"}}",
    b"[[",
    b"]]",
    b"var:",
    b"data:",
    b"mj:",
    b"segment:",
    b"if ",
    b"elseif ",
    b"else",
    b"endif",
    b"for ",
    b" in ",
    b"endfor",
    b"set ",
    b" = ",
    b"==",
    b"===",
    b"!=",
    b"<>",
    b"<=",
    b">=",
    b"<",
    b">",
    b" and ",
    b" or ",
    b" xor ",
    b"not ",
    b"!",
    b" div ",
    b" mod ",
    b"+",
    b"-",
    b"*",
    b"/",
    b"(",
    b")",
    b",",
    b":",
    b".",
    b"\"",
    b"'",
    b"Upper(",
    b"Lower(",
    b"Capitalize(",
    b"Round(",
    b"Int(",
    b"UrlEncode(",
    b"Escape(",
    b"HasOpenedSince(",
    b"HasClickedSince(",
    b"FormatNumberLocale(",
    b"true",
    b"false",
    b"null",
    b"var:items",
    b"var:list",
    b"var:text",
    b"item.name",
    b"item",
    b"1e308",
    b"9999999999999999999",
    b"-0",
    b"0.5",
    b"\\",
    b"{% for x in var:list %}",
    b"{% endfor %}",
    b"{% set a = a + a %}",
    b"{% if var:vip %}",
    b"{% endif %}",
    b"{{ var:name }}",
];

const MJML_DICT: &[&[u8]] = &[
    b"<mjml>",
    b"</mjml>",
    b"<mj-head>",
    b"</mj-head>",
    b"<mj-body>",
    b"</mj-body>",
    b"<mj-section>",
    b"</mj-section>",
    b"<mj-column>",
    b"</mj-column>",
    b"<mj-text>",
    b"</mj-text>",
    b"<mj-raw>",
    b"</mj-raw>",
    b"<mj-wrapper>",
    b"</mj-wrapper>",
    b"<mj-hero>",
    b"</mj-hero>",
    b"<mj-group>",
    b"</mj-group>",
    b"<mj-button>",
    b"</mj-button>",
    b"<mj-image src=\"x\"/>",
    b"<mj-table>",
    b"</mj-table>",
    b"<mj-accordion>",
    b"<mj-accordion-element>",
    b"<mj-accordion-title>",
    b"<mj-accordion-text>",
    b"<mj-carousel>",
    b"<mj-carousel-image src=\"x\"/>",
    b"<mj-navbar>",
    b"<mj-navbar-link href=\"x\">",
    b"<mj-social>",
    b"<mj-social-element name=\"facebook\">",
    b"<mj-spacer/>",
    b"<mj-divider/>",
    b"<mj-attributes>",
    b"<mj-all padding=\"0\"/>",
    b"<mj-class name=\"a\" color=\"red\"/>",
    b" mj-class=\"a\"",
    b"<mj-style>",
    b"</mj-style>",
    b"<mj-style inline=\"inline\">",
    b"<mj-font name=\"x\" href=\"y\"/>",
    b"<mj-breakpoint width=\"300px\"/>",
    b"<mj-preview>",
    b"<mj-title>",
    b"<mj-include path=\"x\"/>",
    b"<mj-html-attributes>",
    b"<mj-raw position=\"file-start\">",
    b" thumbnails=\"supported\"",
    b"\r\n",
    b"\r",
    b"<mj-selector path=\"",
    b"</mj-selector>",
    b"<mj-html-attribute name=\"",
    b"</mj-html-attribute>",
    b" > ",
    b":nth-child(",
    b":not(",
    b"[href^=",
    b" i]",
    b"!important",
    b"\\",
    b"\\u{200d}",
    b"\\\"",
    b"<!--[if mso]>",
    b"<![endif]-->",
    b"<!--[if !mso]><!-->",
    b"<!--<![endif]-->",
    b"<![if ",
    b"<![endif]>",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<?xml version=\"1.0\"?>",
    b"<!DOCTYPE x>",
    b"<div>",
    b"</div>",
    b"<br>",
    b"<br/>",
    b"/>",
    b"=",
    b" padding=\"10px\"",
    b" width=\"50%\"",
    b" background-url=\"x\"",
    b" css-class=\"c\"",
    b"\xe2\x82\xac>",
    b"&amp;",
    b"&gt;",
    b"{{ var:x }}",
    b"{% if var:x %}",
    b"a:b",
];

const HTML_DICT: &[&[u8]] = &[
    b"<div>",
    b"</div>",
    b"<p>",
    b"</p>",
    b"<b>",
    b"</b>",
    b"<i>",
    b"</i>",
    b"<a href=\"x\">",
    b"</a>",
    b"<table>",
    b"</table>",
    b"<tr>",
    b"</tr>",
    b"<td>",
    b"</td>",
    b"<th>",
    b"<tbody>",
    b"<ul>",
    b"<li>",
    b"<ol>",
    b"<br>",
    b"</br>",
    b"<img src=x alt=y>",
    b"<hr>",
    b"<pre>",
    b"</pre>",
    b"<script>",
    b"</script>",
    b"<style>",
    b"</style>",
    b"<!--",
    b"-->",
    b"<svg>",
    b"</svg>",
    b"<math>",
    b"<mi>",
    b"<foreignObject>",
    b"<annotation-xml encoding=text/html>",
    b"<template>",
    b"</template>",
    b"<select>",
    b"<option>",
    b"<form>",
    b"</form>",
    b"<font face=a>",
    b"<nobr>",
    b"<h1>",
    b"<blockquote>",
    b"<textarea>",
    b"<title>",
    b"<!DOCTYPE html>",
    b"<![CDATA[",
    b"]]>",
    b"&nbsp;",
    b"&amp;",
    b"&#x1F600;",
    b"<caption>",
    b"<colgroup>",
    b"<col>",
    b" colspan=999",
    b" rowspan=0",
    b" width=100%",
    b"<center>",
    b"<object>",
    b"</object>",
    b"<marquee>",
    b"<dd>",
    b"<dt>",
    b"<plaintext>",
    b"<xmp>",
    b"<noscript>",
    b"<iframe>",
    b"/>",
    b"=\"",
    b"<sup>",
    b"<sub>",
    b"<q>",
    b"<code>",
];

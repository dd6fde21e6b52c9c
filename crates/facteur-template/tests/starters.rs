//! The starter templates compile, render with their saved test values, and give well-formed
//! HTML that shows those values.

use facteur_template::starters::ALL;
use facteur_template::{Context, Mode, Template, mjml};

const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param",
];

/// Open and close tags balance (comments, MSO conditionals and void elements aside).
fn balanced(html: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt + 1..];
        if let Some(c) = after.strip_prefix("!--") {
            rest = c.find("-->").map_or("", |i| &c[i + 3..]);
            continue;
        }
        let end = after.find('>').ok_or("unterminated tag")?;
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if tag.starts_with('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
            if name == "style" || name == "script" {
                let close = format!("</{name}>");
                rest = rest.find(&close).map_or("", |i| &rest[i + close.len()..]);
                continue;
            }
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

#[test]
fn starters_render_with_their_test_values() {
    assert_eq!(ALL.len(), 5);
    for s in ALL {
        let html = mjml::to_html(s.mjml)
            .unwrap_or_else(|e| panic!("{}: {e}", s.slug))
            .html;
        let values: serde_json::Value =
            serde_json::from_str(s.test_values).unwrap_or_else(|e| panic!("{}: {e}", s.slug));
        let ctx = Context {
            vars: &values["Variables"],
            data: &values["data"],
            ..Context::default()
        };
        let out = Template::parse(&html)
            .and_then(|t| t.render(&ctx, Mode::Html))
            .unwrap_or_else(|e| panic!("{}: {e}", s.slug));
        assert!(
            !out.contains("{{") && !out.contains("{%"),
            "{}: language left in output",
            s.slug
        );
        let firstname = values["data"]["firstname"].as_str().unwrap();
        assert!(
            out.contains(firstname),
            "{}: personalised with {firstname}",
            s.slug
        );
        assert!(
            out.starts_with("<!doctype html>")
                && out.contains("@media only screen and (min-width:480px)"),
            "{}: responsive document",
            s.slug
        );
        balanced(&out).unwrap_or_else(|e| panic!("{}: {e}", s.slug));
        // The same template with no values at all fails cleanly or renders: never panics.
        let _ = Template::parse(&html).and_then(|t| t.render(&Context::default(), Mode::Html));
    }
}

#[test]
fn starter_logic_reacts_to_values() {
    let sport = ALL.iter().find(|s| s.slug == "sport").unwrap();
    let html = mjml::to_html(sport.mjml).unwrap().html;
    let t = Template::parse(&html).unwrap();
    let mut values: serde_json::Value = serde_json::from_str(sport.test_values).unwrap();
    let render = |v: &serde_json::Value| {
        t.render(
            &Context {
                vars: &v["Variables"],
                data: &v["data"],
                ..Context::default()
            },
            Mode::Html,
        )
        .unwrap()
    };
    assert!(render(&values).contains("Victory!"));
    values["Variables"]["last_match"]["away_score"] = 3.into();
    assert!(render(&values).contains("A hard-fought draw."));
    let shop = ALL.iter().find(|s| s.slug == "ecommerce").unwrap();
    let out = Template::parse(&mjml::to_html(shop.mjml).unwrap().html)
        .unwrap()
        .render(&Context { vars: &serde_json::from_str::<serde_json::Value>(shop.test_values).unwrap()["Variables"], ..Context::default() }, Mode::Html)
        .unwrap();
    assert!(
        out.contains("LINEN15") && out.contains("1\u{202f}249,50"),
        "promo code and French prices"
    );
}

//! The reference's missing-variable table, Mailjet's published examples, and the promise that
//! no input makes parsing or rendering panic.

use facteur_template::{Context, Mode, Template, render};
use proptest::prelude::*;
use serde_json::{Value, json};

fn with(vars: &Value, src: &str) -> Result<String, String> {
    let ctx = Context {
        vars,
        ..Context::default()
    };
    render(src, &ctx, Mode::Text).map_err(|e| e.message)
}

#[test]
fn missing_variable_table() {
    // (template, var true, var false, var undefined); None = template error.
    type Row = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let table: [Row; 5] = [
        (
            "{% if var:test %}YES{% else %}NO{% endif %}",
            Some("YES"),
            Some("NO"),
            None,
        ),
        (
            "{% if var:test:true %}YES{% else %}NO{% endif %}",
            Some("YES"),
            Some("NO"),
            Some("YES"),
        ),
        (
            "{% if var:test:false %}YES{% else %}NO{% endif %}",
            Some("YES"),
            Some("NO"),
            Some("NO"),
        ),
        (
            "{{var:test:\"N/A\"}}",
            Some("true"),
            Some("false"),
            Some("N/A"),
        ),
        ("{{var:test}}", Some("true"), Some("false"), None),
    ];
    for (src, t, f, u) in table {
        assert_eq!(
            with(&json!({"test": true}), src).ok().as_deref(),
            t,
            "{src} with true"
        );
        assert_eq!(
            with(&json!({"test": false}), src).ok().as_deref(),
            f,
            "{src} with false"
        );
        let undefined = with(&json!({}), src);
        assert_eq!(
            undefined.as_ref().ok().map(String::as_str),
            u,
            "{src} undefined"
        );
        if u.is_none() {
            assert!(undefined.unwrap_err().starts_with(
                "expression parsing error ## Unknown identifier: var:test ## near ## {"
            ));
        }
    }
}

#[test]
fn mailjet_examples() {
    let age = |n: i64| {
        let data = json!({"age": n});
        let ctx = Context {
            data: &data,
            ..Context::default()
        };
        render(
            "{% if data:age >= 21 %}code, drink and vote{% elseif data:age >= 18 %}code and vote{% else %}wait{% endif %}",
            &ctx,
            Mode::Text,
        )
        .unwrap()
    };
    assert_eq!(age(30), "code, drink and vote");
    assert_eq!(age(19), "code and vote");
    assert_eq!(age(12), "wait");
    let rows = json!({"rows": [{"title": "title1", "bodies": ["1", "2"]}]});
    assert_eq!(
        with(&rows, "{% for row in var:rows %}loop1:{{ row.title }} {% for body in row.bodies %}loop2:{{ body }} {% endfor %}{% endfor %}").unwrap(),
        "loop1:title1 loop2:1 loop2:2 "
    );
    assert_eq!(
        with(
            &json!({}),
            "Hello {% set yo-yo = \"Benjamin\" %}{{ yo-yo }}!"
        )
        .unwrap(),
        "Hello Benjamin!"
    );
    let order = json!({"order": {"total": {"amount": 100.5}, "sales_taxes_percentage": 0.2}});
    assert_eq!(
        with(
            &order,
            "Tax: {{ Round(var:order.total.amount * var:order.sales_taxes_percentage, 2) }}"
        )
        .unwrap(),
        "Tax: 20.1"
    );
    assert_eq!(
        with(
            &json!({"user": {"name": "ada"}}),
            "HELLO {{ Upper(var:user.name) }}"
        )
        .unwrap(),
        "HELLO ADA"
    );
    assert_eq!(
        with(&json!({"products": [{"id": 1}, {"id": 2}, {"id": 3}]}), "{% for product in var:products %}{% if (product.id mod 2) = 1 %}{{product.id}}{% endif %}{% endfor %}").unwrap(),
        "13"
    );
    assert_eq!(
        with(
            &json!({"comment": "hi", "answer": ""}),
            "{% if var:comment!=\"\" and var:answer==\"\" %}unanswered{% endif %}"
        )
        .unwrap(),
        "unanswered"
    );
    assert_eq!(
        with(
            &json!({"chauffeuredcar": false}),
            "{% if not(var:chauffeuredcar) %}walk{% endif %}"
        )
        .unwrap(),
        "walk"
    );
    assert_eq!(
        with(
            &json!({"list": [1, true, "Pilot"]}),
            "{% for x in var:list %}{{x}},{% endfor %}"
        )
        .unwrap(),
        "1,true,Pilot,"
    );
}

#[test]
fn documented_error_messages() {
    assert_eq!(
        with(&json!({}), "{{var:day}}").unwrap_err(),
        "expression parsing error ## Unknown identifier: var:day ## near ## {{var:day ##"
    );
    assert_eq!(
        with(&json!({}), "{{day}}").unwrap_err(),
        "expression parsing error ## Unknown identifier: day ## near ## {{day ##"
    );
    assert_eq!(
        with(&json!({"day": 3}), "{% for d in var:day %}{% endfor %}").unwrap_err(),
        "\"var:day\" is not an array value"
    );
    assert_eq!(
        with(&json!({}), "<html>{% if true %}y}}</html>").unwrap_err(),
        "not valid template ## near ## y}}</html> ##"
    );
    let e = Template::parse("line one\n  {{ var:a +* 2 }}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 13), "{e}");
}

#[test]
fn html_escaping_only_in_html_parts() {
    let vars = json!({"name": "<b>\"Tom\" & 'Jerry'</b>", "url": "https://x.test/a?b=1&c=2"});
    let ctx = Context {
        vars: &vars,
        ..Context::default()
    };
    let t = Template::parse("{{var:name}} <a href=\"{{var:url}}\">").unwrap();
    assert_eq!(
        t.render(&ctx, Mode::Html).unwrap(),
        "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt; <a href=\"https://x.test/a?b=1&amp;c=2\">"
    );
    assert_eq!(
        t.render(&ctx, Mode::Text).unwrap(),
        "<b>\"Tom\" & 'Jerry'</b> <a href=\"https://x.test/a?b=1&c=2\">"
    );
}

#[test]
fn parse_once_render_many_threads() {
    let t = std::sync::Arc::new(Template::parse("{{var:n}}").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                let vars = json!({"n": i});
                t.render(
                    &Context {
                        vars: &vars,
                        ..Context::default()
                    },
                    Mode::Text,
                )
                .unwrap()
            })
        })
        .collect();
    let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs, ["0", "1", "2", "3"]);
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    for src in [
        "{{ ".to_string() + &"(".repeat(100_000) + "1",
        "{{ ".to_string() + &"!".repeat(100_000) + "1 }}",
        "{{ ".to_string() + &"-".repeat(100_000) + "1 }}",
    ] {
        assert!(Template::parse(&src).is_err());
    }
    let blocks = |n: usize| "{% if true %}".repeat(n) + "x" + &"{% endif %}".repeat(n);
    assert!(
        Template::parse(&blocks(5_000))
            .unwrap_err()
            .message
            .contains("nested too deeply")
    );
    let vars = json!({});
    assert_eq!(
        Template::parse(&blocks(50))
            .unwrap()
            .render(
                &Context {
                    vars: &vars,
                    ..Context::default()
                },
                Mode::Text
            )
            .unwrap(),
        "x"
    );
}

#[test]
fn variables_are_listed_with_positions() {
    let t = Template::parse("Hi {{ var:name:\"you\" }}\n{% for l in var:lines %}{{ l.x }} {{ data:city }}{% endfor %}{% if segment:vip %}{% endif %}").unwrap();
    let found: Vec<_> = t
        .variables()
        .into_iter()
        .map(|v| (v.name, v.has_default, v.line, v.column))
        .collect();
    assert_eq!(
        found,
        [
            ("var:name".to_string(), true, 1, 7),
            ("var:lines".into(), false, 2, 13),
            ("data:city".into(), false, 2, 38)
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any input, from an alphabet rich in the language's own characters, parses or errors and
    /// renders or errors, never panics.
    #[test]
    fn never_panics(src in "([{}%\\[\\]:.\"'=!<>+*/() a-z0-9_-]|if |for |in |endif|endfor|set |var:|data:|else|Round\\(){0,60}") {
        let vars = json!({"a": [1, {"b": "x"}], "n": 0, "s": "text"});
        if let Ok(t) = Template::parse(&src) {
            let _ = t.render(&Context { vars: &vars, ..Context::default() }, Mode::Html);
        }
    }
}

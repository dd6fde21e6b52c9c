//! Hostile input (the "Faults and hostile input" probe): every input gets an error naming what
//! went wrong, never a crash, nor unbounded memory or time. The deep cases run on threads with a
//! 2 MiB stack, as tokio's worker and blocking threads have.

use std::time::{Duration, Instant};

use facteur_template::limits::{MAX_BLOCK_NESTING, MAX_EXPRESSION_NESTING};
use facteur_template::{Context, Limits, Mode, Template, mjml, text};
use serde_json::{Value, json};

/// Runs `f` on a thread with tokio's 2 MiB stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn render_with(
    src: &str,
    vars: &Value,
    limits: &Limits,
) -> Result<String, facteur_template::TemplateError> {
    let ctx = Context {
        vars,
        ..Context::default()
    };
    Template::parse(src)?.render_with(&ctx, Mode::Html, limits)
}

fn render(src: &str, vars: &Value) -> Result<String, facteur_template::TemplateError> {
    render_with(src, vars, &Limits::default())
}

// ---- The language: nesting limits as documented (docs/templates.md: "64 nested blocks, 100
// nested sub-expressions").

#[test]
fn blocks_nest_exactly_64_deep() {
    assert_eq!(MAX_BLOCK_NESTING, 64);
    let ifs = |n: usize| "{% if true %}".repeat(n) + "x" + &"{% endif %}".repeat(n);
    assert_eq!(render(&ifs(64), &json!({})).unwrap(), "x");
    let e = Template::parse(&ifs(65)).unwrap_err();
    assert!(
        e.message
            .contains("blocks nested too deeply (more than 64)"),
        "{e}"
    );
    // The 65th `{% if %}` is the one refused.
    assert_eq!(e.column, 64 * 13 + 1);

    let fors =
        |n: usize| "{% for x in var:one %}".repeat(n) + "{{ x }}" + &"{% endfor %}".repeat(n);
    let vars = json!({"one": [7]});
    assert_eq!(render(&fors(64), &vars).unwrap(), "7");
    assert!(Template::parse(&fors(65)).is_err());
    // Blocks of both kinds count together; an else branch is no deeper.
    let mixed = "{% if true %}{% for x in var:one %}".repeat(32)
        + "{% if false %}{% else %}y{% endif %}"
        + &"{% endfor %}{% endif %}".repeat(32);
    assert!(
        Template::parse(&mixed)
            .unwrap_err()
            .message
            .contains("nested too deeply")
    );
    let mixed = "{% if true %}{% for x in var:one %}".repeat(32)
        + "y"
        + &"{% endfor %}{% endif %}".repeat(32);
    assert_eq!(render(&mixed, &vars).unwrap(), "y");
}

#[test]
fn sub_expressions_nest_exactly_100_deep() {
    assert_eq!(MAX_EXPRESSION_NESTING, 100);
    type Case = (&'static str, Box<dyn Fn(usize) -> String>, &'static str);
    let cases: [Case; 6] = [
        (
            "parentheses",
            Box::new(|n| "(".repeat(n) + "1" + &")".repeat(n)),
            "1",
        ),
        ("!", Box::new(|n| "!".repeat(n) + "true"), "true"),
        ("-", Box::new(|n| "- ".repeat(n) + "1"), "1"),
        ("not", Box::new(|n| "not ".repeat(n) + "true"), "true"),
        (
            "function calls",
            Box::new(|n| "Upper(".repeat(n) + "\"a\"" + &")".repeat(n)),
            "A",
        ),
        (
            "operator chain",
            Box::new(|n| "1".to_string() + &"+1".repeat(n)),
            "101",
        ),
    ];
    for (what, expr, at_limit) in cases {
        let ok = format!("{{{{ {} }}}}", expr(100));
        let out = render(&ok, &json!({})).unwrap_or_else(|e| panic!("{what} at 100: {e}"));
        if what != "!" && what != "not" && what != "-" {
            assert_eq!(out, at_limit, "{what}");
        }
        let e = Template::parse(&format!("{{{{ {} }}}}", expr(101))).unwrap_err();
        assert!(
            e.message
                .contains("expression nested too deeply (more than 100)"),
            "{what} at 101: {e}"
        );
    }
}

#[test]
fn deepest_template_parses_and_renders_on_a_small_stack() {
    // 64 blocks, each condition 100 parentheses deep, and a 100-deep chain inside.
    let cond = "(".repeat(100) + "true" + &")".repeat(100);
    let chain = "1".to_string() + &"+1".repeat(100);
    let src = format!("{{% if {cond} %}}").repeat(64)
        + &format!("{{{{ {chain} }}}}")
        + &"{% endif %}".repeat(64);
    let out = on_small_stack(move || render(&src, &json!({})).map_err(|e| e.to_string()));
    assert_eq!(out.unwrap(), "101");
    // And hostile depths are refused there, not overflowed.
    let src = "{{ ".to_string() + &"(".repeat(1_000_000) + "1";
    assert!(on_small_stack(move || Template::parse(&src).is_err()));
    let src = "{{ 1".to_string() + &"+1".repeat(1_000_000) + " }}";
    assert!(on_small_stack(move || Template::parse(&src).is_err()));
}

// ---- The language: memory, iterations and time.

#[test]
fn doubling_a_string_stops_at_the_size_limit() {
    let src = r#"{% set a = "xxxxxxxxxxxxxxxx" %}"#.to_string()
        + &"{% set a = a + a %}".repeat(40)
        + "{{ a }}";
    let started = Instant::now();
    let e = render(&src, &json!({})).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(e.limit(), Some("max_output_bytes"));
    assert!(
        e.message.contains("value too large") && e.message.contains("(limit max_output_bytes)"),
        "{e}"
    );
    // 16 bytes doubled 19 times is 8 MiB: still within the default 10 MiB.
    let src = r#"{% set a = "xxxxxxxxxxxxxxxx" %}"#.to_string()
        + &"{% set a = a + a %}".repeat(19)
        + "{{ a }}";
    assert_eq!(render(&src, &json!({})).unwrap().len(), 16 << 19);
    // Functions that grow strings are bounded too.
    let limits = Limits {
        max_output_bytes: 1000,
        ..Limits::default()
    };
    let big = json!({"s": "\"".repeat(400)});
    for src in [
        "{{ Escape(var:s) }}",
        "{{ UrlEncode(var:s) }}",
        "{% set t = var:s + var:s + var:s %}",
    ] {
        let e = render_with(src, &big, &limits).unwrap_err();
        assert_eq!(e.limit(), Some("max_output_bytes"), "{src}: {e}");
    }
}

#[test]
fn output_stops_at_the_size_limit() {
    let kilobyte = "y".repeat(1024);
    let items: Vec<u32> = (0..1_000_000).collect();
    let vars = json!({"items": items, "k": kilobyte});
    let started = Instant::now();
    let e = render("{% for i in var:items %}{{ var:k }}{% endfor %}", &vars).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(e.limit(), Some("max_output_bytes"));
    assert!(e.message.contains("output too large"), "{e}");
    // Text, escaped values and numbers all count.
    let limits = Limits {
        max_output_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        render_with("0123456789", &vars, &limits).unwrap(),
        "0123456789"
    );
    assert!(render_with("0123456789A", &vars, &limits).is_err());
    let vars = json!({"lt": "<<<"});
    assert!(
        render_with("{{ var:lt }}", &vars, &limits).is_err(),
        "&lt; ×3 is 12 bytes"
    );
    assert!(render_with("0123456789{{ 1 }}", &vars, &limits).is_err());
}

#[test]
fn iterations_are_counted_across_all_loops_of_a_render() {
    let limits = Limits {
        max_iterations: 1000,
        max_duration: None,
        ..Limits::default()
    };
    let vars = json!({"a": (0..600).collect::<Vec<_>>(), "b": (0..30).collect::<Vec<_>>()});
    // Two loops of 600: each is under the limit, together they are not.
    let e = render_with(
        "{% for x in var:a %}{% endfor %}{% for x in var:a %}{% endfor %}",
        &vars,
        &limits,
    )
    .unwrap_err();
    assert_eq!(e.limit(), Some("max_iterations"));
    assert!(
        e.message
            .contains("too many loop iterations: more than 1000 in one render"),
        "{e}"
    );
    assert_eq!(e.column, 33, "the loop that went over");
    // Nested: 30 × 30 = 900 plus the 30 outer ones fit, 30 × 30 + 30 + 600 does not.
    let nested = "{% for x in var:b %}{% for y in var:b %}{% endfor %}{% endfor %}";
    assert!(render_with(nested, &vars, &limits).is_ok());
    assert!(
        render_with(
            &format!("{nested}{{% for x in var:a %}}{{% endfor %}}"),
            &vars,
            &limits
        )
        .is_err()
    );
    // The default is a million.
    let million = json!({"m": vec![0; 1_000_000], "one": [0, 1]});
    let limits = Limits {
        max_duration: None,
        ..Limits::default()
    };
    assert_eq!(limits.max_iterations, 1_000_000);
    assert!(render_with("{% for x in var:m %}{% endfor %}", &million, &limits).is_ok());
    let over = "{% for x in var:m %}{% endfor %}{% for x in var:one %}{% endfor %}";
    assert!(render_with(over, &million, &limits).is_err());
}

#[test]
fn a_render_stops_at_its_time_budget() {
    // Each iteration compares two 1 MB strings: a million of them would take minutes.
    let vars = json!({"m": vec![0; 1_000_000], "s": "z".repeat(1 << 20)});
    let src = "{% set s = var:s + \"\" %}{% for x in var:m %}{% if s = s %}{% endif %}{% endfor %}";
    let limits = Limits {
        max_duration: Some(Duration::from_millis(200)),
        ..Limits::default()
    };
    let started = Instant::now();
    let e = render_with(src, &vars, &limits).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.limit(), Some("max_duration"));
    assert!(
        e.message
            .starts_with("template took longer than 200 ms to render"),
        "{e}"
    );
    // No budget, no check: a small loop of the same kind completes.
    let vars = json!({"m": [0, 1, 2], "s": "z".repeat(1 << 20)});
    let limits = Limits {
        max_duration: None,
        ..Limits::default()
    };
    assert!(render_with(src, &vars, &limits).is_ok());
}

#[test]
fn simple_personalisation_does_not_hide_limits() {
    // `[[var:x]]` prints nothing when a value is missing, but a limit is still an error.
    let vars = json!({"big": "b".repeat(6 << 20)});
    assert_eq!(render("[[var:missing]]", &vars).unwrap(), "");
    let e = render("[[var:big + var:big]]", &vars).unwrap_err();
    assert_eq!(e.limit(), Some("max_output_bytes"));
}

#[test]
fn variables_of_a_big_template_are_listed_quickly() {
    let src = "{{ var:x }}\n".repeat(100_000);
    let t = Template::parse(&src).unwrap();
    let started = Instant::now();
    let vars = t.variables();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(vars.len(), 100_000);
    assert_eq!((vars[99_999].line, vars[99_999].column), (100_000, 4));
}

#[test]
fn many_set_variables_are_looked_up_quickly() {
    let mut src = String::new();
    for i in 0..20_000 {
        src.push_str(&format!("{{% set v{i} = {i} %}}"));
    }
    for i in 0..20_000 {
        src.push_str(&format!("{{{{ v{i} }}}}"));
    }
    let started = Instant::now();
    let out = render(&src, &json!({})).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(out.ends_with("199971999819999"));
}

// ---- MJML: nesting is refused before mrml recurses.

fn mjml_body(inner: &str) -> String {
    format!("<mjml><mj-body>{inner}</mj-body></mjml>")
}

/// A document whose deepest element is `depth` levels deep (`<mjml>` is level 1), made of
/// `open`/`close` repeated inside `<mjml><mj-body>` (and `prefix`).
fn deep_mjml(prefix: &str, open: &str, close: &str, depth: usize) -> String {
    let per = open.matches('<').count();
    let base = 2 + prefix.matches('<').count();
    let n = (depth - base) / per;
    assert_eq!(base + n * per, depth, "{open} does not fit {depth}");
    let suffix: String = prefix
        .split_inclusive('>')
        .rev()
        .map(|t| t.replacen('<', "</", 1))
        .collect();
    mjml_body(&format!(
        "{prefix}{}{}{suffix}",
        open.repeat(n),
        close.repeat(n)
    ))
}

#[test]
fn the_probes_deep_mjml_is_refused_with_a_position() {
    let src = "<mjml><mj-body><mj-raw>".to_string()
        + &"<div>".repeat(2000)
        + &"</div>".repeat(2000)
        + "</mj-raw></mj-body></mjml>";
    let e = on_small_stack(move || mjml::to_html(&src).unwrap_err());
    assert!(
        e.message
            .contains("elements nested too deeply: more than 200 levels (limit max_depth)"),
        "{e}"
    );
    // The 201st level: `<mjml>`, `<mj-body>`, `<mj-raw>`, then the 198th `<div>`.
    assert_eq!((e.line, e.column), (Some(1), Some(24 + 197 * 5)));
    for src in [
        mjml_body(&("<mj-wrapper>".repeat(2000) + &"</mj-wrapper>".repeat(2000))),
        "<mjml><mj-body><mj-raw>".to_string()
            + &"<div>".repeat(10_000)
            + "</mj-raw></mj-body></mjml>",
        "<mjml><mj-body><mj-text>".to_string()
            + &"<b>".repeat(10_000)
            + "</mj-text></mj-body></mjml>",
    ] {
        let e = on_small_stack(move || mjml::to_html(&src).unwrap_err());
        assert!(e.message.contains("nested too deeply"), "{e}");
    }
}

#[test]
fn mjml_at_the_depth_limit_compiles_on_a_small_stack() {
    // The nestings that cost mrml the most stack per level (measured with mrml 6.0.1), at
    // exactly 200 levels, then at 201.
    let shapes: [(&str, &str, &str); 7] = [
        ("", "<mj-hero>", "</mj-hero>"),
        ("", "<mj-wrapper>", "</mj-wrapper>"),
        ("", "<mj-section>", "</mj-section>"),
        ("", "<mj-section><mj-column>", "</mj-column></mj-section>"),
        (
            "<mj-section>",
            "<mj-hero><mj-section>",
            "</mj-section></mj-hero>",
        ),
        ("<mj-raw>", "<div>", "</div>"),
        (
            "<mj-section><mj-column><mj-table>",
            "<tr><td><table>",
            "</table></td></tr>",
        ),
    ];
    for (prefix, open, close) in shapes {
        let per = open.matches('<').count();
        let base = 2 + prefix.matches('<').count();
        let at_limit = 200 - (200 - base) % per;
        let src = deep_mjml(prefix, open, close, at_limit);
        let result = on_small_stack(move || mjml::to_html(&src).map(|c| c.html.len()));
        if let Err(e) = &result {
            assert!(
                !e.message.contains("nested too deeply"),
                "{open} at {at_limit}: {e}"
            );
        }
        let over = deep_mjml(prefix, open, close, at_limit + per);
        let e = on_small_stack(move || mjml::to_html(&over).unwrap_err());
        assert!(e.message.contains("nested too deeply"), "{open}: {e}");
    }
    // A lower limit refuses earlier.
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    let src = mjml_body(&"<mj-wrapper>".repeat(9));
    assert!(
        mjml::to_html_with(&src, &limits)
            .unwrap_err()
            .message
            .contains("more than 10")
    );
}

#[test]
fn malformed_conditional_comments_are_refused_not_a_panic() {
    for bad in ["<!--[if mso]x", "<![endifx", "<!--[if mso", "<![if x]y"] {
        let src = mjml_body(&format!("<mj-raw>\n{bad}</mj-raw>"));
        let e = mjml::to_html(&src).unwrap_err();
        assert!(
            e.message.contains("malformed conditional comment"),
            "{bad}: {e}"
        );
        assert_eq!((e.line, e.column), (Some(2), Some(1)), "{bad}");
    }
    let ok = mjml_body(
        "<mj-raw><!--[if mso]><table><tr><td><![endif]-->x<!--[if mso]></td></tr></table><![endif]--></mj-raw>",
    );
    assert!(mjml::to_html(&ok).is_ok());
}

#[test]
fn a_greater_than_sign_after_a_wide_character_compiles() {
    // mrml's tokenizer panicked on `€>` (and any character of 3 or 4 bytes before `>`) in text.
    let src = mjml_body(
        "<mj-section><mj-column><mj-text>Prix €> 5 — voir la suite —> 詳細> 😀></mj-text></mj-column></mj-section>",
    );
    let html = mjml::to_html(&src).unwrap().html;
    assert!(
        html.contains("Prix €&gt; 5 — voir la suite —&gt; 詳細&gt; 😀&gt;"),
        "{html}"
    );
    // In CSS an entity would not do: the document is refused with the position.
    let src = "<mjml><mj-head><mj-style>.a::after { content: \"€\" }\n.b€>i {}</mj-style></mj-head><mj-body></mj-body></mjml>";
    let e = mjml::to_html(src).unwrap_err();
    assert!(e.message.contains("'>'"), "{e}");
    assert_eq!((e.line, e.column), (Some(2), Some(4)));
    // Errors after an escaped `>` keep their position in the source.
    let src = "<mjml><mj-body><mj-text>a€>b</mj-text><!DOCTYPE x></mj-body></mjml>";
    let plain = "<mjml><mj-body><mj-text>a€ b</mj-text><!DOCTYPE x></mj-body></mjml>";
    let (e, p) = (
        mjml::to_html(src).unwrap_err(),
        mjml::to_html(plain).unwrap_err(),
    );
    assert_eq!((e.line, e.column), (p.line, p.column), "{e} / {p}");
}

// ---- HTML to text.

#[test]
fn deep_html_is_refused_quickly() {
    // 100k nested <div> took 27 s in html5ever (quadratic); the scan refuses it at once.
    let html = "<div>".repeat(100_000) + "x" + &"</div>".repeat(100_000);
    let started = Instant::now();
    let e = text::html_to_text_with(&html, &Limits::default()).unwrap_err();
    assert_eq!(e.limit(), Some("max_depth"));
    assert!(
        e.message
            .contains("HTML nested too deeply: more than 200 levels"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (1, 200 * 5 + 1));
    // The infallible version falls back to the text without layout.
    assert_eq!(text::html_to_text(&html), "x\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for html in [
        "<b>".repeat(10_000) + "x",
        "<table><tr><td>".repeat(5_000),
        (0..2000)
            .map(|i| format!("<p><b id={i}></p>"))
            .collect::<String>()
            + "x",
    ] {
        let started = Instant::now();
        assert!(
            on_small_stack(move || text::html_to_text_with(&html, &Limits::default())).is_err()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn html_to_text_at_the_depth_limit_works_on_a_small_stack() {
    let html = "<div>".repeat(200) + "deep" + &"</div>".repeat(200);
    let text = on_small_stack(move || text::html_to_text_with(&html, &Limits::default()));
    assert_eq!(text.unwrap(), "deep\n");
    let html = "<div>".repeat(201) + "deep";
    assert!(text::html_to_text_with(&html, &Limits::default()).is_err());
}

#[test]
fn the_fallback_text_strips_markup() {
    let html = "<style>p { color: red }</style><p>Hello &amp; welcome</p><script>x<y</script><div>"
        .to_string()
        + &"<div>".repeat(300)
        + "Bye<br>now";
    assert_eq!(text::html_to_text(&html), "Hello & welcome\n\nBye\nnow\n");
}

// ---- Regressions found by the fuzzer (crates/facteur-fuzz).

#[test]
fn multibyte_characters_in_tags_are_errors_not_panics() {
    // The closing-delimiter search sliced the source inside a character.
    for src in [
        "{{ é }}",
        "{% s}t to\u{fffd}al }}= 0$%}",
        "{% if 詳細 %}x{% endif %}",
        "[[var:é]]",
    ] {
        assert!(Template::parse(src).is_err(), "{src}");
    }
    assert_eq!(render("{{ \"é\" }}", &json!({})).unwrap(), "é");
}

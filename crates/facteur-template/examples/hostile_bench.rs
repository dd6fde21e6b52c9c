//! Time of each step (language parse, render, HTML to text, MJML) on big flat and nested
//! inputs: every step must be linear, and deep inputs refused at once.
//! `cargo run --release -p facteur-template --example hostile_bench [SCALE] [--only TEXT]`
//! (SCALE defaults to 100000). One line per input and step: `INPUT STEP MILLISECONDS RESULT`.

use std::time::Instant;

use facteur_template::{Context, Mode, Template, mjml, text};

fn time<T>(label: &str, step: &str, f: impl FnOnce() -> T, describe: impl Fn(&T) -> String) {
    let start = Instant::now();
    let out = f();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!("{label:<30} {step:<13} {ms:>9.1} ms  {}", describe(&out));
}

fn result<E: std::fmt::Display>(r: &Result<usize, E>) -> String {
    match r {
        Ok(len) => format!("{len} bytes"),
        Err(e) => e.to_string().chars().take(70).collect(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let only = args.iter().skip_while(|a| *a != "--only").nth(1).cloned();
    let inputs: Vec<(String, String)> = vec![
        (format!("{n} flat <div>x</div>"), "<div>x</div>".repeat(n)),
        (
            format!("{n} nested <div>"),
            "<div>".repeat(n) + "x" + &"</div>".repeat(n),
        ),
        (format!("{n} <b> unclosed"), "<b>".repeat(n) + "x"),
        (
            format!("{n} nested <b>"),
            "<b>".repeat(n) + "x" + &"</b>".repeat(n),
        ),
        (
            "1 MiB paragraph".to_string(),
            "<p>".to_string() + &"lorem ipsum ".repeat((1 << 20) / 12) + "</p>",
        ),
        (format!("{n} {{{{ var:x }}}}"), "{{ var:x }} ".repeat(n)),
        (format!("{n} [[var:x]]"), "[[var:x]] ".repeat(n)),
        (
            format!("{} table rows", n / 4),
            "<table>".to_string()
                + &"<tr><td>cell</td><td>cell</td></tr>".repeat(n / 4)
                + "</table>",
        ),
    ];
    let vars = serde_json::json!({"x": "value"});
    let ctx = Context {
        vars: &vars,
        ..Context::default()
    };
    for (label, src) in &inputs {
        if only.as_ref().is_some_and(|o| !label.contains(o.as_str())) {
            continue;
        }
        time(
            label,
            "parse",
            || Template::parse(src).map(|_| src.len()),
            result,
        );
        if let Ok(t) = Template::parse(src) {
            time(
                label,
                "render",
                || t.render(&ctx, Mode::Html).map(|s| s.len()),
                result,
            );
        }
        time(
            label,
            "html_to_text",
            || Ok::<_, String>(text::html_to_text(src).len()),
            result,
        );
        time(
            label,
            "text_with",
            || text::html_to_text_with(src, &Default::default()).map(|s| s.len()),
            result,
        );
        let doc = format!("<mjml><mj-body><mj-raw>{src}</mj-raw></mj-body></mjml>");
        time(
            label,
            "mjml",
            || mjml::to_html(&doc).map(|c| c.html.len()),
            result,
        );
    }
}

/// The facteur binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

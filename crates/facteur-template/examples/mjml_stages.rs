//! Where the time of an MJML compilation goes, for the MJML files given: one corpus pass with
//! Facteur's whole compiler, and with mrml's parse and render alone.
//! `cargo run --release -p facteur-template --example mjml_stages ITERATIONS FILE.mjml…`

use std::time::Instant;

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let docs: Vec<String> = std::env::args()
        .skip(2)
        .map(|f| std::fs::read_to_string(f).expect("readable"))
        .collect();
    let all = docs.len();
    // mrml alone refuses some (CRLF in mj-head, mj-html-attributes): those are left out.
    let docs: Vec<String> = docs
        .into_iter()
        .filter(|d| mrml::parse(d).is_ok())
        .collect();
    let pass = |f: &dyn Fn(&str)| {
        let start = Instant::now();
        for _ in 0..iterations {
            for d in &docs {
                f(std::hint::black_box(d));
            }
        }
        start.elapsed().as_secs_f64() * 1000.0 / iterations as f64
    };
    let options = mrml::prelude::render::RenderOptions::default();
    let whole = pass(&|d| {
        std::hint::black_box(facteur_template::mjml::to_html(d).expect("compiles"));
    });
    let parse = pass(&|d| {
        std::hint::black_box(mrml::parse(d).expect("parses"));
    });
    let render = pass(&|d| {
        let parsed = mrml::parse(d).expect("parses");
        std::hint::black_box(parsed.element.render(&options).expect("renders"));
    });
    let validate = pass(&|d| {
        std::hint::black_box(facteur_template::mjml_validate::validate(d));
    });
    println!(
        "one pass of the {} documents (of {all}) mrml reads alone:",
        docs.len()
    );
    println!("  Facteur whole compile   {whole:8.2} ms");
    println!("  mrml parse              {parse:8.2} ms");
    println!("  mrml parse + render     {render:8.2} ms");
    println!("  validator               {validate:8.2} ms");
}

/// The facteur binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

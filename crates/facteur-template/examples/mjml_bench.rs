//! MJML → HTML per second with Facteur (mrml and its passes, default validation level), for
//! each starter template, or for the MJML files named after the iteration count.
//! `cargo run --release -p facteur-template --example mjml_bench [ITERATIONS [FILE.mjml…]]`
//! Prints one line per document: `SLUG DOCS_PER_SECOND HTML_BYTES`.

use std::time::Instant;

use facteur_template::{mjml, starters};

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let files: Vec<(String, String)> = std::env::args()
        .skip(2)
        .map(|f| {
            let path = std::path::Path::new(&f);
            let slug = path.file_stem().unwrap().to_string_lossy().into_owned();
            (slug, std::fs::read_to_string(path).expect("readable"))
        })
        .collect();
    let docs: Vec<(String, String)> = if files.is_empty() {
        starters::ALL
            .iter()
            .map(|s| (s.slug.to_string(), s.mjml.to_string()))
            .collect()
    } else {
        files
    };
    for (slug, source) in &docs {
        let bytes = mjml::to_html(source).expect("compiles").html.len();
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(mjml::to_html(std::hint::black_box(source)).expect("compiles"));
        }
        println!(
            "{slug} {:.0} {bytes}",
            iterations as f64 / start.elapsed().as_secs_f64()
        );
    }
}

/// The facteur binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

//! MJML → HTML per second for each starter template, with mrml.
//! `cargo run --release -p facteur-template --example mjml_bench [ITERATIONS]`
//! Prints one line per starter: `SLUG DOCS_PER_SECOND HTML_BYTES`.

use std::time::Instant;

use facteur_template::{mjml, starters};

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    for s in starters::ALL {
        let bytes = mjml::to_html(s.mjml).expect("starter compiles").html.len();
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(mjml::to_html(std::hint::black_box(s.mjml)).expect("compiles"));
        }
        println!(
            "{} {:.0} {bytes}",
            s.slug,
            iterations as f64 / start.elapsed().as_secs_f64()
        );
    }
}

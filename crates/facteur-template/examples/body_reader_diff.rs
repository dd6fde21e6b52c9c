//! Compiles MJML files with Facteur's body reader and with mrml's parser alone, and prints
//! where the outputs first differ (for the fuzzer's findings).
//! `cargo run --release -p facteur-template --example body_reader_diff FILE…`

use facteur_template::Limits;
use facteur_template::mjml::{self, Options};

fn main() {
    for file in std::env::args().skip(1) {
        let bytes = std::fs::read(&file).expect("readable");
        let source = String::from_utf8_lossy(&bytes);
        let limits = Limits::default();
        let run = |fast: bool| {
            let mut options = Options::new(&limits);
            options.fast_body = fast;
            match mjml::compile(&source, &options) {
                Ok(c) => format!("{}\nwarnings: {:?}", c.html, c.warnings),
                Err(e) => format!("error: {e:?}"),
            }
        };
        let (fast, slow) = (run(true), run(false));
        let at = fast
            .bytes()
            .zip(slow.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(fast.len().min(slow.len()));
        if fast == slow {
            println!("{file}: same");
            continue;
        }
        let around = |s: &str| {
            let mut from = at.saturating_sub(300);
            while !s.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (at + 200).min(s.len());
            while !s.is_char_boundary(to) {
                to += 1;
            }
            s[from..to].to_string()
        };
        println!(
            "{file}: differ at {at}\n--- reader:\n{}\n--- mrml:\n{}\n",
            around(&fast),
            around(&slow)
        );
    }
}

//! How fast `report::parse` reads bounces: parses the given files over and over for a second
//! (at least once each) and prints the rate. Used by bench/dkim.sh.

use std::time::{Duration, Instant};

fn main() {
    let messages: Vec<Vec<u8>> = std::env::args()
        .skip(1)
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {p}: {e}")))
        .collect();
    if messages.is_empty() {
        eprintln!("usage: bounce_rate FILE.eml...");
        std::process::exit(2);
    }
    let start = Instant::now();
    let mut parsed = 0u64;
    let mut failures = 0u64;
    while parsed < messages.len() as u64 || start.elapsed() < Duration::from_secs(1) {
        for m in &messages {
            let r = facteur_message::report::parse(m);
            failures += r.failures.len() as u64;
            parsed += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} messages/s ({} parses, {} failed recipients read, in {:.2} s)",
        parsed as f64 / secs,
        parsed,
        failures,
        secs
    );
}

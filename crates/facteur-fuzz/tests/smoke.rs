//! A short run of every fuzz target in every `cargo test` (bench/fuzz.sh runs a million cases
//! per target). `FACTEUR_FUZZ_CASES` changes the count.

#[test]
fn every_target_survives_a_short_run() {
    let cases: u64 = std::env::var("FACTEUR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let targets = facteur_fuzz::all();
    assert!(
        targets.len() >= 7,
        "expected a target per parser, found {}",
        targets.len()
    );
    let mut failures = Vec::new();
    for t in &targets {
        assert!(!t.seeds.is_empty(), "{} has no seed corpus", t.name);
        let report = facteur_fuzz::run(t, 7, cases, false, |_| {});
        for (case, failure) in report.failures {
            failures.push(format!("{}: case {case}: {failure:?} (replay: cargo run -p facteur-fuzz --release -- --seed 7 --case {case} {})", t.name, t.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Facteur's reader for the MJML body against mrml's parser: every document of the corpora
//! (the one-component corpus, the validation corpus, the newsletters, the starters and the
//! golden templates) and variants of them (comments dropped, each file with its line breaks
//! and spaces moved) compiles to the same HTML and the same warnings, or to the same error,
//! both ways. Also counts how many documents the reader takes (it declines what it does not
//! read as mrml does), so that a change that makes it decline everything does not pass
//! silently.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use facteur_template::Limits;
use facteur_template::mjml::{self, Options};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mjml_files(dir: &str) -> Vec<(String, String)> {
    let dir = manifest_dir().join(dir);
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable corpus") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "mjml") {
                let text = std::fs::read_to_string(&path).expect("utf-8");
                files.push((path.display().to_string(), text));
            }
        }
    }
    files.sort();
    files
}

/// Compiles both ways; the output (or error) as text to compare.
fn both(source: &str, keep_comments: bool) -> (String, String) {
    let limits = Limits::default();
    let run = |fast: bool| {
        let mut options = Options::new(&limits);
        options.keep_comments = keep_comments;
        options.fast_body = fast;
        match mjml::compile(source, &options) {
            Ok(c) => format!("{}\n--warnings--\n{:?}", c.html, c.warnings),
            Err(e) => format!("error: {e:?}"),
        }
    };
    (run(true), run(false))
}

#[test]
fn the_body_reader_compiles_every_corpus_as_mrml_does() {
    let mut docs = Vec::new();
    for dir in [
        "tests/mjml-corpus",
        "tests/mjml-validation",
        "tests/newsletters",
        "tests/golden",
    ] {
        docs.extend(mjml_files(dir));
    }
    for starter in facteur_template::starters::ALL {
        docs.push((
            format!("starter {}", starter.slug),
            starter.mjml.to_string(),
        ));
    }
    assert!(docs.len() > 180, "{} documents", docs.len());
    let mut differ = Vec::new();
    let mut checked = 0;
    // Which documents the reader takes, compiled once each the default way.
    let mut declined = Vec::new();
    for (name, source) in &docs {
        let before = mjml::BODY_READER_COUNT.load(Ordering::Relaxed);
        let _ = mjml::to_html(source);
        if mjml::BODY_READER_COUNT.load(Ordering::Relaxed) == before {
            declined.push(name.rsplit('/').next().unwrap_or(name));
        }
    }
    let taken = docs.len() - declined.len();
    println!(
        "the reader takes {taken} of {} documents; declined: {declined:?}",
        docs.len()
    );
    assert!(
        taken * 10 >= docs.len() * 7,
        "the reader takes only {taken} of {} documents",
        docs.len()
    );
    for (name, source) in &docs {
        let variants = [
            source.clone(),
            // The same document on fewer lines: texts that no longer start with a line break.
            source.replace("\n  ", " "),
            source.replace('\n', ""),
        ];
        for (k, variant) in variants.iter().enumerate() {
            for keep in [true, false] {
                let (fast, slow) = both(variant, keep);
                checked += 1;
                if fast != slow {
                    differ.push(format!(
                        "{name} (variant {k}, comments kept: {keep}):\n  reader: {}\n  mrml:   {}",
                        first_difference(&fast, &slow).0,
                        first_difference(&fast, &slow).1
                    ));
                }
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {checked} compilations differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// The two texts around their first difference.
fn first_difference(a: &str, b: &str) -> (String, String) {
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let window = |s: &str| {
        let mut from = at.saturating_sub(80);
        while !s.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (at + 80).min(s.len());
        while !s.is_char_boundary(to) {
            to += 1;
        }
        s[from..to].to_string()
    };
    (window(a), window(b))
}

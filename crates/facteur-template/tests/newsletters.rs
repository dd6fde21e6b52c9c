//! Facteur's MJML compiler against node mjml 5 on the newsletters corpus
//! (`tests/newsletters`, 25 full newsletters): for each one, the visible text, the set of
//! links, the set of images and the number of tables must be node's, unless the difference is
//! listed in [`ACCEPTED`] with its reason. An accepted difference that no longer occurs fails
//! too (the list stays true).
//!
//! Node's HTML is `NN-slug.node.html`, written by `tools/mjml-node/render.js`. When node and
//! the pinned node mjml are installed (`.ci/run` runs `npm ci` in `tools/mjml-node`), the test
//! renders the corpus again with node first, so the comparison is with node mjml itself;
//! otherwise it prints a notice and uses the committed files.
//!
//! The section "Newsletters" of docs/mjml-fidelity.md is this check's report: the test fails
//! when the file says otherwise; `UPDATE_FIDELITY=1` rewrites it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Differences Facteur keeps, on purpose or for want of a better answer: (document, measure,
/// reason). A measure is `text`, `links`, `images` or `tables`.
const ACCEPTED: &[(&str, &str, &str)] = &[(
    "10-university-news-fr",
    "links",
    "node links the default Roboto font because the document uses \"Roboto Slab\" (its check is a substring match); Facteur links only the fonts a font-family names",
)];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/newsletters")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Removes comments (conditional ones too: what Outlook alone sees is not compared) and the
/// content of `<style>` and `<title>`.
fn visible_markup(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    loop {
        let lower_rest = rest.to_ascii_lowercase();
        let next = [
            lower_rest.find("<!--").map(|i| (i, "-->")),
            lower_rest.find("<style").map(|i| (i, "</style>")),
            lower_rest.find("<title").map(|i| (i, "</title>")),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(i, _)| *i);
        match next {
            Some((at, end)) => {
                out.push_str(&rest[..at]);
                out.push(' ');
                let after = &lower_rest[at..];
                let skip = after.find(end).map_or(after.len(), |e| e + end.len());
                rest = &rest[at + skip..];
            }
            None => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

fn decode(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&#160;", " ")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Visible text, whitespace collapsed.
fn text(html: &str) -> String {
    let markup = visible_markup(html);
    let mut out = String::new();
    let mut rest = markup.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        rest = rest[lt..].find('>').map_or("", |e| &rest[lt + e + 1..]);
    }
    out.push_str(rest);
    decode(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The values of attribute `name` on tags named `tag` (any tag when empty).
fn attribute_values(html: &str, tag: &str, name: &str) -> BTreeSet<String> {
    let markup = visible_markup(html);
    let mut found = BTreeSet::new();
    let mut rest = markup.as_str();
    while let Some(lt) = rest.find('<') {
        let Some(end) = rest[lt..].find('>') else {
            break;
        };
        let t = &rest[lt + 1..lt + end];
        rest = &rest[lt + end + 1..];
        let tag_name: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if !tag.is_empty() && tag_name != tag {
            continue;
        }
        let pattern = format!(" {name}=");
        let lower = t.to_ascii_lowercase();
        let mut from = 0;
        while let Some(at) = lower[from..].find(&pattern).map(|a| from + a) {
            let v = &t[at + pattern.len()..];
            let value = match v.chars().next() {
                Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or_default(),
                _ => v.split([' ', '/']).next().unwrap_or_default(),
            };
            found.insert(normalise_ids(&decode(value)));
            from = at + pattern.len();
        }
    }
    found
}

/// Node's random ids (carousels, the navbar's hamburger) read the same.
fn normalise_ids(s: &str) -> String {
    let mut out = s.to_string();
    for prefix in ["mj-carousel-", "mj-carousel-radio-"] {
        if let Some(at) = out.find(prefix) {
            let start = at + prefix.len();
            let len = out[start..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            out.replace_range(start..start + len, "ID");
        }
    }
    out
}

fn tables(html: &str) -> usize {
    visible_markup(html)
        .to_ascii_lowercase()
        .matches("<table")
        .count()
}

/// Renders the corpus with node mjml into a temporary directory, when node and the pinned
/// package are there.
fn node_outputs(files: &[PathBuf]) -> Option<PathBuf> {
    let script = root().join("tools/mjml-node/render.js");
    if !root().join("tools/mjml-node/node_modules/mjml").is_dir() {
        println!(
            "notice: node mjml is not installed (cd tools/mjml-node && npm ci): comparing with the committed *.node.html"
        );
        return None;
    }
    let out = std::env::temp_dir().join(format!("facteur-newsletters-{}", std::process::id()));
    let status = std::process::Command::new("node")
        .arg(&script)
        .arg(format!("--out={}", out.display()))
        .args(files)
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        other => panic!("node tools/mjml-node/render.js failed: {other:?}"),
    }
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn facteur_matches_node_mjml_on_the_newsletters() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mjml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{} newsletters", files.len());
    let fresh = node_outputs(&files);
    let mut differences: Vec<(String, &str, String)> = Vec::new();
    let mut features = Vec::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(file).unwrap();
        let node_file = match &fresh {
            Some(out) => out.join(format!("{stem}.node.html")),
            None => file.with_extension("node.html"),
        };
        let theirs = std::fs::read_to_string(&node_file)
            .unwrap_or_else(|e| panic!("{}: {e}", node_file.display()));
        let ours = facteur_template::mjml::to_html(&source)
            .unwrap_or_else(|e| panic!("{stem} does not compile: {e}"));
        // Validation findings (they have a place); notices about inlined CSS that cannot be
        // inlined (`:hover`) have none.
        let findings: Vec<_> = ours.warnings.iter().filter(|w| w.line.is_some()).collect();
        assert!(
            findings.is_empty(),
            "{stem}: validation findings on a document node validates strictly: {findings:?}"
        );
        let ours = ours.html;
        if text(&ours) != text(&theirs) {
            let (a, b) = (text(&ours), text(&theirs));
            let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            let at: String = a.chars().skip(common.saturating_sub(30)).take(80).collect();
            let bt: String = b.chars().skip(common.saturating_sub(30)).take(80).collect();
            differences.push((
                stem.clone(),
                "text",
                format!("Facteur: “…{at}…” node: “…{bt}…”"),
            ));
        }
        for (measure, tag, name) in [("links", "", "href"), ("images", "img", "src")] {
            let (a, b) = (
                attribute_values(&ours, tag, name),
                attribute_values(&theirs, tag, name),
            );
            if a != b {
                let only_ours: BTreeSet<String> = a.difference(&b).cloned().collect();
                let only_theirs: BTreeSet<String> = b.difference(&a).cloned().collect();
                differences.push((
                    stem.clone(),
                    measure,
                    format!(
                        "only in Facteur: {}; only in node: {}",
                        list(&only_ours),
                        list(&only_theirs)
                    ),
                ));
            }
        }
        let (a, b) = (tables(&ours), tables(&theirs));
        if a != b {
            differences.push((stem.clone(), "tables", format!("Facteur {a}, node {b}")));
        }
        features.push((
            stem,
            text(&theirs).split(' ').count(),
            attribute_values(&theirs, "", "href").len(),
            attribute_values(&theirs, "img", "src").len(),
            b,
        ));
    }
    if let Some(out) = fresh {
        let _ = std::fs::remove_dir_all(out);
    }
    let unexpected: Vec<String> = differences
        .iter()
        .filter(|(doc, m, _)| !ACCEPTED.iter().any(|(d, am, _)| d == doc && am == m))
        .map(|(doc, m, what)| format!("{doc} {m}: {what}"))
        .collect();
    let stale: Vec<String> = ACCEPTED
        .iter()
        .filter(|(d, m, _)| !differences.iter().any(|(doc, dm, _)| doc == d && dm == m))
        .map(|(d, m, _)| format!("{d} {m}"))
        .collect();

    // The report, as docs/mjml-fidelity.md shows it.
    let same = features.len()
        - differences
            .iter()
            .map(|(d, _, _)| d)
            .collect::<BTreeSet<_>>()
            .len();
    let mut report = format!(
        "## Newsletters: Facteur against node mjml 5\n\n\
         Generated by `UPDATE_FIDELITY=1 cargo test -p facteur-template --test newsletters`, which\n\
         fails when this section is out of date. Corpus: `crates/facteur-template/tests/newsletters`,\n\
         {} full newsletters (multi-column, hero, navbar, carousel, accordion, social with every\n\
         network, wrappers with raw HTML, CRLF files, inline styles, html-attributes), each compared\n\
         with node mjml 5.4.1's HTML on its visible text, its links, its images and its number of\n\
         tables.\n\n\
         **{same} of {} identical on all four measures.**\n\n",
        features.len(),
        features.len()
    );
    report.push_str("| newsletter | words | links | images | tables | differences |\n|---|---|---|---|---|---|\n");
    for (stem, words, links, images, tables) in &features {
        let diffs: Vec<String> = differences
            .iter()
            .filter(|(d, _, _)| d == stem)
            .map(|(_, m, what)| {
                let why = ACCEPTED
                    .iter()
                    .find(|(d, am, _)| d == stem && am == m)
                    .map_or("", |(_, _, why)| why);
                format!("{m}: {what} (accepted: {why})").replace('|', "\\|")
            })
            .collect();
        report.push_str(&format!(
            "| {stem} | {words} | {links} | {images} | {tables} | {} |\n",
            if diffs.is_empty() {
                "none".to_string()
            } else {
                diffs.join("<br>")
            }
        ));
    }
    let doc_path = root().join("docs/mjml-fidelity.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    let (start, end) = ("<!-- newsletters:start -->\n", "<!-- newsletters:end -->\n");
    let current = doc
        .find(start)
        .and_then(|s| doc[s..].find(end).map(|e| &doc[s + start.len()..s + e]));
    if std::env::var_os("UPDATE_FIDELITY").is_some() {
        let updated = match (doc.find(start), doc.find(end)) {
            (Some(s), Some(e)) => format!("{}{start}{report}{}", &doc[..s], &doc[e..]),
            _ => format!("{doc}\n{start}{report}{end}"),
        };
        std::fs::write(&doc_path, updated).unwrap();
    } else if unexpected.is_empty() && stale.is_empty() {
        assert_eq!(
            current,
            Some(report.as_str()),
            "docs/mjml-fidelity.md is out of date: run UPDATE_FIDELITY=1 cargo test -p facteur-template --test newsletters"
        );
    }
    assert!(
        unexpected.is_empty(),
        "differences with node mjml that are not accepted:\n{}",
        unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "accepted differences that no longer occur (remove them from ACCEPTED): {}",
        stale.join(", ")
    );
}

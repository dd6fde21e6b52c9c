//! The bounce and complaint corpus (tests/bounces/, see its README) as a table: each message
//! is read by `report::parse` and must give the kind, recipient, status code and class its
//! line in expected.tsv says.

use facteur_message::outcome::Severity;
use facteur_message::report::{self, ReportKind};

#[derive(Debug, PartialEq, Eq, Clone)]
struct Row {
    kind: String,
    recipient: String,
    status: String,
    class: String,
}

fn rows_of(r: &report::Report) -> Vec<Row> {
    let none = || "-".to_string();
    match r.kind {
        ReportKind::Bounce => r
            .failures
            .iter()
            .map(|f| Row {
                kind: match f.severity() {
                    Severity::Hard => "hard",
                    Severity::Soft => "soft",
                    Severity::Policy => "policy",
                }
                .into(),
                recipient: f.address.clone(),
                status: f.status.clone().unwrap_or_else(none),
                class: f.class.as_str().into(),
            })
            .collect(),
        ReportKind::Complaint => vec![Row {
            kind: "complaint".into(),
            recipient: r
                .complaint
                .as_ref()
                .and_then(|c| c.recipient.clone())
                .unwrap_or_else(none),
            status: none(),
            class: none(),
        }],
        ReportKind::AutoReply | ReportKind::NotABounce => vec![Row {
            kind: if r.kind == ReportKind::AutoReply {
                "auto-reply"
            } else {
                "not-a-bounce"
            }
            .into(),
            recipient: none(),
            status: none(),
            class: none(),
        }],
    }
}

#[test]
fn every_message_of_the_corpus_is_read_as_expected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bounces");
    let table = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut expected: Vec<(String, Row)> = Vec::new();
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "bad line in expected.tsv: {line}");
        expected.push((
            cols[0].to_string(),
            Row {
                kind: cols[1].into(),
                recipient: cols[2].into(),
                status: cols[3].into(),
                class: cols[4].into(),
            },
        ));
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 60, "the corpus has {} messages", files.len());
    let mut wrong = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for file in &files {
        let raw = std::fs::read(dir.join(file)).unwrap();
        let got = rows_of(&report::parse(&raw));
        let want: Vec<Row> = expected
            .iter()
            .filter(|(f, _)| f == file)
            .map(|(_, r)| r.clone())
            .collect();
        assert!(!want.is_empty(), "{file} has no line in expected.tsv");
        for r in &want {
            *kinds.entry(r.kind.clone()).or_default() += 1;
        }
        if got != want {
            wrong.push(format!("{file}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    println!("corpus: {} messages, {kinds:?}", files.len());
    assert!(
        wrong.is_empty(),
        "{} of {} messages read wrong:\n{}",
        wrong.len(),
        files.len(),
        wrong.join("\n")
    );
}

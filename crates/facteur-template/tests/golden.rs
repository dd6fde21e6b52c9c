//! Golden files: `golden/NAME.template` rendered with `golden/NAME.vars.json` must give
//! `golden/NAME.out` (rendered output) or `golden/NAME.error` (the error's Display).
//! vars.json: {"Variables": {...}, "data": {...}, "mj": {...}, "segments": [...],
//! "opened_days_ago": n, "clicked_days_ago": n, "mode": "html" | "text"}.
//! On a mismatch the actual result is written next to it as `.actual`; `UPDATE_GOLDEN=1`
//! rewrites the expectations.

use facteur_template::{Activity, Context, Mode, Template};
use serde_json::Value;

fn run(template: &str, spec: &Value) -> String {
    let null = Value::Null;
    let segments: Vec<String> = spec["segments"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let ctx = Context {
        vars: spec.get("Variables").unwrap_or(&null),
        data: spec.get("data").unwrap_or(&null),
        mj: spec.get("mj").unwrap_or(&null),
        segments: &segments,
        activity: Activity {
            opened_days_ago: spec["opened_days_ago"].as_i64(),
            clicked_days_ago: spec["clicked_days_ago"].as_i64(),
        },
    };
    let mode = if spec["mode"] == "text" {
        Mode::Text
    } else {
        Mode::Html
    };
    match Template::parse(template).and_then(|t| t.render(&ctx, mode)) {
        Ok(out) => format!("OK\n{out}"),
        Err(e) => format!("ERROR\n{e}\n"),
    }
}

#[test]
fn golden_files() {
    let dir = manifest_dir().join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut count = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "template"))
    {
        count += 1;
        let template = std::fs::read_to_string(&path).unwrap();
        let vars_path = path.with_extension("vars.json");
        let spec: Value = match std::fs::read_to_string(&vars_path) {
            Ok(s) => {
                serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", vars_path.display()))
            }
            Err(_) => Value::Null,
        };
        let actual = run(&template, &spec);
        let (out_path, expected_body) = if let Some(body) = actual.strip_prefix("OK\n") {
            (path.with_extension("out"), body.to_string())
        } else {
            (
                path.with_extension("error"),
                actual.strip_prefix("ERROR\n").unwrap().to_string(),
            )
        };
        if update {
            let _ = std::fs::remove_file(path.with_extension("out"));
            let _ = std::fs::remove_file(path.with_extension("error"));
            std::fs::write(&out_path, &expected_body).unwrap();
            continue;
        }
        match std::fs::read_to_string(&out_path) {
            Ok(expected) if expected == expected_body => {
                let _ = std::fs::remove_file(path.with_extension("actual"));
            }
            other => {
                std::fs::write(path.with_extension("actual"), &actual).unwrap();
                failures.push(format!(
                    "{}: expected {} {:?}\n   got {:?}",
                    path.file_name().unwrap().to_string_lossy(),
                    out_path.extension().unwrap().to_string_lossy(),
                    other.ok(),
                    actual
                ));
            }
        }
    }
    assert!(
        count >= 20,
        "only {count} golden templates found in {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The crate's directory, read at run time (cargo sets it for tests), so a test binary built in
/// another checkout of the same repository never reads that checkout's files.
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run through cargo test"))
}

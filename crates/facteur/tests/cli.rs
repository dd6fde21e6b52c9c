//! The command line as an operator uses it: `serve --check`, `account`, and the queue commands
//! on a real data directory.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_facteur");

async fn facteur(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(dir)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn check_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("facteur.toml");
    std::fs::write(
        &config,
        "smtp = [\"not-an-address\"]\nidle_timeout = \"soon\"\nretry_factor = 99.0\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--check", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(
        err.contains("not-an-address")
            && err.contains("idle_timeout")
            && err.contains("retry_factor"),
        "{err}"
    );
    std::fs::write(&config, "unknown_setting = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--check", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `unknown_setting`"));
    let out = Command::new(BIN)
        .args(["serve", "--check"])
        .env("FACTEUR_MAX_RECIPIENTS", "0")
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_recipients must be at least 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_list_show_retry_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = facteur(
        &["account", "create", "--name", "ops", "--json"],
        dir.path(),
    )
    .await;
    assert!(ok, "{err}");
    let key = serde_json::from_str::<serde_json::Value>(&out).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out, _) = facteur(&["account", "list", "--json"], dir.path()).await;
    assert!(ok && out.contains(&key));

    // A server whose next hop is down holds the message in the queue.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--relay",
            "127.0.0.1:0",
            "--smtp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .args([
            "--trusted-networks",
            "127.0.0.1/32",
            "--trusted-account",
            &key,
            "--retry-initial",
            "1h",
        ])
        .arg("--relay-host")
        .arg(closed.to_string())
        .arg("--data")
        .arg(dir.path())
        .env("FACTEUR_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut relay = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(a) = line.strip_prefix("listening relay=") {
            relay = Some(a.parse().unwrap());
        }
        if line.starts_with("listening http=") {
            break;
        }
    }
    let replies = converse(
        relay.unwrap(),
        &[
            "EHLO ops",
            "MAIL FROM:<app@sender.test>",
            "RCPT TO:<a@example.net>",
            "RCPT TO:<b@other.test>",
            "DATA",
            "Subject: ops\r\n\r\nx\r\n.",
            "QUIT",
        ],
    )
    .await;
    let id: i64 = replies[6].rsplit(' ').next().unwrap().parse().unwrap();
    // Wait for the first (failed) attempt to be recorded.
    let mut shown = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, out, _) = facteur(&["queue", "show", &id.to_string(), "--json"], dir.path()).await;
        shown = serde_json::from_str(&out).unwrap();
        if shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "deferred")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["mail_from"], "app@sender.test");
    assert_eq!(shown["recipients"].as_array().unwrap().len(), 2);
    assert!(
        shown["events"].to_string().contains("Connection refused"),
        "{shown}"
    );

    let (ok, out, _) = facteur(&["queue", "list", "--json"], dir.path()).await;
    assert!(ok);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        2,
        "one row per domain: {rows}"
    );
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["attempts"] == 1 && r["message_id"] == id)
    );
    let (ok, out, _) = facteur(&["queue", "list"], dir.path()).await;
    assert!(
        ok && out.contains("example.net") && out.contains("other.test"),
        "{out}"
    );

    let (ok, out, _) = facteur(&["queue", "retry", &id.to_string()], dir.path()).await;
    assert!(ok && out.contains("2 queue entries due now"), "{out}");
    let (ok, out, _) = facteur(&["queue", "delete", &id.to_string()], dir.path()).await;
    assert!(ok && out.contains("removed"), "{out}");
    let (ok, out, _) = facteur(&["queue", "list"], dir.path()).await;
    assert!(ok && out.contains("the queue is empty"), "{out}");
    let (ok, _, err) = facteur(&["queue", "retry", &id.to_string()], dir.path()).await;
    assert!(!ok && err.contains("is not in the queue"), "{err}");
    let (_, out, _) = facteur(&["queue", "show", &id.to_string()], dir.path()).await;
    assert!(out.contains("deleted"), "{out}");
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn template_render_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let mjml = dir.path().join("order.mjml");
    std::fs::write(&mjml, r#"<mjml><mj-body><mj-section><mj-column>
<mj-text>Hello {{ var:name:"friend" }}</mj-text>
<mj-raw>{% for line in var:lines %}</mj-raw><mj-text>{{ line }}</mj-text><mj-raw>{% endfor %}</mj-raw>
</mj-column></mj-section></mj-body></mjml>"#).unwrap();
    let vars = dir.path().join("vars.json");
    std::fs::write(
        &vars,
        r#"{"Variables": {"name": "Ada <3", "lines": ["Tea", "Cake"]}}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["template", "render"])
        .arg(&mjml)
        .arg("--vars")
        .arg(&vars)
        .output()
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        html.contains("Hello Ada &lt;3")
            && html.contains("Tea")
            && html.contains("Cake")
            && html.contains("<!doctype html>"),
        "{html}"
    );

    // The same values inline, as `--help` says.
    let out = Command::new(BIN)
        .args(["template", "render"])
        .arg(&mjml)
        .args(["--vars", r#"{"name": "Bob", "lines": ["Pie"]}"#])
        .output()
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(html.contains("Hello Bob") && html.contains("Pie"), "{html}");

    // Missing variable without default: the error names the file, line and column.
    let bad = dir.path().join("bad.html");
    std::fs::write(&bad, "<p>\n  {{ var:missing }}</p>").unwrap();
    let out = Command::new(BIN)
        .args(["template", "render"])
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.html:2:6: expression parsing error ## Unknown identifier: var:missing"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["template", "check"])
        .arg(&mjml)
        .arg(&bad)
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings only: {report}");
    assert!(
        report.contains("order.mjml: OK (2 variable reference(s), 1 without a default)")
            && report.contains("order.mjml:3:24: warning: var:lines has no default"),
        "{report}"
    );
    std::fs::write(&bad, "{% if var:a %}never closed").unwrap();
    let out = Command::new(BIN)
        .args(["template", "check"])
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("error: not valid template"));

    // --mjml-only: another tool's placeholders, which the language would refuse, are kept.
    let foreign = dir.path().join("foreign.mjml");
    std::fs::write(
        &foreign,
        "<mjml>\r\n  <mj-head>\r\n    <mj-title>Hi</mj-title>\r\n  </mj-head>\r\n  <mj-body><mj-section><mj-column><mj-text>Hello {{FirstName}}</mj-text></mj-column></mj-section></mj-body>\r\n</mjml>\r\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["template", "render"])
        .arg(&foreign)
        .output()
        .await
        .unwrap();
    assert!(
        !out.status.success(),
        "the language refuses {{{{FirstName}}}}"
    );
    let out = Command::new(BIN)
        .args(["template", "render", "--mjml-only"])
        .arg(&foreign)
        .output()
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        html.contains("Hello {{FirstName}}") && html.contains("<title>Hi</title>"),
        "{html}"
    );

    // Content advice: a marketing email of one image, a button that says nothing, no
    // unsubscribe link, a link to a blocklisted domain.
    let promo = dir.path().join("promo.mjml");
    std::fs::write(
        &promo,
        "<mjml><mj-body><mj-section><mj-column>\n<mj-image src=\"https://cdn.example.com/all.png\" width=\"600px\" height=\"900px\"></mj-image>\n<mj-button href=\"https://spam.example/x\">Cliquez ici</mj-button>\n</mj-column></mj-section></mj-body></mjml>",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["template", "check", "--marketing", "--locale", "fr"])
        .args(["--blocklist", "spam.example", "--subject", "PROMO!!!"])
        .arg(&promo)
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "advice errors fail the check: {report}"
    );
    for code in [
        "[unsubscribe-missing]",
        "[image-missing-alt]",
        "[cta-vague]",
        "[link-blocklisted]",
        "[image-only]",
        "[subject-all-caps]",
    ] {
        assert!(report.contains(code), "{code} in {report}");
    }
    assert!(
        report.contains("promo.mjml: content advice has errors"),
        "{report}"
    );
}

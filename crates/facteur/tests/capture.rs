//! Capture mode end to end over real sockets on 127.0.0.1: mail sent over SMTP (lettre) and
//! through `/v3.1/send` to domains that would need DNS is kept, not sent (no lookup, no
//! connection), reported `sent`, and read back through `/v3/REST/capture` (list, search, one
//! with its parts and headers, the source byte for byte, delete, clear) and `facteur capture`;
//! another account sees none of it.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use facteur::delivery::mx::{Resolver, Route};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// A node in capture mode whose resolver would send `capture.test` to `trap` (which counts
/// connections) and knows no `nowhere.invalid`: without capture, the first would be delivered
/// there and the second bounced.
async fn capture_node(trap: &Receiver) -> Node {
    let resolver = Resolver::Static {
        routes: HashMap::from([(
            "capture.test".to_string(),
            Route::Hosts(vec!["mx.capture.test".into()]),
        )]),
        hosts: HashMap::from([(
            "mx.capture.test".to_string(),
            vec!["127.0.0.1".parse().unwrap()],
        )]),
    };
    node_full(trap.addr, Some(resolver), |s| {
        s.capture = Some(true);
        s.relay_host = None;
        s.mx_port = Some(trap.addr.port());
    })
    .await
}

fn auth(n: &Node) -> Option<(&str, &str)> {
    Some((n.api_key.as_str(), n.secret.as_str()))
}

/// A GET over a fresh connection: status, content type and the body's bytes.
async fn http_bytes(addr: SocketAddr, path: &str, auth: (&str, &str)) -> (u16, String, Vec<u8>) {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.0, auth.1));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: facteur.test\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut raw),
    )
    .await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, raw[split + 4..].to_vec())
}

/// Waits until the account has `n` captures; returns the list.
async fn wait_captures(n: &Node, count: usize) -> Value {
    for _ in 0..200 {
        let (s, v) = http_json(n.running.http, "GET", "/v3/REST/capture", auth(n), None).await;
        assert_eq!(s, 200, "{v}");
        if v["Total"] == count {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never {count} captures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_not_sent_and_read_back_through_the_api() {
    install_crypto();
    let trap = Receiver::start().await;
    let n = capture_node(&trap).await;
    let http = n.running.http;

    // Mail from example.com is DKIM-signed: the capture is what would have gone on the wire.
    let (s, v) = http_json_within(
        http,
        "POST",
        "/v3/REST/dns",
        auth(&n),
        Some(r#"{"Domain": "example.com", "Keys": "ed25519"}"#),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // Over SMTP (STARTTLS, AUTH): one recipient at a routed domain, one at a domain that does
    // not exist.
    let smtp = n.addr("smtp");
    let params = TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp.port())
        .tls(Tls::Required(params))
        .credentials(Credentials::new(n.api_key.clone(), n.secret.clone()))
        .authentication(vec![Mechanism::Plain])
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let email = Message::builder()
        .from("App <app@example.com>".parse::<Mailbox>().unwrap())
        .to("bob@capture.test".parse::<Mailbox>().unwrap())
        .to("carol@nowhere.invalid".parse::<Mailbox>().unwrap())
        .subject("Hello from SMTP")
        .multipart(MultiPart::alternative_plain_html(
            "Plain words".to_string(),
            "<p>Rich <i>words</i></p>".to_string(),
        ))
        .unwrap();
    let response = transport.send(email).await.expect("accepted");
    let text = response.message().collect::<Vec<_>>().join(" ");
    let smtp_id: i64 = text.rsplit(' ').next().unwrap().parse().unwrap();

    // Through the Send API: HTML and text; the second message tracks opens.
    let body = json!({"Messages": [
        {"From": {"Email": "shop@example.com", "Name": "Shop"}, "To": [{"Email": "ada@capture.test"}],
         "Subject": "Order été", "TextPart": "Bonjour Ada", "HTMLPart": "<p>Bonjour <b>Ada</b></p>",
         "CustomID": "order"},
        {"From": {"Email": "shop@example.com"}, "To": [{"Email": "tom@nowhere.invalid"}],
         "Subject": "Tracked", "TextPart": "t", "HTMLPart": "<p>Tracked</p>", "TrackOpens": "enabled"}
    ]});
    let (s, v) = http_json(
        http,
        "POST",
        "/v3.1/send",
        auth(&n),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let ada_id = v["Messages"][0]["To"][0]["MessageID"].as_i64().unwrap();

    // Every recipient sent, with the capture's reply; nothing reached the trap.
    let info = wait_final(&n, smtp_id).await;
    assert!(
        info.recipients
            .iter()
            .all(|r| r.status == facteur_store::RcptStatus::Sent),
        "{:?}",
        info.recipients
    );
    let list = wait_captures(&n, 4).await;
    // A capture is recorded before its recipient's status moves to sent.
    let m = api_message_settled(http, auth(&n), ada_id).await;
    assert_eq!(m["Data"][0]["Status"], "sent", "{m}");
    let (_, history) = http_json(
        http,
        "GET",
        &format!("/v3/REST/messagehistory/{ada_id}"),
        auth(&n),
        None,
    )
    .await;
    assert!(history.to_string().contains("captured"), "{history}");
    assert_eq!(
        *trap.connections.lock().unwrap(),
        0,
        "a connection was made"
    );
    assert!(trap.received().is_empty());

    // The list: newest first, one per recipient.
    assert_eq!(list["Count"], 4);
    let data = list["Data"].as_array().unwrap();
    // RFC 3339 times with their fraction's trailing zeros dropped ("…11.68Z"): compared with
    // the fraction padded to milliseconds.
    let times: Vec<String> = data
        .iter()
        .map(|c| {
            let t = c["CapturedAt"].as_str().unwrap().trim_end_matches('Z');
            let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
            format!("{whole}.{fraction:0<3}")
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let mut to: Vec<&str> = data.iter().map(|c| c["To"].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "ada@capture.test",
            "bob@capture.test",
            "carol@nowhere.invalid",
            "tom@nowhere.invalid"
        ]
    );
    let ada = data.iter().find(|c| c["To"] == "ada@capture.test").unwrap();
    assert_eq!(ada["MessageID"], ada_id);
    assert_eq!(ada["From"], "shop@example.com");
    assert_eq!(ada["Subject"], "Order été");
    let ada_capture = ada["ID"].as_i64().unwrap();

    // Search (recipient or subject, any case) and paging.
    let search = |q: &str| format!("/v3/REST/capture?Search={q}");
    let (_, v) = http_json(http, "GET", &search("ORDER"), auth(&n), None).await;
    assert_eq!(
        (v["Count"].as_i64(), v["Total"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["Data"][0]["To"], "ada@capture.test");
    let (_, v) = http_json(http, "GET", &search("nowhere.invalid"), auth(&n), None).await;
    assert_eq!(v["Total"], 2);
    let (_, v) = http_json(http, "GET", &search("smtp"), auth(&n), None).await;
    assert_eq!(v["Total"], 2, "both recipients of the SMTP message");
    let (_, v) = http_json(
        http,
        "GET",
        "/v3/REST/capture?Limit=1&Offset=1",
        auth(&n),
        None,
    )
    .await;
    assert_eq!(
        (v["Count"].as_i64(), v["Total"].as_i64()),
        (Some(1), Some(4))
    );
    assert_eq!(v["Data"][0]["ID"], data[1]["ID"]);
    let (s, v) = http_json(http, "GET", "/v3/REST/capture?Limit=5000", auth(&n), None).await;
    assert_eq!(s, 400, "{v}");

    // One: the parts as sent, the headers as written (signed).
    let (s, v) = http_json(
        http,
        "GET",
        &format!("/v3/REST/capture/{ada_capture}"),
        auth(&n),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let one = &v["Data"][0];
    assert_eq!(one["HtmlPart"], "<p>Bonjour <b>Ada</b></p>", "{one}");
    assert_eq!(one["TextPart"], "Bonjour Ada", "{one}");
    assert_eq!(one["Subject"], "Order été");
    let headers = one["Headers"].as_array().unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h["Name"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| {
                (
                    h["Name"].as_str().unwrap().to_string(),
                    h["Value"].as_str().unwrap().to_string(),
                )
            })
    };
    let (id_name, message_id) = header("Message-ID").expect("a Message-ID header");
    assert!(message_id.starts_with('<') && message_id.ends_with('>'));
    assert!(
        header("DKIM-Signature")
            .unwrap()
            .1
            .contains("d=example.com")
    );

    // The source, byte for byte as kept.
    let (s, content_type, raw) = http_bytes(
        http,
        &format!("/v3/REST/capture/{ada_capture}/raw"),
        auth(&n).unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(content_type, "message/rfc822");
    let kept = n
        .running
        .app
        .store
        .capture(None, ada_capture)
        .await
        .unwrap();
    assert_eq!(Some(raw.clone()), kept.raw);
    assert_eq!(raw.len() as i64, ada["Size"].as_i64().unwrap());
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(
        raw_text.contains(&format!("{id_name}: {message_id}\r\n")),
        "{raw_text}"
    );

    // The SMTP message: both parts; the tracked one: its own copy, with the open pixel.
    let id_of = |to: &str| {
        data.iter().find(|c| c["To"] == to).unwrap()["ID"]
            .as_i64()
            .unwrap()
    };
    let (_, v) = http_json(
        http,
        "GET",
        &format!("/v3/REST/capture/{}", id_of("bob@capture.test")),
        auth(&n),
        None,
    )
    .await;
    assert_eq!(
        v["Data"][0]["TextPart"].as_str().map(str::trim),
        Some("Plain words")
    );
    assert_eq!(
        v["Data"][0]["HtmlPart"].as_str().map(str::trim),
        Some("<p>Rich <i>words</i></p>")
    );
    assert_eq!(v["Data"][0]["From"], "app@example.com");
    let (_, v) = http_json(
        http,
        "GET",
        &format!("/v3/REST/capture/{}", id_of("tom@nowhere.invalid")),
        auth(&n),
        None,
    )
    .await;
    let html = v["Data"][0]["HtmlPart"].as_str().unwrap();
    assert!(
        html.contains("<p>Tracked</p>") && html.contains("/o/"),
        "{html}"
    );

    // The command line reads the same database.
    let dir = n.dir.path();
    let out = tokio::process::Command::new(BIN)
        .args(["capture", "list", "--json", "--search", "ada", "--data"])
        .arg(dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], ada_capture, "{listed}");
    let out = tokio::process::Command::new(BIN)
        .args([
            "capture",
            "show",
            &ada_capture.to_string(),
            "--raw",
            "--data",
        ])
        .arg(dir)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, raw);

    // Another account sees nothing of it.
    let (other, other_secret) = n
        .running
        .app
        .store
        .create_account("other", facteur::time::now_ms())
        .await
        .unwrap();
    let other_key = (other.api_key.as_str(), other_secret.as_str());
    let other_auth = Some(other_key);
    let (s, v) = http_json(http, "GET", "/v3/REST/capture", other_auth, None).await;
    assert_eq!((s, v["Total"].as_i64()), (200, Some(0)), "{v}");
    for (method, path) in [
        ("GET", format!("/v3/REST/capture/{ada_capture}")),
        ("DELETE", format!("/v3/REST/capture/{ada_capture}")),
    ] {
        let (s, v) = http_json(http, method, &path, other_auth, None).await;
        assert_eq!(s, 404, "{method} {path}: {v}");
        assert_eq!(v["StatusCode"], 404);
    }
    let (s, _, _) = http_bytes(
        http,
        &format!("/v3/REST/capture/{ada_capture}/raw"),
        other_key,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = http_json(http, "DELETE", "/v3/REST/capture", other_auth, None).await;
    assert_eq!(s, 204);
    let (s, _) = http_json(http, "GET", "/v3/REST/capture", None, None).await;
    assert_eq!(s, 401);

    // Delete one, then clear.
    let one = format!("/v3/REST/capture/{ada_capture}");
    let (s, _) = http_json(http, "DELETE", &one, auth(&n), None).await;
    assert_eq!(s, 204);
    let (s, v) = http_json(http, "GET", &one, auth(&n), None).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(wait_captures(&n, 3).await["Count"], 3);
    let (s, _) = http_json(http, "DELETE", "/v3/REST/capture", auth(&n), None).await;
    assert_eq!(s, 204);
    assert_eq!(wait_captures(&n, 0).await["Count"], 0);
    n.running.stop().await;
}

#[tokio::test]
async fn serve_says_capture_mode_is_on() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--capture",
            "--smtp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(dir.path())
        .env("FACTEUR_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut http = String::new();
    let line = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("serve starts")
            .unwrap()
            .expect("a capture mode line");
        if let Some(a) = line.strip_prefix("listening http=") {
            http = a.to_string();
        }
        if line.starts_with("capture mode:") {
            break line;
        }
    };
    assert!(
        line.contains("nothing leaves this machine")
            && line.contains(&format!("http://{http}/v3/REST/capture")),
        "{line}"
    );
    child.kill().await.unwrap();
}

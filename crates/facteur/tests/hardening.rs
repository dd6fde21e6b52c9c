//! Hostile clients, over real sockets: every resource a connection can hold is bounded, every
//! error has a JSON body, a suspended key cannot send by any path, failed authentications are
//! throttled on HTTP as on SMTP.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes (or `limit`), returning what came and how long it took.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

fn body_json(raw: &str) -> serde_json::Value {
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {raw:?}"))
}

fn status(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Deactivates `sub` with its master key.
async fn suspend(
    store: &facteur_store::Store,
    master: &facteur_store::Account,
    sub: &facteur_store::Account,
) {
    store
        .update_key(
            master,
            sub.id,
            &facteur_store::KeyChanges {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// A node allowing plaintext AUTH, its master key, a sub-account key of it and that key's
/// `AUTH PLAIN` token.
async fn node_with_sub_key(
    rx: &Receiver,
) -> (Node, facteur_store::Account, facteur_store::Account, String) {
    let n = node_with(rx.addr, |s| s.allow_plaintext_auth = Some(true)).await;
    let store = &n.running.app.store;
    let master = store.account_by_key(&n.api_key).await.unwrap().unwrap();
    let (sub, secret) = store
        .create_subaccount(&master, "sub", facteur::time::now_ms())
        .await
        .unwrap();
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{secret}", sub.api_key));
    (n, master, sub, plain)
}

#[tokio::test]
async fn a_suspended_key_cannot_authenticate_over_smtp() {
    let rx = Receiver::start().await;
    let (n, master, sub, plain) = node_with_sub_key(&rx).await;
    let store = &n.running.app.store;
    let smtp = n.addr("smtp");
    let ok = converse(smtp, &["EHLO client.test", &format!("AUTH PLAIN {plain}")]).await;
    assert!(ok[2].starts_with("235"), "{ok:?}");
    suspend(store, &master, &sub).await;
    let refused = converse(
        smtp,
        &[
            "EHLO client.test",
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<a@example.org>",
        ],
    )
    .await;
    assert!(
        refused[2].starts_with("535 5.7.8") && refused[2].contains("suspended"),
        "{refused:?}"
    );
    assert!(
        refused[3].starts_with("530"),
        "no mail without AUTH: {refused:?}"
    );
}

#[tokio::test]
async fn slow_and_idle_http_clients_are_cut_off() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| {
        s.http_header_timeout = Some("1s".into());
        s.http_body_timeout = Some("1s".into());
        s.http_idle_timeout = Some("2s".into());
    })
    .await;
    let http = n.running.http;

    // An idle socket that never sends a byte.
    let mut idle = TcpStream::connect(http).await.unwrap();
    // A partial header, then nothing.
    let mut partial = TcpStream::connect(http).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Headers sent one byte every 300 ms: never complete within the header timeout.
    let mut drip = TcpStream::connect(http).await.unwrap();
    let dripper = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: facteur.test\r\nX-Slow: ".iter() {
            if drip.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        read_until_closed(&mut drip, Duration::from_secs(10)).await
    });
    // A declared body that never arrives.
    let mut body = TcpStream::connect(http).await.unwrap();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", n.api_key, n.secret));
    body.write_all(
        format!("POST /v3.1/send HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"Messages\":")
            .as_bytes(),
    )
    .await
    .unwrap();

    let (_, idle_took) = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(
        idle_took < Duration::from_secs(8),
        "idle socket kept {idle_took:?}"
    );
    let (raw, partial_took) = read_until_closed(&mut partial, Duration::from_secs(10)).await;
    assert!(
        partial_took < Duration::from_secs(8),
        "partial header kept {partial_took:?}: {raw}"
    );
    let (raw, body_took) = read_until_closed(&mut body, Duration::from_secs(10)).await;
    assert!(
        body_took < Duration::from_secs(8),
        "partial body kept {body_took:?}"
    );
    assert_eq!(status(&raw), 408, "{raw}");
    assert!(
        body_json(&raw)["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("http_body_timeout")
    );
    let (_, drip_took) = dripper.await.unwrap();
    assert!(
        drip_took < Duration::from_secs(8),
        "dripping headers kept {drip_took:?}"
    );

    // The server still serves.
    let (s, v) = http_json(http, "GET", "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| {
        s.max_connections_per_ip = Some(5);
        s.max_connections = Some(8);
    })
    .await;
    let http = n.running.http;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(http).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The sixth HTTP connection from 127.0.0.1 is answered 503 with a JSON body and closed.
    let mut sixth = TcpStream::connect(http).await.unwrap();
    let (raw, _) = read_until_closed(&mut sixth, Duration::from_secs(5)).await;
    assert_eq!(status(&raw), 503, "{raw}");
    assert!(
        body_json(&raw)["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("max_connections_per_ip")
    );
    // SMTP shares the count: 421 4.7.0.
    let replies = converse(n.addr("smtp"), &[]).await;
    assert!(replies[0].starts_with("421 4.7.0"), "{replies:?}");
    // Another address (127.0.0.2) still gets in until the total is reached.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(http).await.unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (raw, _) = read_until_closed(&mut other, Duration::from_secs(5)).await;
    assert_eq!(status(&raw), 200, "{raw}");
    let mut more = Vec::new();
    for _ in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
        more.push(socket.connect(http).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.4:0".parse().unwrap()).unwrap();
    let mut over = socket.connect(http).await.unwrap();
    let (raw, _) = read_until_closed(&mut over, Duration::from_secs(5)).await;
    assert_eq!(status(&raw), 503, "{raw}");
    assert!(
        body_json(&raw)["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("max_connections")
    );
    // Freed connections are counted back.
    drop(held);
    drop(more);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, _) = http_json(http, "GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
    let (_, metrics) = raw_request(
        http,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        metrics.contains("facteur_connections_refused_total 3"),
        "{metrics}"
    );
}

async fn raw_request(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let (raw, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    (status(&raw), raw)
}

#[tokio::test]
async fn every_http_error_has_a_json_body() {
    let rx = Receiver::start().await;
    let n = node(rx.addr).await;
    let http = n.running.http;
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let huge_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(70_000)
    );
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(300_000)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "unknown path",
            "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            404,
        ),
        (
            "wrong method",
            "DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            405,
        ),
        ("long target", long_uri, 414),
        ("huge target", huge_uri, 414),
        ("large header", big_header, 431),
        ("header past the buffer", huge_header, 431),
        ("many headers", many_headers, 431),
        ("not HTTP", "GARBAGE\x01 / HTTP/1.1\r\n\r\n".into(), 400),
        (
            "bad header",
            "GET / HTTP/1.1\r\nHo st: x\r\n\r\n".into(),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let (s, raw) = raw_request(http, &request).await;
        assert_eq!(s, expected, "{what}: {raw}");
        let v = body_json(&raw);
        assert_eq!(v["StatusCode"], expected, "{what}: {raw}");
        assert!(!v["ErrorMessage"].as_str().unwrap().is_empty(), "{what}");
    }
}

#[tokio::test]
async fn failed_http_authentications_are_throttled_and_counted() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| s.auth_failures_per_ip = Some(3)).await;
    let http = n.running.http;
    let good = Some((n.api_key.as_str(), n.secret.as_str()));
    let (s, _) = http_json(http, "GET", "/v3/REST/apikey", good, None).await;
    assert_eq!(s, 200);
    for _ in 0..3 {
        let (s, _) = http_json(
            http,
            "GET",
            "/v3/REST/apikey",
            Some((&n.api_key, "wrong")),
            None,
        )
        .await;
        assert_eq!(s, 401);
    }
    // Blocked now, even with the right secret, on both API shapes.
    let (s, v) = http_json(http, "GET", "/v3/REST/apikey", good, None).await;
    assert_eq!(s, 429, "{v}");
    assert!(
        v["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("Too many failed")
    );
    let body = r#"{"Messages":[{"From":{"Email":"a@example.org"},"To":[{"Email":"b@example.net"}],"Subject":"x","TextPart":"x"}]}"#;
    let (s, v) = http_json(http, "POST", "/v3.1/send", good, Some(body)).await;
    assert_eq!(s, 429, "{v}");
    let (_, metrics) = raw_request(
        http,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        metrics.contains("facteur_auth_failures_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("facteur_auth_throttled_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_command_dripped_without_a_line_end_is_cut_off() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| s.idle_timeout = Some("2s".into())).await;
    let mut s = TcpStream::connect(n.addr("smtp")).await.unwrap();
    let mut greeting = [0u8; 512];
    let _ = s.read(&mut greeting).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    // One byte every 500 ms, never a CRLF: the idle timer restarts on every byte, the command
    // deadline does not.
    for _ in 0..20 {
        if s.write_all(b"N").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(text.starts_with("421"), "{text}");
            }
            Err(_) => {}
        }
    }
    assert!(closed, "a session dripping bytes stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

/// A pipelined SMTP transaction over plain TCP (the node allows plaintext AUTH); returns every
/// reply the server sent.
async fn smtp_script(addr: std::net::SocketAddr, n: &Node, mail_from: &str, data: &str) -> String {
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", n.api_key, n.secret));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let script = format!(
        "EHLO c\r\nAUTH PLAIN {token}\r\nMAIL FROM:<{mail_from}>\r\nRCPT TO:<ada@example.net>\r\nDATA\r\n{data}\r\n.\r\nQUIT\r\n"
    );
    s.write_all(script.as_bytes()).await.unwrap();
    read_until_closed(&mut s, Duration::from_secs(10)).await.0
}

#[tokio::test]
async fn a_blocked_smtp_message_bounces_to_its_sender() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| s.allow_plaintext_auth = Some(true)).await;
    let replies = smtp_script(
        n.addr("smtp"),
        &n,
        "shop@example.com",
        "From: shop@example.com\r\nTo: ada@example.net\r\nSubject: hi\r\nX-MJ-TemplateLanguage: 1\r\n\r\nHello {% if %}",
    )
    .await;
    // Accepted (the error is in the content, as Mailjet does), then blocked, then bounced.
    assert!(replies.contains("250 2.0.0 Ok: queued as"), "{replies}");
    let got = rx
        .wait_for(10, "the bounce of the blocked message", |m| !m.is_empty())
        .await;
    assert_eq!(got.len(), 1, "only the bounce is delivered: {got:?}");
    let dsn = &got[0];
    assert_eq!(dsn.mail_from, "", "a bounce has the null sender");
    assert_eq!(dsn.rcpts, vec!["shop@example.com".to_string()]);
    assert!(dsn.data.contains("multipart/report"), "{}", dsn.data);
    assert!(dsn.data.contains("Status: 5.6.0"), "{}", dsn.data);
    assert!(
        dsn.data.contains("error in template language"),
        "{}",
        dsn.data
    );
}

#[tokio::test]
async fn the_size_limit_holds_on_every_path() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| {
        s.allow_plaintext_auth = Some(true);
        s.max_message_size = Some(200_000);
    })
    .await;
    // HTTP: a message built larger than max_message_size is refused, not queued.
    let big = "x".repeat(250_000);
    let body = serde_json::json!({"Messages": [{
        "From": {"Email": "shop@example.com"}, "To": [{"Email": "ada@example.net"}],
        "Subject": "big", "TextPart": big,
    }]})
    .to_string();
    let (s, v) = http_json(
        n.running.http,
        "POST",
        "/v3.1/send",
        Some((&n.api_key, &n.secret)),
        Some(&body),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["Messages"][0]["Errors"][0]["ErrorCode"], "mj-0011", "{v}");
    // SMTP: a small message whose template language makes it large is refused at DATA.
    let replies = smtp_script(
        n.addr("smtp"),
        &n,
        "shop@example.com",
        "From: shop@example.com\r\nTo: ada@example.net\r\nSubject: grow\r\nX-MJ-TemplateLanguage: 1\r\nX-MJ-Vars: {\"a\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\", \"l\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}\r\n\r\n{% for i in var:l %}{% for j in var:l %}{{ var:a }}{{ var:a }}{{ var:a }}{{ var:a }}{{ var:a }}{{ var:a }}{% endfor %}{% endfor %}",
    )
    .await;
    assert!(replies.contains("552 5.3.4"), "{replies}");
    assert!(!replies.contains("queued as"), "{replies}");
}

#[tokio::test]
async fn the_send_api_cannot_smuggle_smtp_commands_to_the_next_hop() {
    let rx = Receiver::start().await;
    let n = node(rx.addr).await;
    let body = serde_json::json!({"Messages": [{
        "From": {"Email": "shop@example.com"}, "To": [{"Email": "ada@example.net"}],
        "Subject": "smuggle",
        "TextPart": "end\r.\rMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@example.net>\n.\nDATA\0x",
        "HTMLPart": "<p>a\rb\nc\0d</p>",
    }]})
    .to_string();
    let (s, v) = http_json(
        n.running.http,
        "POST",
        "/v3.1/send",
        Some((&n.api_key, &n.secret)),
        Some(&body),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let got = rx.wait_for(10, "the message", |m| !m.is_empty()).await;
    assert_eq!(got.len(), 1, "one message, no smuggled second one: {got:?}");
    assert_eq!(got[0].rcpts, vec!["ada@example.net".to_string()]);
    let data = got[0].data.as_bytes();
    for (i, b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert_eq!(
                i.checked_sub(1).map(|j| data[j]),
                Some(b'\r'),
                "bare LF at {i}"
            ),
            0 => panic!("NUL at {i}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn x_mj_headers_over_smtp_have_the_send_api_limits() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| s.allow_plaintext_auth = Some(true)).await;
    // Header lines stay under 998 octets: long values are folded.
    let vars: String = (0..1001)
        .map(|i| format!("\"k{i}\": 1"))
        .collect::<Vec<_>>()
        .chunks(40)
        .map(|c| c.join(", "))
        .collect::<Vec<_>>()
        .join(",\r\n ");
    let payload = vec!["p".repeat(70); 60].join("\r\n ");
    for (header, limit) in [
        (format!("X-MJ-CustomID: {}", "c".repeat(256)), "255"),
        (format!("X-MJ-EventPayload: {payload}"), "4096"),
        (format!("X-MJ-Vars: {{{vars}}}"), "1000"),
    ] {
        let replies = smtp_script(
            n.addr("smtp"),
            &n,
            "shop@example.com",
            &format!("From: shop@example.com\r\nTo: ada@example.net\r\nSubject: x\r\n{header}\r\n\r\nbody"),
        )
        .await;
        let refusal = replies
            .lines()
            .find(|l| l.starts_with("550 5.6.0"))
            .unwrap_or_else(|| panic!("{limit}: {replies}"));
        assert!(refusal.contains(limit), "{refusal}");
        assert!(!replies.contains("queued as"), "{replies}");
    }
}

#[tokio::test]
async fn a_line_over_998_octets_in_data_gets_a_reply() {
    let rx = Receiver::start().await;
    let n = node_with(rx.addr, |s| s.allow_plaintext_auth = Some(true)).await;
    let replies = smtp_script(
        n.addr("smtp"),
        &n,
        "shop@example.com",
        &format!(
            "From: shop@example.com\r\nSubject: x\r\nX-Long: {}\r\n\r\nbody",
            "p".repeat(70_000)
        ),
    )
    .await;
    assert!(replies.contains("354 "), "{replies}");
    assert!(replies.lines().any(|l| l.starts_with("5")), "{replies}");
    assert!(!replies.contains("queued as"), "{replies}");
}

/// A template through the REST API: its id.
async fn template_with(n: &Node, content: serde_json::Value) -> (u16, serde_json::Value) {
    let auth = Some((n.api_key.as_str(), n.secret.as_str()));
    let (s, v) = http_json(
        n.running.http,
        "POST",
        "/v3/REST/template",
        auth,
        Some(r#"{"Name": "hostile"}"#),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["Data"][0]["ID"].as_i64().unwrap();
    http_json(
        n.running.http,
        "POST",
        &format!("/v3/REST/template/{id}/detailcontent"),
        auth,
        Some(&content.to_string()),
    )
    .await
}

#[tokio::test]
async fn deeply_nested_mjml_is_an_error_not_a_crash() {
    let rx = Receiver::start().await;
    let n = node(rx.addr).await;
    let mjml = format!(
        "<mjml><mj-body><mj-raw>{}{}</mj-raw></mj-body></mjml>",
        "<div>".repeat(2000),
        "</div>".repeat(2000)
    );
    let (s, v) = template_with(&n, serde_json::json!({"MJMLContent": mjml})).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["ErrorMessage"].as_str().unwrap().contains("nest"), "{v}");
    let wrappers = format!(
        "<mjml><mj-body>{}{}</mj-body></mjml>",
        "<mj-wrapper>".repeat(2000),
        "</mj-wrapper>".repeat(2000)
    );
    let (s, v) = template_with(&n, serde_json::json!({"MJMLContent": wrappers})).await;
    assert_eq!(s, 400, "{v}");
    let html = format!("<p>{}x{}</p>", "<b>".repeat(10_000), "</b>".repeat(10_000));
    let (s, v) = template_with(&n, serde_json::json!({"Html-part": html})).await;
    assert!(s == 400 || s == 201 || s == 200, "{s} {v}");
    // The server is still up.
    let (s, v) = http_json(n.running.http, "GET", "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn a_template_cannot_make_the_server_allocate_without_bound() {
    let rx = Receiver::start().await;
    let n = node(rx.addr).await;
    let auth = Some((n.api_key.as_str(), n.secret.as_str()));
    let mut text = String::from("{% set a = \"xxxxxxxxxxxxxxxx\" %}");
    for _ in 0..40 {
        text.push_str("{% set a = a + a %}");
    }
    text.push_str("{{ a }}");
    for sandbox in [true, false] {
        let body = serde_json::json!({"SandboxMode": sandbox, "Messages": [{
            "From": {"Email": "shop@example.com"}, "To": [{"Email": "ada@example.net"}],
            "Subject": "grow", "TextPart": text, "TemplateLanguage": true,
        }]})
        .to_string();
        let (s, v) = http_json(n.running.http, "POST", "/v3.1/send", auth, Some(&body)).await;
        assert!(s == 200 || s == 400, "{s} {v}");
    }
    // A loop of a million iterations over a 1 KB value: stopped by the limits, not 1 GB.
    let kilo = "k".repeat(1024);
    let many: Vec<u32> = (0..1000).collect();
    let body = serde_json::json!({"Messages": [{
        "From": {"Email": "shop@example.com"}, "To": [{"Email": "ada@example.net"}],
        "Subject": "loop", "TemplateLanguage": true,
        "Variables": {"v": kilo, "l": many},
        "TextPart": "{% for i in var:l %}{% for j in var:l %}{{ var:v }}{% endfor %}{% endfor %}",
    }]})
    .to_string();
    let (s, v) = http_json(n.running.http, "POST", "/v3.1/send", auth, Some(&body)).await;
    assert!(s == 200 || s == 400, "{s} {v}");
    // Whatever was accepted was blocked (an error in the template language): nothing huge
    // reaches the next hop, and the server still serves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rx.received().is_empty(),
        "{} messages delivered",
        rx.received().len()
    );
    let (s, _) = http_json(n.running.http, "GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
}

/// Renders run on the blocking pool: while several heavy previews are being rendered, the
/// server answers `/healthz` (it answers before the renders finish).
#[tokio::test]
async fn heavy_renders_do_not_stop_the_server() {
    let rx = Receiver::start().await;
    let n = node(rx.addr).await;
    let auth = (n.api_key.clone(), n.secret.clone());
    // A flat 4 MB HTML part with 200,000 elements and a variable in each.
    let html = "<div>{{ var:x }}</div>".repeat(200_000);
    let (s, v) = template_with(&n, serde_json::json!({"Html-part": html})).await;
    assert!(s == 201 || s == 200, "{s} {v}");
    let id = {
        let (_, l) = http_json(
            n.running.http,
            "GET",
            "/v3/REST/template",
            Some((&auth.0, &auth.1)),
            None,
        )
        .await;
        l["Data"][0]["ID"].as_i64().unwrap()
    };
    let http = n.running.http;
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut previews = Vec::new();
    for _ in 0..4 {
        let (auth, finished) = (auth.clone(), finished.clone());
        previews.push(tokio::spawn(async move {
            // The renders themselves may be slow on a loaded 2-core CI machine: only /healthz
            // has to be quick, so the previews get a generous wait.
            let (s, _) = http_json_within(
                http,
                "POST",
                &format!("/v3/REST/template/{id}/preview"),
                Some((&auth.0, &auth.1)),
                Some(r#"{"x": "y"}"#),
                Duration::from_secs(120),
            )
            .await;
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            s
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (s, _) = http_json(http, "GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
    assert!(
        finished.load(std::sync::atomic::Ordering::SeqCst) < 4,
        "/healthz waited for the renders"
    );
    for p in previews {
        let s = p.await.unwrap();
        assert!(s == 200 || s == 400, "{s}");
    }
}

#[tokio::test]
async fn suspending_a_key_stops_its_open_smtp_sessions() {
    use tokio::io::AsyncBufReadExt;
    let rx = Receiver::start().await;
    let (n, master, sub, plain) = node_with_sub_key(&rx).await;
    let store = &n.running.app.store;
    let stream = TcpStream::connect(n.addr("smtp")).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = tokio::io::BufReader::new(read);
    async fn reply(read: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        loop {
            let mut l = String::new();
            read.read_line(&mut l).await.unwrap();
            if l.as_bytes().get(3) != Some(&b'-') {
                return l;
            }
        }
    }
    let _greeting = reply(&mut read).await;
    for line in [
        "EHLO client.test".to_string(),
        format!("AUTH PLAIN {plain}"),
    ] {
        write
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        reply(&mut read).await;
    }
    // Suspended while the session is open: the next message is refused.
    suspend(store, &master, &sub).await;
    for line in [
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<b@example.net>",
        "DATA",
    ] {
        write
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        reply(&mut read).await;
    }
    write
        .write_all(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        .await
        .unwrap();
    let end = reply(&mut read).await;
    assert!(
        end.starts_with("550 5.7.1") && end.contains("suspended"),
        "{end}"
    );
}

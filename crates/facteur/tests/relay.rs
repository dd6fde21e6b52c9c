//! The relay end to end over real sockets: lettre (an independent client) → Facteur (STARTTLS
//! or implicit TLS, AUTH) → queue → delivery → the scripted receiver.

mod common;

use std::time::Duration;

use common::*;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

fn transport(node: &Node, implicit: bool, secret: &str) -> AsyncSmtpTransport<Tokio1Executor> {
    install_crypto();
    let addr = node.addr(if implicit { "smtps" } else { "smtp" });
    let params = TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .unwrap();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .tls(if implicit {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        })
        .credentials(Credentials::new(node.api_key.clone(), secret.to_string()))
        .authentication(vec![Mechanism::Plain])
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

fn message(from: &str, to: &[&str], subject: &str) -> Message {
    let mut b = Message::builder()
        .from(from.parse::<Mailbox>().unwrap())
        .subject(subject);
    for t in to {
        b = b.to(t.parse::<Mailbox>().unwrap());
    }
    b.body(format!(
        "Bonjour,\r\n.a line starting with a dot\r\n{subject}\r\n"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_auth_send_is_delivered_with_trace_headers() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let response = transport(&node, false, &node.secret)
        .send(message(
            "Alice <alice@sender.test>",
            &["bob@example.net", "carol@example.net", "dan@other.test"],
            "hello one",
        ))
        .await
        .expect("accepted");
    assert_eq!(response.code().to_string(), "250");
    let text = response.message().collect::<Vec<_>>().join(" ");
    assert!(text.starts_with("2.0.0 Ok: queued as "), "{text}");
    let id: i64 = text.rsplit(' ').next().unwrap().parse().unwrap();

    let got = receiver
        .wait_for(10, "two deliveries (one per domain)", |m| m.len() == 2)
        .await;
    let example = got
        .iter()
        .find(|m| m.rcpts.len() == 2)
        .expect("one transaction carries both example.net recipients");
    assert_eq!(example.mail_from, "alice@sender.test");
    assert!(
        example.data.starts_with("Received: from "),
        "{}",
        example.data
    );
    assert!(
        example
            .data
            .contains("by facteur.test (Facteur) with ESMTPSA")
    );
    assert!(
        example.data.contains("\r\n.a line starting with a dot\r\n"),
        "dot-stuffing round trip"
    );
    assert!(
        example
            .data
            .to_ascii_lowercase()
            .contains("\r\nmessage-id: <")
    );

    let info = wait_final(&node, id).await;
    assert!(
        info.recipients
            .iter()
            .all(|r| r.status == facteur_store::RcptStatus::Sent),
        "{:?}",
        info.recipients
    );
    let sent: Vec<_> = info
        .events
        .iter()
        .filter(|e| e.kind.as_str() == "sent")
        .collect();
    assert_eq!(sent.len(), 3);
    assert!(
        sent[0].detail.contains("250 2.0.0 accepted"),
        "{}",
        sent[0].detail
    );
    node.running.stop().await;
}

fn queued_id(response: &lettre::transport::smtp::response::Response) -> i64 {
    response
        .message()
        .collect::<Vec<_>>()
        .join(" ")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_send() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    transport(&node, true, &node.secret)
        .send(message("a@sender.test", &["x@example.net"], "over smtps"))
        .await
        .expect("accepted over implicit TLS");
    let got = receiver.wait_for(10, "delivery", |m| m.len() == 1).await;
    assert!(got[0].data.contains("over smtps"));
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failure_is_retried_then_delivered() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let r = transport(&node, false, &node.secret)
        .send(message(
            "a@sender.test",
            &["defer-me@example.net"],
            "retry me",
        ))
        .await
        .unwrap();
    let id = queued_id(&r);
    receiver
        .wait_for(15, "delivery after a retry", |m| m.len() == 1)
        .await;
    let info = wait_final(&node, id).await;
    let kinds: Vec<_> = info.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["queued", "deferred", "sent"]);
    assert!(info.events[1].detail.contains("451 4.3.0 deferred once"));
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_bounces_with_a_dsn_to_the_sender() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let r = transport(&node, false, &node.secret)
        .send(message(
            "sender@sender.test",
            &["reject-me@example.net", "ok@example.net"],
            "partly bounced",
        ))
        .await
        .unwrap();
    let id = queued_id(&r);
    let got = receiver
        .wait_for(10, "the message and its DSN", |m| m.len() == 2)
        .await;
    let dsn = got
        .iter()
        .find(|m| m.mail_from.is_empty())
        .expect("a DSN with the null sender");
    assert_eq!(dsn.rcpts, ["sender@sender.test"]);
    assert!(
        dsn.data
            .contains("Content-Type: multipart/report; report-type=\"delivery-status\""),
        "{}",
        dsn.data
    );
    assert!(dsn.data.contains(
        "Final-Recipient: rfc822; reject-me@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    ));
    assert!(
        dsn.data.contains(
            "Diagnostic-Code: smtp; 127.0.0.1[127.0.0.1] said: 550 5.1.1 no such user here"
        )
    );
    assert!(
        dsn.data.contains("Subject: partly bounced"),
        "original headers attached"
    );
    assert!(
        !dsn.data.contains("ok@example.net\r\nAction"),
        "only the failed recipient is reported"
    );
    let ok = got.iter().find(|m| !m.mail_from.is_empty()).unwrap();
    assert_eq!(ok.rcpts, ["ok@example.net"]);
    let info = wait_final(&node, id).await;
    let status = |a: &str| {
        info.recipients
            .iter()
            .find(|r| r.address == a)
            .unwrap()
            .status
    };
    assert_eq!(
        status("reject-me@example.net"),
        facteur_store::RcptStatus::Bounced
    );
    assert_eq!(status("ok@example.net"), facteur_store::RcptStatus::Sent);
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bounce_for_a_bounce() {
    let receiver = Receiver::start().await;
    // trusted_networks without trusted_account is refused at configuration time.
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), receiver.addr);
    s.trusted_networks = vec!["127.0.0.0/8".into()];
    assert!(facteur::config::resolve(s).is_err());

    let n = node(receiver.addr).await;
    let store = &n.running.app.store;
    let id = submit(
        &n,
        "",
        &["reject-null@example.net", "ok-null@example.net"],
        b"Subject: a bounce\r\n\r\nx\r\n",
    )
    .await;
    receiver
        .wait_for(10, "the accepted recipient", |m| m.len() == 1)
        .await;
    let info = wait_final(&n, id).await;
    assert!(
        info.recipients
            .iter()
            .any(|r| r.status == facteur_store::RcptStatus::Bounced)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "no DSN for a null-sender message"
    );
    assert_eq!(store.queue_len().await.unwrap(), 0);
    n.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_bounces_and_hang_is_a_timeout() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.queue_lifetime = Some("2s".into());
        s.delivery_timeout = Some("1s".into());
    })
    .await;
    let t = transport(&node, false, &node.secret);
    let a = queued_id(
        &t.send(message("s@sender.test", &["tempfail@example.net"], "never"))
            .await
            .unwrap(),
    );
    let b = queued_id(
        &t.send(message("s@sender.test", &["hang@hang.test"], "hangs"))
            .await
            .unwrap(),
    );
    for id in [a, b] {
        let info = wait_final(&node, id).await;
        assert_eq!(
            info.recipients[0].status,
            facteur_store::RcptStatus::Expired,
            "{info:#?}"
        );
        assert!(
            info.events
                .last()
                .unwrap()
                .detail
                .starts_with("delivery time expired after")
        );
    }
    let tempfail = node.running.app.store.message(a).await.unwrap();
    assert!(
        tempfail
            .events
            .iter()
            .any(|e| e.kind.as_str() == "deferred" && e.detail.contains("451 4.3.0")),
        "{tempfail:#?}"
    );
    let hang = node.running.app.store.message(b).await.unwrap();
    assert!(
        hang.events
            .iter()
            .any(|e| e.detail.contains("did not answer in time")),
        "{hang:#?}"
    );
    let got = receiver
        .wait_for(10, "two expiry DSNs", |m| {
            m.iter().filter(|m| m.mail_from.is_empty()).count() == 2
        })
        .await;
    let dsn = got
        .iter()
        .find(|m| m.data.contains("tempfail@example.net"))
        .unwrap();
    assert!(dsn.data.contains("Status: 4.4.7"));
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_an_open_relay() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    // Relay listener: unauthenticated mail to a remote domain is refused at RCPT.
    let replies = converse(
        node.addr("relay"),
        &[
            "EHLO c",
            "MAIL FROM:<a@b.test>",
            "RCPT TO:<victim@example.net>",
            "QUIT",
        ],
    )
    .await;
    assert!(replies[3].starts_with("554 5.7.1"), "{replies:?}");
    // Submission listener: no MAIL before STARTTLS + AUTH.
    let replies = converse(
        node.addr("smtp"),
        &[
            "EHLO c",
            "MAIL FROM:<a@b.test>",
            "AUTH PLAIN AGtleQBzZWNyZXQ=",
            "QUIT",
        ],
    )
    .await;
    assert!(replies[2].starts_with("530 5.7.0"), "{replies:?}");
    assert!(
        replies[3].starts_with("530 5.7.0"),
        "AUTH before TLS: {replies:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty());
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_network_relays_without_auth() {
    let receiver = Receiver::start().await;
    let (running, _dir) = trusted_node(receiver.addr).await;
    let relay = listener(&running, "relay");
    let replies = converse(
        relay,
        &[
            "EHLO c",
            "MAIL FROM:<app@sender.test>",
            "RCPT TO:<user@example.net>",
            "DATA",
            "Subject: trusted\r\n\r\nhi\r\n.",
        ],
    )
    .await;
    assert!(
        replies[5].starts_with("250 2.0.0 Ok: queued as"),
        "{replies:?}"
    );
    let got = receiver
        .wait_for(10, "relayed message", |m| m.len() == 1)
        .await;
    assert!(got[0].data.contains("Subject: trusted"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rules_wrong_secret_and_throttling() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| s.auth_failures_per_ip = Some(3)).await;
    for _ in 0..3 {
        let err = transport(&node, false, "wrong-secret")
            .send(message("a@s.test", &["b@example.net"], "x"))
            .await
            .unwrap_err();
        assert_eq!(
            err.status().map(|c| c.to_string()),
            Some("535".into()),
            "{err}"
        );
    }
    // The address is now throttled: even the right secret is refused for a while.
    let err = transport(&node, false, &node.secret)
        .send(message("a@s.test", &["b@example.net"], "x"))
        .await
        .unwrap_err();
    assert_eq!(
        err.status().map(|c| c.to_string()),
        Some("421".into()),
        "{err}"
    );
    assert!(receiver.received().is_empty());
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    transport(&node, false, &node.secret)
        .send(message("a@s.test", &["b@example.net"], "m"))
        .await
        .unwrap();
    receiver.wait_for(10, "delivery", |m| m.len() == 1).await;
    let http = node.running.http;
    let health = http_get(http, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""));
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = http_get(http, "/metrics").await;
        if metrics.contains("facteur_deliveries_sent_total 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains("facteur_messages_accepted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("facteur_deliveries_sent_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("facteur_auth_successes_total 1"));
    node.running.stop().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_all(s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_closed_and_connections_limited() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.idle_timeout = Some("300ms".into());
        s.max_connections_per_ip = Some(2);
    })
    .await;
    let addr = node.addr("smtp");
    let a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        read_all(third).await.starts_with("421 4.7.0"),
        "third connection from one address refused"
    );
    let transcript = read_all(a).await;
    assert!(transcript.starts_with("220 "), "{transcript}");
    assert!(
        transcript.contains("421 4.4.2"),
        "idle session closed: {transcript}"
    );
    node.running.stop().await;
}

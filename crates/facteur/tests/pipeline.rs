//! The accept pipeline and the scheduler under faults that need no root and no PostgreSQL:
//! - a destination that takes the connection and never answers does not slow delivery to
//!   another destination (per-destination ready queues);
//! - every route of the table refuses a request without credentials, except the public ones;
//! - a store that cannot write during DATA gives `451 4.3.0`, the Send API `503` with a JSON
//!   error, and the client's retry succeeds once the store is back (another process holds the
//!   SQLite database's write lock, as a stuck writer or a backup tool would).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use facteur::delivery::mx::{Resolver, Route};
use facteur_store::RcptStatus;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_destination_does_not_slow_the_others() {
    // Both next hops listen on the same port (the MX port is one setting), on two loopback
    // addresses: the receiver on 127.0.0.1, the tarpit on 127.0.0.2.
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    // The tarpit takes connections and never says a word: attempts there last until the
    // delivery timeout.
    let stuck = TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 2], port)))
        .await
        .expect("bind the tarpit");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = stuck.accept().await {
            open.push(s);
        }
    });
    let routes = HashMap::from([
        (
            "stuck.test".to_string(),
            Route::Hosts(vec!["mx.stuck.test".into()]),
        ),
        (
            "fine.test".to_string(),
            Route::Hosts(vec!["mx.fine.test".into()]),
        ),
    ]);
    let hosts = HashMap::from([
        (
            "mx.stuck.test".to_string(),
            vec!["127.0.0.2".parse().unwrap()],
        ),
        (
            "mx.fine.test".to_string(),
            vec!["127.0.0.1".parse().unwrap()],
        ),
    ]);
    let node = node_full(
        receiver.addr,
        Some(Resolver::Static { routes, hosts }),
        |s| {
            s.relay_host = None;
            s.mx_port = Some(port);
            // Few workers, so that the stuck destination could take them all if it held them
            // while waiting; an attempt there lasts the whole delivery timeout.
            s.delivery_workers = Some(4);
            s.destination_concurrency = Some(2);
            s.delivery_timeout = Some("60s".into());
        },
    )
    .await;
    // First a burst for the stuck destination, more than every worker.
    for i in 0..12 {
        submit(
            &node,
            "app@sender.test",
            &[&format!("user{i}@stuck.test")],
            b"Subject: stuck\r\n\r\nwaiting\r\n",
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Then mail for the destination that answers: it arrives while the other is stuck.
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            submit(
                &node,
                "app@sender.test",
                &[&format!("user{i}@fine.test")],
                b"Subject: fine\r\n\r\ndelivered\r\n",
            )
            .await,
        );
    }
    receiver
        .wait_for(30, "the answering destination's 20 messages", |m| {
            m.len() == 20
        })
        .await;
    // Well before the silent destination's attempts time out (60 s).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "delivery waited for the silent destination"
    );
    for id in ids {
        assert_eq!(
            wait_final(&node, id).await.recipients[0].status,
            RcptStatus::Sent
        );
    }
    // The stuck destination's messages are still waiting, none final.
    let stuck_pending = node
        .running
        .app
        .store
        .recipient_status_counts()
        .await
        .unwrap();
    assert!(
        stuck_pending
            .iter()
            .any(|(status, n)| matches!(status.as_str(), "queued" | "deferred") && *n > 0),
        "{stuck_pending:?}"
    );
    held.abort();
    node.running.stop().await;
}

/// Holds SQLite's write lock on `db` from another process until the returned child is killed.
async fn hold_write_lock(db: &std::path::Path) -> tokio::process::Child {
    let script = "import sqlite3, sys, time\n\
        c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
        c.execute('BEGIN IMMEDIATE')\n\
        print('locked', flush=True)\n\
        time.sleep(120)\n";
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failure_during_data_is_temporary_and_the_retry_succeeds() {
    let receiver = Receiver::start().await;
    let node = trusted(receiver.addr).await;
    let running = &node.running;
    let relay = listener(running, "relay");
    let http = running.http;
    assert!(
        smtp_one(relay, "before", 100)
            .await
            .unwrap_or_default()
            .starts_with("250 ")
    );

    let lock = hold_write_lock(&node.dir.path().join("facteur.db")).await;
    let send_body = serde_json::json!({"Messages": [{
        "From": {"Email": "app@sender.test"}, "To": [{"Email": "api@example.net"}],
        "Subject": "during", "TextPart": "x",
    }]})
    .to_string();
    let (key, secret) = (node.api_key.clone(), node.secret.clone());
    // The answer comes once the store gives up (SQLite's busy timeout, 10 s).
    let api = tokio::spawn(async move {
        http_json_within(
            http,
            "POST",
            "/v3.1/send",
            Some((&key, &secret)),
            Some(&send_body),
            Duration::from_secs(90),
        )
        .await
    });
    let during = smtp_one(relay, "during", 100).await.unwrap_or_default();
    assert!(during.starts_with("451 4.3.0"), "{during}");
    let (status, v) = api.await.unwrap();
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["Messages"][0]["Errors"][0]["ErrorCode"], "mj-0500", "{v}");
    assert_eq!(v["Messages"][0]["Errors"][0]["StatusCode"], 503, "{v}");
    drop(lock);

    // The client tries again (as SMTP clients do after a 4xx): accepted and delivered once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = smtp_one(relay, "retried", 100).await.unwrap_or_default();
        if reply.starts_with("250 ") {
            break;
        }
        assert!(reply.starts_with("451 4.3.0"), "{reply}");
        assert!(Instant::now() < deadline, "still refused: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_delivered_once(&receiver, &["before".into(), "retried".into()], 30).await;
    node.running.stop().await;
}

/// Every route that declares a permission refuses a request without credentials (401, in the
/// route's error shape); the public ones answer without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_its_permission() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    for route in facteur_http::routes::table() {
        let path = route
            .path
            .replace("{id}", "1")
            .replace("{number}", "1")
            .replace("{slug}", "welcome")
            .replace("{token}", "00000000000000000000000000000000");
        let method = route.method.to_ascii_uppercase();
        if route.permission == facteur_http::auth::Permission::Public {
            let raw = http_get_text(node.running.http, &path).await;
            // A public link with a made-up token is not found, and asks for no credentials.
            let expected = if route.path.contains("{token}") {
                "HTTP/1.1 404 "
            } else {
                "HTTP/1.1 200 "
            };
            assert!(
                raw.starts_with(expected),
                "{method} {path} is public: {raw}"
            );
        } else {
            let body = (method != "GET").then_some("{}");
            let (status, v) = http_json(node.running.http, &method, &path, None, body).await;
            assert_eq!(status, 401, "{method} {path} without credentials: {v}");
            assert_eq!(v["StatusCode"], 401, "{method} {path}: {v}");
        }
    }
    node.running.stop().await;
}

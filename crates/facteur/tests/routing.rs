//! Routing: MX preference with fallback, null MX and nonexistent domains (static resolver), and
//! opportunistic STARTTLS to a next hop that offers it (a second Facteur node).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use facteur::delivery::mx::{Resolver, Route};
use facteur_store::RcptStatus;

async fn wait_status(node: &Node, id: i64) -> facteur_store::MessageInfo {
    for _ in 0..200 {
        let info = node.running.app.store.message(id).await.unwrap();
        if info.recipients.iter().all(|r| r.status.is_final()) {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "not final: {:#?}",
        node.running.app.store.message(id).await.unwrap()
    );
}

async fn submit(node: &Node, from: &str, rcpts: &[&str]) -> i64 {
    let now = facteur::time::now_ms();
    let id = node
        .running
        .app
        .writer
        .spool(facteur_store::NewMessage {
            account_id: None,
            mail_from: from.into(),
            recipients: rcpts.iter().map(|s| s.to_string()).collect(),
            body: b"Subject: routed\r\n\r\nhello\r\n".to_vec(),
            priority: 0,
            now,
            expires_at: now + 60_000,
        })
        .await
        .unwrap();
    node.running.app.queue_wakeup.notify_one();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_fallback_null_mx_and_nxdomain() {
    let receiver = Receiver::start().await;
    let routes = HashMap::from([
        (
            "example.net".to_string(),
            Route::Hosts(vec!["mx1.example.net".into(), "mx2.example.net".into()]),
        ),
        ("null.test".to_string(), Route::NullMx),
    ]);
    // mx1 has no address (temporary failure for that host): delivery falls back to mx2.
    let hosts = HashMap::from([(
        "mx2.example.net".to_string(),
        vec!["127.0.0.1".parse().unwrap()],
    )]);
    let resolver = Resolver::Static { routes, hosts };
    let node = node_full(receiver.addr, Some(resolver), |s| {
        s.relay_host = None;
        s.mx_port = Some(receiver.addr.port());
    })
    .await;
    let ok = submit(&node, "", &["user@example.net"]).await;
    let null = submit(&node, "", &["user@null.test"]).await;
    let nx = submit(&node, "", &["user@nowhere.test"]).await;
    receiver
        .wait_for(10, "delivery through mx2", |m| m.len() == 1)
        .await;
    assert_eq!(
        wait_status(&node, ok).await.recipients[0].status,
        RcptStatus::Sent
    );
    let null = wait_status(&node, null).await;
    assert_eq!(null.recipients[0].status, RcptStatus::Bounced);
    assert!(
        null.recipients[0]
            .last_reply
            .as_deref()
            .unwrap()
            .contains("null MX")
    );
    let nx = wait_status(&node, nx).await;
    assert_eq!(nx.recipients[0].status, RcptStatus::Bounced);
    assert!(
        nx.recipients[0]
            .last_reply
            .as_deref()
            .unwrap()
            .contains("does not exist")
    );
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_starttls_when_offered() {
    let receiver = Receiver::start().await;
    // Node B: relays to the receiver and trusts loopback, so node A may hand it mail.
    let b_first = node(receiver.addr).await;
    let (b_dir, b_key) = (b_first.dir, b_first.api_key);
    b_first.running.stop().await;
    let mut s = settings(b_dir.path(), receiver.addr);
    s.trusted_networks = vec!["127.0.0.0/8".into()];
    s.trusted_account = Some(b_key);
    let b = facteur::app::start(facteur::config::Config::resolve(s).unwrap(), None)
        .await
        .unwrap();
    let b_relay = b
        .listeners
        .iter()
        .find(|(k, _)| k.name() == "relay")
        .unwrap()
        .1;
    // Node A: its next hop is B's relay listener, which offers STARTTLS.
    let a = node(b_relay).await;
    let id = submit(&a, "app@sender.test", &["user@example.net"]).await;
    let got = receiver
        .wait_for(15, "delivery via A then B", |m| m.len() == 1)
        .await;
    assert_eq!(
        wait_status(&a, id).await.recipients[0].status,
        RcptStatus::Sent
    );
    // B's Received header says how A connected to it: ESMTPS = TLS, no AUTH.
    assert!(
        got[0]
            .data
            .contains("by facteur.test (Facteur) with ESMTPS;"),
        "{}",
        got[0].data
    );
    a.running.stop().await;
    b.stop().await;
}

//! Routing: MX preference with fallback, null MX and nonexistent domains (static resolver), and
//! opportunistic STARTTLS to a next hop that offers it (a second Facteur node).

mod common;

use std::collections::HashMap;

use common::*;
use facteur::delivery::mx::{Resolver, Route};
use facteur_store::RcptStatus;

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
    let ok = submit(
        &node,
        "",
        &["user@example.net"],
        b"Subject: routed\r\n\r\nhello\r\n",
    )
    .await;
    let null = submit(
        &node,
        "",
        &["user@null.test"],
        b"Subject: routed\r\n\r\nhello\r\n",
    )
    .await;
    let nx = submit(
        &node,
        "",
        &["user@nowhere.test"],
        b"Subject: routed\r\n\r\nhello\r\n",
    )
    .await;
    receiver
        .wait_for(10, "delivery through mx2", |m| m.len() == 1)
        .await;
    assert_eq!(
        wait_final(&node, ok).await.recipients[0].status,
        RcptStatus::Sent
    );
    let null = wait_final(&node, null).await;
    assert_eq!(null.recipients[0].status, RcptStatus::Bounced);
    assert!(
        null.recipients[0]
            .last_reply
            .as_deref()
            .unwrap()
            .contains("null MX")
    );
    let nx = wait_final(&node, nx).await;
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
    let (b, _b_dir) = trusted_node(receiver.addr).await;
    let b_relay = listener(&b, "relay");
    // Node A: its next hop is B's relay listener, which offers STARTTLS.
    let a = node(b_relay).await;
    let id = submit(
        &a,
        "app@sender.test",
        &["user@example.net"],
        b"Subject: routed\r\n\r\nhello\r\n",
    )
    .await;
    let got = receiver
        .wait_for(15, "delivery via A then B", |m| m.len() == 1)
        .await;
    assert_eq!(
        wait_final(&a, id).await.recipients[0].status,
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

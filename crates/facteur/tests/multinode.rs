//! Several nodes sharing one PostgreSQL queue (skipped with a notice without
//! FACTEUR_TEST_POSTGRES; `.ci/run` sets it).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use facteur::config::Settings;
use facteur_store::Store;
use facteur_store::testing::TestDb;

fn shared_settings(
    dir: &std::path::Path,
    db: &TestDb,
    relay: std::net::SocketAddr,
    key: &str,
) -> Settings {
    let mut s = settings(dir, relay);
    s.database = Some(db.url.clone());
    s.trusted_networks = vec!["127.0.0.0/8".into()];
    s.trusted_account = Some(key.to_string());
    s.lease = Some("2s".into());
    s.delivery_timeout = Some("600ms".into());
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_queue_and_survive_a_dead_node() {
    const N: usize = 1000;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let receiver = Receiver::start_slow(Duration::from_millis(20)).await;
    let store = Store::open(&db.url).await.unwrap();
    let (account, _) = store
        .create_account("shared", facteur::time::now_ms())
        .await
        .unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = |dir: &tempfile::TempDir| {
        facteur::config::resolve(shared_settings(
            dir.path(),
            &db,
            receiver.addr,
            &account.api_key,
        ))
        .unwrap()
    };
    let mut a = facteur::start(cfg(&dir_a), None).await.unwrap();
    let b = facteur::start(cfg(&dir_b), None).await.unwrap();
    assert_ne!(a.app.node_id, b.app.node_id);

    // 1,000 messages, half through each node, five connections per node.
    let mut sends = Vec::new();
    for (n, relay) in [listener(&a, "relay"), listener(&b, "relay")]
        .into_iter()
        .enumerate()
    {
        for c in 0..5 {
            sends.push(tokio::spawn(async move {
                let mut lines = vec!["EHLO multi.test".to_string()];
                for i in 0..N / 10 {
                    let id = n * N / 2 + c * N / 10 + i;
                    lines.push("MAIL FROM:<app@sender.test>".into());
                    lines.push(format!("RCPT TO:<user{id}@example.net>"));
                    lines.push("DATA".into());
                    lines.push(format!("Subject: multi-{id}\r\n\r\nbody\r\n."));
                }
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                converse(relay, &refs).await
            }));
        }
    }
    // Kill node A's delivery mid-way, as a crash would.
    receiver
        .wait_for(60, "the first deliveries", |m| m.len() >= N / 5)
        .await;
    a.kill_delivery();
    let killed = Instant::now();
    let mut accepted = 0;
    for s in sends {
        accepted += s
            .await
            .unwrap()
            .iter()
            .filter(|r| r.starts_with("250 2.0.0 Ok: queued as"))
            .count();
    }
    assert_eq!(accepted, N, "every message accepted");

    // Every recipient reaches exactly one final state: sent.
    let deadline = Instant::now() + Duration::from_secs(90);
    let counts = loop {
        let counts: HashMap<String, i64> = store
            .recipient_status_counts()
            .await
            .unwrap()
            .into_iter()
            .collect();
        if counts.get("sent") == Some(&(N as i64)) && counts.len() == 1 {
            break counts;
        }
        assert!(Instant::now() < deadline, "not all sent: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(store.queue_len().await.unwrap(), 0, "{counts:?}");
    let took_over = killed.elapsed();

    // The receiver saw each message; duplicates only from the in-flight window.
    let got = receiver.received();
    let mut per_subject: HashMap<String, usize> = HashMap::new();
    for m in &got {
        let subject = m
            .data
            .lines()
            .find(|l| l.starts_with("Subject: "))
            .unwrap()
            .to_string();
        *per_subject.entry(subject).or_default() += 1;
    }
    assert_eq!(per_subject.len(), N, "every message arrived");
    let duplicates = got.len() - N;
    println!(
        "two nodes, one PostgreSQL queue: {N} messages, node A's delivery killed after {} deliveries; \
         in-flight window: {duplicates} message(s) delivered twice; all final {:.1}s after the kill (lease 2s)",
        N / 5,
        took_over.as_secs_f64()
    );
    // At most what A had in flight: one per connection to the site.
    assert!(
        duplicates <= a.app.cfg.destination_concurrency,
        "{duplicates} duplicates"
    );
    assert!(per_subject.values().all(|&n| n <= 2));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_only_node_hands_work_to_a_delivering_node_at_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let store = Store::open(&db.url).await.unwrap();
    let (account, _) = store
        .create_account("shared", facteur::time::now_ms())
        .await
        .unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut s = shared_settings(dir_a.path(), &db, receiver.addr, &account.api_key);
    s.scheduler = Some(false);
    let accept_only = facteur::start(facteur::config::resolve(s).unwrap(), None)
        .await
        .unwrap();
    let delivering = facteur::start(
        facteur::config::resolve(shared_settings(
            dir_b.path(),
            &db,
            receiver.addr,
            &account.api_key,
        ))
        .unwrap(),
        None,
    )
    .await
    .unwrap();
    // Let the delivering node settle into its idle wait (it polls every 5 s without news).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let replies = converse(
        listener(&accept_only, "relay"),
        &[
            "EHLO c",
            "MAIL FROM:<a@s.test>",
            "RCPT TO:<u@example.net>",
            "DATA",
            "Subject: handed over\r\n\r\nx\r\n.",
        ],
    )
    .await;
    assert!(
        replies[5].starts_with("250 2.0.0 Ok: queued as"),
        "{replies:?}"
    );
    receiver
        .wait_for(10, "delivery by the other node", |m| m.len() == 1)
        .await;
    let latency = sent.elapsed();
    println!(
        "accept-only node → delivering node via LISTEN/NOTIFY: delivered {} ms after 250",
        latency.as_millis()
    );
    assert!(
        latency < Duration::from_secs(3),
        "woken by NOTIFY, not by the 5 s poll: {latency:?}"
    );
    accept_only.stop().await;
    delivering.stop().await;
}

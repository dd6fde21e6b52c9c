//! Fault injection on a running server: the disk fills up and space comes back; PostgreSQL
//! goes away (every connection cut, new ones refused) and comes back; PostgreSQL turns
//! read-only (a failover, as a node sees it) and writable again. After each, every message that got `250` or HTTP
//! 200 is delivered exactly once (after a `kill -9` and a restart), refusals are temporary
//! (`451`, `503`), `/healthz` tells the truth, and the server recovers by itself.
//! The disk faults need root (a tmpfs), the database faults `FACTEUR_TEST_POSTGRES`; without
//! them the tests print a notice and pass.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::net::TcpStream;

/// One message over the Send API: the HTTP status.
async fn http_one(http: SocketAddr, key: &str, secret: &str, subject: &str) -> u16 {
    let body = serde_json::json!({"Messages": [{
        "From": {"Email": "app@sender.test"}, "To": [{"Email": format!("{subject}@example.net")}],
        "Subject": subject, "TextPart": "small",
    }]})
    .to_string();
    http_json(http, "POST", "/v3.1/send", Some((key, secret)), Some(&body))
        .await
        .0
}

/// What the clients were told: the subjects of every message acknowledged (250 / 200).
#[derive(Default)]
struct Ledger {
    acknowledged: Vec<String>,
    refused: usize,
}

impl Ledger {
    async fn smtp(&mut self, relay: SocketAddr, subject: &str, size: usize) -> bool {
        match smtp_one(relay, subject, size).await {
            Some(r) if r.starts_with("250 ") => {
                self.acknowledged.push(subject.to_string());
                true
            }
            Some(r) => {
                assert!(
                    r.starts_with("451 4.3.0"),
                    "a store fault is temporary: {r}"
                );
                self.refused += 1;
                false
            }
            None => {
                self.refused += 1;
                false
            }
        }
    }

    async fn http(&mut self, http: SocketAddr, key: &str, secret: &str, subject: &str) -> bool {
        match http_one(http, key, secret, subject).await {
            200 => {
                self.acknowledged.push(subject.to_string());
                true
            }
            s => {
                assert_eq!(s, 503, "a store fault is 503 on the Send API");
                self.refused += 1;
                false
            }
        }
    }

    /// Restarts on `dir` with a receiver and checks every acknowledged message arrives once.
    async fn delivered_once(&self, dir: &std::path::Path, key: &str) {
        let receiver = Receiver::start().await;
        let (mut child, _) = serve_process(dir, key, receiver.addr, &[]).await;
        assert_delivered_once(&receiver, &self.acknowledged, 120).await;
        child.start_kill().unwrap();
        let _ = child.wait().await;
    }
}

async fn health(http: SocketAddr) -> (u16, serde_json::Value) {
    http_json(http, "GET", "/healthz", None, None).await
}

/// A port nothing listens on: the next hop is down, so accepted mail stays queued.
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_then_space_returns() {
    let Some(fs) = Tmpfs::mount("20m") else {
        return;
    };
    let (key, secret) = cli_account(fs.path()).await;
    let (mut child, addrs) = serve_process(fs.path(), &key, closed_port(), &[]).await;
    let (relay, http) = (addrs["relay"], addrs["http"]);
    let mut ledger = Ledger::default();

    // Fill the disk with 470 KB messages until the server refuses.
    let mut full = false;
    for i in 0..120 {
        if !ledger.smtp(relay, &format!("big-{i}"), 470_000).await {
            full = true;
            break;
        }
    }
    assert!(full, "the disk never filled");
    // Small messages on both paths while full: accepted or refused, never lost.
    for i in 0..10 {
        ledger.smtp(relay, &format!("small-smtp-{i}"), 500).await;
        ledger
            .http(http, &key, &secret, &format!("small-http-{i}"))
            .await;
    }
    let metrics = http_get_text(http, "/metrics").await;
    assert!(
        metric(&metrics, "facteur_store_write_failures_total") > 0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "facteur_messages_spool_failures_total") > 0,
        "{metrics}"
    );
    // Space comes back: both paths work again within seconds, by themselves.
    fs.remount("size=200m");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    loop {
        let ok_smtp = ledger.smtp(relay, &format!("after-smtp-{i}"), 2_000).await;
        let ok_http = ledger
            .http(http, &key, &secret, &format!("after-http-{i}"))
            .await;
        i += 1;
        if ok_smtp && ok_http {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refusing 20 s after space came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for j in 0..10 {
        assert!(ledger.smtp(relay, &format!("later-smtp-{j}"), 2_000).await);
        assert!(
            ledger
                .http(http, &key, &secret, &format!("later-http-{j}"))
                .await
        );
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = health(http).await;
    assert_eq!(s, 200, "{v}");
    // kill -9, then everything acknowledged is delivered once.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    ledger.delivered_once(fs.path(), &key).await;
}

/// A TCP proxy in front of PostgreSQL that can drop every connection and refuse new ones:
/// the database "goes away" for the node behind it and comes back.
#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = tokio::sync::watch::channel(true);
        let proxy = Proxy { addr, up };
        let state = proxy.up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut down = state.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        proxy
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// psql against the admin URL (`FACTEUR_TEST_POSTGRES`).
fn psql(sql: &str) {
    let admin = std::env::var(facteur_store::testing::POSTGRES_ENV).unwrap();
    let out = std::process::Command::new("psql")
        .arg(&admin)
        .args(["-qAtc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A node on a fresh PostgreSQL database reached through a proxy, relaying for loopback.
async fn postgres_node(
    receiver: SocketAddr,
) -> Option<(
    facteur_store::testing::TestDb,
    Proxy,
    facteur::Running,
    String,
    String,
    tempfile::TempDir,
)> {
    let db = facteur_store::testing::TestDb::postgres().await?;
    // postgres://user@HOST:PORT/name → the proxy's address in place of HOST:PORT.
    let (scheme_user, rest) = db.url.split_once('@').unwrap();
    let (target, path) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(target.to_string()).await;
    let url = format!("{scheme_user}@{}/{path}", proxy.addr);
    let store = facteur_store::Store::open(&url).await.unwrap();
    let (account, secret) = store
        .create_account("pg", facteur::time::now_ms())
        .await
        .unwrap();
    drop(store);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), receiver);
    s.database = Some(url);
    s.trusted_networks = vec!["127.0.0.0/8".into()];
    s.trusted_account = Some(account.api_key.clone());
    let running = facteur::start(facteur::config::resolve(s).unwrap(), None)
        .await
        .unwrap();
    Some((db, proxy, running, account.api_key, secret, dir))
}

/// Sends on both paths until both are accepted again (the store came back), within 30 s.
async fn until_recovered(
    ledger: &mut Ledger,
    relay: SocketAddr,
    http: SocketAddr,
    key: &str,
    secret: &str,
    tag: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    while !(ledger.smtp(relay, &format!("{tag}-smtp-{i}"), 1_000).await
        && ledger
            .http(http, key, secret, &format!("{tag}-http-{i}"))
            .await)
    {
        i += 1;
        assert!(
            Instant::now() < deadline,
            "{tag}: still refusing 30 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_then_back() {
    let receiver = Receiver::start().await;
    let Some((_db, proxy, running, key, secret, _dir)) = postgres_node(receiver.addr).await else {
        return;
    };
    let relay = listener(&running, "relay");
    let http = running.http;
    let mut ledger = Ledger::default();
    for i in 0..10 {
        assert!(ledger.smtp(relay, &format!("before-{i}"), 1_000).await);
        assert!(
            ledger
                .http(http, &key, &secret, &format!("before-http-{i}"))
                .await
        );
    }
    proxy.set(false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = health(http).await;
    assert_eq!(s, 503, "{v}");
    for i in 0..5 {
        ledger.smtp(relay, &format!("down-{i}"), 1_000).await;
        ledger
            .http(http, &key, &secret, &format!("down-http-{i}"))
            .await;
    }
    assert!(
        ledger.refused >= 5,
        "nothing was refused while the database was away"
    );
    proxy.set(true);
    until_recovered(&mut ledger, relay, http, &key, &secret, "back").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(health(http).await.0, 200);
    assert_delivered_once(&receiver, &ledger.acknowledged, 120).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_then_writable() {
    let receiver = Receiver::start().await;
    let Some((db, _proxy, running, key, secret, _dir)) = postgres_node(receiver.addr).await else {
        return;
    };
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let relay = listener(&running, "relay");
    let http = running.http;
    let mut ledger = Ledger::default();
    for i in 0..5 {
        assert!(ledger.smtp(relay, &format!("before-{i}"), 1_000).await);
    }
    // A failover to a read-only server, as the node sees it: every new transaction read-only,
    // every current connection cut.
    psql(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ));
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = health(http).await;
    assert_eq!(s, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("read-only"), "{v}");
    assert!(!ledger.smtp(relay, "read-only-smtp", 1_000).await);
    psql(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = off"
    ));
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    until_recovered(&mut ledger, relay, http, &key, &secret, "writable").await;
    assert_delivered_once(&receiver, &ledger.acknowledged, 120).await;
    running.stop().await;
}

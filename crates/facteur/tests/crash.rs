//! Durability across `kill -9`: every message that got 250 before the process was killed is
//! delivered after a restart, once.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_mail_survives_kill_9() {
    const N: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = cli_account(dir.path()).await;
    // First run: the next hop is down, so everything stays queued.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (mut child, addrs) = serve_process(dir.path(), &key, closed, &[]).await;
    let relay = addrs["relay"];
    let mut tasks = Vec::new();
    for c in 0..6 {
        tasks.push(tokio::spawn(async move {
            let mut lines = vec!["EHLO crash.test".to_string()];
            for i in (c * N / 6)..((c + 1) * N / 6) {
                lines.push("MAIL FROM:<app@sender.test>".into());
                lines.push(format!("RCPT TO:<user{i}@example.net>"));
                lines.push("DATA".into());
                lines.push(format!("Subject: crash-{i}\r\n\r\nbody {i}\r\n."));
            }
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            converse(relay, &refs).await
        }));
    }
    let mut queued = 0;
    for t in tasks {
        queued += t
            .await
            .unwrap()
            .iter()
            .filter(|r| r.starts_with("250 2.0.0 Ok: queued as"))
            .count();
    }
    assert_eq!(queued, N, "every message was accepted");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // Second run: the next hop is up.
    let receiver = Receiver::start().await;
    let (mut child, _) = serve_process(dir.path(), &key, receiver.addr, &[]).await;
    let got = receiver
        .wait_for(60, "all messages after the restart", |m| m.len() >= N)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if receiver.received().len() > got.len() {
        receiver.received()
    } else {
        got
    };
    let mut subjects: Vec<String> = got
        .iter()
        .map(|m| {
            m.data
                .lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    let total = subjects.len();
    subjects.dedup();
    assert_eq!(subjects.len(), N, "every accepted message arrived");
    assert_eq!(total, N, "none arrived twice");
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// Messages in each kill -9 run (`FACTEUR_CRASH_MESSAGES` changes it).
fn load_size() -> usize {
    std::env::var("FACTEUR_CRASH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A pseudo-random kill delay (printed, so a failing run can be told apart).
fn kill_after() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Duration::from_millis(300 + u64::from(nanos % 1500))
}

/// Sends `subjects` over SMTP, one transaction at a time per connection, to the first relay
/// address that answers (failing over to the next when a node dies): the subjects that got
/// `250` after their data.
async fn load(relays: Vec<SocketAddr>, subjects: Vec<String>) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut acknowledged = Vec::new();
    let mut next = 0;
    let mut relay = 0;
    'connections: while next < subjects.len() && relay < relays.len() {
        let Ok(stream) = tokio::net::TcpStream::connect(relays[relay]).await else {
            relay += 1;
            continue;
        };
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let reply = async |read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>| -> Option<String> {
            loop {
                let mut line = String::new();
                if read.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                if line.as_bytes().get(3) != Some(&b'-') {
                    return Some(line);
                }
            }
        };
        let _greeting = reply(&mut read).await;
        if write.write_all(b"EHLO load.test\r\n").await.is_err() || reply(&mut read).await.is_none()
        {
            relay += 1;
            continue;
        }
        while next < subjects.len() {
            let s = &subjects[next];
            let head =
                format!("MAIL FROM:<app@sender.test>\r\nRCPT TO:<{s}@example.net>\r\nDATA\r\n");
            let ok = write.write_all(head.as_bytes()).await.is_ok()
                && reply(&mut read).await.is_some_and(|r| r.starts_with("250"))
                && reply(&mut read).await.is_some_and(|r| r.starts_with("250"))
                && reply(&mut read).await.is_some_and(|r| r.starts_with("354"));
            if !ok {
                relay += 1;
                continue 'connections;
            }
            let body = format!("Subject: {s}\r\n\r\nbody of {s}\r\n.\r\n");
            if write.write_all(body.as_bytes()).await.is_err() {
                // In flight: sent, not acknowledged. Either outcome is allowed for it.
                next += 1;
                relay += 1;
                continue 'connections;
            }
            match reply(&mut read).await {
                Some(r) if r.starts_with("250") => acknowledged.push(s.clone()),
                Some(r) => panic!("{s}: {r}"),
                None => {
                    next += 1;
                    relay += 1;
                    continue 'connections;
                }
            }
            next += 1;
        }
    }
    acknowledged
}

/// Runs the load on `clients` connections, each with its own share of `total` subjects.
async fn load_all(
    relays: Vec<SocketAddr>,
    prefix: &'static str,
    total: usize,
    clients: usize,
) -> (Vec<String>, usize) {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let subjects: Vec<String> = (c..total)
            .step_by(clients)
            .map(|i| format!("{prefix}-{i}"))
            .collect();
        tasks.push(tokio::spawn(load(relays.clone(), subjects)));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    (acknowledged, total)
}

/// A port with nothing behind it now, where a receiver can be started later.
fn reserved_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn receiver_on(addr: SocketAddr) -> Receiver {
    Receiver::start_on(tokio::net::TcpListener::bind(addr).await.unwrap())
}

/// One node on SQLite, killed at a random moment while 8 clients send: after a restart every
/// acknowledged message is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_sqlite() {
    kill_9_under_load_one_node(None).await;
}

/// The same with the node on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_postgres_one_node() {
    let Some(db) = facteur_store::testing::TestDb::postgres().await else {
        return;
    };
    kill_9_under_load_one_node(Some(&db.url)).await;
}

/// One node (on `database`, else SQLite in its data directory) killed at a random moment
/// while 8 clients send, then restarted with the next hop up.
async fn kill_9_under_load_one_node(database: Option<&str>) {
    let n = load_size();
    let dir = tempfile::tempdir().unwrap();
    let mut extra = Vec::new();
    let key = match database {
        None => cli_account(dir.path()).await.0,
        Some(url) => {
            extra.extend(["--database", url]);
            let store = facteur_store::Store::open(url).await.unwrap();
            let (account, _) = store
                .create_account("load", facteur::time::now_ms())
                .await
                .unwrap();
            account.api_key
        }
    };
    let next_hop = reserved_port();
    let (mut child, addrs) = serve_process(dir.path(), &key, next_hop, &extra).await;
    let load = tokio::spawn(load_all(vec![addrs["relay"]], "load", n, 8));
    let delay = kill_after();
    tokio::time::sleep(delay).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (acknowledged, total) = load.await.unwrap();
    println!(
        "killed after {delay:?}: {} of {total} acknowledged",
        acknowledged.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "nothing was accepted before the kill"
    );
    let receiver = receiver_on(next_hop).await;
    let (mut child, _) = serve_process(dir.path(), &key, next_hop, &extra).await;
    assert_delivered_once(&receiver, &acknowledged, 300).await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// Two nodes on one PostgreSQL database; one is killed at a random moment while clients send
/// to both (they fail over to the survivor), and the survivor delivers everything acknowledged
/// by either, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_postgres_two_nodes() {
    let Some(db) = facteur_store::testing::TestDb::postgres().await else {
        return;
    };
    let n = load_size();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = facteur_store::Store::open(&db.url).await.unwrap();
    let (account, _) = store
        .create_account("load", facteur::time::now_ms())
        .await
        .unwrap();
    drop(store);
    let next_hop = reserved_port();
    let pg = [
        "--database",
        db.url.as_str(),
        "--lease",
        "3s",
        "--delivery-timeout",
        "1s",
    ];
    let (mut a, addrs_a) = serve_process(dir_a.path(), &account.api_key, next_hop, &pg).await;
    let (mut b, addrs_b) = serve_process(dir_b.path(), &account.api_key, next_hop, &pg).await;
    let to_a = tokio::spawn(load_all(
        vec![addrs_a["relay"], addrs_b["relay"]],
        "via-a",
        n / 2,
        4,
    ));
    let to_b = tokio::spawn(load_all(vec![addrs_b["relay"]], "via-b", n - n / 2, 4));
    let delay = kill_after();
    tokio::time::sleep(delay).await;
    a.start_kill().unwrap();
    a.wait().await.unwrap();
    let (mut acknowledged, _) = to_a.await.unwrap();
    let (from_b, _) = to_b.await.unwrap();
    println!(
        "killed node A after {delay:?}: {} + {} acknowledged",
        acknowledged.len(),
        from_b.len()
    );
    acknowledged.extend(from_b);
    let receiver = receiver_on(next_hop).await;
    assert_delivered_once(&receiver, &acknowledged, 300).await;
    b.start_kill().unwrap();
    let _ = b.wait().await;
}

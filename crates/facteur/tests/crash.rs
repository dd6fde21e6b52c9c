//! Durability across `kill -9`: every message that got 250 before the process was killed is
//! delivered after a restart, once.

mod common;

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

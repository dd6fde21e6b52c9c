//! Test peers: a scripted receiving SMTP server and helpers to run Facteur nodes in-process.
#![allow(dead_code)]

pub mod dns;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use facteur::config::Settings;
use facteur::{Running, start};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A message as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub data: String,
}

/// A receiving SMTP server whose answers depend on the recipient's local part:
/// `reject*` → 550 5.1.1 at RCPT; `tempfail*` → 451 at RCPT, always; `defer*` → 451 after
/// DATA the first time a message for it arrives, then 250; `hang*` → never answers after DATA;
/// anything else → accepted.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<Received>>>,
    deferred_once: Arc<Mutex<HashMap<String, u32>>>,
    pub connections: Arc<Mutex<u32>>,
    notify: Arc<Notify>,
    /// Time between taking a message and answering 250 (the next hop's in-flight window).
    delay: Duration,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener)
    }

    /// A receiver that keeps each message, then waits `delay` before answering 250.
    pub async fn start_slow(delay: Duration) -> Receiver {
        Self::start_with(TcpListener::bind("127.0.0.1:0").await.unwrap(), delay)
    }

    pub fn start_on(listener: TcpListener) -> Receiver {
        Self::start_with(listener, Duration::ZERO)
    }

    fn start_with(listener: TcpListener, delay: Duration) -> Receiver {
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            messages: Default::default(),
            deferred_once: Default::default(),
            connections: Default::default(),
            notify: Default::default(),
            delay,
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                *me.connections.lock().unwrap() += 1;
                tokio::spawn(me.clone().session(s));
            }
        });
        r
    }

    async fn session(self, stream: TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let _ = write.write_all(b"220 receiver.test ESMTP\r\n").await;
        let mut from = String::new();
        let mut rcpts: Vec<String> = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let upper = line.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") {
                "250-receiver.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
            } else if upper.starts_with("MAIL FROM:") {
                from = addr(&line);
                rcpts.clear();
                "250 2.1.0 ok\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                let to = addr(&line);
                if to.starts_with("reject") {
                    "550 5.1.1 no such user here\r\n".into()
                } else if to.starts_with("tempfail") {
                    "451 4.3.0 try again later\r\n".into()
                } else {
                    rcpts.push(to);
                    "250 2.1.5 ok\r\n".into()
                }
            } else if upper.starts_with("DATA") {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if read.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                if rcpts.iter().any(|r| r.starts_with("hang")) {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let defer = rcpts.iter().any(|r| r.starts_with("defer")) && {
                    let mut seen = self.deferred_once.lock().unwrap();
                    let n = seen.entry(rcpts.join(",")).or_insert(0);
                    *n += 1;
                    *n == 1
                };
                if defer {
                    "451 4.3.0 deferred once\r\n".into()
                } else {
                    self.messages.lock().unwrap().push(Received {
                        mail_from: from.clone(),
                        rcpts: rcpts.clone(),
                        data,
                    });
                    self.notify.notify_waiters();
                    if !self.delay.is_zero() {
                        tokio::time::sleep(self.delay).await;
                    }
                    "250 2.0.0 accepted\r\n".into()
                }
            } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
                "250 2.0.0 ok\r\n".into()
            } else if upper.starts_with("QUIT") {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            } else {
                "500 5.5.2 what?\r\n".into()
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the received messages (or panics after `secs`).
    pub async fn wait_for(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let notified = self.notify.notified();
            {
                let msgs = self.messages.lock().unwrap();
                if pred(&msgs) {
                    return msgs.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let msgs = self.received();
                if pred(&msgs) {
                    return msgs;
                }
                panic!("timed out waiting for {what}; received so far: {msgs:#?}");
            }
        }
    }
}

fn addr(line: &str) -> String {
    let start = line.find('<').map(|i| i + 1).unwrap_or(0);
    let end = line.find('>').unwrap_or(line.len());
    line[start..end].to_string()
}

/// A Facteur node on ephemeral ports with its own data directory.
pub struct Node {
    pub running: Running,
    pub dir: tempfile::TempDir,
    pub api_key: String,
    pub secret: String,
}

impl Node {
    pub fn addr(&self, kind: &str) -> SocketAddr {
        listener(&self.running, kind)
    }
}

/// Settings for a test node: every listener on port 0, delivery through `relay`, fast retries.
pub fn settings(dir: &std::path::Path, relay: SocketAddr) -> Settings {
    Settings {
        data: Some(dir.to_path_buf()),
        hostname: Some("facteur.test".into()),
        smtp: vec!["127.0.0.1:0".into()],
        smtps: vec!["127.0.0.1:0".into()],
        relay: vec!["127.0.0.1:0".into()],
        http: Some("127.0.0.1:0".into()),
        relay_host: Some(relay.to_string()),
        retry_initial: Some("300ms".into()),
        retry_max: Some("1s".into()),
        delivery_timeout: Some("5s".into()),
        ..Settings::default()
    }
}

pub async fn node_with(relay: SocketAddr, tweak: impl FnOnce(&mut Settings)) -> Node {
    node_full(relay, None, tweak).await
}

pub async fn node_full(
    relay: SocketAddr,
    resolver: Option<facteur::delivery::mx::Resolver>,
    tweak: impl FnOnce(&mut Settings),
) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), relay);
    tweak(&mut s);
    let cfg = facteur::config::resolve(s).expect("valid test config");
    let store = facteur_store::Store::open(&cfg.database).await.unwrap();
    let (account, secret) = store
        .create_account("test", facteur::time::now_ms())
        .await
        .unwrap();
    drop(store);
    let running = start(cfg, resolver).await.expect("node starts");
    Node {
        running,
        dir,
        api_key: account.api_key,
        secret,
    }
}

pub async fn node(relay: SocketAddr) -> Node {
    node_with(relay, |_| {}).await
}

/// Waits until every recipient of message `id` is in a final state; returns the message.
pub async fn wait_final(node: &Node, id: i64) -> facteur_store::MessageInfo {
    for _ in 0..200 {
        let info = node.running.app.store.message(id).await.unwrap();
        if info.recipients.iter().all(|r| r.status.is_final()) {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "message {id} did not reach a final state: {:#?}",
        node.running.app.store.message(id).await.unwrap()
    );
}

/// Queues a message directly (as the accept path does after SMTP) and wakes the scheduler.
pub async fn submit(node: &Node, from: &str, rcpts: &[&str], body: &[u8]) -> i64 {
    let now = facteur::time::now_ms();
    let message = facteur_store::NewMessage {
        account_id: None,
        mail_from: from.into(),
        recipients: rcpts.iter().map(|s| s.to_string()).collect(),
        body: body.to_vec(),
        priority: 0,
        now,
        expires_at: now + 60_000,
        meta: Default::default(),
    };
    let id = node.running.app.writer.spool(message).await.unwrap();
    node.running.app.queue_wakeup.notify_one();
    id
}

/// The address of a running node's listener of this kind (`smtp`, `smtps`, `relay`).
pub fn listener(r: &Running, kind: &str) -> SocketAddr {
    r.listeners
        .iter()
        .find(|(k, _)| k.name() == kind)
        .map(|(_, a)| *a)
        .unwrap()
}

/// A node that relays for loopback clients without AUTH, on behalf of its own account.
pub async fn trusted(relay: SocketAddr) -> Node {
    let first = node(relay).await;
    let Node {
        running,
        dir,
        api_key,
        secret,
    } = first;
    running.stop().await;
    let mut s = settings(dir.path(), relay);
    s.trusted_networks = vec!["127.0.0.0/8".into()];
    s.trusted_account = Some(api_key.clone());
    Node {
        running: start(facteur::config::resolve(s).unwrap(), None)
            .await
            .unwrap(),
        dir,
        api_key,
        secret,
    }
}

/// [`trusted`], as the running server and its directory.
pub async fn trusted_node(relay: SocketAddr) -> (Running, tempfile::TempDir) {
    let n = trusted(relay).await;
    (n.running, n.dir)
}

/// One message over SMTP (relay listener, trusted network): the server's reply to the end of
/// data, or `None` when the connection failed before it.
pub async fn smtp_one(relay: SocketAddr, subject: &str, size: usize) -> Option<String> {
    let mut body = String::with_capacity(size + 200);
    body.push_str(&format!("Subject: {subject}\r\n\r\n"));
    while body.len() < size {
        body.push_str(&"y".repeat(76));
        body.push_str("\r\n");
    }
    let script = format!(
        "EHLO faults.test\r\nMAIL FROM:<app@sender.test>\r\nRCPT TO:<{subject}@example.net>\r\nDATA\r\n{body}.\r\nQUIT\r\n"
    );
    let mut s = TcpStream::connect(relay).await.ok()?;
    s.write_all(script.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    // The reply after `354`.
    text.split_once("\r\n354 ")
        .and_then(|(_, rest)| rest.split("\r\n").nth(1).map(str::to_string))
}

/// A raw SMTP conversation: sends each line, returns each reply's first line.
pub async fn converse(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut replies = vec![read_reply(&mut read).await];
    for line in lines {
        write
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        replies.push(read_reply(&mut read).await);
    }
    replies
}

async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> String {
    let mut first = String::new();
    loop {
        let mut l = String::new();
        if read.read_line(&mut l).await.unwrap_or(0) == 0 {
            return if first.is_empty() {
                "<closed>".into()
            } else {
                first
            };
        }
        if first.is_empty() {
            first = l.trim_end().to_string();
        }
        if l.as_bytes().get(3) != Some(&b'-') {
            return first;
        }
    }
}

pub async fn read_all(s: TcpStream) -> String {
    read_within(s, Duration::from_secs(5)).await
}

/// What the peer sends until it closes, or until `wait` has passed.
pub async fn read_within(mut s: TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A GET over a fresh connection: the raw response (status line, headers, body).
pub async fn http_get_text(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: facteur.test\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    read_all(stream).await
}

/// The value of a Prometheus sample in a `/metrics` page (0 when absent).
pub fn metric(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 request over a fresh connection: returns the status and the body parsed as JSON
/// (Null when empty). `auth` is (API key, secret key) for HTTP Basic.
pub async fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    http_json_within(addr, method, path, auth, body, Duration::from_secs(5)).await
}

/// `GET /v3/REST/message/{id}` until the message's status leaves `queued` (at most 10 s): it
/// moves a moment after its recipient was delivered or captured.
pub async fn api_message_settled(
    addr: SocketAddr,
    auth: Option<(&str, &str)>,
    id: i64,
) -> serde_json::Value {
    let mut m = serde_json::Value::Null;
    for _ in 0..100 {
        let (s, v) = http_json(addr, "GET", &format!("/v3/REST/message/{id}"), auth, None).await;
        assert_eq!(s, 200, "{v}");
        m = v;
        if m["Data"][0]["Status"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    m
}

/// [`http_json`], waiting up to `wait` for the whole answer.
pub async fn http_json_within(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
    wait: Duration,
) -> (u16, serde_json::Value) {
    use base64::Engine;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: facteur.test\r\nConnection: close\r\n");
    if let Some((k, s)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{k}:{s}"));
        req.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let raw = read_within(stream, wait).await;
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = if payload.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {payload:?}"))
    };
    (status, json)
}

/// Waits (up to `secs`) until `receiver` has as many messages as were acknowledged, then checks
/// that each acknowledged subject (a message's `Subject:` line) arrived exactly once.
pub async fn assert_delivered_once(receiver: &Receiver, acknowledged: &[String], secs: u64) {
    let n = acknowledged.len();
    receiver
        .wait_for(secs, "every acknowledged message", |m| m.len() >= n)
        .await;
    // Anything delivered twice would come shortly after.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in receiver.received() {
        let subject = m
            .data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_string();
        *counts.entry(subject).or_default() += 1;
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|s| !counts.contains_key(*s))
        .take(5)
        .collect();
    assert!(lost.is_empty(), "acknowledged, never delivered: {lost:?}");
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

// ---- Facteur as a separate process (for kill -9) ------------------------------------------

pub const BIN: &str = env!("CARGO_BIN_EXE_facteur");

/// `facteur account create` in `dir`: the API key and secret key.
pub async fn cli_account(dir: &std::path::Path) -> (String, String) {
    let out = tokio::process::Command::new(BIN)
        .args(["account", "create", "--name", "test", "--json", "--data"])
        .arg(dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["api_key"].as_str().unwrap().to_string(),
        v["secret_key"].as_str().unwrap().to_string(),
    )
}

/// Spawns `facteur serve` on `dir` (every listener on port 0, loopback trusted for `key`,
/// delivery through `relay`, fast retries, `extra` flags after) and waits for its `listening`
/// lines: the child and the address of each listener kind.
pub async fn serve_process(
    dir: &std::path::Path,
    key: &str,
    relay: SocketAddr,
    extra: &[&str],
) -> (tokio::process::Child, HashMap<String, SocketAddr>) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--smtp",
            "127.0.0.1:0",
            "--smtps",
            "127.0.0.1:0",
            "--relay",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .args([
            "--trusted-networks",
            "127.0.0.0/8",
            "--trusted-account",
            key,
        ])
        .args(["--retry-initial", "200ms", "--retry-max", "500ms"])
        .arg("--relay-host")
        .arg(relay.to_string())
        .arg("--data")
        .arg(dir)
        .args(extra)
        .env("FACTEUR_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addrs = HashMap::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve starts")
    {
        if let Some((kind, addr)) = line
            .strip_prefix("listening ")
            .and_then(|l| l.split_once('='))
        {
            addrs.insert(kind.to_string(), addr.parse().unwrap());
            if kind == "http" {
                break;
            }
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addrs)
}

#[allow(unused_imports)]
pub use facteur_store::testing::Tmpfs;

/// A webhook receiver: records each request (headers, body) and answers 500 to the first
/// `fail_first` requests, 200 after.
#[derive(Clone)]
pub struct Hook {
    pub addr: SocketAddr,
    pub calls: Arc<Mutex<Vec<(String, String)>>>,
    pub answered: Arc<Mutex<Vec<u16>>>,
}

impl Hook {
    pub async fn start(fail_first: usize) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = Hook {
            addr: listener.local_addr().unwrap(),
            calls: Default::default(),
            answered: Default::default(),
        };
        let h = hook.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let (head, body) = loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                break (head.to_string(), body.to_string());
                            }
                        }
                    };
                    let status = {
                        let mut calls = h.calls.lock().unwrap();
                        calls.push((head, body));
                        if calls.len() <= fail_first { 500 } else { 200 }
                    };
                    h.answered.lock().unwrap().push(status);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        hook
    }

    pub async fn wait(&self, secs: u64, what: &str, pred: impl Fn(&[(String, String)]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if pred(&self.calls.lock().unwrap()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: {:#?}",
                    self.calls.lock().unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every event received so far (version 2 arrays flattened).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .flat_map(
                |(_, b)| match serde_json::from_str::<serde_json::Value>(b).unwrap() {
                    serde_json::Value::Array(a) => a,
                    v => vec![v],
                },
            )
            .collect()
    }
}

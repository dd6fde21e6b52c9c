//! Co-editing benchmark (issue 14), run by `bench/coedit.sh`.
//!
//! `coedit_bench latency PEOPLE NODES OPS`: PEOPLE editors (real WebSocket clients, each
//! signed in as its own person) on NODES nodes (1: SQLite; 2: one PostgreSQL database from
//! FACTEUR_TEST_POSTGRES, editors spread over both) edit one template, each in its own section,
//! each sending OPS text changes 10 per second (typing, debounced as the editor does). Every
//! operation's latency is measured from its sender's send to its arrival at each other editor.
//! Prints one line: `people=… nodes=… ops=… deliveries=… p50_ms=… p95_ms=… max_ms=…`.
//!
//! `coedit_bench log OPS`: OPS operations applied to one template through the store (as the
//! server applies them); prints the op log's rows and bytes, the apply rate, and the time to
//! replay the whole log onto the starting document.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facteur_collab::{Actor, Block, BlockKind, Column, Document, Group, Op, Section};
use facteur_store::Store;
use facteur_store::people::Role;
use facteur_store::templates::TemplateMeta;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn now_ms() -> i64 {
    facteur::time::now_ms()
}

/// A document with one section (one column, one text block) per person.
fn document(people: usize) -> Document {
    let mut doc = Document::default();
    for i in 0..people {
        doc.sections.push(Section {
            id: format!("s{i}"),
            kind: Default::default(),
            style: Default::default(),
            content: Default::default(),
            lock: Default::default(),
            columns: vec![Column {
                id: format!("c{i}"),
                style: Default::default(),
                blocks: vec![
                    Block::new(format!("b{i}"), BlockKind::Text).with("html", "<p>Start</p>"),
                ],
            }],
        });
    }
    doc
}

fn settings(dir: &std::path::Path, database: Option<String>) -> facteur::config::Settings {
    facteur::config::Settings {
        data: Some(dir.to_path_buf()),
        hostname: Some("facteur.bench".into()),
        smtp: vec!["127.0.0.1:0".into()],
        http: Some("127.0.0.1:0".into()),
        relay_host: Some("127.0.0.1:9".into()),
        database,
        capture: Some(true),
        ..Default::default()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn latency(people: usize, nodes: usize, ops: usize) {
    let pg = if nodes > 1 {
        match facteur_store::testing::TestDb::postgres().await {
            Some(db) => Some(db),
            None => {
                eprintln!("two nodes need PostgreSQL: set FACTEUR_TEST_POSTGRES");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let dirs: Vec<tempfile::TempDir> = (0..nodes).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut running = Vec::new();
    for dir in &dirs {
        let s = settings(dir.path(), pg.as_ref().map(|d| d.url.clone()));
        let cfg = facteur::config::resolve(s).expect("bench config");
        running.push(facteur::start(cfg, None).await.expect("node starts"));
    }
    let store: Store = running[0].app.store.clone();
    let now = now_ms();
    let (account, _) = store.create_account("bench", now).await.unwrap();
    let meta = TemplateMeta {
        name: "co-editing".into(),
        ..Default::default()
    };
    let t = store.create_template(account.id, &meta, now).await.unwrap();
    let doc = serde_json::to_string(&document(people)).unwrap();
    store.start_blocks(t.id, &doc, now).await.unwrap();

    // Each editor: a person with a session, a WebSocket on its node, its own section.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut sockets = Vec::new();
    for i in 0..people {
        let user = store
            .create_user(
                &format!("p{i}@bench.test"),
                &format!("Person {i}"),
                "x",
                now,
            )
            .await
            .unwrap();
        store
            .grant(user.id, account.id, Role::Developer)
            .await
            .unwrap();
        let token = format!("bench-session-{i}-{}", uuid::Uuid::now_v7().simple());
        store
            .create_session(
                user.id,
                &token,
                "csrf",
                now,
                now + 86_400_000,
                "127.0.0.1",
                "bench",
            )
            .await
            .unwrap();
        let http = running[i % nodes].http;
        let mut req = format!("ws://{http}/app/templates/{}/live", t.id)
            .into_client_request()
            .unwrap();
        let h = req.headers_mut();
        h.insert(
            "Cookie",
            format!("facteur_session={token}").parse().unwrap(),
        );
        h.insert("Origin", format!("http://{http}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("the editor's WebSocket opens");
        ws.send(Message::text(
            json!({"t": "hello", "since": null}).to_string(),
        ))
        .await
        .unwrap();
        // Until the welcome.
        loop {
            let m = ws.next().await.expect("welcome").unwrap();
            if let Message::Text(t) = m
                && t.contains("\"welcome\"")
            {
                break;
            }
        }
        ws.send(Message::text(
            json!({"t": "take", "section": format!("s{i}")}).to_string(),
        ))
        .await
        .unwrap();
        sockets.push(ws);
    }
    // Everyone connected and holding their section.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let expected = people * ops;
    let mut tasks = Vec::new();
    for (i, ws) in sockets.into_iter().enumerate() {
        let (mut tx, mut rx) = ws.split();
        let (sent, latencies) = (sent.clone(), latencies.clone());
        let me = format!("e{i}-");
        tasks.push(tokio::spawn(async move {
            // The reader: other editors' operations, until all of them arrived (or 20 s of
            // silence).
            let reader = {
                let (sent, latencies, me) = (sent.clone(), latencies.clone(), me.clone());
                tokio::spawn(async move {
                    let mut seen = 0usize;
                    let others = expected - ops;
                    while seen < others {
                        let Ok(Some(Ok(m))) =
                            tokio::time::timeout(Duration::from_secs(20), rx.next()).await
                        else {
                            break;
                        };
                        let Message::Text(text) = m else { continue };
                        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if v["t"] == "refused" {
                            eprintln!("refused: {text}");
                        }
                        if v["t"] != "ops" {
                            continue;
                        }
                        let at = Instant::now();
                        for op in v["ops"].as_array().into_iter().flatten() {
                            let cid = op["cid"].as_str().unwrap_or("");
                            if cid.is_empty() || cid.starts_with(&me) {
                                continue;
                            }
                            if let Some(t0) = sent.lock().unwrap().get(cid) {
                                latencies
                                    .lock()
                                    .unwrap()
                                    .push(at.duration_since(*t0).as_secs_f64() * 1000.0);
                                seen += 1;
                            }
                        }
                    }
                })
            };
            // The writer: a change every 100 ms (10 per second), as a typist's debounced edits.
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for n in 0..ops {
                tick.tick().await;
                let cid = format!("{me}{n}");
                let op = Op::Set {
                    target: format!("b{i}"),
                    group: Group::Content,
                    key: "html".into(),
                    value: Some(format!("<p>Typing {n}</p>")),
                };
                sent.lock().unwrap().insert(cid.clone(), Instant::now());
                let msg = json!({"t": "op", "cid": cid, "op": op}).to_string();
                if tx.send(Message::text(msg)).await.is_err() {
                    break;
                }
            }
            let hb = json!({"t": "heartbeat"}).to_string();
            let _ = tx.send(Message::text(hb)).await;
            let _ = reader.await;
            let _ = tx.close().await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(|a, b| a.total_cmp(b));
    let expected_deliveries = people * ops * (people - 1);
    println!(
        "people={people} nodes={nodes} ops={} deliveries={}/{expected_deliveries} p50_ms={:.1} p95_ms={:.1} max_ms={:.1}",
        people * ops,
        l.len(),
        percentile(&l, 0.5),
        percentile(&l, 0.95),
        l.last().copied().unwrap_or(f64::NAN),
    );
    for r in running {
        r.stop().await;
    }
    drop(pg);
}

async fn log(ops: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .unwrap();
    let now = now_ms();
    let (account, _) = store.create_account("bench", now).await.unwrap();
    let meta = TemplateMeta {
        name: "log".into(),
        ..Default::default()
    };
    let t = store.create_template(account.id, &meta, now).await.unwrap();
    let start = document(10);
    store
        .start_blocks(t.id, &serde_json::to_string(&start).unwrap(), now)
        .await
        .unwrap();
    let actor = Actor {
        user: 1,
        can_edit: true,
        can_lock: true,
    };
    let free = |_: &str| None;
    let began = Instant::now();
    for n in 0..ops {
        // Mostly typing, with some moves and style changes, as an editing session goes.
        let s = n % 10;
        let op = match n % 20 {
            0 => Op::Set {
                target: format!("s{s}"),
                group: Group::Style,
                key: "background-color".into(),
                value: Some(format!("#{:06x}", n * 7919 % 0xffffff)),
            },
            1 => Op::MoveSection {
                section: format!("s{s}"),
                index: (n / 20) % 10,
            },
            _ => Op::Set {
                target: format!("b{s}"),
                group: Group::Content,
                key: "html".into(),
                value: Some(format!(
                    "<p>Paragraph {s}, revision {n}: some words typed here.</p>"
                )),
            },
        };
        store
            .apply_op(t.id, 1, &format!("c{n}"), now, |doc, _| {
                let mut doc: Document = serde_json::from_str(doc).unwrap();
                let op = facteur_collab::apply(&mut doc, op, &actor, &free)?;
                Ok::<_, facteur_collab::Refusal>((
                    serde_json::to_string(&doc).unwrap(),
                    serde_json::to_string(&op).unwrap(),
                ))
            })
            .await
            .unwrap()
            .unwrap();
    }
    let applied_s = began.elapsed().as_secs_f64();
    let (rows, bytes) = store.op_log_size(t.id).await.unwrap();
    // Replay: read the whole log and apply it to the starting document.
    let began = Instant::now();
    let mut doc = start;
    let mut after = 0;
    loop {
        let page = store.ops_since(t.id, after, 2000).await.unwrap();
        if page.is_empty() {
            break;
        }
        for o in &page {
            let op: Op = serde_json::from_str(&o.op).unwrap();
            facteur_collab::apply(&mut doc, op, &actor, &free).unwrap();
            after = o.seq;
        }
    }
    let replay_ms = began.elapsed().as_secs_f64() * 1000.0;
    let (stored, _) = store.blocks(t.id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&doc).unwrap(),
        stored,
        "the log replays to the stored document"
    );
    println!(
        "ops={rows} log_bytes={bytes} bytes_per_op={:.0} apply_per_s={:.0} replay_ms={replay_ms:.1} doc_bytes={}",
        bytes as f64 / rows.max(1) as f64,
        ops as f64 / applied_s,
        stored.len()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let n = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(n(2, 2), n(3, 1), n(4, 100)).await,
        Some("log") => log(n(2, 10_000)).await,
        _ => {
            eprintln!("usage: coedit_bench latency PEOPLE NODES OPS | coedit_bench log OPS");
            std::process::exit(2);
        }
    }
}

//! Store behaviour every backend must show: each test runs against SQLite and, when
//! FACTEUR_TEST_POSTGRES is set, against a fresh PostgreSQL database.

use std::collections::HashSet;

use facteur_store::testing::TestDb;
use facteur_store::{Backend, GroupCommit, NewMessage, RcptOutcome, RcptStatus, Store};

const T0: i64 = 1_800_000_000_000;

/// Opens a store on every available backend.
async fn stores() -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let store = Store::open(&db.url)
            .await
            .unwrap_or_else(|e| panic!("open {:?}: {e}", db.backend));
        out.push((db, store));
    }
    out
}

fn msg(rcpts: &[&str]) -> NewMessage {
    NewMessage {
        account_id: None,
        mail_from: "sender@example.org".into(),
        recipients: rcpts.iter().map(|s| s.to_string()).collect(),
        body: b"Subject: t\r\n\r\nhello\r\n".to_vec(),
        priority: 0,
        now: T0,
        expires_at: T0 + 5 * 86_400_000,
        meta: Default::default(),
    }
}

#[tokio::test]
async fn accounts_and_credentials() {
    for (db, store) in stores().await {
        let (account, secret) = store.create_account("acme", T0).await.unwrap();
        assert_eq!(account.api_key.len(), 32);
        let found = store
            .verify_credentials(&account.api_key, &secret)
            .await
            .unwrap();
        assert_eq!(found, Some(account.clone()), "{:?}", db.backend);
        assert_eq!(
            store
                .verify_credentials(&account.api_key, "wrong")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.verify_credentials("nokey", &secret).await.unwrap(),
            None
        );
        assert_eq!(store.list_accounts().await.unwrap(), vec![account]);
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        store.create_account("a", T0).await.unwrap();
        drop(store);
        let again = Store::open(&db.url).await.unwrap();
        assert_eq!(
            again.list_accounts().await.unwrap().len(),
            1,
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn one_queue_row_per_domain_and_claim_lease() {
    for (db, store) in stores().await {
        let b = db.backend;
        let ids = store
            .spool_batch(&[msg(&["a@x.test", "b@X.test", "c@y.test"])])
            .await
            .unwrap();
        assert_eq!(store.queue_len().await.unwrap(), 2);
        let claimed = store.claim_due("node-a", T0, 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 2, "{b:?}");
        let x = claimed.iter().find(|e| e.domain == "x.test").unwrap();
        assert_eq!(x.recipients.len(), 2);
        assert_eq!(x.message_id, ids[0]);
        assert_eq!(x.body, b"Subject: t\r\n\r\nhello\r\n");
        // Leased: nobody else gets them until the lease expires.
        assert!(
            store
                .claim_due("node-b", T0 + 1, 60_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let taken_over = store
            .claim_due("node-b", T0 + 60_001, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(taken_over.len(), 2);
        // node-b restarts: it frees its own leases and may claim the rows again at once.
        assert_eq!(store.release_leases_of("node-a").await.unwrap(), 0);
        assert_eq!(store.release_leases_of("node-b").await.unwrap(), 2);
        assert_eq!(
            store
                .claim_due("node-b", T0 + 60_002, 60_000, 10)
                .await
                .unwrap()
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn attempts_defer_then_finish() {
    for (db, store) in stores().await {
        let id = store
            .spool_batch(&[msg(&["a@x.test", "b@x.test"])])
            .await
            .unwrap()[0];
        let entry = store
            .claim_due("n", T0, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        let outcomes = vec![
            RcptOutcome::local(
                entry.recipients[0].id,
                "a@x.test",
                RcptStatus::Sent,
                "",
                None,
                "250 ok",
            ),
            RcptOutcome::local(
                entry.recipients[1].id,
                "b@x.test",
                RcptStatus::Deferred,
                "",
                None,
                "451 later",
            ),
        ];
        store
            .record_attempt(&entry, &outcomes, T0 + 300_000, T0 + 1)
            .await
            .unwrap();
        assert!(
            store
                .claim_due("n", T0 + 2, 60_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.next_due().await.unwrap(),
            Some(T0 + 300_000),
            "{:?}",
            db.backend
        );
        let again = store
            .claim_due("n", T0 + 300_000, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(again.attempts, 1);
        assert_eq!(
            again.recipients.len(),
            1,
            "only the deferred recipient is retried"
        );
        let done = vec![RcptOutcome::local(
            again.recipients[0].id,
            "b@x.test",
            RcptStatus::Bounced,
            "",
            None,
            "550 no",
        )];
        store
            .record_attempt(&again, &done, 0, T0 + 300_001)
            .await
            .unwrap();
        assert_eq!(store.queue_len().await.unwrap(), 0);
        let info = store.message(id).await.unwrap();
        let kinds: Vec<_> = info.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["queued", "queued", "sent", "deferred", "bounced"]);
        assert!(info.recipients.iter().all(|r| r.status.is_final()));
    }
}

#[tokio::test]
async fn retry_and_delete() {
    for (_db, store) in stores().await {
        let id = store.spool_batch(&[msg(&["a@x.test"])]).await.unwrap()[0];
        let entry = store
            .claim_due("n", T0, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        let deferred = vec![RcptOutcome::local(
            entry.recipients[0].id,
            "a@x.test",
            RcptStatus::Deferred,
            "",
            None,
            "421",
        )];
        store
            .record_attempt(&entry, &deferred, T0 + 3_600_000, T0)
            .await
            .unwrap();
        store.retry_now(id, T0 + 10).await.unwrap();
        assert_eq!(
            store
                .claim_due("n", T0 + 10, 60_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.delete_from_queue(id, T0 + 20).await.unwrap(), 1);
        assert_eq!(store.queue_len().await.unwrap(), 0);
        assert!(store.retry_now(id, T0).await.is_err());
        let info = store.message(id).await.unwrap();
        assert_eq!(info.recipients[0].status, RcptStatus::Deleted);
        assert_eq!(info.events.last().unwrap().kind.as_str(), "deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_serves_concurrent_callers() {
    for (db, store) in stores().await {
        let writer = GroupCommit::start(store.clone());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                writer.spool(msg(&[&format!("r{i}@d{}.test", i % 7)])).await
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200, "{:?}", db.backend);
        assert_eq!(store.queue_len().await.unwrap(), 200);
    }
}

#[tokio::test]
async fn a_bad_message_does_not_fail_its_batch() {
    for (_db, store) in stores().await {
        assert!(store.spool_batch(&[msg(&[])]).await.is_err());
        let writer = GroupCommit::start(store.clone());
        let (a, b) = tokio::join!(writer.spool(msg(&[])), writer.spool(msg(&["ok@x.test"])));
        assert!(a.is_err());
        assert!(b.is_ok());
    }
}

/// Two nodes (two pools on one database) claiming at the same time never get the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_are_disjoint() {
    for db in TestDb::all().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        let batch: Vec<NewMessage> = (0..300)
            .map(|i| msg(&[&format!("u{i}@d{i}.test")]))
            .collect();
        a.spool_batch(&batch).await.unwrap();
        let claim_all = |store: Store, owner: &'static str| async move {
            let mut got = Vec::new();
            loop {
                let rows = store.claim_due(owner, T0 + 1, 60_000, 7).await.unwrap();
                if rows.is_empty() {
                    return got;
                }
                got.extend(rows.into_iter().map(|e| e.id));
            }
        };
        let (ga, gb) = tokio::join!(
            tokio::spawn(claim_all(a, "node-a")),
            tokio::spawn(claim_all(b, "node-b"))
        );
        let (ga, gb) = (ga.unwrap(), gb.unwrap());
        let all: HashSet<i64> = ga.iter().chain(gb.iter()).copied().collect();
        assert_eq!(
            ga.len() + gb.len(),
            300,
            "{:?}: every row claimed once",
            db.backend
        );
        assert_eq!(all.len(), 300);
        if db.backend == Backend::Postgres {
            println!(
                "PostgreSQL claims: node-a {} rows, node-b {} rows",
                ga.len(),
                gb.len()
            );
        }
    }
}

/// PostgreSQL nodes hear about new work at once (LISTEN/NOTIFY); SQLite has no such channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_work_is_announced_across_nodes() {
    for db in TestDb::all().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        let listener = a.listen(facteur_store::QUEUE_CHANNEL).await.unwrap();
        match (db.backend, listener) {
            (Backend::Sqlite, None) => {}
            (Backend::Postgres, Some(mut rx)) => {
                GroupCommit::start(b)
                    .spool(msg(&["x@y.test"]))
                    .await
                    .unwrap();
                let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
                assert!(matches!(got, Ok(Some(_))), "notification received");
            }
            (backend, l) => panic!("{backend:?}: unexpected listener {}", l.is_some()),
        }
    }
}

/// A bounce report commits with the outcomes it reports, or neither does.
#[tokio::test]
async fn a_dsn_commits_with_its_outcomes() {
    use facteur_store::{AttemptRecord, WriteOp, WriteResult};
    for (db, store) in stores().await {
        let id = store.spool_batch(&[msg(&["gone@x.test"])]).await.unwrap()[0];
        let entry = store
            .claim_due("n", T0, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        let record = |dsn_rcpts: &[&str]| {
            let mut dsn = msg(dsn_rcpts);
            dsn.mail_from = String::new();
            WriteOp::Record(AttemptRecord {
                queue_id: entry.id,
                message_id: id,
                outcomes: vec![RcptOutcome::local(
                    entry.recipients[0].id,
                    "gone@x.test",
                    RcptStatus::Bounced,
                    "",
                    None,
                    "550 no",
                )],
                next_attempt_at: T0,
                now: T0 + 1,
                first_attempt: true,
                facts: entry.facts(),
                dsn: Some(dsn),
            })
        };
        // A DSN the store refuses takes the outcomes down with it: the row is still pending.
        assert!(
            store.write_batch(&[record(&[])]).await.is_err(),
            "{:?}",
            db.backend
        );
        assert_eq!(
            store.message(id).await.unwrap().recipients[0].status,
            RcptStatus::Queued
        );
        assert_eq!(store.queue_len().await.unwrap(), 1);
        // A valid one is stored with them.
        let results = store
            .write_batch(&[record(&["sender@example.org"])])
            .await
            .unwrap();
        let Some(WriteResult::Recorded { dsn: Some(dsn_id) }) = results.first().cloned() else {
            panic!("{results:?}")
        };
        assert_eq!(
            store.message(id).await.unwrap().recipients[0].status,
            RcptStatus::Bounced
        );
        let dsn = store.message(dsn_id).await.unwrap();
        assert_eq!(
            (dsn.mail_from.as_str(), dsn.recipients[0].address.as_str()),
            ("", "sender@example.org")
        );
        assert_eq!(
            store.queue_len().await.unwrap(),
            1,
            "only the DSN is queued now"
        );
    }
}

/// Mailjet's priority queues: 3 before 2 before 1 before 0; FIFO in each, except 1 (LIFO).
#[tokio::test]
async fn priority_queues_are_ordered() {
    for (db, store) in stores().await {
        let priorities: Vec<(i32, usize)> = [0, 1, 2, 3, 1, 0, 2, 3].into_iter().zip(0..).collect();
        for (prio, i) in &priorities {
            let mut m = msg(&[&format!("r{i}@q{i}.test")]);
            m.priority = *prio;
            m.now = T0 + *i as i64;
            store.spool_batch(&[m]).await.unwrap();
        }
        let mut order = Vec::new();
        for k in 0..8 {
            let one = store.claim_due("n", T0 + 100 + k, 60_000, 1).await.unwrap();
            order.push(one[0].domain.clone());
        }
        // 3: q3, q7 (FIFO); 2: q2, q6; 1: q4 then q1 (LIFO); 0: q0, q5.
        assert_eq!(
            order,
            [
                "q3.test", "q7.test", "q2.test", "q6.test", "q4.test", "q1.test", "q0.test",
                "q5.test"
            ],
            "{:?}",
            db.backend
        );
    }
}

/// A blocked message (template error): recipients `blocked` with the reason, an event, no
/// queue row, and per-recipient ids and UUIDs in the receipt.
#[tokio::test]
async fn blocked_messages_are_recorded_not_queued() {
    for (_db, store) in stores().await {
        let writer = GroupCommit::start(store.clone());
        let mut m = msg(&["a@x.test", "b@y.test"]);
        m.meta.blocked = Some(facteur_store::Blocked {
            class: facteur_store::BounceClass::Content,
            reason: "error in template language: boom".into(),
        });
        m.meta.custom_id = "c-1".into();
        let receipt = writer.spool_receipt(m).await.unwrap();
        assert_eq!(receipt.recipients.len(), 2);
        assert_eq!(receipt.recipients[0].1.len(), 36);
        assert_eq!(store.queue_len().await.unwrap(), 0);
        let info = store.message(receipt.message_id).await.unwrap();
        assert!(
            info.recipients
                .iter()
                .all(|r| r.status == RcptStatus::Blocked)
        );
        assert!(info.events.iter().all(|e| e.kind.as_str() == "blocked"));
        let (views, total) = store.message_views(0, Some("c-1"), 10, 0).await.unwrap();
        assert_eq!((views.len(), total), (0, 0), "account 0 owns nothing");
    }
}

/// An attempt's structured outcome (reply code and line, enhanced code, remote host, bounce
/// class) is stored with its event and read back typed, as the webhooks read it.
#[tokio::test]
async fn outcomes_are_stored_as_columns() {
    use facteur_store::{BounceClass, EventKind, RemoteReply};
    for (db, store) in stores().await {
        let (account, _) = store.create_account("acme", T0).await.unwrap();
        let mut m = msg(&["gone@x.test"]);
        m.account_id = Some(account.id);
        let id = store.spool_batch(&[m]).await.unwrap()[0];
        let entry = store
            .claim_due("n1", T0, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        let outcome = RcptOutcome {
            remote: Some(RemoteReply {
                host: "mx.x.test".into(),
                code: 550,
                line: "550 5.1.1 no such user".into(),
            }),
            class: Some(BounceClass::UserUnknown),
            ..RcptOutcome::local(
                entry.recipients[0].id,
                "gone@x.test",
                RcptStatus::Bounced,
                "5.1.1",
                None,
                "mx.x.test said: 550 5.1.1 no such user",
            )
        };
        store
            .record_attempt(&entry, &[outcome], T0, T0 + 1)
            .await
            .unwrap();
        let kinds: Vec<EventKind> = store
            .events(id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [EventKind::Queued, EventKind::Bounced],
            "{:?}",
            db.backend
        );
        // Events are handed to the call builder only when some account has a hook.
        store
            .create_webhook(
                account.id,
                "bounce",
                "https://hooks.example.com/x",
                1,
                false,
                T0,
            )
            .await
            .unwrap();
        let mut seen = Vec::new();
        store
            .collect_webhook_calls(T0 + 100_000, 100, |events, _| {
                seen.extend(events.iter().cloned());
                Vec::new()
            })
            .await
            .unwrap();
        let bounce = seen
            .iter()
            .find(|e| e.kind == EventKind::Bounced)
            .unwrap_or_else(|| panic!("{:?}: {seen:?}", db.backend));
        assert_eq!(bounce.reply.as_deref(), Some("550 5.1.1 no such user"));
        assert_eq!(bounce.class, Some(BounceClass::UserUnknown));
        let queued = seen.iter().find(|e| e.kind == EventKind::Queued).unwrap();
        assert_eq!((queued.reply.as_deref(), queued.class), (None, None));
    }
}

/// A call whose primary URL fails and whose backup answers is logged under each URL as it
/// went: the primary's log shows the failure, the backup's the success.
#[tokio::test]
async fn each_url_a_call_was_posted_to_keeps_its_own_log() {
    use facteur_store::webhooks::{NewCall, Tried};
    for (db, store) in stores().await {
        let (account, _) = store.create_account("acme", T0).await.unwrap();
        let mut m = msg(&["a@x.test"]);
        m.account_id = Some(account.id);
        store.spool_batch(&[m]).await.unwrap();
        let primary = store
            .create_webhook(
                account.id,
                "sent",
                "https://hooks.example.com/a",
                1,
                false,
                T0,
            )
            .await
            .unwrap();
        let backup = store
            .create_webhook(
                account.id,
                "sent",
                "https://hooks.example.com/b",
                1,
                true,
                T0,
            )
            .await
            .unwrap();
        store
            .collect_webhook_calls(T0 + 100_000, 100, |events, _| {
                vec![NewCall {
                    webhook_id: primary.id,
                    body: format!("{} events", events.len()),
                }]
            })
            .await
            .unwrap();
        let call = store
            .claim_webhook_calls(T0 + 100_000, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(call.backup.as_ref().map(|b| b.id), Some(backup.id));
        let tried = [
            Tried {
                webhook_id: primary.id,
                attempt: 1,
                ok: false,
                error: "answered HTTP 500".into(),
            },
            Tried {
                webhook_id: backup.id,
                attempt: 1,
                ok: true,
                error: String::new(),
            },
        ];
        store
            .webhook_call_done(call.id, T0 + 100_001, &tried)
            .await
            .unwrap();
        let (log, pending) = store
            .webhook_call_log(account.id, primary.id)
            .await
            .unwrap();
        assert_eq!(pending, 0, "{:?}", db.backend);
        assert_eq!(
            log.iter()
                .map(|e| (e.ok, e.error.as_str()))
                .collect::<Vec<_>>(),
            [(false, "answered HTTP 500")],
            "{:?}",
            db.backend
        );
        let (log, _) = store.webhook_call_log(account.id, backup.id).await.unwrap();
        assert_eq!(
            log.iter().map(|e| (e.ok, e.attempt)).collect::<Vec<_>>(),
            [(true, 1)],
            "{:?}",
            db.backend
        );
    }
}

/// The block editor's storage: operations append in order under a lock, refusals write
/// nothing, leases have one holder until they expire, threads resolve and reopen, a request
/// is decided once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_editor_storage() {
    use facteur_store::templates::{TemplateContent, TemplateMeta};
    for (db, store) in stores().await {
        let (account, _) = store.create_account("acme", T0).await.unwrap();
        let meta = TemplateMeta {
            name: "news".into(),
            ..Default::default()
        };
        let t = store.create_template(account.id, &meta, T0).await.unwrap();
        assert_eq!(store.blocks(t.id).await.unwrap(), None);
        let seq = store.start_blocks(t.id, "[]", T0).await.unwrap();
        assert_eq!(store.blocks(t.id).await.unwrap(), Some(("[]".into(), seq)));
        // Concurrent writers: every op gets its own sequence number, in order, none lost.
        let mut tasks = Vec::new();
        for n in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .apply_op(t.id, 7, &format!("c{n}"), T0, |doc, _| {
                        let mut v: Vec<i64> = serde_json::from_str(doc).unwrap();
                        v.push(n);
                        Ok::<_, ()>((serde_json::to_string(&v).unwrap(), format!("{n}")))
                    })
                    .await
                    .unwrap()
                    .unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        seqs.sort();
        assert_eq!(
            seqs,
            (seq + 1..=seq + 20).collect::<Vec<_>>(),
            "{:?}",
            db.backend
        );
        let (doc, last) = store.blocks(t.id).await.unwrap().unwrap();
        assert_eq!(last, seq + 20);
        let ops = store.ops_since(t.id, seq, 100).await.unwrap();
        let applied: Vec<i64> = serde_json::from_str(&doc).unwrap();
        let logged: Vec<i64> = ops.iter().map(|o| o.op.parse().unwrap()).collect();
        assert_eq!(applied, logged, "the log replays to the document");
        assert_eq!(store.op_log_size(t.id).await.unwrap().0, 20);
        // A refusal writes nothing.
        let refused = store
            .apply_op(t.id, 7, "x", T0, |_, _| Err::<(String, String), _>("no"))
            .await
            .unwrap();
        assert_eq!(refused, Err("no"));
        assert_eq!(store.blocks(t.id).await.unwrap().unwrap().1, last);

        // Leases: one holder; the holder renews; another takes it once it expired.
        assert_eq!(
            store
                .take_lease(t.id, "s1", 1, "a", T0, T0 + 30_000)
                .await
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            store
                .take_lease(t.id, "s1", 2, "b", T0 + 1, T0 + 30_001)
                .await
                .unwrap(),
            Err(1)
        );
        assert_eq!(
            store
                .take_lease(t.id, "s1", 1, "a", T0 + 2, T0 + 30_002)
                .await
                .unwrap(),
            Ok(())
        );
        // Taking another section releases the first (one section per connection).
        assert_eq!(
            store
                .take_lease(t.id, "s2", 1, "a", T0 + 3, T0 + 30_003)
                .await
                .unwrap(),
            Ok(())
        );
        let held: Vec<String> = store
            .leases(t.id, T0 + 4)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.section)
            .collect();
        assert_eq!(held, ["s2"]);
        assert_eq!(
            store
                .take_lease(t.id, "s2", 2, "b", T0 + 30_004, T0 + 60_000)
                .await
                .unwrap(),
            Ok(()),
            "expired"
        );
        // Leases are visible to the operation's check.
        store
            .apply_op(t.id, 1, "y", T0 + 30_005, |doc, leases| {
                assert_eq!(leases.len(), 1);
                assert_eq!(leases[0].user_id, 2);
                Ok::<_, ()>((doc.to_string(), "{}".into()))
            })
            .await
            .unwrap()
            .unwrap();
        store
            .touch_presence("b", t.id, 2, "s2", "b1", T0)
            .await
            .unwrap();
        assert_eq!(store.presence(t.id, T0).await.unwrap().len(), 1);
        store.end_conn("b").await.unwrap();
        assert!(store.leases(t.id, T0 + 30_006).await.unwrap().is_empty());
        assert!(store.presence(t.id, 0).await.unwrap().is_empty());

        // Comments: a thread with a reply, resolved then reopened; deleting the first comment
        // takes its replies.
        let root = store
            .add_comment(t.id, "template", "b1", None, 1, "hello @bo", &[2], T0)
            .await
            .unwrap();
        let reply = store
            .add_comment(t.id, "template", "b1", Some(root.id), 2, "yes", &[], T0 + 1)
            .await
            .unwrap();
        assert!(
            store
                .add_comment(t.id, "template", "b1", Some(reply.id), 2, "no", &[], T0)
                .await
                .is_err()
        );
        assert_eq!(store.comment(root.id).await.unwrap().mentions, [2]);
        assert!(store.resolve_thread(reply.id, 1, Some(T0)).await.is_err());
        store
            .resolve_thread(root.id, 1, Some(T0 + 2))
            .await
            .unwrap();
        assert_eq!(
            store.comment(root.id).await.unwrap().resolved_at,
            Some(T0 + 2)
        );
        store.resolve_thread(root.id, 1, None).await.unwrap();
        assert_eq!(store.comment(root.id).await.unwrap().resolved_at, None);
        store
            .edit_comment(reply.id, "yes!", &[], T0 + 3)
            .await
            .unwrap();
        assert_eq!(store.comments(t.id).await.unwrap().len(), 2);
        store.delete_comment(root.id).await.unwrap();
        assert!(store.comments(t.id).await.unwrap().is_empty());

        // Publish requests: a newer one withdraws the older; a decision happens once.
        let content = TemplateContent {
            mjml: "<mjml/>".into(),
            ..Default::default()
        };
        let first = store
            .create_request(t.id, 2, "please", &content, T0)
            .await
            .unwrap();
        let second = store
            .create_request(t.id, 2, "again", &content, T0 + 1)
            .await
            .unwrap();
        assert_eq!(store.request(first.id).await.unwrap().status, "withdrawn");
        store
            .decide_request(second.id, "approved", 1, "", Some(1), T0 + 2)
            .await
            .unwrap();
        assert!(matches!(
            store
                .decide_request(second.id, "refused", 1, "late", None, T0 + 3)
                .await,
            Err(facteur_store::Error::Conflict(_))
        ));
        let r = store.request(second.id).await.unwrap();
        assert_eq!(
            (r.status.as_str(), r.version, r.content.mjml.as_str()),
            ("approved", Some(1), "<mjml/>")
        );
        assert_eq!(store.requests(t.id).await.unwrap().len(), 2);

        // Notifications and images.
        store
            .notify_person(2, account.id, "Ana mentioned you", "/app/templates/1", T0)
            .await
            .unwrap();
        assert_eq!(store.unread_notifications(2).await.unwrap(), 1);
        store.read_notifications(2, T0).await.unwrap();
        assert_eq!(store.unread_notifications(2).await.unwrap(), 0);
        assert!(store.notifications(2, 10).await.unwrap()[0].read);
        store
            .save_image(account.id, "tok", "image/png", b"\x89PNG", T0)
            .await
            .unwrap();
        assert_eq!(
            store.image("tok").await.unwrap(),
            ("image/png".into(), b"\x89PNG".to_vec())
        );
        store.drop_blocks(t.id).await.unwrap();
        assert_eq!(store.blocks(t.id).await.unwrap(), None);
    }
}

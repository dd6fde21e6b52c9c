//! Statistics kept as events are written, on every backend (SQLite, and PostgreSQL when
//! FACTEUR_TEST_POSTGRES is set), with two stores on one database recording at once.

use facteur_store::stats::{Counter, Resolution, Source, StatQuery, Timing};
use facteur_store::testing::TestDb;
use facteur_store::{
    Engagement, EventKind, GroupCommit, MessageMeta, NewMessage, RcptOutcome, RcptStatus, Store,
};

/// 2027-01-15 08:00:00 UTC.
const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 8 * 3_600_000;
const DAY: i64 = 86_400_000;

fn engagement(rid: i64, kind: EventKind, at: i64, position: i64, machine: bool) -> Engagement {
    Engagement {
        at,
        recipient_id: rid,
        kind,
        url: (kind == EventKind::Click).then(|| format!("https://shop.test/p{position}?utm=x")),
        position,
        ip: "192.0.2.1".into(),
        agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0".into(),
        machine,
    }
}

#[tokio::test]
async fn counters_for_a_day_of_sends_bounces_opens_and_clicks() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let (account, _) = store.create_account("stats", T0).await.unwrap();
        let writer = GroupCommit::start(store.clone());
        let receipt = writer
            .spool_receipt(NewMessage {
                account_id: Some(account.id),
                mail_from: "News@Example.com".into(),
                recipients: vec!["a@x.test".into(), "b@x.test".into(), "c@y.test".into()],
                body: b"Subject: t\r\n\r\nhi\r\n".to_vec(),
                priority: 0,
                now: T0,
                expires_at: T0 + DAY,
                meta: MessageMeta {
                    campaign: "spring".into(),
                    ..MessageMeta::default()
                },
            })
            .await
            .unwrap();
        let ids: Vec<i64> = receipt.recipients.iter().map(|r| r.0).collect();
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        // Delivery: a and b sent, c refused for good.
        for entry in store.claim_due("n", T0 + 1000, 60_000, 10).await.unwrap() {
            let outcomes: Vec<RcptOutcome> = entry
                .recipients
                .iter()
                .map(|r| {
                    let status = if r.address.ends_with("y.test") {
                        RcptStatus::Bounced
                    } else {
                        RcptStatus::Sent
                    };
                    RcptOutcome::local(r.id, &r.address, status, "", None, "250 or 550")
                })
                .collect();
            store
                .record_attempt(&entry, &outcomes, T0, T0 + 2000)
                .await
                .unwrap();
        }
        // Engagement an hour later, from two stores (two nodes) on the same database at once.
        let later = T0 + 3_600_000;
        let second = Store::open(&db.url).await.unwrap();
        let writer2 = GroupCommit::start(second.clone());
        let burst = |w: GroupCommit| async move {
            let mut tasks = Vec::new();
            for i in 0..20 {
                let w = w.clone();
                tasks.push(tokio::spawn(async move {
                    w.engagement(engagement(a, EventKind::Open, later + i, 0, false))
                        .await
                        .unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        };
        tokio::join!(burst(writer.clone()), burst(writer2.clone()));
        for e in [
            engagement(a, EventKind::Open, later + 50, 0, true),
            engagement(a, EventKind::Click, later + 60, 0, false),
            engagement(a, EventKind::Click, later + 70, 0, false),
            engagement(b, EventKind::Click, later + 80, 1, false),
            engagement(b, EventKind::Unsub, later + 90, 0, false),
            engagement(b, EventKind::Unsub, later + 95, 0, false),
        ] {
            writer2.engagement(e).await.unwrap();
        }

        let q = |timing, resolution, source| StatQuery {
            account_id: account.id,
            source,
            timing,
            resolution,
            from: T0 / 1000 - 8 * 3600,
            to: T0 / 1000 + 16 * 3600,
        };
        let day = store
            .stat_counters(&q(Timing::Message, Resolution::Day, Source::Account))
            .await
            .unwrap();
        assert_eq!(day.len(), 1, "{day:?}");
        assert_eq!(day[0].start, T0 / 1000 - 8 * 3600);
        let m = &day[0];
        assert_eq!(m.get(Counter::Processed), 3);
        assert_eq!(m.get(Counter::Sent), 2);
        assert_eq!(m.get(Counter::HardBounced), 1);
        assert_eq!(m.get(Counter::Opened), 1, "a opened, once per recipient");
        assert_eq!(m.get(Counter::Clicked), 2);
        assert_eq!(m.get(Counter::Unsubscribed), 1);

        let hours = store
            .stat_counters(&q(Timing::Event, Resolution::Hour, Source::Account))
            .await
            .unwrap();
        assert_eq!(hours.len(), 2, "{hours:?}");
        assert_eq!(hours[0].get(Counter::Sent), 2);
        assert_eq!(hours[0].get(Counter::Opened), 0);
        assert_eq!(hours[1].start, later / 1000);
        assert_eq!(hours[1].get(Counter::Opened), 41, "every open, both nodes'");
        assert_eq!(hours[1].get(Counter::OpenedMachine), 1);
        assert_eq!(hours[1].get(Counter::Clicked), 3);
        assert_eq!(hours[1].get(Counter::Unsubscribed), 1, "twice is once");

        // By campaign and by sender; another campaign has nothing.
        let spring = store
            .stat_counters(&q(
                Timing::Message,
                Resolution::Lifetime,
                Source::Campaign("spring".into()),
            ))
            .await
            .unwrap();
        assert_eq!(spring[0].get(Counter::Sent), 2);
        let sender = store
            .stat_counters(&q(
                Timing::Message,
                Resolution::Lifetime,
                Source::Sender("news@example.com".into()),
            ))
            .await
            .unwrap();
        assert_eq!(sender[0].get(Counter::Processed), 3);
        assert!(
            store
                .stat_counters(&q(
                    Timing::Message,
                    Resolution::Lifetime,
                    Source::Campaign("autumn".into()),
                ))
                .await
                .unwrap()
                .is_empty()
        );

        let links = store.link_stats(account.id, Some("spring")).await.unwrap();
        let got: Vec<(i64, i64, i64)> = links
            .iter()
            .map(|l| (l.position, l.clicks, l.messages))
            .collect();
        assert_eq!(got, vec![(0, 2, 1), (1, 1, 1)]);
        assert_eq!(links[0].url, "https://shop.test/p0?utm=x");

        let domains = store
            .stats_by_domain(account.id, 0, i64::MAX)
            .await
            .unwrap();
        let sent = |d: &str| {
            domains.iter().find(|(x, _)| x == d).map(|(_, m)| {
                (
                    m.get(&Counter::Sent).copied().unwrap_or(0),
                    m.get(&Counter::HardBounced).copied().unwrap_or(0),
                )
            })
        };
        assert_eq!(sent("x.test"), Some((2, 0)));
        assert_eq!(sent("y.test"), Some((0, 1)));

        let view = |id| store.message_view(account.id, id);
        let va = view(a).await.unwrap();
        assert_eq!(va.opened_at, Some(later));
        assert_eq!(va.clicked_at, Some(later + 60));
        let vb = view(b).await.unwrap();
        assert!(vb.unsub_at.is_some() && vb.opened_at.is_none());
        assert!(view(c).await.unwrap().clicked_at.is_none());
        let unsubs = store
            .events(receipt.message_id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::Unsub)
            .count();
        assert_eq!(unsubs, 1);

        let (opened, clicked) = store
            .contact_activity(account.id, "A@x.test")
            .await
            .unwrap();
        assert_eq!(opened, Some(later + 19), "the latest human open");
        assert_eq!(clicked, Some(later + 70));
        assert_eq!(
            store
                .contact_activity(account.id, "c@y.test")
                .await
                .unwrap(),
            (None, None)
        );
        drop((writer, writer2, second, store));
    }
}

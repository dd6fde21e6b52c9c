//! Domains, DKIM keys and suppression lists on every backend (SQLite, and PostgreSQL when
//! FACTEUR_TEST_POSTGRES is set).

use facteur_store::identity::{
    GLOBAL, KeyState, NewKey, Suppression, SuppressionFilter, SuppressionReason,
};
use facteur_store::testing::TestDb;
use facteur_store::{Error, GroupCommit, MessageMeta, NewMessage, RcptStatus, Store};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

async fn stores() -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        out.push((db, store));
    }
    out
}

fn key(selector: &str, state: KeyState) -> NewKey {
    NewKey {
        selector: selector.into(),
        algorithm: "rsa".into(),
        sealed_private_key: vec![1, 2, 3, 0, 255],
        public_key: "MIIB".into(),
        state,
    }
}

fn entry(account_id: i64, address: &str, reason: SuppressionReason) -> Suppression {
    Suppression {
        account_id,
        address: address.into(),
        reason,
        detail: "d".into(),
        message_id: Some(7),
        failures: 1,
        first_at: T0,
        updated_at: T0,
        expires_at: None,
        active: true,
    }
}

#[tokio::test]
async fn domains_and_keys() {
    for (db, store) in stores().await {
        let (a, _) = store.create_account("a", T0).await.unwrap();
        let (b, _) = store.create_account("b", T0).await.unwrap();
        let d = store
            .create_domain(a.id, "Example.com.", vec![key("s1", KeyState::Active)], T0)
            .await
            .unwrap();
        assert_eq!(d.name, "example.com", "{:?}", db.backend);
        assert_eq!(d.keys[0].sealed_private_key, vec![1, 2, 3, 0, 255]);
        assert!(matches!(
            store.create_domain(b.id, "example.com", vec![], T0).await,
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            store.create_domain(a.id, "no_dots", vec![], T0).await,
            Err(Error::Invalid(_))
        ));
        // Another account sees nothing of it.
        assert!(matches!(
            store.domain(b.id, d.id).await,
            Err(Error::NotFound)
        ));
        let d = store
            .add_keys(a.id, d.id, vec![key("s2", KeyState::Pending)], T0 + 1)
            .await
            .unwrap();
        assert!(matches!(
            store
                .add_keys(a.id, d.id, vec![key("s2", KeyState::Pending)], T0 + 2)
                .await,
            Err(Error::Conflict(_))
        ));
        let (s1, s2) = (d.keys[0].id, d.keys[1].id);
        store
            .set_key_states(
                a.id,
                d.id,
                &[(s2, KeyState::Active), (s1, KeyState::Retired)],
            )
            .await
            .unwrap();
        let active = store.active_keys().await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].0, a.id);
        assert_eq!(active[0].1, "example.com");
        assert_eq!(active[0].2.selector, "s2");
        assert_eq!(
            store.domain_by_name(a.id, "EXAMPLE.com").await.unwrap().id,
            d.id
        );
        store.delete_domain(a.id, d.id).await.unwrap();
        assert!(store.active_keys().await.unwrap().is_empty());
        assert!(matches!(
            store.delete_domain(a.id, d.id).await,
            Err(Error::NotFound)
        ));
    }
}

#[tokio::test]
async fn suppression_lists() {
    for (db, store) in stores().await {
        let (a, _) = store.create_account("a", T0).await.unwrap();
        store
            .suppress(&entry(
                a.id,
                "Hard@Example.net",
                SuppressionReason::HardBounce,
            ))
            .await
            .unwrap();
        store
            .suppress(&entry(
                GLOBAL,
                "global@example.net",
                SuppressionReason::Complaint,
            ))
            .await
            .unwrap();
        let mut with = store.accounts_with_suppressions().await.unwrap();
        with.sort();
        assert_eq!(with, [GLOBAL, a.id]);
        let mut temporary = entry(a.id, "later@example.net", SuppressionReason::Manual);
        temporary.expires_at = Some(T0 + DAY);
        store.suppress(&temporary).await.unwrap();
        let asked: Vec<String> = [
            "hard@example.net",
            "GLOBAL@example.net",
            "ok@example.net",
            "later@example.net",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut found: Vec<String> = store
            .suppressed(Some(a.id), &asked, T0)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.address)
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "global@example.net",
                "hard@example.net",
                "later@example.net"
            ],
            "{:?}",
            db.backend
        );
        // Expired entries stop applying; the global list applies to mail of no account.
        let found = store
            .suppressed(Some(a.id), &asked, T0 + 2 * DAY)
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(store.suppressed(None, &asked, T0).await.unwrap().len(), 1);

        // Soft bounces: three over two days suppress; an address with a stronger reason
        // keeps it.
        let soft = |now| {
            store.record_soft_bounce(
                a.id,
                "full@example.net",
                "mailbox full",
                None,
                3,
                2 * DAY,
                30 * DAY,
                now,
            )
        };
        assert!(!soft(T0).await.unwrap());
        assert!(!soft(T0 + DAY / 2).await.unwrap());
        assert!(
            !soft(T0 + DAY).await.unwrap(),
            "three in one day are not enough"
        );
        assert!(soft(T0 + 2 * DAY).await.unwrap());
        let e = store
            .suppression(a.id, "full@example.net")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.failures, e.active, e.reason),
            (4, true, SuppressionReason::SoftBounce)
        );
        assert!(
            store
                .record_soft_bounce(a.id, "hard@example.net", "x", None, 3, 0, DAY, T0)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .suppression(a.id, "hard@example.net")
                .await
                .unwrap()
                .unwrap()
                .reason,
            SuppressionReason::HardBounce
        );

        // Listing with filters and pages.
        let (rows, total) = store
            .suppressions(
                a.id,
                &SuppressionFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (3, 3));
        let (rows, total) = store
            .suppressions(
                a.id,
                &SuppressionFilter {
                    reason: Some(SuppressionReason::SoftBounce),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((rows[0].address.as_str(), total), ("full@example.net", 1));
        let (rows, total) = store
            .suppressions(
                a.id,
                &SuppressionFilter {
                    address: Some("HARD".into()),
                    limit: 1,
                    offset: 0,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (1, 1));
        store.unsuppress(a.id, "hard@example.net").await.unwrap();
        assert!(matches!(
            store.unsuppress(a.id, "hard@example.net").await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            store
                .suppress(&entry(a.id, "nope", SuppressionReason::Manual))
                .await,
            Err(Error::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn preblocked_recipients_are_recorded_blocked_and_not_queued() {
    for (db, store) in stores().await {
        let writer = GroupCommit::start(store.clone());
        let id = writer
            .spool(NewMessage {
                account_id: None,
                mail_from: "s@example.org".into(),
                recipients: vec![
                    "gone@example.net".into(),
                    "ok@example.net".into(),
                    "gone2@other.test".into(),
                ],
                body: b"Subject: t\r\n\r\nhi\r\n".to_vec(),
                priority: 0,
                now: T0,
                expires_at: T0 + DAY,
                meta: MessageMeta {
                    preblocked: vec![
                        ("gone@example.net".into(), "preblocked: on the list".into()),
                        ("gone2@other.test".into(), "preblocked: on the list".into()),
                    ],
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        let info = store.message(id).await.unwrap();
        let status = |a: &str| {
            info.recipients
                .iter()
                .find(|r| r.address == a)
                .unwrap()
                .status
        };
        assert_eq!(
            status("gone@example.net"),
            RcptStatus::Blocked,
            "{:?}",
            db.backend
        );
        assert_eq!(status("gone2@other.test"), RcptStatus::Blocked);
        assert_eq!(status("ok@example.net"), RcptStatus::Queued);
        // One queue row: the domain with a recipient to send to.
        assert_eq!(info.queue.len(), 1);
        assert_eq!(info.queue[0].0, "example.net");
    }
}

#[tokio::test]
async fn reports_senders_and_domain_checks_on_every_backend() {
    use facteur_store::inbound::{InboundReport, LateEvent};
    use facteur_store::senders::{NewSender, SenderStatus};
    use facteur_store::{BounceClass, EventKind, RcptOutcome, RemoteReply};
    for (_db, store) in stores().await {
        // The first account does not enforce senders; the next ones do.
        let (first, _) = store.create_account("first", T0).await.unwrap();
        let (second, _) = store.create_account("second", T0).await.unwrap();
        assert!(!store.enforces_senders(first.id).await.unwrap());
        assert!(store.enforces_senders(second.id).await.unwrap());
        assert!(
            store
                .sender_rules()
                .await
                .unwrap()
                .exempt
                .contains(&first.id)
        );
        store.set_enforce_senders(first.id, true).await.unwrap();
        let rules = store.sender_rules().await.unwrap();
        assert!(!rules.exempt.contains(&first.id) && !rules.exempt.contains(&second.id));
        assert!(rules.active.is_empty());

        // Senders: inactive, active, deleted, back.
        let s = store
            .create_sender(
                &NewSender {
                    account_id: second.id,
                    email: "News@Example.com",
                    name: "News",
                    email_type: "bulk",
                    is_default: false,
                    token: "t1",
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!(
            (s.email.as_str(), s.status),
            ("news@example.com", SenderStatus::Inactive)
        );
        assert!(matches!(
            store
                .create_sender(
                    &NewSender {
                        account_id: second.id,
                        email: "news@example.com",
                        name: "",
                        email_type: "unknown",
                        is_default: false,
                        token: "t2",
                    },
                    T0,
                )
                .await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(store.sender_by_token("t1").await.unwrap().unwrap().id, s.id);
        store
            .activate_sender(s.id, "ActivationEmail", T0 + 1)
            .await
            .unwrap();
        let rules = store.sender_rules().await.unwrap();
        assert_eq!(
            rules.active,
            vec![(second.id, "news@example.com".to_string())]
        );
        store.delete_sender(second.id, s.id).await.unwrap();
        assert!(store.senders(second.id, false).await.unwrap().is_empty());
        assert_eq!(store.senders(second.id, true).await.unwrap().len(), 1);
        assert!(store.sender_rules().await.unwrap().active.is_empty());
        let again = store
            .create_sender(
                &NewSender {
                    account_id: second.id,
                    email: "news@example.com",
                    name: "",
                    email_type: "unknown",
                    is_default: false,
                    token: "t3",
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!((again.id, again.status), (s.id, SenderStatus::Inactive));

        // Domain checks: verified stays once set.
        let d = store
            .create_domain(
                second.id,
                "brand.test",
                vec![key("s1", KeyState::Active)],
                T0,
            )
            .await
            .unwrap();
        assert!(store.verified_domains().await.unwrap().is_empty());
        store
            .record_domain_check(d.id, "{\"DKIMStatus\":\"OK\"}", true, T0 + 5)
            .await
            .unwrap();
        store
            .record_domain_check(d.id, "{\"DKIMStatus\":\"Error\"}", false, T0 + 9)
            .await
            .unwrap();
        let d = store.domain(second.id, d.id).await.unwrap();
        assert_eq!((d.checked_at, d.verified_at), (Some(T0 + 9), Some(T0 + 5)));
        assert_eq!(
            d.check_result.as_deref(),
            Some("{\"DKIMStatus\":\"Error\"}")
        );
        assert_eq!(
            store.verified_domains().await.unwrap(),
            vec![(second.id, "brand.test".to_string())]
        );

        // A report about a recipient: its event and new state with the report, in one go.
        let writer = GroupCommit::start(store.clone());
        let receipt = writer
            .spool_receipt(NewMessage {
                account_id: Some(second.id),
                mail_from: "news@example.com".into(),
                recipients: vec!["gone@example.net".into()],
                body: b"Subject: t\r\n\r\nhi\r\n".to_vec(),
                priority: 0,
                now: T0,
                expires_at: T0 + DAY,
                meta: MessageMeta::default(),
            })
            .await
            .unwrap();
        let rid = receipt.recipients[0].0;
        let r = store.recipient_ref(rid).await.unwrap().unwrap();
        assert_eq!(
            (r.account_id, r.address.as_str()),
            (Some(second.id), "gone@example.net")
        );
        assert!(
            store
                .recipient_ref(rid + 1_000_000)
                .await
                .unwrap()
                .is_none()
        );
        let event = LateEvent {
            kind: EventKind::Bounced,
            outcome: RcptOutcome {
                recipient_id: rid,
                address: r.address.clone(),
                status: RcptStatus::Bounced,
                detail: "bounced after it was sent".into(),
                enhanced: "5.1.1".into(),
                remote: Some(RemoteReply {
                    host: "mx.example.net".into(),
                    code: 550,
                    line: "550 5.1.1 unknown".into(),
                }),
                class: Some(BounceClass::UserUnknown),
            },
        };
        let report = |raw: Option<Vec<u8>>| InboundReport {
            id: 0,
            received_at: T0 + 10,
            peer: "192.0.2.1".into(),
            mail_from: String::new(),
            rcpt_to: "bounce+x@b.test".into(),
            kind: "bounce".into(),
            outcome: "bounced".into(),
            account_id: Some(second.id),
            message_id: Some(receipt.message_id),
            recipient_id: Some(rid),
            raw,
        };
        let (id, recorded) = store
            .record_inbound(&report(None), Some((&r, &event)))
            .await
            .unwrap();
        assert!(recorded);
        // The same bounce again: its report is kept, no second event.
        let (_, again) = store
            .record_inbound(&report(None), Some((&r, &event)))
            .await
            .unwrap();
        assert!(!again);
        let (kept, _) = store
            .record_inbound(&report(Some(b"raw \x00\xff".to_vec())), None)
            .await
            .unwrap();
        let info = store.message(receipt.message_id).await.unwrap();
        assert_eq!(info.recipients[0].status, RcptStatus::Bounced);
        let events = store.events(receipt.message_id).await.unwrap();
        assert!(events.iter().any(|e| e.kind == EventKind::Bounced));
        let bounces = store
            .events(receipt.message_id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::Bounced)
            .count();
        assert_eq!(bounces, 1);
        let all = store.inbound_reports(false, 10, 0).await.unwrap();
        assert_eq!(all.len(), 3);
        let unhandled = store.inbound_reports(true, 10, 0).await.unwrap();
        assert_eq!(unhandled.len(), 1);
        assert_eq!(unhandled[0].id, kept);
        assert_eq!(unhandled[0].raw.as_deref(), Some(&b"raw \x00\xff"[..]));
        assert_eq!(store.inbound_report(id).await.unwrap().raw, None);
        assert!(matches!(
            store.inbound_report(1).await,
            Err(Error::NotFound)
        ));
        assert_eq!(store.purge_inbound(T0 + 11).await.unwrap(), 3);
        assert!(
            store
                .inbound_reports(false, 10, 0)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn opens_and_clicks_are_events_of_their_recipient() {
    use facteur_store::{Engagement, EventKind};
    for (_db, store) in stores().await {
        let writer = GroupCommit::start(store.clone());
        let receipt = writer
            .spool_receipt(NewMessage {
                account_id: None,
                mail_from: "news@example.com".into(),
                recipients: vec!["a@example.net".into(), "b@example.net".into()],
                body: b"Subject: t\r\n\r\nhi\r\n".to_vec(),
                priority: 0,
                now: T0,
                expires_at: T0 + DAY,
                meta: MessageMeta::default(),
            })
            .await
            .unwrap();
        let (a, b) = (receipt.recipients[0].0, receipt.recipients[1].0);
        let e = |rid: i64, kind: EventKind, url: Option<&str>| Engagement {
            at: T0 + 5,
            recipient_id: rid,
            kind,
            url: url.map(String::from),
            position: 0,
            ip: "192.0.2.1".into(),
            agent: "Mozilla/5.0 (X11)".into(),
            machine: false,
        };
        writer
            .engagement(e(a, EventKind::Open, None))
            .await
            .unwrap();
        writer
            .engagement(e(b, EventKind::Click, Some("https://a.test/?x=1")))
            .await
            .unwrap();
        // A recipient this database does not have: nothing.
        writer
            .engagement(e(a + 1_000_000, EventKind::Open, None))
            .await
            .unwrap();
        let events = store.events(receipt.message_id).await.unwrap();
        let got: Vec<(EventKind, Option<String>)> = events
            .iter()
            .filter(|x| matches!(x.kind, EventKind::Open | EventKind::Click))
            .map(|x| (x.kind, x.recipient.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (EventKind::Open, Some("a@example.net".to_string())),
                (EventKind::Click, Some("b@example.net".to_string()))
            ]
        );
    }
}

#[tokio::test]
async fn key_changes_touch_only_the_fields_given_and_tracking_settings_read_back() {
    use facteur_store::KeyChanges;
    for (db, store) in stores().await {
        let (master, _) = store.create_account("m", 1).await.unwrap();
        let (sub, _) = store.create_subaccount(&master, "s", 2).await.unwrap();
        let set = |c: KeyChanges| {
            let (store, master) = (&store, &master);
            async move { store.update_key(master, sub.id, &c).await.unwrap() }
        };
        let k = set(KeyChanges {
            track_opens: Some(Some(true)),
            track_host: Some("https://t.example.test".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(
            (k.track_opens, k.track_clicks, k.track_host.as_str()),
            (Some(true), None, "https://t.example.test"),
            "{:?}",
            db.backend
        );
        // Changing one field leaves the others as they are.
        let k = set(KeyChanges {
            is_active: Some(false),
            ..Default::default()
        })
        .await;
        assert!(!k.is_active);
        assert_eq!(k.track_opens, Some(true));
        assert_eq!(k.name, "s");
        let k = set(KeyChanges {
            name: Some("renamed".into()),
            track_opens: Some(None),
            track_clicks: Some(Some(false)),
            ..Default::default()
        })
        .await;
        assert_eq!(
            (k.name.as_str(), k.is_active, k.track_opens, k.track_clicks),
            ("renamed", false, None, Some(false))
        );
        let d = store
            .create_domain(master.id, "brand.example", vec![], 3)
            .await
            .unwrap();
        store
            .set_domain_track_host(master.id, d.id, "http://links.brand.example")
            .await
            .unwrap();
        assert!(matches!(
            store.set_domain_track_host(sub.id, d.id, "x").await,
            Err(Error::NotFound)
        ));
        let t = store.tracking_settings().await.unwrap();
        assert_eq!(
            t.accounts,
            vec![(
                sub.id,
                None,
                Some(false),
                "https://t.example.test".to_string()
            )]
        );
        assert_eq!(
            t.domains,
            vec![(
                master.id,
                "brand.example".to_string(),
                "http://links.brand.example".to_string()
            )]
        );
    }
}

#[tokio::test]
async fn people_roles_sessions_and_one_time_links() {
    use facteur_store::people::{Link, LinkKind, Role};
    for (db, store) in stores().await {
        let (a, _) = store.create_account("a", 1).await.unwrap();
        let (b, _) = store.create_account("b", 1).await.unwrap();
        assert_eq!(store.users_count().await.unwrap(), 0);
        let ada = store
            .create_user(" Ada@Example.com ", "Ada", "$argon2id$x", 10)
            .await
            .unwrap();
        assert_eq!(ada.email, "ada@example.com");
        assert!(
            matches!(
                store.create_user("ada@example.COM", "Other", "h", 11).await,
                Err(Error::Conflict(_))
            ),
            "{:?}",
            db.backend
        );
        assert!(matches!(
            store.create_user("not an address", "x", "h", 11).await,
            Err(Error::Invalid(_))
        ));
        store.grant(ada.id, a.id, Role::Marketer).await.unwrap();
        store.grant(ada.id, b.id, Role::Developer).await.unwrap();
        store.grant(ada.id, a.id, Role::Manager).await.unwrap();
        assert_eq!(
            store.memberships(ada.id).await.unwrap(),
            vec![(a.id, Role::Manager), (b.id, Role::Developer)]
        );
        assert_eq!(
            store.member_accounts(ada.id).await.unwrap(),
            vec![(a.clone(), Role::Manager), (b.clone(), Role::Developer)]
        );
        let members = store.members(a.id).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!((members[0].0.id, members[0].1), (ada.id, Role::Manager));
        assert!(store.revoke(ada.id, b.id).await.unwrap());
        assert!(!store.revoke(ada.id, b.id).await.unwrap());

        // Custom roles: unique names (any case), granted as custom:ID, deleted once unused.
        let perms = ["templates:view".to_string(), "messages:view".to_string()];
        let reviewer = store
            .create_custom_role(" Reviewer ", &perms, 20)
            .await
            .unwrap();
        assert_eq!(reviewer.name, "Reviewer");
        assert_eq!(reviewer.permissions, ["messages:view", "templates:view"]);
        assert!(matches!(
            store.create_custom_role("REVIEWER", &perms, 21).await,
            Err(facteur_store::Error::Conflict(_))
        ));
        assert!(matches!(
            store.create_custom_role("owner", &perms, 21).await,
            Err(facteur_store::Error::Conflict(_))
        ));
        assert_eq!(store.custom_role(reviewer.id).await.unwrap(), reviewer);
        store
            .grant(ada.id, b.id, Role::Custom(reviewer.id))
            .await
            .unwrap();
        assert_eq!(
            store.memberships(ada.id).await.unwrap(),
            vec![(a.id, Role::Manager), (b.id, Role::Custom(reviewer.id))]
        );
        assert!(matches!(
            store.delete_custom_role(reviewer.id).await,
            Err(facteur_store::Error::Conflict(_))
        ));
        assert!(store.revoke(ada.id, b.id).await.unwrap());
        store.delete_custom_role(reviewer.id).await.unwrap();
        assert!(store.custom_roles().await.unwrap().is_empty());
        assert!(matches!(
            store.custom_role(reviewer.id).await,
            Err(facteur_store::Error::NotFound)
        ));

        // Sessions: found by token until they expire; ended one by one or all at once.
        store
            .create_session(ada.id, "tok-1", "csrf-1", 100, 1_000, "127.0.0.1", "ua")
            .await
            .unwrap();
        store
            .create_session(ada.id, "tok-2", "csrf-2", 100, 1_000, "", "")
            .await
            .unwrap();
        let s = store.session("tok-1", 500).await.unwrap().unwrap();
        assert_eq!((s.user_id, s.csrf.as_str()), (ada.id, "csrf-1"));
        let (with_user, user) = store.session_user("tok-1", 500).await.unwrap().unwrap();
        assert_eq!(
            (with_user, user.email.as_str()),
            (s.clone(), ada.email.as_str())
        );
        assert_eq!(user, store.user(ada.id).await.unwrap());
        assert_eq!(store.session("tok-1", 1_000).await.unwrap(), None);
        assert_eq!(store.session("tok-x", 500).await.unwrap(), None);
        assert!(store.end_session("tok-1").await.unwrap());
        assert_eq!(store.session("tok-1", 500).await.unwrap(), None);
        store
            .create_session(ada.id, "tok-3", "c", 100, 1_000, "", "")
            .await
            .unwrap();
        assert_eq!(store.end_sessions_of(ada.id).await.unwrap(), 2);
        // A new password signs out everywhere.
        store
            .create_session(ada.id, "tok-4", "c", 100, 1_000, "", "")
            .await
            .unwrap();
        store.set_password(ada.id, "$argon2id$y").await.unwrap();
        assert_eq!(store.session("tok-4", 500).await.unwrap(), None);
        assert_eq!(
            store.user(ada.id).await.unwrap().password_hash,
            "$argon2id$y"
        );

        // One-time links: used once, of their kind, before they expire.
        let invite = Link {
            kind: LinkKind::Invitation,
            email: "Bob@Example.com".into(),
            user_id: None,
            account_id: Some(b.id),
            role: Some(Role::Designer),
            created_at: 100,
            expires_at: 1_000,
        };
        store.create_link("link-1", &invite).await.unwrap();
        store.create_link("link-2", &invite).await.unwrap();
        assert_eq!(
            store
                .use_link("link-1", LinkKind::PasswordReset, 200)
                .await
                .unwrap(),
            None
        );
        let used = store
            .use_link("link-1", LinkKind::Invitation, 200)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(used.email, "bob@example.com");
        assert_eq!(
            (used.account_id, used.role),
            (Some(b.id), Some(Role::Designer))
        );
        assert_eq!(
            store
                .use_link("link-1", LinkKind::Invitation, 201)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .use_link("link-2", LinkKind::Invitation, 1_000)
                .await
                .unwrap(),
            None,
            "expired"
        );
    }
}

/// A sub-account is owned by its master account's owners from the moment it exists (in the
/// creating transaction), whoever creates it: the API, the app or the command line.
#[tokio::test]
async fn sub_accounts_are_owned_by_the_master_accounts_owners() {
    use facteur_store::people::Role;
    for (db, store) in stores().await {
        let (master, _) = store.create_account("org", 1).await.unwrap();
        let owner = store
            .create_user("o@example.com", "O", "h", 1)
            .await
            .unwrap();
        let dev = store
            .create_user("d@example.com", "D", "h", 1)
            .await
            .unwrap();
        store.grant(owner.id, master.id, Role::Owner).await.unwrap();
        store
            .grant(dev.id, master.id, Role::Developer)
            .await
            .unwrap();
        let (sub, _) = store.create_subaccount(&master, "shop", 2).await.unwrap();
        let members: Vec<(i64, Role)> = store
            .members(sub.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(u, r)| (u.id, r))
            .collect();
        assert_eq!(members, [(owner.id, Role::Owner)], "{:?}", db.backend);
    }
}

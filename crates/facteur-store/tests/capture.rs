//! Captured messages (capture mode) on every backend (SQLite, and PostgreSQL when
//! FACTEUR_TEST_POSTGRES is set): kept bytes, lists with search and paging, account scope.

use facteur_store::capture::{CaptureFilter, NewCapture};
use facteur_store::testing::TestDb;
use facteur_store::{Error, Store};

const T0: i64 = 1_800_000_000_000;

fn capture(account: Option<i64>, n: i64, to: &str, subject: &str) -> NewCapture<'static> {
    NewCapture {
        account_id: account,
        message_id: 1000 + n,
        recipient_id: 2000 + n,
        recipient: to.into(),
        mail_from: "app@sender.test".into(),
        subject: subject.into(),
        // Bytes that are not UTF-8 come back as they went in.
        raw: Box::leak(
            format!("Subject: {subject}\r\n\r\nbody {n} \u{e9}\r\n")
                .into_bytes()
                .into_iter()
                .chain([0xff, 0x00, b'\r', b'\n'])
                .collect::<Vec<u8>>()
                .into_boxed_slice(),
        ),
        captured_at: T0 + n,
    }
}

fn filter(search: &str, limit: i64, offset: i64) -> CaptureFilter {
    CaptureFilter {
        search: Some(search.to_string()).filter(|s| !s.is_empty()),
        limit,
        offset,
    }
}

#[tokio::test]
async fn add_list_search_show_delete_clear() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let backend = db.backend;
        let (a, _) = store.create_account("a", T0).await.unwrap();
        let (b, _) = store.create_account("b", T0).await.unwrap();
        let kept = vec![
            capture(Some(a.id), 1, "bob@example.net", "Welcome aboard"),
            capture(Some(a.id), 2, "carol@example.net", "Your invoice 100%"),
            capture(Some(a.id), 3, "dan@other.test", "Password reset"),
            capture(Some(b.id), 4, "eve@example.net", "Welcome to B"),
            capture(None, 5, "postmaster@example.net", "Report"),
        ];
        let ids = store.add_captures(&kept).await.unwrap();
        assert_eq!(ids.len(), 5);
        // The same recipient captured again (an attempt retried after a crash) keeps its first
        // copy.
        let again = NewCapture {
            captured_at: T0 + 99,
            ..kept[0].clone()
        };
        assert_eq!(store.add_captures(&[again]).await.unwrap(), vec![ids[0]]);

        // Newest first, the account's only, without bytes.
        let (rows, total) = store
            .captures(Some(a.id), &filter("", 10, 0))
            .await
            .unwrap();
        assert_eq!(total, 3, "{backend:?}");
        let order: Vec<i64> = rows.iter().map(|c| c.id).collect();
        assert_eq!(order, vec![ids[2], ids[1], ids[0]], "{backend:?}");
        assert!(rows.iter().all(|c| c.raw.is_none()));
        assert_eq!(rows[2].recipient_id, 2001);
        assert_eq!(rows[2].message_id, 1001);
        assert_eq!(rows[2].size, kept[0].raw.len() as i64);

        // Search: recipient or subject, any case; % and _ are plain characters.
        let (rows, total) = store
            .captures(Some(a.id), &filter("EXAMPLE.net", 10, 0))
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (2, 2), "{backend:?}");
        let (rows, _) = store
            .captures(Some(a.id), &filter("password", 10, 0))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].recipient, "dan@other.test");
        let (rows, _) = store
            .captures(Some(a.id), &filter("100%", 10, 0))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let (rows, total) = store
            .captures(Some(a.id), &filter("%", 10, 0))
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (1, 1), "% is not a wildcard");
        let (_, total) = store
            .captures(Some(a.id), &filter("_", 10, 0))
            .await
            .unwrap();
        assert_eq!(total, 0, "_ is not a wildcard");

        // Paging keeps the total.
        let (rows, total) = store.captures(Some(a.id), &filter("", 2, 2)).await.unwrap();
        assert_eq!((rows.len(), total), (1, 3));
        assert_eq!(rows[0].id, ids[0]);

        // Every account's (and no account's) for the operator.
        let (_, total) = store.captures(None, &filter("", 10, 0)).await.unwrap();
        assert_eq!(total, 5);

        // One, with its exact bytes; another account's is not found.
        let one = store.capture(Some(a.id), ids[1]).await.unwrap();
        assert_eq!(one.raw.as_deref(), Some(kept[1].raw));
        assert_eq!(one.subject, "Your invoice 100%");
        assert_eq!(one.mail_from, "app@sender.test");
        assert_eq!(one.captured_at, T0 + 2);
        assert!(matches!(
            store.capture(Some(b.id), ids[1]).await,
            Err(Error::NotFound)
        ));
        assert!(store.capture(None, ids[4]).await.unwrap().raw.is_some());
        assert!(matches!(
            store.capture(Some(a.id), ids[4]).await,
            Err(Error::NotFound)
        ));

        // Delete: scoped, once.
        assert!(matches!(
            store.delete_capture(Some(b.id), ids[0]).await,
            Err(Error::NotFound)
        ));
        store.delete_capture(Some(a.id), ids[0]).await.unwrap();
        assert!(matches!(
            store.delete_capture(Some(a.id), ids[0]).await,
            Err(Error::NotFound)
        ));

        // Clear: the account's only.
        assert_eq!(store.clear_captures(Some(a.id)).await.unwrap(), 2);
        let (_, total) = store
            .captures(Some(a.id), &filter("", 10, 0))
            .await
            .unwrap();
        assert_eq!(total, 0);
        let (rows, total) = store
            .captures(Some(b.id), &filter("", 10, 0))
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (1, 1));
        assert_eq!(store.clear_captures(None).await.unwrap(), 2);
        assert_eq!(store.add_captures(&[]).await.unwrap(), Vec::<i64>::new());
    }
}

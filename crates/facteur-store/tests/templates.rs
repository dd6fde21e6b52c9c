//! The template store on every backend: metadata, drafts, publishing, versions, restore,
//! duplicate, listing filters, and account isolation.

use facteur_store::Store;
use facteur_store::templates::{TemplateContent, TemplateFilter, TemplateMeta};
use facteur_store::testing::TestDb;
use serde_json::json;

const T0: i64 = 1_800_000_000_000;

fn meta(name: &str, categories: &[&str]) -> TemplateMeta {
    TemplateMeta {
        name: name.into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        edit_mode: 4,
        text_part_generation: true,
        locale: "fr_FR".into(),
        purposes: vec!["transactional".into()],
        ..TemplateMeta::default()
    }
}

fn content(html: &str) -> TemplateContent {
    TemplateContent {
        html: html.into(),
        text: String::new(),
        mjml: format!("<mjml>{html}</mjml>"),
        headers: json!({"Subject": "Hi {{var:name}}"}),
    }
}

#[tokio::test]
async fn versions_publish_restore_duplicate() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let (acct, _) = store.create_account("a", T0).await.unwrap();
        let t = store
            .create_template(acct.id, &meta("Order confirmation", &["invoice"]), T0)
            .await
            .unwrap();
        assert_eq!((t.published, t.draft), (None, None), "{:?}", db.backend);
        assert!(
            store.publish_template(acct.id, t.id, "", T0).await.is_err(),
            "no draft yet"
        );
        assert_eq!(
            store
                .save_template_draft(acct.id, t.id, &content("v1"), T0 + 1)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .save_template_draft(acct.id, t.id, &content("v1 edited"), T0 + 2)
                .await
                .unwrap(),
            1,
            "one draft, edited in place"
        );
        assert_eq!(
            store
                .publish_template(acct.id, t.id, "first", T0 + 3)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .save_template_draft(acct.id, t.id, &content("v2"), T0 + 4)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.published_content(acct.id, t.id).await.unwrap().html,
            "v1 edited",
            "sends use the published version"
        );
        store
            .publish_template(acct.id, t.id, "second", T0 + 5)
            .await
            .unwrap();
        assert_eq!(
            store.published_content(acct.id, t.id).await.unwrap().html,
            "v2"
        );
        // A new version from any version.
        assert_eq!(
            store
                .restore_template_version(acct.id, t.id, 1, T0 + 6)
                .await
                .unwrap(),
            3
        );
        let versions = store.template_versions(acct.id, t.id).await.unwrap();
        let summary: Vec<_> = versions
            .iter()
            .map(|v| (v.number, v.status.as_str(), v.content.html.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (3, "draft", "v1 edited"),
                (2, "published", "v2"),
                (1, "published", "v1 edited")
            ]
        );
        assert_eq!(versions[2].content.headers["Subject"], "Hi {{var:name}}");
        let rec = store.template(acct.id, t.id).await.unwrap();
        assert_eq!((rec.published, rec.draft), (Some(2), Some(3)));
        store
            .set_template_test_values(
                acct.id,
                t.id,
                &json!({"Variables": {"name": "Ada"}}),
                T0 + 7,
            )
            .await
            .unwrap();
        let copy = store
            .duplicate_template(acct.id, t.id, "Order confirmation (copy)", T0 + 8)
            .await
            .unwrap();
        assert_eq!((copy.published, copy.draft), (None, Some(1)));
        assert_eq!(copy.test_values["Variables"]["name"], "Ada");
        assert_eq!(copy.meta.categories, ["invoice"]);
        store.delete_template(acct.id, t.id).await.unwrap();
        assert!(store.template(acct.id, t.id).await.is_err());
        assert!(store.template_versions(acct.id, t.id).await.is_err());
    }
}

#[tokio::test]
async fn listing_filters_and_isolation() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let (a, _) = store.create_account("a", T0).await.unwrap();
        let (b, _) = store.create_account("b", T0).await.unwrap();
        store
            .create_template(a.id, &meta("Welcome", &["welcome"]), T0)
            .await
            .unwrap();
        let mut starred = meta("Spring newsletter", &["newsletter"]);
        starred.is_starred = true;
        store.create_template(a.id, &starred, T0 + 1).await.unwrap();
        store
            .create_template(
                a.id,
                &meta("Invoice 100%_done", &["invoice", "basic"]),
                T0 + 2,
            )
            .await
            .unwrap();
        let other = store
            .create_template(b.id, &meta("Welcome", &["welcome"]), T0)
            .await
            .unwrap();
        let names = |list: Vec<facteur_store::templates::TemplateRecord>| {
            list.into_iter().map(|t| t.meta.name).collect::<Vec<_>>()
        };
        let (all, total) = store
            .list_templates(a.id, &TemplateFilter::default())
            .await
            .unwrap();
        assert_eq!(total, 3, "{:?}", db.backend);
        assert_eq!(
            names(all),
            ["Invoice 100%_done", "Spring newsletter", "Welcome"],
            "newest first"
        );
        let by_name = TemplateFilter {
            name: Some("NEWS".into()),
            ..TemplateFilter::default()
        };
        assert_eq!(
            names(store.list_templates(a.id, &by_name).await.unwrap().0),
            ["Spring newsletter"]
        );
        let literal = TemplateFilter {
            name: Some("100%_".into()),
            ..TemplateFilter::default()
        };
        assert_eq!(
            names(store.list_templates(a.id, &literal).await.unwrap().0),
            ["Invoice 100%_done"],
            "% and _ are literal"
        );
        let cats = TemplateFilter {
            categories_any: vec!["basic".into(), "welcome".into()],
            sort: Some("name".into()),
            ..TemplateFilter::default()
        };
        assert_eq!(
            names(store.list_templates(a.id, &cats).await.unwrap().0),
            ["Invoice 100%_done", "Welcome"]
        );
        let star = TemplateFilter {
            starred_only: true,
            ..TemplateFilter::default()
        };
        assert_eq!(
            names(store.list_templates(a.id, &star).await.unwrap().0),
            ["Spring newsletter"]
        );
        let page = TemplateFilter {
            sort: Some("name".into()),
            limit: 1,
            offset: 1,
            ..TemplateFilter::default()
        };
        let (one, total) = store.list_templates(a.id, &page).await.unwrap();
        assert_eq!(
            (names(one), total),
            (vec!["Spring newsletter".to_string()], 3)
        );
        // Account a cannot see, change or delete account b's template.
        assert!(store.template(a.id, other.id).await.is_err());
        assert!(
            store
                .save_template_draft(a.id, other.id, &content("x"), T0)
                .await
                .is_err()
        );
        assert!(store.delete_template(a.id, other.id).await.is_err());
        assert!(
            store
                .create_template(a.id, &meta("  ", &[]), T0)
                .await
                .is_err(),
            "Name is required"
        );
    }
}

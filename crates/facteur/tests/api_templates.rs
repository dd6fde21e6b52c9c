//! The templates REST API over real HTTP: Mailjet shapes, validation, versions, preview,
//! authentication and per-account isolation.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_crud_content_versions_preview() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let call = |method: &'static str, path: String, body: Option<String>| async move {
        http_json(http, method, &path, auth, body.as_deref()).await
    };

    // Create, with Mailjet's fields; bad input gets Mailjet's error shape.
    let (status, body) = call("POST", "/v3/REST/template".into(), Some(json!({"Name": "Order", "Categories": ["invoice"], "Purposes": ["transactional"], "EditMode": 4, "Locale": "fr_FR"}).to_string())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["Count"].clone(), body["Total"].clone()),
        (json!(1), json!(1))
    );
    let t = &body["Data"][0];
    let id = t["ID"].as_i64().unwrap();
    assert_eq!(
        (
            t["Name"].as_str(),
            t["EditMode"].as_i64(),
            t["OwnerType"].as_str()
        ),
        (Some("Order"), Some(4), Some("apikey"))
    );
    for (bad, message) in [
        (json!({"Author": "x"}), "Property \"Name\" is required"),
        (json!({"Name": 3}), "Property \"Name\" must be a string"),
        (
            json!({"Name": "x", "EditMode": 9}),
            "Property \"EditMode\" must be 1",
        ),
        (
            json!({"Name": "x", "Purposes": ["spam"]}),
            "Invalid purpose \"spam\"",
        ),
        (
            json!({"Name": "x", "Colour": "red"}),
            "Unknown property \"Colour\"",
        ),
    ] {
        let (status, body) = call("POST", "/v3/REST/template".into(), Some(bad.to_string())).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["ErrorMessage"].as_str().unwrap().starts_with(message),
            "{body}"
        );
        assert_eq!(body["StatusCode"], 400);
    }
    let (status, body) = call("POST", "/v3/REST/template".into(), Some("{not json".into())).await;
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (400, Some("Invalid JSON"))
    );

    // Content from MJML: compiled to HTML, validated, published as version 1.
    let mjml = r#"<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ var:name:'friend' }}</mj-text><mj-raw>{% for l in var:lines %}</mj-raw><mj-text>{{ l }}</mj-text><mj-raw>{% endfor %}</mj-raw></mj-column></mj-section></mj-body></mjml>"#;
    let detail = json!({"MJMLContent": mjml, "Text-part": "Hello {{ var:name:\"friend\" }}", "Headers": {"Subject": "Your order, {{ var:name }}", "From": "Shop <shop@example.com>"}});
    let (status, body) = call(
        "POST",
        format!("/v3/REST/template/{id}/detailcontent"),
        Some(detail.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["Data"][0]["Html-part"]
            .as_str()
            .unwrap()
            .contains("{% for l in var:lines %}")
    );
    // Broken content is refused with its position.
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{id}/detailcontent"),
        Some(json!({"Text-part": "x\n{% if var:a %}"}).to_string()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .starts_with("not valid template"),
        "{body}"
    );
    assert_eq!(body["ErrorInfo"], "Text-part, line 2, column 14");
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{id}/detailcontent"),
        Some(json!({"MJMLContent": "<mjml><mj-body><mj-text>open</mj-body></mjml>"}).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["ErrorInfo"]
            .as_str()
            .unwrap()
            .starts_with("MJMLContent, line 1")
    );
    // PUT keeps the parts it does not name: version 2.
    let (status, _) = call(
        "PUT",
        format!("/v3/REST/template/{id}/detailcontent"),
        Some(json!({"Text-part": "Hi {{ var:name:\"you\" }}"}).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = call("GET", format!("/v3/REST/template/{id}/detailcontent"), None).await;
    assert_eq!(body["Data"][0]["Text-part"], "Hi {{ var:name:\"you\" }}");
    assert_eq!(
        body["Data"][0]["Headers"]["Subject"],
        "Your order, {{ var:name }}"
    );

    // Preview with Expert-mode values, saved; then again with the saved values.
    let values = json!({"Variables": {"name": "Ada <3", "lines": ["Tea", "Cake"]}, "Save": true});
    let (status, body) = call(
        "POST",
        format!("/v3/REST/template/{id}/preview"),
        Some(values.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let p = &body["Data"][0];
    assert_eq!(p["Subject"], "Your order, Ada <3");
    assert_eq!(p["Text-part"], "Hi Ada <3");
    assert!(
        p["Html-part"].as_str().unwrap().contains("Hello Ada &lt;3")
            && p["Html-part"].as_str().unwrap().contains("Cake")
    );
    let (_, again) = call("POST", format!("/v3/REST/template/{id}/preview"), None).await;
    assert_eq!(
        again["Data"][0]["Subject"], "Your order, Ada <3",
        "saved test values reused"
    );
    // Normal mode: a flat map of variables. A missing variable is a 400 with its position.
    let (_, normal) = call(
        "POST",
        format!("/v3/REST/template/{id}/preview"),
        Some(json!({"name": "Bo", "lines": []}).to_string()),
    )
    .await;
    assert_eq!(normal["Data"][0]["Subject"], "Your order, Bo");
    let (status, body) = call(
        "POST",
        format!("/v3/REST/template/{id}/preview"),
        Some(json!({"Variables": {"lines": []}}).to_string()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["ErrorInfo"], "Headers.Subject, line 1, column 16");

    // Drafts, publishing, versions, restore.
    let (_, draft) = call(
        "PUT",
        format!("/v3/REST/template/{id}/draft"),
        Some(json!({"Text-part": "draft text"}).to_string()),
    )
    .await;
    assert_eq!(draft["Draft"], 3);
    let (_, published) = call(
        "POST",
        format!("/v3/REST/template/{id}/preview"),
        Some(json!({"Version": "published"}).to_string()),
    )
    .await;
    assert_eq!(
        published["Data"][0]["Text-part"], "Hi Ada <3",
        "sends still use version 2"
    );
    let (_, p) = call(
        "POST",
        format!("/v3/REST/template/{id}/publish"),
        Some(json!({"Note": "wording"}).to_string()),
    )
    .await;
    assert_eq!(p["Published"], 3);
    let (status, restored) = call(
        "POST",
        format!("/v3/REST/template/{id}/versions/1/restore"),
        None,
    )
    .await;
    assert_eq!((status, restored["Draft"].clone()), (201, json!(4)));
    let (_, list) = call("GET", format!("/v3/REST/template/{id}/versions"), None).await;
    let summary: Vec<_> = list["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["Number"].as_i64().unwrap(),
                v["Status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (4, "draft".to_string()),
            (3, "published".into()),
            (2, "published".into()),
            (1, "published".into())
        ]
    );
    assert_eq!(
        list["Data"][2]["Content"]["Text-part"],
        "Hi {{ var:name:\"you\" }}"
    );
    // Diff summary: version 2 changed only the text part (one line for one).
    assert_eq!(
        list["Data"][2]["Changes"],
        json!({"Text-part": {"Added": 1, "Removed": 1}})
    );
    assert!(
        list["Data"][3]["Changes"]["Html-part"]["Added"]
            .as_u64()
            .unwrap()
            > 10,
        "version 1: all new"
    );
    // Duplicate: a new template with the newest content as its draft.
    let (status, copy) = call("POST", format!("/v3/REST/template/{id}/duplicate"), None).await;
    assert_eq!(
        (
            status,
            copy["Data"][0]["Name"].as_str(),
            copy["Data"][0]["DraftVersion"].as_i64()
        ),
        (201, Some("Order (copy)"), Some(1))
    );
    let copy_id = copy["Data"][0]["ID"].as_i64().unwrap();
    call("DELETE", format!("/v3/REST/template/{copy_id}"), None).await;

    // Update metadata, list with filters, delete.
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{id}"),
        Some(json!({"IsStarred": true, "ID": id}).to_string()),
    )
    .await;
    assert_eq!(
        (status, body["Data"][0]["IsStarred"].clone()),
        (200, json!(true))
    );
    call(
        "POST",
        "/v3/REST/template".into(),
        Some(json!({"Name": "Welcome"}).to_string()),
    )
    .await;
    let (_, all) = call("GET", "/v3/REST/template?Sort=Name".into(), None).await;
    let names: Vec<_> = all["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Order", "Welcome"]);
    let (_, starred) = call(
        "GET",
        "/v3/REST/template?IsStarred=true&Limit=5".into(),
        None,
    )
    .await;
    assert_eq!(starred["Total"], 1);
    let (status, _) = call("GET", "/v3/REST/template?Limit=many".into(), None).await;
    assert_eq!(status, 400);
    let (status, _) = call("DELETE", format!("/v3/REST/template/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, body) = call("GET", format!("/v3/REST/template/{id}"), None).await;
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (404, Some("Object not found"))
    );
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_isolation() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let (status, body) = http_json(http, "GET", "/v3/REST/template", None, None).await;
    assert_eq!((status, body["StatusCode"].clone()), (401, json!(401)));
    let (status, _) = http_json(
        http,
        "GET",
        "/v3/REST/template",
        Some((&node.api_key, "wrong")),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (_, created) = http_json(
        http,
        "POST",
        "/v3/REST/template",
        Some((&node.api_key, &node.secret)),
        Some(r#"{"Name": "Mine"}"#),
    )
    .await;
    let id = created["Data"][0]["ID"].as_i64().unwrap();
    // Another account sees nothing of it.
    let (other, secret) = node
        .running
        .app
        .store
        .create_account("other", facteur::time::now_ms())
        .await
        .unwrap();
    let (status, _) = http_json(
        http,
        "GET",
        &format!("/v3/REST/template/{id}"),
        Some((&other.api_key, &secret)),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = http_json(
        http,
        "GET",
        "/v3/REST/template",
        Some((&other.api_key, &secret)),
        None,
    )
    .await;
    assert_eq!(list["Total"], 0);
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_starters_become_templates() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let (status, gallery) = http_json(http, "GET", "/v3/REST/gallery", auth, None).await;
    assert_eq!((status, gallery["Total"].clone()), (200, json!(5)));
    let slugs: Vec<_> = gallery["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        slugs,
        ["newsletter", "ecommerce", "event", "travel", "sport"]
    );
    for slug in &slugs {
        let (status, body) = http_json(
            http,
            "POST",
            &format!("/v3/REST/gallery/{slug}/use"),
            auth,
            None,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["Data"][0]["ID"].as_i64().unwrap();
        assert_eq!(body["Data"][0]["PublishedVersion"], 1);
        // Previewed with the test values it came with.
        let (status, preview) = http_json(
            http,
            "POST",
            &format!("/v3/REST/template/{id}/preview"),
            auth,
            None,
        )
        .await;
        assert_eq!(status, 200, "{slug}: {preview}");
        let html = preview["Data"][0]["Html-part"].as_str().unwrap();
        assert!(
            html.starts_with("<!doctype html>") && !html.contains("{{"),
            "{slug}"
        );
    }
    let (status, _) = http_json(http, "POST", "/v3/REST/gallery/nope/use", auth, None).await;
    assert_eq!(status, 404);
    let (_, named) = http_json(
        http,
        "POST",
        "/v3/REST/gallery/sport/use",
        auth,
        Some(r#"{"Name": "Derby day"}"#),
    )
    .await;
    assert_eq!(named["Data"][0]["Name"], "Derby day");
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_and_html_download() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let (_, used) = http_json(http, "POST", "/v3/REST/gallery/event/use", auth, None).await;
    let id = used["Data"][0]["ID"].as_i64().unwrap();
    http_json(
        http,
        "PUT",
        &format!("/v3/REST/template/{id}/draft"),
        auth,
        Some(r#"{"Text-part": "See you there, {{ data:firstname:'guest' }}"}"#),
    )
    .await;
    let (status, doc) = http_json(
        http,
        "GET",
        &format!("/v3/REST/template/{id}/export"),
        auth,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["Format"], "facteur-template/1");
    assert_eq!(doc["Versions"].as_array().unwrap().len(), 2);
    let (status, imported) = http_json(
        http,
        "POST",
        "/v3/REST/template/import",
        auth,
        Some(&doc.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{imported}");
    let copy = &imported["Data"][0];
    assert_eq!(
        (
            copy["Name"].as_str(),
            copy["PublishedVersion"].as_i64(),
            copy["DraftVersion"].as_i64()
        ),
        (Some("Event invitation"), Some(1), Some(2))
    );
    let new_id = copy["ID"].as_i64().unwrap();
    let (_, again) = http_json(
        http,
        "GET",
        &format!("/v3/REST/template/{new_id}/export"),
        auth,
        None,
    )
    .await;
    assert_eq!(
        again["Versions"], doc["Versions"],
        "an import exports the same versions"
    );
    assert_eq!(again["TestValues"], doc["TestValues"]);
    // Rendered HTML to download, with the saved test values.
    let raw = {
        use base64::Engine;
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(http).await.unwrap();
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", node.api_key, node.secret));
        s.write_all(format!("GET /v3/REST/template/{new_id}/html?Version=published HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        read_all(s).await
    };
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.contains("content-disposition: attachment; filename=\"template-"),
        "{raw}"
    );
    assert!(
        raw.contains("Email Craft Day") && raw.contains("Only 12 seats left"),
        "rendered with the test values"
    );
    // Bad documents are refused before anything is written.
    let (status, body) = http_json(
        http,
        "POST",
        "/v3/REST/template/import",
        auth,
        Some(r#"{"Format": "other"}"#),
    )
    .await;
    assert_eq!(
        (
            status,
            body["ErrorMessage"]
                .as_str()
                .unwrap()
                .starts_with("Not a template export")
        ),
        (400, true)
    );
    let mut broken = doc.clone();
    broken["Versions"][0]["Content"]["Html-part"] = json!("{% if x %}");
    let (status, body) = http_json(
        http,
        "POST",
        "/v3/REST/template/import",
        auth,
        Some(&broken.to_string()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["ErrorInfo"]
            .as_str()
            .unwrap()
            .starts_with("Versions[0]: Html-part"),
        "{body}"
    );
    let (_, list) = http_json(http, "GET", "/v3/REST/template", auth, None).await;
    assert_eq!(list["Total"], 2, "nothing written by the refused imports");
    node.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_goes_through_the_queue() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let (_, used) = http_json(http, "POST", "/v3/REST/gallery/travel/use", auth, None).await;
    let id = used["Data"][0]["ID"].as_i64().unwrap();
    // No sender yet: the template has no From header.
    let (status, body) = http_json(
        http,
        "POST",
        &format!("/v3/REST/template/{id}/test"),
        auth,
        Some(r#"{"To": "me@example.net"}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    http_json(http, "PUT", &format!("/v3/REST/template/{id}/detailcontent"), auth, Some(r#"{"Headers": {"Subject": "Trips for {{ data:firstname:'you' }}", "From": "Voyages Été <trips@example.com>"}}"#)).await;
    let (status, body) = http_json(
        http,
        "POST",
        &format!("/v3/REST/template/{id}/test"),
        auth,
        Some(r#"{"To": ["me@example.net", "Boss <boss@example.org>"]}"#),
    )
    .await;
    assert_eq!(
        (status, body["Status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    let got = receiver
        .wait_for(10, "the test messages (one per domain)", |m| m.len() == 2)
        .await;
    let msg = got.iter().find(|m| m.rcpts == ["me@example.net"]).unwrap();
    assert_eq!(msg.mail_from, "trips@example.com");
    assert!(
        msg.data.contains("Content-Type: multipart/alternative"),
        "{}",
        msg.data
    );
    assert!(msg.data.contains("X-Facteur-Template:"));
    let parsed = mail_parser::MessageParser::default()
        .parse(msg.data.as_bytes())
        .unwrap();
    assert_eq!(
        parsed.subject(),
        Some("Trips for Léa"),
        "rendered with the saved test values"
    );
    assert!(parsed.body_html(0).unwrap().contains("Kyoto"));
    for bad in [r#"{}"#, r#"{"To": "not an address"}"#, r#"{"To": []}"#] {
        let (status, _) = http_json(
            http,
            "POST",
            &format!("/v3/REST/template/{id}/test"),
            auth,
            Some(bad),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    node.running.stop().await;
}

/// A request whose response body may be binary: (status, raw head, body bytes).
async fn http_bytes(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: (&str, &str),
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.0, auth.1));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_export_and_import_of_many() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = (node.api_key.as_str(), node.secret.as_str());
    for slug in ["newsletter", "sport"] {
        http_json(
            http,
            "POST",
            &format!("/v3/REST/gallery/{slug}/use"),
            Some(auth),
            None,
        )
        .await;
    }
    let (status, head, zip) = http_bytes(http, "GET", "/v3/REST/template/export", auth, b"").await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/zip"),
        "{head}"
    );
    assert!(zip.starts_with(b"PK\x03\x04"));
    let (status, _, body) = http_bytes(http, "POST", "/v3/REST/template/import", auth, &zip).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(created["Count"], 2);
    let (_, all) = http_json(http, "GET", "/v3/REST/template", Some(auth), None).await;
    assert_eq!(all["Total"], 4);
    // Selected ids only; a bad id is a JSON 400, as is a bad path parameter.
    let first = all["Data"][0]["ID"].as_i64().unwrap();
    let (status, _, one) = http_bytes(
        http,
        "GET",
        &format!("/v3/REST/template/export?IDs={first}"),
        auth,
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert!(one.len() < zip.len());
    let (status, body) = http_json(
        http,
        "GET",
        "/v3/REST/template/export?IDs=1,x",
        Some(auth),
        None,
    )
    .await;
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (400, Some("Invalid template id \"x\" in IDs"))
    );
    let (status, body) = http_json(http, "GET", "/v3/REST/template/abc", Some(auth), None).await;
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (400, Some("Invalid path parameter"))
    );
    let (status, body) = http_json(
        http,
        "POST",
        "/v3/REST/template/import",
        Some(auth),
        Some("PK\x03\x04 not really"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    node.running.stop().await;
}

/// Shared partials: `<mj-include>` of another template by name, compiled from the store; a
/// draft takes the partial's current content, publishing its published version (recorded, so
/// a published template keeps its footer until it is published again); missing partials and
/// cycles are 400s with the include's position; a used partial cannot be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_partials_are_included_versioned_and_guarded() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let call = |method: &'static str, path: String, body: Option<String>| async move {
        http_json(http, method, &path, auth, body.as_deref()).await
    };
    let create = |name: &'static str| async move {
        let (status, body) = call(
            "POST",
            "/v3/REST/template".into(),
            Some(json!({"Name": name, "EditMode": 4}).to_string()),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body["Data"][0]["ID"].as_i64().unwrap()
    };
    let section = |text: &str| {
        format!("<mj-section><mj-column><mj-text>{text}</mj-text></mj-column></mj-section>")
    };
    let footer = create("footer").await;
    let (status, body) = call(
        "POST",
        format!("/v3/REST/template/{footer}/detailcontent"),
        Some(json!({"MJMLContent": format!("<mjml><mj-head><mj-preview>From the footer</mj-preview></mj-head><mj-body>{}</mj-body></mjml>", section("Footer v1"))}).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let news = create("news").await;
    let doc = format!(
        "<mjml>\n<mj-body>\n{}\n  <mj-include path=\"./partials/footer.mjml\" />\n</mj-body>\n</mjml>",
        section("Hello")
    );
    let (status, body) = call(
        "POST",
        format!("/v3/REST/template/{news}/detailcontent"),
        Some(json!({"MJMLContent": doc}).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let html = body["Data"][0]["Html-part"].as_str().unwrap();
    assert!(
        html.contains("Footer v1") && html.contains("From the footer"),
        "{html}"
    );
    assert_eq!(
        body["Data"][0]["MJMLContent"], doc,
        "the include stays in the source"
    );

    // The footer changes in a draft: the news draft compiles with it, its publication with
    // the footer's published version until the footer is published.
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{footer}/draft"),
        Some(json!({"MJMLContent": section("Footer v2")}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{news}/draft"),
        Some(json!({"MJMLContent": doc}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(
        "GET",
        format!("/v3/REST/template/{news}/detailcontent"),
        None,
    )
    .await;
    assert!(
        body["Data"][0]["Html-part"]
            .as_str()
            .unwrap()
            .contains("Footer v2")
    );
    let (status, body) = call(
        "POST",
        format!("/v3/REST/template/{news}/publish"),
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(
        "GET",
        format!("/v3/REST/template/{news}/detailcontent?Version=published"),
        None,
    )
    .await;
    let published = body["Data"][0]["Html-part"].as_str().unwrap();
    assert!(
        published.contains("Footer v1") && !published.contains("Footer v2"),
        "{published}"
    );
    let (status, body) = call("GET", format!("/v3/REST/template/{news}/partials"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["Uses"],
        json!([{"ID": footer, "Name": "footer", "PartialVersion": 1}])
    );
    let (_, body) = call("GET", format!("/v3/REST/template/{footer}/partials"), None).await;
    assert_eq!(
        body["UsedBy"],
        json!([{"ID": news, "Name": "news", "PartialVersion": 1}])
    );
    assert_eq!(body["Uses"], json!([]));

    // A used partial cannot be deleted.
    let (status, body) = call("DELETE", format!("/v3/REST/template/{footer}"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["ErrorMessage"].as_str().unwrap().contains("\"news\""),
        "{body}"
    );

    // Missing partial and cycle: 400 at the include's line and column.
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{news}/draft"),
        Some(json!({"MJMLContent": doc.replace("./partials/footer.mjml", "header")}).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("mj-include \"header\""),
        "{body}"
    );
    assert_eq!(body["ErrorInfo"], "MJMLContent, line 4, column 3");
    let (status, body) = call(
        "PUT",
        format!("/v3/REST/template/{footer}/draft"),
        Some(json!({"MJMLContent": "<mj-include path=\"news\"/>"}).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["ErrorMessage"],
        "mj-include cycle: footer → news → footer (a partial cannot include itself)"
    );

    // The compile endpoint resolves partials too.
    let (status, body) = call(
        "POST",
        "/v3/REST/mjml".into(),
        Some(json!({"MJMLContent": doc}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Partials"], json!(["footer"]));
    assert!(body["Html-part"].as_str().unwrap().contains("Footer v2"));
}

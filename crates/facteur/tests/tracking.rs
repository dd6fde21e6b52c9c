//! The public tracking endpoints over real HTTP: a recipient's open pixel answers a real 1×1
//! GIF that no cache keeps and records an `open`; its click link answers 302 to the URL the
//! token carries (query string and tags intact) and records a `click`; an edited token, or one
//! of the other kind, is 404 and records nothing; the webhooks carry Mailjet's open and click
//! payloads. A message sent with `TrackOpens`/`TrackClicks` reaches each recipient with their
//! own pixel and links (the text part and an untracked message unchanged), and following them
//! with a real HTTP client lands on the original URLs with their URL tags. Marketing mail gets
//! each recipient's unsubscribe link (placeholders and RFC 8058 headers); its one-click `POST`
//! suppresses the address for marketing mail only.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// One request; the status, the headers (lower-case names) and the body.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    agent: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    request_with(addr, method, path, agent, "").await
}

/// [`request`] with a form body (`application/x-www-form-urlencoded`) when `form` is not empty.
async fn request_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    agent: &str,
    form: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = if form.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        )
    };
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: t.facteur.test\r\nUser-Agent: {agent}\r\n{body}Connection: close\r\n\r\n{form}"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        s.read_to_end(&mut raw).await
    })
    .await
    .unwrap()
    .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A message's events once at least `n` of them are opens or clicks: the answer to a reader
/// does not wait for the commit of what it recorded.
async fn engagements(
    store: &facteur_store::Store,
    message_id: i64,
    n: usize,
) -> Vec<facteur_store::Event> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = store.events(message_id).await.unwrap();
        let count = events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    facteur_store::EventKind::Open | facteur_store::EventKind::Click
                )
            })
            .count();
        if count >= n || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node whose webhooks may call loopback, quickly retried, with a hook registered for each
/// of `events`.
async fn hooked_node(receiver: &Receiver, events: &[&str]) -> (Node, Hook) {
    let node = node_with(receiver.addr, |s| {
        s.webhook_allow_private = Some(true);
        s.webhook_retry = Some("300ms".into());
    })
    .await;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let hook = Hook::start(0).await;
    for t in events {
        let body = json!({"EventType": t, "Url": format!("http://{}/{t}", hook.addr)});
        let (s, v) = http_json(
            node.running.http,
            "POST",
            "/v3/REST/eventcallbackurl",
            auth,
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    (node, hook)
}

const PERSON: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[tokio::test]
async fn opens_and_clicks_are_recorded_and_redirect_only_where_the_token_says() {
    let receiver = Receiver::start().await;
    let (node, hook) = hooked_node(&receiver, &["open", "click"]).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let body = json!({"Messages": [{"From": {"Email": "news@example.com"},
        "To": [{"Email": "reader@example.net"}], "Subject": "News", "HTMLPart": "<p>hi</p>"}]});
    let (s, sent) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{sent}");
    let rid = sent["Messages"][0]["To"][0]["MessageID"].as_i64().unwrap();
    receiver.wait_for(10, "the message", |m| m.len() == 1).await;

    let tokens = node.running.app.tracking_tokens();
    let an_hour_ago = facteur::time::now_ms() / 1000 - 3600;
    let url = "https://shop.example.com/spring?ref=mail&utm_source=news&utm_medium=email#top";

    // The pixel: a real GIF, never cached.
    let open = tokens.open(rid, an_hour_ago);
    let (s, h, gif) = request(http, "GET", &format!("/o/{open}"), PERSON).await;
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/gif"));
    assert!(header(&h, "cache-control").unwrap().contains("no-store"));
    assert_eq!(gif.len(), 43);
    assert!(gif.starts_with(b"GIF89a\x01\x00\x01\x00"));

    // The link: 302 to exactly where it went, query string and anchor included.
    let click = tokens.click(rid, an_hour_ago, 0, url);
    let (s, h, _) = request(http, "GET", &format!("/c/{click}"), PERSON).await;
    assert_eq!(s, 302);
    assert_eq!(header(&h, "location"), Some(url));
    // A link scanner's HEAD still goes through (recorded as a machine's).
    let (s, h, _) = request(http, "HEAD", &format!("/c/{click}"), PERSON).await;
    assert_eq!(s, 302);
    assert_eq!(header(&h, "location"), Some(url));

    // Edited tokens, tokens of the other kind, made-up ones: 404 with a JSON body, no redirect.
    let other = tokens.click(rid, an_hour_ago, 0, "https://evil.example.org/");
    let forged = format!(
        "{}.{}",
        other.split_once('.').unwrap().0,
        click.split_once('.').unwrap().1
    );
    for path in [
        format!("/c/{forged}"),
        format!("/c/{open}"),
        format!("/o/{click}"),
        "/c/AAAA.BBBB".to_string(),
    ] {
        let (s, h, body) = request(http, "GET", &path, PERSON).await;
        assert_eq!(s, 404, "{path}");
        assert!(header(&h, "location").is_none(), "{path}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["StatusCode"], 404, "{path}");
    }

    let store = &node.running.app.store;
    let message_id = store.recipient_ref(rid).await.unwrap().unwrap().message_id;
    let kinds: Vec<_> = engagements(store, message_id, 3)
        .await
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == facteur_store::EventKind::Click)
            .count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == facteur_store::EventKind::Open)
            .count(),
        1
    );
    // The events, and their webhooks with Mailjet's fields.
    hook.wait(15, "the open and click webhooks", |calls| {
        let bodies: String = calls.iter().map(|(_, b)| b.as_str()).collect();
        bodies.contains("\"event\":\"open\"") && bodies.matches("\"event\":\"click\"").count() == 2
    })
    .await;
    let events = hook.events();
    let open_event = events.iter().find(|e| e["event"] == "open").unwrap();
    assert_eq!(open_event["MessageID"], rid);
    assert_eq!(open_event["email"], "reader@example.net");
    assert_eq!(open_event["ip"], "127.0.0.1");
    assert_eq!(open_event["agent"], PERSON);
    let click_event = events.iter().find(|e| e["event"] == "click").unwrap();
    assert_eq!(click_event["url"], url);
    // Statistics from the counters, and the message's status.
    let (s, v) = http_json(
        http,
        "GET",
        "/v3/REST/statcounters?CounterSource=APIKey&CounterTiming=Event&CounterResolution=Lifetime",
        auth,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["EventOpenedCount"], 1, "{v}");
    assert_eq!(v["Data"][0]["EventClickedCount"], 2, "{v}");
    assert_eq!(v["Data"][0]["MessageSentCount"], 1, "{v}");
    assert_eq!(v["Data"][0]["Total"], 1, "{v}");
    let (s, v) = http_json(http, "GET", "/v3/REST/statistics/link-click", auth, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["URL"], url, "{v}");
    assert_eq!(v["Data"][0]["ClickedEventsCount"], 2, "{v}");
    assert_eq!(v["Data"][0]["ClickedMessagesCount"], 1, "{v}");
    let (s, v) = http_json(http, "GET", &format!("/v3/REST/message/{rid}"), auth, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["Status"], "clicked", "{v}");
    let (s, v) = http_json(
        http,
        "GET",
        "/v3/REST/statcounters?CounterTiming=Sometimes",
        auth,
        None,
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["ErrorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("CounterTiming"),
        "{v}"
    );
    let page = http_get_text(http, "/metrics").await;
    assert_eq!(metric(&page, "facteur_opens_total"), 1);
    assert_eq!(metric(&page, "facteur_clicks_total"), 2);
    node.running.stop().await;
}

/// The `href` values of an HTML text, in order.
fn hrefs(html: &str) -> Vec<String> {
    html.match_indices("href=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

#[tokio::test]
async fn a_tracked_message_gets_its_recipients_pixel_and_links_and_they_lead_home() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let html = "<html><body><h1>Spring</h1>\
        <p><a href=\"https://shop.example.com/spring?ref=mail\">Shop</a></p>\
        <p><a href=\"https://blog.example.com/post#part-2\">Read</a></p>\
        <p><a href=\"http://example.org/\">Home</a> <a href=\"mailto:help@example.com\">Help</a></p>\
        </body></html>";
    let text = "Shop: https://shop.example.com/spring?ref=mail";
    let message = |subject: &str, to: &[&str], tracked: bool| {
        let to: Vec<_> = to.iter().map(|a| json!({ "Email": a })).collect();
        let mut m = json!({"From": {"Email": "news@example.com"}, "To": to,
            "Subject": subject, "HTMLPart": html, "TextPart": text});
        if tracked {
            m["TrackOpens"] = json!("enabled");
            m["TrackClicks"] = json!("enabled");
            m["URLTags"] = json!("utm_campaign=spring");
        }
        m
    };
    // Ada and Bob are one message to one domain: one queue row, a copy each at delivery.
    let body = json!({"Messages": [
        message("Tracked", &["ada@example.net", "bob@example.net"], true),
        message("Plain", &["cy@example.net"], false),
    ]});
    let (s, sent) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{sent}");
    let got = receiver
        .wait_for(10, "three messages", |m| m.len() == 3)
        .await;
    let parse = |rcpt: &str| {
        let m = got.iter().find(|m| m.rcpts == [rcpt]).unwrap();
        let parsed = mail_parser::MessageParser::new()
            .parse(m.data.as_bytes())
            .unwrap();
        (
            parsed.body_html(0).unwrap().into_owned(),
            parsed.body_text(0).unwrap().into_owned(),
        )
    };

    // Not tracked: the HTML part is the one given, byte for byte.
    let (plain_html, _) = parse("cy@example.net");
    assert_eq!(plain_html.trim_end(), html);

    // Tracked: each recipient's own pixel and links; the text part keeps its URL.
    let (ada_html, ada_text) = parse("ada@example.net");
    let (bob_html, _) = parse("bob@example.net");
    assert_eq!(ada_text.trim_end(), text);
    let base = format!("http://{http}");
    let links = hrefs(&ada_html);
    assert_eq!(links.len(), 4, "{ada_html}");
    assert_eq!(links[3], "mailto:help@example.com");
    assert!(
        links[..3]
            .iter()
            .all(|l| l.starts_with(&format!("{base}/c/"))),
        "{links:?}"
    );
    assert_ne!(
        links,
        hrefs(&bob_html),
        "every recipient has their own links"
    );
    let pixel_at = ada_html
        .find(&format!("{base}/o/"))
        .expect("the open pixel");
    assert!(pixel_at > ada_html.find("Help").unwrap());

    // A real client following each link lands where it went, with the URL tags.
    let expected = [
        "https://shop.example.com/spring?ref=mail&utm_campaign=spring",
        "https://blog.example.com/post?utm_campaign=spring#part-2",
        "http://example.org/?utm_campaign=spring",
    ];
    for (link, want) in links.iter().zip(expected) {
        let path = link.strip_prefix(&base).unwrap();
        let (s, h, _) = request(http, "GET", path, PERSON).await;
        assert_eq!(s, 302, "{link}");
        assert_eq!(header(&h, "location"), Some(want), "{link}");
    }
    let pixel = &ada_html[pixel_at..];
    let pixel = &pixel[..pixel.find('"').unwrap()];
    let (s, h, _) = request(http, "GET", pixel.strip_prefix(&base).unwrap(), PERSON).await;
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/gif"));

    let ada = sent["Messages"][0]["To"][0]["MessageID"].as_i64().unwrap();
    let store = &node.running.app.store;
    let message_id = store.recipient_ref(ada).await.unwrap().unwrap().message_id;
    let events = engagements(store, message_id, 4).await;
    let clicks = events
        .iter()
        .filter(|e| e.kind == facteur_store::EventKind::Click)
        .count();
    let opens = events
        .iter()
        .filter(|e| e.kind == facteur_store::EventKind::Open)
        .count();
    assert_eq!((clicks, opens), (3, 1), "{events:?}");
    // Only Ada opened and clicked (the message is Bob's too).
    assert!(
        events
            .iter()
            .filter(|e| matches!(
                e.kind,
                facteur_store::EventKind::Click | facteur_store::EventKind::Open
            ))
            .all(|e| e.recipient.as_deref() == Some("ada@example.net"))
    );
    // The template language's HasOpenedSince answers from these opens: Ada opened (a person's
    // browser), Bob did not.
    let follow_ups = ["ada@example.net", "bob@example.net"].map(|a| {
        json!({"From": {"Email": "news@example.com"}, "To": [{"Email": a}],
            "Subject": "Follow-up", "TemplateLanguage": true,
            "TextPart": "{% if HasOpenedSince(7) %}thanks for reading{% else %}you missed it{% endif %}"})
    });
    let body = json!({ "Messages": follow_ups });
    let (s, v) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{v}");
    let got = receiver
        .wait_for(10, "the follow-ups", |m| m.len() == 5)
        .await;
    let text = |rcpt: &str| {
        let m = got[3..].iter().find(|m| m.rcpts == [rcpt]).unwrap();
        let parsed = mail_parser::MessageParser::new()
            .parse(m.data.as_bytes())
            .unwrap();
        parsed.body_text(0).unwrap().trim_end().to_string()
    };
    assert_eq!(text("ada@example.net"), "thanks for reading");
    assert_eq!(text("bob@example.net"), "you missed it");
    node.running.stop().await;
}

#[tokio::test]
async fn one_click_unsubscribe_stops_marketing_mail_and_not_transactional_mail() {
    let receiver = Receiver::start().await;
    let (node, hook) = hooked_node(&receiver, &["unsub"]).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let send = |m: serde_json::Value| async move {
        let body = json!({ "Messages": [m] });
        let (s, sent) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
        assert_eq!(s, 200, "{sent}");
        sent["Messages"][0]["To"][0]["MessageID"].as_i64().unwrap()
    };
    // A newsletter: Mailjet's placeholder, and the language's mj:unsub_link.
    let newsletter = |subject: &str| {
        json!({"From": {"Email": "news@example.com"}, "To": [{"Email": "ada@example.net"}],
            "Subject": subject, "TemplateLanguage": true,
            "HTMLPart": "<p>Spring</p><a href=\"https://shop.example.com/\">Shop</a> \
                <a href=\"[[UNSUB_LINK_FR]]\">Se désabonner</a> <a href=\"{{mj:unsub_link}}\">Unsubscribe</a>",
            "TextPart": "Unsubscribe: [[UNSUB_LINK_EN]]"})
    };
    let first = send(newsletter("Spring")).await;
    let got = receiver
        .wait_for(10, "the newsletter", |m| m.len() == 1)
        .await;
    let raw = got[0].data.as_bytes();
    let base = format!("http://{http}/u/");
    let list_unsub =
        facteur_message::header_value(raw, "list-unsubscribe").expect("List-Unsubscribe");
    assert!(list_unsub.starts_with(&format!("<{base}")), "{list_unsub}");
    assert_eq!(
        facteur_message::header_value(raw, "list-unsubscribe-post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let link = list_unsub.trim_matches(['<', '>']).to_string();
    let parsed = mail_parser::MessageParser::new().parse(raw).unwrap();
    let html = parsed.body_html(0).unwrap().into_owned();
    let links = hrefs(&html);
    assert_eq!(
        links,
        [
            "https://shop.example.com/".to_string(),
            format!("{link}?l=fr"),
            link.clone()
        ],
        "{html}"
    );
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        format!("Unsubscribe: {link}?l=en")
    );
    let path = link
        .strip_prefix(&format!("http://{http}"))
        .unwrap()
        .to_string();

    // The page (GET) asks; opening it unsubscribes nobody.
    let (s, h, page) = request(http, "GET", &format!("{path}?l=fr"), PERSON).await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(s, 200, "{page}");
    assert!(header(&h, "content-type").unwrap().starts_with("text/html"));
    assert!(
        page.contains("lang=\"fr\"") && page.contains("Me désabonner"),
        "{page}"
    );
    assert!(
        page.contains("ada@example.net") && page.contains("method=\"post\""),
        "{page}"
    );
    let (s, _, page) = request(http, "GET", &path, PERSON).await;
    assert_eq!(s, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("lang=\"en\"") && page.contains("Unsubscribe"),
        "{page}"
    );
    let store = &node.running.app.store;
    let account = node
        .running
        .app
        .store
        .account_by_key(&node.api_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .suppression(account.id, "ada@example.net")
            .await
            .unwrap(),
        None
    );

    // A changed token, or a token of another kind: 404, nothing recorded.
    let tokens = node.running.app.tracking_tokens();
    let token = path.strip_prefix("/u/").unwrap();
    let mut forged = token.to_string();
    let c = if forged.ends_with('A') { 'B' } else { 'A' };
    forged.pop();
    forged.push(c);
    let open = tokens.open(first, 0);
    for bad in [forged.as_str(), open.as_str(), "AAAA.BBBB"] {
        let (s, _, _) = request_with(
            http,
            "POST",
            &format!("/u/{bad}"),
            PERSON,
            "List-Unsubscribe=One-Click",
        )
        .await;
        assert_eq!(s, 404, "{bad}");
    }
    assert_eq!(
        store
            .suppression(account.id, "ada@example.net")
            .await
            .unwrap(),
        None
    );

    // RFC 8058 one-click, as a mail client sends it.
    let (s, _, page) = request_with(
        http,
        "POST",
        &path,
        "Gmail one-click",
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&page));
    let entry = store
        .suppression(account.id, "ada@example.net")
        .await
        .unwrap()
        .expect("on the account's list");
    assert_eq!(
        entry.reason,
        facteur_store::identity::SuppressionReason::Unsubscribe
    );
    // Twice is once.
    let (s, _, _) = request_with(http, "POST", &path, PERSON, "List-Unsubscribe=One-Click").await;
    assert_eq!(s, 200);
    let (_, _, page) = request(http, "GET", &path, PERSON).await;
    assert!(
        String::from_utf8(page)
            .unwrap()
            .contains("You are unsubscribed")
    );

    // The event (one), its webhook, the status and the counters.
    let unsubs = store
        .events(
            store
                .recipient_ref(first)
                .await
                .unwrap()
                .unwrap()
                .message_id,
        )
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == facteur_store::EventKind::Unsub)
        .count();
    assert_eq!(unsubs, 1);
    hook.wait(15, "the unsub webhook", |calls| !calls.is_empty())
        .await;
    let events = hook.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "unsub");
    assert_eq!(events[0]["MessageID"], first);
    assert_eq!(events[0]["email"], "ada@example.net");
    assert_eq!(events[0]["agent"], "Gmail one-click");
    let (s, v) = http_json(
        http,
        "GET",
        &format!("/v3/REST/message/{first}"),
        auth,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["Status"], "unsub", "{v}");
    let (_, v) = http_json(http, "GET", "/v3/REST/statcounters", auth, None).await;
    assert_eq!(v["Data"][0]["MessageUnsubscribedCount"], 1, "{v}");

    // The next newsletter is blocked for her; a receipt still reaches her.
    let second = send(newsletter("Summer")).await;
    let receipt = send(json!({"From": {"Email": "shop@example.com"},
        "To": [{"Email": "ada@example.net"}], "Subject": "Your receipt", "TextPart": "Thanks"}))
    .await;
    let got = receiver.wait_for(10, "the receipt", |m| m.len() == 2).await;
    assert!(got[1].data.contains("Your receipt"));
    assert!(facteur_message::header_value(got[1].data.as_bytes(), "list-unsubscribe").is_none());
    let (_, v) = http_json(
        http,
        "GET",
        &format!("/v3/REST/message/{second}"),
        auth,
        None,
    )
    .await;
    assert_eq!(v["Data"][0]["Status"], "blocked", "{v}");
    // (The attempt is recorded just after the receiver has the message.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let path = format!("/v3/REST/message/{receipt}");
        let (_, v) = http_json(http, "GET", &path, auth, None).await;
        if v["Data"][0]["Status"] == "sent" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "the second newsletter never left"
    );
    node.running.stop().await;
}

#[tokio::test]
async fn account_and_domain_tracking_settings_apply_to_messages_that_leave_it_to_them() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let (_, keys) = http_json(http, "GET", "/v3/REST/apikey", auth, None).await;
    let id = keys["Data"][0]["ID"].as_i64().unwrap();
    let key_path = format!("/v3/REST/apikey/{id}");
    // Bad settings: 400 naming what is wrong; nothing changes.
    for bad in [
        json!({"TrackHost": "ftp://t.example.test"}),
        json!({"TrackOpens": "yes"}),
    ] {
        let (s, v) = http_json(http, "PUT", &key_path, auth, Some(&bad.to_string())).await;
        assert_eq!(s, 400, "{v}");
        let why = v["ErrorMessage"].as_str().unwrap().to_ascii_lowercase();
        assert!(why.contains("track"), "{v}");
    }
    let (_, v) = http_json(http, "GET", &key_path, auth, None).await;
    assert_eq!(v["Data"][0]["TrackHost"], "", "{v}");
    assert_eq!(v["Data"][0]["TrackOpens"], serde_json::Value::Null, "{v}");
    let body = json!({"TrackOpens": true, "TrackClicks": true, "TrackHost": "t.example.test"});
    let (s, v) = http_json(http, "PUT", &key_path, auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["TrackHost"], "https://t.example.test");
    assert_eq!(v["Data"][0]["TrackOpens"], true);
    // A domain with its own host.
    let (s, v) = http_json(
        http,
        "POST",
        "/v3/REST/dns",
        auth,
        Some(&json!({"Domain": "brand.example"}).to_string()),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let domain = v["Data"][0]["ID"].as_i64().unwrap();
    let (s, v) = http_json(
        http,
        "PUT",
        &format!("/v3/REST/dns/{domain}"),
        auth,
        Some(&json!({"TrackHost": "http://links.brand.example/"}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["TrackHost"], "http://links.brand.example");

    let message = |from: &str, to: &str| {
        json!({"From": {"Email": from}, "To": [{"Email": to}], "Subject": "Hi",
            "HTMLPart": "<p><a href=\"https://shop.example.com/\">Shop</a></p>"})
    };
    let body = json!({"Messages": [
        message("news@example.com", "ada@example.net"),
        message("news@brand.example", "bob@example.net"),
        {"From": {"Email": "news@example.com"}, "To": [{"Email": "cy@example.net"}],
            "Subject": "Hi", "TrackOpens": "disabled", "TrackClicks": "disabled",
            "HTMLPart": "<p><a href=\"https://shop.example.com/\">Shop</a></p>"},
    ]});
    let (s, v) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{v}");
    let got = receiver
        .wait_for(10, "three messages", |m| m.len() == 3)
        .await;
    let html = |rcpt: &str| {
        let m = got.iter().find(|m| m.rcpts == [rcpt]).unwrap();
        let parsed = mail_parser::MessageParser::new()
            .parse(m.data.as_bytes())
            .unwrap();
        parsed.body_html(0).unwrap().into_owned()
    };
    // The account's default and host; the domain's host; the message's own choice wins.
    let ada = html("ada@example.net");
    assert!(ada.contains("src=\"https://t.example.test/o/"), "{ada}");
    assert!(
        hrefs(&ada)[0].starts_with("https://t.example.test/c/"),
        "{ada}"
    );
    let bob = html("bob@example.net");
    assert!(
        hrefs(&bob)[0].starts_with("http://links.brand.example/c/"),
        "{bob}"
    );
    let cy = html("cy@example.net");
    assert_eq!(hrefs(&cy), ["https://shop.example.com/"], "{cy}");
    assert!(!cy.contains("/o/"), "{cy}");
    // Back to the server's defaults.
    let body = json!({"TrackOpens": null, "TrackClicks": null, "TrackHost": ""});
    let (s, v) = http_json(http, "PUT", &key_path, auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["TrackOpens"], serde_json::Value::Null);
    assert_eq!(v["Data"][0]["TrackHost"], "");
    node.running.stop().await;
}

#[tokio::test]
async fn an_unsubscription_stops_marketing_mail_already_in_the_queue() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.retry_initial = Some("2s".into());
        s.retry_max = Some("2s".into());
    })
    .await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    // The receiver defers the first delivery of a `defer…` recipient.
    let message = |to: &str| {
        json!({"From": {"Email": "news@example.com"}, "To": [{"Email": to}],
            "Subject": "Spring", "HTMLPart": "<p>Spring</p><a href=\"[[UNSUB_LINK_EN]]\">stop</a>"})
    };
    let body =
        json!({"Messages": [message("defer-dana@example.net"), message("defer-eve@example.net")]});
    let (s, sent) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(s, 200, "{sent}");
    let dana = sent["Messages"][0]["To"][0]["MessageID"].as_i64().unwrap();
    let eve = sent["Messages"][1]["To"][0]["MessageID"].as_i64().unwrap();
    let store = &node.running.app.store;
    let status = |id: i64| async move { store.recipient_ref(id).await.unwrap().unwrap().status };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while status(dana).await != facteur_store::RcptStatus::Deferred
        || status(eve).await != facteur_store::RcptStatus::Deferred
    {
        assert!(tokio::time::Instant::now() < deadline, "never deferred");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Dana unsubscribes (her link, as a copy carried it) while the retry waits.
    let token = node.running.app.tracking_tokens().unsub(dana, 0);
    let (s, _, _) = request_with(
        http,
        "POST",
        &format!("/u/{token}"),
        PERSON,
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(s, 200);
    // The retry sends Eve's copy and records Dana's blocked.
    let got = receiver.wait_for(15, "Eve's copy", |m| !m.is_empty()).await;
    assert_eq!(got[0].rcpts, ["defer-eve@example.net"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while status(dana).await != facteur_store::RcptStatus::Blocked {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            status(dana).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "Dana's copy never left");
    node.running.stop().await;
}

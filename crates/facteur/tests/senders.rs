//! Sender validation and the domain check, end to end: an account that enforces senders is
//! refused an unvalidated From over the Send API (403 send-0008) and over SMTP (550 5.7.1);
//! `/v3/REST/sender/{id}/validate` sends a confirmation link through Facteur itself, and
//! opening it lets the address send; `/v3/REST/dns/{id}/check` asks a real DNS server on
//! loopback (tests/common/dns.rs) and reports OK, missing and wrong records, following CNAMEs
//! and SPF includes; a verified domain validates its catch-all sender.

mod common;

use common::dns::{DnsServer, Rec};
use common::*;
use serde_json::{Value, json};

async fn send_from(node: &Node, from: &str, to: &str) -> (u16, Value) {
    let body = json!({"Messages": [{"From": {"Email": from}, "To": [{"Email": to}],
        "Subject": "Hello", "TextPart": "hello"}]});
    http_json(
        node.running.http,
        "POST",
        "/v3.1/send",
        Some((&node.api_key, &node.secret)),
        Some(&body.to_string()),
    )
    .await
}

async fn api(node: &Node, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    http_json(
        node.running.http,
        method,
        path,
        Some((&node.api_key, &node.secret)),
        body.as_deref(),
    )
    .await
}

/// Adds a sender and asks for its validation: its id and the validation's answer.
async fn add_and_validate(node: &Node, email: &str) -> (i64, Value) {
    let (s, v) = api(
        node,
        "POST",
        "/v3/REST/sender",
        Some(json!({ "Email": email })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["Data"][0]["ID"].as_i64().unwrap();
    let (s, v) = api(
        node,
        "POST",
        &format!("/v3/REST/sender/{id}/validate"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    (id, v)
}

async fn enforce(node: &Node) {
    let app = &node.running.app;
    let account = app
        .store
        .account_by_key(&node.api_key)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !app.store.enforces_senders(account.id).await.unwrap(),
        "a new server's first account does not enforce senders"
    );
    app.store
        .set_enforce_senders(account.id, true)
        .await
        .unwrap();
    app.reload_senders().await.unwrap();
}

#[tokio::test]
async fn an_unvalidated_sender_is_refused_until_its_link_is_opened() {
    let receiver = Receiver::start().await;
    let node = trusted(receiver.addr).await;
    // Off (the first account): anything goes.
    let (s, v) = send_from(&node, "app@example.com", "a@example.net").await;
    assert_eq!(s, 200, "{v}");
    enforce(&node).await;
    let (s, v) = send_from(&node, "app@example.com", "a@example.net").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(
        v["Messages"][0]["Errors"][0]["ErrorCode"], "send-0008",
        "{v}"
    );
    assert_eq!(v["Messages"][0]["Errors"][0]["ErrorRelatedTo"][0], "From");
    let replies = converse(
        node.addr("relay"),
        &[
            "EHLO client.test",
            "MAIL FROM:<app@example.com>",
            "RCPT TO:<a@example.net>",
            "DATA",
            "From: App <app@example.com>\r\nTo: a@example.net\r\nSubject: SMTP\r\n\r\nhi\r\n.",
            "QUIT",
        ],
    )
    .await;
    let refusal = replies
        .iter()
        .find(|r| r.starts_with("550"))
        .unwrap_or_else(|| panic!("{replies:?}"));
    assert!(refusal.starts_with("550 5.7.1"), "{refusal}");
    assert!(refusal.contains("app@example.com"), "{refusal}");

    // Add it: inactive; validate: a confirmation message goes to the address.
    let (s, v) = api(
        &node,
        "POST",
        "/v3/REST/sender",
        Some(json!({"Email": "App@Example.com", "Name": "App"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["Data"][0]["Status"], "Inactive");
    let id = v["Data"][0]["ID"].as_i64().unwrap();
    let (s, _) = api(
        &node,
        "POST",
        "/v3/REST/sender",
        Some(json!({"Email": "app@example.com"})),
    )
    .await;
    assert_eq!(s, 400, "a sender that exists already (Mailjet answers 400)");
    let (s, _) = api(
        &node,
        "POST",
        "/v3/REST/sender",
        Some(json!({"Email": "nope"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = api(
        &node,
        "POST",
        &format!("/v3/REST/sender/{id}/validate"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Data"][0]["ValidationMethod"], "ActivationEmail", "{v}");
    assert_eq!(v["Data"][0]["Errors"]["DNSValidationError"], "", "{v}");
    // Asking again at once mails nothing more.
    let (s, again) = api(
        &node,
        "POST",
        &format!("/v3/REST/sender/{id}/validate"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        again["Data"][0]["GlobalError"]
            .as_str()
            .unwrap()
            .contains("less than 10 minutes ago"),
        "{again}"
    );
    let got = receiver
        .wait_for(10, "the confirmation", |m| {
            m.iter().any(|x| x.rcpts == ["app@example.com"])
        })
        .await;
    let mail = got.iter().find(|x| x.rcpts == ["app@example.com"]).unwrap();
    assert_eq!(mail.mail_from, "", "a notice goes with the null sender");
    let start = mail.data.find("/sender/confirm/").expect("a link");
    let path: String = mail.data[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    // A made-up link does nothing.
    let page = http_get_text(
        node.running.http,
        "/sender/confirm/00000000000000000000000000000000",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 404"), "{page}");
    // Opening the link (as a mail provider's link scanner does) validates nothing: it shows
    // a button.
    let page = http_get_text(node.running.http, &path).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<form method=\"post\">"), "{page}");
    let (_, v) = api(&node, "GET", &format!("/v3/REST/sender/{id}"), None).await;
    assert_eq!(v["Data"][0]["Status"], "Inactive", "{v}");
    let page = http_post_text(node.running.http, &path).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("app@example.com may now be used"), "{page}");
    let (_, v) = api(&node, "GET", &format!("/v3/REST/sender/{id}"), None).await;
    assert_eq!(v["Data"][0]["Status"], "Active", "{v}");
    assert_eq!(v["Data"][0]["ValidationMethod"], "ActivationEmail");
    let (s, _) = api(
        &node,
        "POST",
        &format!("/v3/REST/sender/{id}/validate"),
        None,
    )
    .await;
    assert_eq!(s, 400, "already active");

    // Now it sends, over both paths.
    let (s, v) = send_from(&node, "app@example.com", "b@example.net").await;
    assert_eq!(s, 200, "{v}");
    let replies = converse(
        node.addr("relay"),
        &[
            "EHLO client.test",
            "MAIL FROM:<app@example.com>",
            "RCPT TO:<c@example.net>",
            "DATA",
            "From: App <app@example.com>\r\nTo: c@example.net\r\nSubject: SMTP\r\n\r\nhi\r\n.",
            "QUIT",
        ],
    )
    .await;
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("250 2.0.0 Ok: queued")),
        "{replies:?}"
    );
    receiver
        .wait_for(10, "both", |m| {
            m.iter().any(|x| x.rcpts == ["b@example.net"])
                && m.iter().any(|x| x.rcpts == ["c@example.net"])
        })
        .await;
    // A catch-all needs its domain's DNS check.
    let (_, v) = add_and_validate(&node, "*@brand.test").await;
    assert_eq!(v["Data"][0]["ValidationMethod"], "DNS");
    assert!(
        v["Data"][0]["Errors"]["DNSValidationError"]
            .as_str()
            .unwrap()
            .contains("DNS check"),
        "{v}"
    );
    // Deleted: refused again.
    let (s, _) = api(&node, "DELETE", &format!("/v3/REST/sender/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, v) = send_from(&node, "app@example.com", "d@example.net").await;
    assert_eq!(s, 403, "{v}");
    node.running.stop().await;
}

#[tokio::test]
async fn the_domain_check_reads_real_dns_answers() {
    let dns = DnsServer::start().await;
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.dns_resolver = Some(dns.addr.to_string());
        s.bounce_domain = Some("bounces.facteur.test".into());
        s.spf_include = Some("spf.facteur.test".into());
    })
    .await;
    let (s, v) = api(
        &node,
        "POST",
        "/v3/REST/dns",
        Some(json!({"Domain": "brand.test"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let d = &v["Data"][0];
    let id = d["ID"].as_i64().unwrap();
    assert_eq!(d["DKIMStatus"], "Not checked");
    let dkim_name = d["DKIMRecordName"].as_str().unwrap().to_string();
    let dkim_value = d["DKIMRecordValue"].as_str().unwrap().to_string();
    let records = d["Records"].as_array().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["Type"] == "MX" && r["Name"] == "bounces.facteur.test"),
        "the return path is among the records: {records:?}"
    );

    // Nothing published.
    let (s, c) = api(&node, "POST", &format!("/v3/REST/dns/{id}/check"), None).await;
    assert_eq!(s, 200, "{c}");
    let c = c["Data"][0].clone();
    assert_eq!(c["DKIMStatus"], "Not found", "{c}");
    assert_eq!(c["SPFStatus"], "Not found", "{c}");
    assert_eq!(c["Verified"], false);

    // DKIM right (through a CNAME, as a DNS host that delegates keys does), SPF through an
    // include, DMARC and the return path published.
    dns.set(&dkim_name, vec![Rec::Cname("keys.dnshost.test".into())]);
    dns.set("keys.dnshost.test", vec![Rec::Txt(dkim_value.clone())]);
    dns.set(
        "brand.test",
        vec![
            Rec::Txt("google-site-verification=abc".into()),
            Rec::Txt("v=spf1 mx include:_spf.brand.test ~all".into()),
        ],
    );
    dns.set(
        "_spf.brand.test",
        vec![Rec::Txt("v=spf1 include:spf.facteur.test -all".into())],
    );
    dns.set(
        "_dmarc.brand.test",
        vec![Rec::Txt("v=DMARC1; p=none".into())],
    );
    dns.set(
        "bounces.facteur.test",
        vec![
            Rec::Mx(10, "facteur.test".into()),
            Rec::Txt("v=spf1 include:spf.facteur.test ~all".into()),
        ],
    );
    let (s, c) = api(&node, "POST", &format!("/v3/REST/dns/{id}/check"), None).await;
    assert_eq!(s, 200, "{c}");
    let c = c["Data"][0].clone();
    assert_eq!(c["DKIMStatus"], "OK", "{c}");
    assert_eq!(c["DKIMRecordCurrentValue"], dkim_value.as_str());
    assert_eq!(c["SPFStatus"], "OK", "{c}");
    assert_eq!(
        c["SPFRecordsCurrentValues"].as_array().unwrap().len(),
        2,
        "{c}"
    );
    assert_eq!(c["DMARCStatus"], "OK");
    assert_eq!(c["ReturnPathStatus"], "OK");
    assert_eq!(c["Verified"], true);
    let (_, v) = api(&node, "GET", &format!("/v3/REST/dns/{id}"), None).await;
    assert_eq!(v["Data"][0]["DKIMStatus"], "OK");
    assert_eq!(v["Data"][0]["Verified"], true);
    assert!(!v["Data"][0]["LastCheckAt"].as_str().unwrap().is_empty());

    // Wrong values: another key, an SPF that leaves this server out, two DMARC records.
    dns.set(
        &dkim_name,
        vec![Rec::Txt("v=DKIM1; k=rsa; p=AAAAB3NzaC1yc2E".into())],
    );
    dns.set("brand.test", vec![Rec::Txt("v=spf1 mx -all".into())]);
    dns.set(
        "_dmarc.brand.test",
        vec![
            Rec::Txt("v=DMARC1; p=none".into()),
            Rec::Txt("v=DMARC1; p=reject".into()),
        ],
    );
    let (_, c) = api(&node, "POST", &format!("/v3/REST/dns/{id}/check"), None).await;
    let c = c["Data"][0].clone();
    assert_eq!(c["DKIMStatus"], "Error", "{c}");
    assert!(
        c["DKIMErrors"][0].as_str().unwrap().contains("another key"),
        "{c}"
    );
    assert_eq!(c["SPFStatus"], "Error");
    assert!(
        c["SPFErrors"][0]
            .as_str()
            .unwrap()
            .contains("include:spf.facteur.test"),
        "{c}"
    );
    assert_eq!(c["DMARCStatus"], "Error");
    // Verified once stays verified (a DNS mistake does not stop mail at once).
    assert_eq!(c["Verified"], false);
    let (_, v) = api(&node, "GET", &format!("/v3/REST/dns/{id}"), None).await;
    assert_eq!(v["Data"][0]["Verified"], true);

    // The verified domain validates its catch-all, and its addresses send where senders
    // are enforced.
    enforce(&node).await;
    let (s, v) = send_from(&node, "news@brand.test", "x@example.net").await;
    assert_eq!(s, 200, "a verified domain's address sends: {v}");
    let (all, v) = add_and_validate(&node, "*@brand.test").await;
    assert_eq!(v["Data"][0]["ValidationMethod"], "DNS", "{v}");
    let (_, v) = api(&node, "GET", &format!("/v3/REST/sender/{all}"), None).await;
    assert_eq!(v["Data"][0]["Status"], "Active");
    let (s, _) = send_from(&node, "news@other.test", "x@example.net").await;
    assert_eq!(s, 403);

    // The CLI says the same.
    // (On the blocking pool: this test's runtime serves the DNS answers meanwhile.)
    let cli = |dns_addr: String| {
        let (key, dir) = (node.api_key.clone(), node.dir.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_facteur"))
                .args(["domain", "check", "brand.test", "--account", &key])
                .arg("--data")
                .arg(dir)
                .arg("--dns-resolver")
                .arg(dns_addr)
                .args([
                    "--spf-include",
                    "spf.facteur.test",
                    "--hostname",
                    "facteur.test",
                ])
                .args(["--bounce-domain", "bounces.facteur.test"])
                .output()
                .unwrap()
        })
    };
    let out = cli(dns.addr.to_string()).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "DKIM is wrong: the check fails\n{text}"
    );
    assert!(text.contains("brand.test: DKIM Error, SPF Error"), "{text}");
    assert!(text.contains("another key"), "{text}");
    // Published right again: the CLI succeeds.
    dns.set(&dkim_name, vec![Rec::Txt(dkim_value.clone())]);
    dns.set(
        "brand.test",
        vec![Rec::Txt("v=spf1 include:spf.facteur.test ~all".into())],
    );
    let out = cli(dns.addr.to_string()).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("brand.test: DKIM OK, SPF OK, DMARC Error, return path OK (verified)"),
        "{text}"
    );
    node.running.stop().await;
}

/// A form's POST without a body; the raw answer.
async fn http_post_text(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: facteur.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    read_all(stream).await
}

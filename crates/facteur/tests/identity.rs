//! Sender identity and suppression, end to end: a domain added through `/v3/REST/dns` signs
//! every message from it, and the signature verifies with an independent verifier (Python's
//! dkimpy, against the records the API says to publish) while a tampered copy does not; an
//! address on the suppression list is not sent to over SMTP or HTTP while the other recipients
//! of the same message are; `facteur bounce parse` reads a bounce.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Whether Python's dkimpy is here; in CI (`.ci/run` installs it) its absence is a failure.
fn dkimpy() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import dkim, nacl"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "dkimpy or PyNaCl is missing: .ci/run installs them (pip install dkimpy pynacl)"
        );
        eprintln!(
            "NOTICE: dkimpy or PyNaCl not installed (pip install dkimpy pynacl): DKIM verification skipped"
        );
    }
    ok
}

/// Verifies every DKIM signature of `message` with dkimpy, the DNS answered from `records`
/// (name → TXT value). Returns one result per signature.
fn dkimpy_verify(message: &[u8], records: &Value) -> Vec<bool> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.eml"), message).unwrap();
    std::fs::write(dir.path().join("dns.json"), records.to_string()).unwrap();
    let script = r#"
import dkim, json, sys
records = json.load(open(sys.argv[2]))
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    v = records.get(n.rstrip('.'))
    return v.encode() if v else None
m = open(sys.argv[1], 'rb').read()
d = dkim.DKIM(m)
sigs = [i for i, (k, v) in enumerate(d.headers) if k.lower() == b'dkim-signature']
def ok(i):
    try:
        return bool(d.verify(idx=i, dnsfunc=dnsfunc))
    except dkim.ValidationError:
        return False
print(json.dumps([ok(i) for i in range(len(sigs))]))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("m.eml"))
        .arg(dir.path().join("dns.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dkimpy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn mail_from_a_domain_is_signed_and_verifies_with_dkimpy() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let (status, v) = http_json_within(
        http,
        "POST",
        "/v3/REST/dns",
        auth,
        Some(r#"{"Domain": "Example.COM", "Keys": "both"}"#),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let d = &v["Data"][0];
    assert_eq!(d["Domain"], "example.com");
    assert_eq!(d["DKIMKeys"].as_array().unwrap().len(), 2);
    assert!(
        d["DKIMRecordValue"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=")
    );
    let records: serde_json::Map<String, Value> = d["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["Name"].as_str().unwrap().to_string(), r["Value"].clone()))
        .collect();
    assert!(
        records["example.com"]
            .as_str()
            .unwrap()
            .starts_with("v=spf1 ")
    );
    assert!(records.contains_key("_dmarc.example.com"));
    // Same domain again: a conflict, as JSON.
    let (status, again) = http_json(
        http,
        "POST",
        "/v3/REST/dns",
        auth,
        Some(r#"{"Domain": "example.com"}"#),
    )
    .await;
    assert_eq!(status, 400, "{again}");
    let (status, _) = http_json(
        http,
        "POST",
        "/v3/REST/dns",
        auth,
        Some(r#"{"Domain": "not a domain"}"#),
    )
    .await;
    assert_eq!(status, 400);

    // A message from a subdomain's address is signed by the parent's keys; one from another
    // domain is not signed.
    // A tracked message is signed at delivery, over each recipient's own copy.
    let body = json!({"Messages": [
        {"From": {"Email": "news@mail.example.com"}, "To": [{"Email": "ada@example.net"}],
         "Subject": "Signed", "TextPart": "Hello  there\nSecond line", "HTMLPart": "<p>Hello</p>"},
        {"From": {"Email": "news@other.test"}, "To": [{"Email": "bob@example.net"}],
         "Subject": "Unsigned", "TextPart": "Hello"},
        {"From": {"Email": "news@example.com"}, "To": [{"Email": "cy@example.net"}, {"Email": "di@example.net"}],
         "Subject": "Tracked", "TextPart": "Second line", "HTMLPart": "<p><a href=\"https://example.com/x\">x</a></p>",
         "TrackOpens": "enabled", "TrackClicks": "enabled"}
    ]});
    let (status, sent) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(status, 200, "{sent}");
    let got = receiver
        .wait_for(10, "four messages", |m| m.len() == 4)
        .await;
    let tracked: Vec<_> = got
        .iter()
        .filter(|m| m.data.contains("Subject: Tracked"))
        .collect();
    assert_eq!(tracked.len(), 2);
    for m in &tracked {
        assert_eq!(m.data.matches("DKIM-Signature:").count(), 2, "{}", m.data);
    }
    assert_ne!(
        tracked[0].data, tracked[1].data,
        "each recipient has a copy of their own"
    );
    let signed = got
        .iter()
        .find(|m| m.data.contains("Subject: Signed"))
        .unwrap();
    let unsigned = got
        .iter()
        .find(|m| m.data.contains("Subject: Unsigned"))
        .unwrap();
    assert!(!unsigned.data.contains("DKIM-Signature"));
    assert_eq!(signed.data.matches("DKIM-Signature:").count(), 2);
    assert!(signed.data.contains("d=example.com"));
    if !dkimpy() {
        return;
    }
    let dns = Value::Object(
        records
            .iter()
            .filter(|(k, _)| k.contains("._domainkey."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    // Both signatures (RSA, and Ed25519 through dkimpy's PyNaCl) verify.
    assert_eq!(dkimpy_verify(signed.data.as_bytes(), &dns), [true, true]);
    for m in &tracked {
        assert_eq!(dkimpy_verify(m.data.as_bytes(), &dns), [true, true]);
    }
    let tampered = signed.data.replace("Second line", "Second line!");
    assert!(
        dkimpy_verify(tampered.as_bytes(), &dns)
            .iter()
            .all(|ok| !ok),
        "a tampered body still verifies"
    );

    // Rotation: new pending keys beside the active ones, then switched.
    let (status, r) = http_json_within(
        http,
        "POST",
        "/v3/REST/dns/example.com/rotate",
        auth,
        None,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let states: Vec<&str> = r["Data"][0]["DKIMKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["State"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active", "pending"]);
    let (status, r) = http_json(
        http,
        "POST",
        "/v3/REST/dns/example.com/activate",
        auth,
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let keys = r["Data"][0]["DKIMKeys"].as_array().unwrap().clone();
    let active: Vec<&Value> = keys.iter().filter(|k| k["State"] == "active").collect();
    assert_eq!(active.len(), 1);
    let selector = active[0]["Selector"].as_str().unwrap().to_string();
    let (status, _) = http_json(
        http,
        "POST",
        "/v3.1/send",
        auth,
        Some(
            &json!({"Messages": [{"From": {"Email": "news@example.com"}, "To": [{"Email": "cy@example.net"}],
                "Subject": "Rotated", "TextPart": "after rotation"}]})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let got = receiver.wait_for(10, "the fifth", |m| m.len() == 5).await;
    let rotated = got
        .iter()
        .find(|m| m.data.contains("Subject: Rotated"))
        .unwrap();
    assert_eq!(rotated.data.matches("DKIM-Signature:").count(), 1);
    assert!(rotated.data.contains(&format!("s={selector}")));
    let mut dns2 = dns.as_object().unwrap().clone();
    dns2.insert(
        format!("{selector}._domainkey.example.com"),
        r["Data"][0]["Records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["Name"] == format!("{selector}._domainkey.example.com"))
            .unwrap()["Value"]
            .clone(),
    );
    assert_eq!(
        dkimpy_verify(rotated.data.as_bytes(), &Value::Object(dns2)),
        [true]
    );
    node.running.stop().await;
}

#[tokio::test]
async fn a_suppressed_address_is_blocked_and_the_others_are_sent() {
    let receiver = Receiver::start().await;
    let node = trusted(receiver.addr).await;
    let http = node.running.http;
    let auth = Some((node.api_key.as_str(), node.secret.as_str()));
    let (status, v) = http_json(
        http,
        "POST",
        "/v3/REST/suppression",
        auth,
        Some(r#"{"Email": "Gone@Example.net", "Comment": "hard bounce last week"}"#),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["Data"][0]["Email"], "gone@example.net");
    assert_eq!(v["Data"][0]["Reason"], "manual");
    let (status, _) = http_json(
        http,
        "POST",
        "/v3/REST/suppression",
        auth,
        Some(r#"{"Email": "x", "Reason": "bogus"}"#),
    )
    .await;
    assert_eq!(status, 400);

    // Over HTTP.
    let body = json!({"Messages": [{"From": {"Email": "app@example.com"},
        "To": [{"Email": "gone@example.net"}, {"Email": "ok@example.net"}],
        "Subject": "Over HTTP", "TextPart": "hi"}]});
    let (status, sent) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(status, 200, "{sent}");
    // Over SMTP (trusted network, the node's account).
    let replies = converse(
        node.addr("relay"),
        &[
            "EHLO client.test",
            "MAIL FROM:<app@example.com>",
            "RCPT TO:<gone@example.net>",
            "RCPT TO:<ok2@example.net>",
            "DATA",
            "From: app@example.com\r\nTo: gone@example.net, ok2@example.net\r\nSubject: Over SMTP\r\n\r\nhi\r\n.",
            "QUIT",
        ],
    )
    .await;
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("250") && r.contains("queued") || r.starts_with("250 2.0.0")),
        "{replies:?}"
    );
    let got = receiver
        .wait_for(10, "two messages", |m| m.len() == 2)
        .await;
    let rcpts: Vec<String> = got.iter().flat_map(|m| m.rcpts.clone()).collect();
    assert!(rcpts.contains(&"ok@example.net".to_string()), "{rcpts:?}");
    assert!(rcpts.contains(&"ok2@example.net".to_string()), "{rcpts:?}");
    assert!(!rcpts.iter().any(|r| r.starts_with("gone")), "{rcpts:?}");
    // The suppressed recipient has a blocked event with Mailjet's preblocked reason.
    let gone_id = sent["Messages"][0]["To"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Email"] == "gone@example.net")
        .unwrap()["MessageID"]
        .as_i64()
        .unwrap();
    let (status, m) = http_json(
        http,
        "GET",
        &format!("/v3/REST/message/{gone_id}"),
        auth,
        None,
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["Data"][0]["Status"], "blocked", "{m}");
    // The list: filters, CSV, removal.
    let (status, l) = http_json(
        http,
        "GET",
        "/v3/REST/suppression?Reason=manual",
        auth,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(l["Total"], 1);
    let (status, l) = http_json(
        http,
        "GET",
        "/v3/REST/suppression?Reason=complaint",
        auth,
        None,
    )
    .await;
    assert_eq!((status, l["Total"].clone()), (200, json!(0)));
    let csv = http_get_text_auth(
        http,
        "/v3/REST/suppression.csv",
        &node.api_key,
        &node.secret,
    )
    .await;
    assert!(csv.contains("email,reason,"), "{csv}");
    assert!(
        csv.contains("gone@example.net,manual,hard bounce last week"),
        "{csv}"
    );
    let (status, _) = http_json(
        http,
        "DELETE",
        "/v3/REST/suppression/gone@example.net",
        auth,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = http_json(
        http,
        "DELETE",
        "/v3/REST/suppression/gone@example.net",
        auth,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = http_json(http, "POST", "/v3.1/send", auth, Some(&body.to_string())).await;
    assert_eq!(status, 200);
    let got = receiver.wait_for(10, "the third", |m| m.len() == 3).await;
    assert!(
        got[2].rcpts.contains(&"gone@example.net".to_string())
            || got
                .iter()
                .any(|m| m.rcpts.contains(&"gone@example.net".to_string()))
    );
    node.running.stop().await;
}

/// A GET with HTTP Basic auth; the body as text.
async fn http_get_text_auth(
    addr: std::net::SocketAddr,
    path: &str,
    key: &str,
    secret: &str,
) -> String {
    use base64::Engine;
    use tokio::io::AsyncWriteExt;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let raw = read_within(s, Duration::from_secs(5)).await;
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(raw)
}

#[test]
fn bounce_parse_prints_the_class_as_json() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../facteur-message/tests/bounces/002-postfix-virtual-user-unknown.eml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facteur"))
        .args(["bounce", "parse"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "hard", "{v}");
    assert_eq!(v["status"], "5.1.1");
    assert_eq!(v["error_related_to"], "recipient");
    assert_eq!(v["error"], "user unknown");
    assert!(v["recipient"].as_str().unwrap().contains('@'));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facteur"))
        .args(["bounce", "parse", "/nonexistent.eml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

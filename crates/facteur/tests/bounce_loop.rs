//! The bounce loop, end to end over real sockets: with a `bounce_domain`, every recipient
//! leaves with its own signed VERP envelope sender; a DSN sent later to that address (on the
//! relay listener, from an untrusted client) bounces the recipient, fires its event and puts
//! the address on the account's suppression list, so the next message to it is blocked while
//! the others go; a feedback-loop report (ARF) about a message becomes a `spam` event and a
//! suppression; a forged return path changes nothing and the message is kept for an operator;
//! a synchronous hard bounce suppresses too. `postfix_bounce` (below) does it with a real
//! Postfix that accepts a message and bounces it later.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const BOUNCE_DOMAIN: &str = "bounces.facteur.test";

async fn bounce_node(receiver: &Receiver) -> Node {
    node_with(receiver.addr, |s| {
        s.bounce_domain = Some(BOUNCE_DOMAIN.into());
        s.webhook_allow_private = Some(true);
        s.webhook_retry = Some("300ms".into());
        s.allow_plaintext_auth = Some(true);
    })
    .await
}

/// Registers `hook` for these event types.
async fn hook_for(node: &Node, hook: &Hook, types: &[&str]) {
    for t in types {
        let body = json!({"EventType": t, "Url": format!("http://{}/{t}", hook.addr)});
        let (s, v) = http_json(
            node.running.http,
            "POST",
            "/v3/REST/eventcallbackurl",
            Some((&node.api_key, &node.secret)),
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
}

async fn send(node: &Node, to: &[&str], subject: &str) -> Value {
    let to: Vec<Value> = to.iter().map(|a| json!({ "Email": a })).collect();
    let body = json!({"Messages": [{"From": {"Email": "app@example.com"}, "To": to,
        "Subject": subject, "TextPart": "hello"}]});
    let (status, v) = http_json(
        node.running.http,
        "POST",
        "/v3.1/send",
        Some((&node.api_key, &node.secret)),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

fn recipient_id(sent: &Value, address: &str) -> i64 {
    sent["Messages"][0]["To"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Email"] == address)
        .unwrap()["MessageID"]
        .as_i64()
        .unwrap()
}

/// An RFC 3464 report about `rcpt`, as a remote MTA writes it to the return path.
fn dsn(return_path: &str, rcpt: &str, status: &str, diagnostic: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
To: {return_path}\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\
\r\n\
--B1\r\n\
Content-Type: text/plain\r\n\
\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\
\r\n\
--B1\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.net\r\n\
\r\n\
Final-Recipient: rfc822; {rcpt}\r\n\
Action: failed\r\n\
Status: {status}\r\n\
Remote-MTA: dns; inbox.example.net\r\n\
Diagnostic-Code: smtp; {diagnostic}\r\n\
\r\n\
--B1\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: app@example.com\r\n\
To: {rcpt}\r\n\
Subject: First\r\n\
\r\n\
--B1--\r\n"
    )
}

/// Sends one message to the node's relay listener as a stranger would (MAIL FROM:<>).
async fn deliver_report(node: &Node, to: &str, data: &str) -> Vec<String> {
    let data = data.trim_end_matches("\r\n").to_string();
    converse(
        node.addr("relay"),
        &[
            "EHLO mx.example.net",
            "MAIL FROM:<>",
            &format!("RCPT TO:<{to}>"),
            "DATA",
            &format!("{data}\r\n."),
            "QUIT",
        ],
    )
    .await
}

fn queued(replies: &[String]) -> bool {
    replies.iter().any(|r| r.contains("queued as report"))
}

async fn status_of(node: &Node, id: i64) -> String {
    let (s, m) = http_json(
        node.running.http,
        "GET",
        &format!("/v3/REST/message/{id}"),
        Some((&node.api_key, &node.secret)),
        None,
    )
    .await;
    assert_eq!(s, 200, "{m}");
    m["Data"][0]["Status"].as_str().unwrap().to_string()
}

async fn suppressed(node: &Node, reason: &str) -> Vec<String> {
    let (s, l) = http_json(
        node.running.http,
        "GET",
        &format!("/v3/REST/suppression?Reason={reason}"),
        Some((&node.api_key, &node.secret)),
        None,
    )
    .await;
    assert_eq!(s, 200, "{l}");
    l["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Email"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_later_bounce_and_a_complaint_come_back_through_verp() {
    let receiver = Receiver::start().await;
    let node = bounce_node(&receiver).await;
    let hook = Hook::start(0).await;
    hook_for(&node, &hook, &["bounce", "spam"]).await;
    let store = node.running.app.store.clone();
    let sent = send(
        &node,
        &[
            "gone@example.net",
            "stays@example.net",
            "reader@example.net",
        ],
        "First",
    )
    .await;
    let got = receiver
        .wait_for(10, "three transactions", |m| m.len() == 3)
        .await;
    // One transaction per recipient, each with its own signed return path on the bounce domain.
    let mut paths = std::collections::HashMap::new();
    for m in &got {
        assert_eq!(m.rcpts.len(), 1, "{m:?}");
        assert!(
            m.mail_from.starts_with("bounce+")
                && m.mail_from.ends_with(&format!("@{BOUNCE_DOMAIN}")),
            "{}",
            m.mail_from
        );
        paths.insert(m.rcpts[0].clone(), m.mail_from.clone());
    }
    assert_eq!(paths.len(), 3);
    let gone_path = paths["gone@example.net"].clone();
    assert_ne!(gone_path, paths["stays@example.net"]);

    // A DSN from a stranger, later: the recipient bounces, hard, and is suppressed.
    let gone = recipient_id(&sent, "gone@example.net");
    let node_ref = &node;
    for address in [
        "gone@example.net",
        "stays@example.net",
        "reader@example.net",
    ] {
        let id = recipient_id(&sent, address);
        wait_until("the attempt recorded", || async move {
            status_of(node_ref, id).await == "sent"
        })
        .await;
    }
    let replies = deliver_report(
        &node,
        &gone_path,
        &dsn(
            &gone_path,
            "gone@example.net",
            "5.1.1",
            "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown",
        ),
    )
    .await;
    assert!(queued(&replies), "{replies:?}");
    assert_eq!(status_of(&node, gone).await, "hardbounced");
    assert_eq!(suppressed(&node, "hard-bounce").await, ["gone@example.net"]);
    let message_id = store.recipient_ref(gone).await.unwrap().unwrap().message_id;
    let events = store.events(message_id).await.unwrap();
    let bounce = events
        .iter()
        .find(|e| e.kind == facteur_store::EventKind::Bounced)
        .expect("a bounced event");
    assert_eq!(bounce.recipient.as_deref(), Some("gone@example.net"));
    assert!(bounce.detail.contains("User unknown"), "{}", bounce.detail);
    // Its webhook, as for a refusal at delivery: a hard bounce, the recipient's error.
    hook.wait(15, "the bounce webhook", |calls| {
        calls.iter().any(|(_, b)| b.contains("gone@example.net"))
    })
    .await;
    let e = hook
        .events()
        .into_iter()
        .find(|e| e["email"] == "gone@example.net")
        .unwrap();
    assert_eq!(e["event"], "bounce", "{e}");
    assert_eq!(e["hard_bounce"], true, "{e}");
    assert_eq!(e["error_related_to"], "recipient", "{e}");
    assert_eq!(e["error"], "user unknown", "{e}");
    assert_eq!(e["MessageID"], gone, "{e}");
    // The same DSN again changes nothing more.
    let again = deliver_report(
        &node,
        &gone_path,
        &dsn(&gone_path, "gone@example.net", "5.1.1", "550 5.1.1 unknown"),
    )
    .await;
    assert!(queued(&again), "{again:?}");
    let bounces = store
        .events(message_id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == facteur_store::EventKind::Bounced)
        .count();
    assert_eq!(bounces, 1);

    // A return path with an edited tag names nobody: accepted, kept, nothing recorded.
    let stays = recipient_id(&sent, "stays@example.net");
    let stays_path = paths["stays@example.net"].clone();
    let mut forged = stays_path.clone().into_bytes();
    let at = stays_path.find('@').unwrap() - 1;
    forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let replies = deliver_report(
        &node,
        &forged,
        &dsn(&forged, "stays@example.net", "5.1.1", "550 5.1.1 unknown"),
    )
    .await;
    assert!(queued(&replies), "{replies:?}");
    assert_eq!(status_of(&node, stays).await, "sent");
    let kept = store.inbound_reports(true, 10, 0).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].outcome.contains("none of this server's recipients"));
    assert!(
        kept[0]
            .raw
            .as_ref()
            .unwrap()
            .starts_with(b"From: MAILER-DAEMON")
    );

    // Only the bounce domain is open to strangers.
    let replies = converse(
        node.addr("relay"),
        &[
            "EHLO mx.example.net",
            "MAIL FROM:<>",
            "RCPT TO:<someone@elsewhere.test>",
            "QUIT",
        ],
    )
    .await;
    assert!(
        replies.iter().any(|r| r.starts_with("554 5.7.1")),
        "{replies:?}"
    );

    // A feedback-loop report to another address of the bounce domain: the returned message
    // still carries its return path, which names the recipient who complained.
    let reader_path = paths["reader@example.net"].clone();
    let arf = format!(
        "From: feedback@fbl.example.net\r\n\
To: fbl@{BOUNCE_DOMAIN}\r\n\
Subject: FW: First\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\
\r\n\
--F\r\n\
Content-Type: text/plain\r\n\
\r\n\
This is an email abuse report.\r\n\
--F\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: abuse\r\n\
User-Agent: ExampleFBL/1.0\r\n\
Version: 1\r\n\
Original-Rcpt-To: reader@example.net\r\n\
Source-IP: 192.0.2.1\r\n\
\r\n\
--F\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Return-Path: <{reader_path}>\r\n\
From: app@example.com\r\n\
To: reader@example.net\r\n\
Subject: First\r\n\
\r\n\
hello\r\n\
--F--\r\n"
    );
    let replies = deliver_report(&node, &format!("fbl@{BOUNCE_DOMAIN}"), &arf).await;
    assert!(queued(&replies), "{replies:?}");
    assert_eq!(suppressed(&node, "complaint").await, ["reader@example.net"]);
    let reader = recipient_id(&sent, "reader@example.net");
    let message_id = store
        .recipient_ref(reader)
        .await
        .unwrap()
        .unwrap()
        .message_id;
    let spam: Vec<_> = store
        .events(message_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == facteur_store::EventKind::Spam)
        .collect();
    assert_eq!(spam.len(), 1, "{spam:?}");
    assert_eq!(spam[0].recipient.as_deref(), Some("reader@example.net"));
    assert!(spam[0].detail.contains("ExampleFBL"), "{}", spam[0].detail);
    hook.wait(15, "the spam webhook", |calls| {
        calls.iter().any(|(_, b)| b.contains("reader@example.net"))
    })
    .await;
    let e = hook
        .events()
        .into_iter()
        .find(|e| e["email"] == "reader@example.net")
        .unwrap();
    assert_eq!(e["event"], "spam", "{e}");
    assert_eq!(e["source"], "ExampleFBL/1.0", "{e}");

    // The next message: the bounced and the complaining addresses are blocked, the other goes.
    let next = send(
        &node,
        &[
            "gone@example.net",
            "stays@example.net",
            "reader@example.net",
        ],
        "Second",
    )
    .await;
    receiver.wait_for(10, "the second", |m| m.len() == 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!(got[3].rcpts, ["stays@example.net"]);
    assert_eq!(
        status_of(&node, recipient_id(&next, "gone@example.net")).await,
        "blocked"
    );
    assert_eq!(
        status_of(&node, recipient_id(&next, "reader@example.net")).await,
        "blocked"
    );
    node.running.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_is_suppressed_and_dsns_keep_the_null_sender() {
    let receiver = Receiver::start().await;
    let node = bounce_node(&receiver).await;
    let sent = send(&node, &["reject-me@example.net", "fine@example.net"], "One").await;
    let rejected = recipient_id(&sent, "reject-me@example.net");
    wait_until("the refusal", || async {
        status_of(&node, rejected).await == "hardbounced"
    })
    .await;
    let node_ref = &node;
    wait_until("the suppression", || async move {
        suppressed(node_ref, "hard-bounce").await == ["reject-me@example.net"]
    })
    .await;
    let next = send(&node, &["reject-me@example.net", "fine@example.net"], "Two").await;
    receiver
        .wait_for(10, "two for fine", |m| {
            m.iter().filter(|x| x.rcpts == ["fine@example.net"]).count() == 2
        })
        .await;
    assert_eq!(
        status_of(&node, recipient_id(&next, "reject-me@example.net")).await,
        "blocked"
    );
    // Over SMTP too (AUTH on the submission listener): blocked, the other recipient sent.
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD
        .encode(format!("\0{}\0{}", node.api_key, node.secret));
    let replies = converse(
        node.addr("smtp"),
        &[
            "EHLO client.test",
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<app@example.com>",
            "RCPT TO:<reject-me@example.net>",
            "RCPT TO:<fine@example.net>",
            "DATA",
            "From: app@example.com\r\nTo: reject-me@example.net, fine@example.net\r\nSubject: Three\r\n\r\nhi\r\n.",
            "QUIT",
        ],
    )
    .await;
    let queued = replies
        .iter()
        .find_map(|r| r.strip_prefix("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("{replies:?}"));
    let id: i64 = queued.trim().parse().unwrap();
    let info = wait_final(&node, id).await;
    let status = |a: &str| {
        info.recipients
            .iter()
            .find(|r| r.address == a)
            .map(|r| r.status)
            .unwrap()
    };
    assert_eq!(
        status("reject-me@example.net"),
        facteur_store::RcptStatus::Blocked
    );
    assert_eq!(status("fine@example.net"), facteur_store::RcptStatus::Sent);
    // The DSN Facteur writes to the sender for the refusal goes with the null sender.
    let dsn = receiver
        .wait_for(10, "the DSN", |m| {
            m.iter().any(|x| x.rcpts == ["app@example.com"])
        })
        .await;
    let dsn = dsn.iter().find(|x| x.rcpts == ["app@example.com"]).unwrap();
    assert_eq!(dsn.mail_from, "");
    node.running.stop().await;
}

/// A real Postfix accepts a message whose next hop then refuses the recipient (550 5.1.1), and
/// sends its DSN to the VERP return path, routed to Facteur's relay listener: the recipient,
/// first `sent`, ends bounced, hard, with the next hop's words, and is suppressed.
#[tokio::test]
async fn postfix_bounce() {
    let Some(postfix) = Postfix::start().await else {
        return;
    };
    // Facteur delivers to Postfix; Postfix sends bounce-domain mail back to Facteur.
    let node = node_with(postfix.addr, |s| {
        s.bounce_domain = Some(BOUNCE_DOMAIN.into());
    })
    .await;
    // The next hop after Postfix refuses the recipient (550 5.1.1) once Postfix has taken it.
    let next_hop = Receiver::start().await;
    postfix.route("refusing.test", next_hop.addr).await;
    postfix.route(BOUNCE_DOMAIN, node.addr("relay")).await;
    let sent = send(&node, &["reject-nobody@refusing.test"], "To Postfix").await;
    let id = recipient_id(&sent, "reject-nobody@refusing.test");
    let node_ref = &node;
    let mut last = String::new();
    for _ in 0..300 {
        last = status_of(node_ref, id).await;
        if last == "hardbounced" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "hardbounced", "Postfix log:\n{}", postfix.log());
    wait_until("the suppression", || async move {
        suppressed(node_ref, "hard-bounce").await == ["reject-nobody@refusing.test"]
    })
    .await;
    let store = &node.running.app.store;
    let reports = store.inbound_reports(false, 10, 0).await.unwrap();
    assert_eq!(
        reports.len(),
        1,
        "{:?}\nPostfix log:\n{}",
        store
            .events(store.recipient_ref(id).await.unwrap().unwrap().message_id)
            .await,
        postfix.log()
    );
    assert_eq!(reports[0].kind, "bounce");
    assert_eq!(reports[0].recipient_id, Some(id));
    let message_id = store.recipient_ref(id).await.unwrap().unwrap().message_id;
    let events = store.events(message_id).await.unwrap();
    let bounce = events
        .iter()
        .find(|e| e.kind == facteur_store::EventKind::Bounced)
        .unwrap();
    assert!(
        bounce.detail.contains("no such user here"),
        "{}",
        bounce.detail
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == facteur_store::EventKind::Sent),
        "{events:?}"
    );
    node.running.stop().await;
}

/// A private Postfix instance under a temporary directory (root and Debian's postfix needed;
/// in CI `.ci/run` installs it, elsewhere the test says why it is skipped).
struct Postfix {
    dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
}

impl Postfix {
    async fn start() -> Option<Postfix> {
        let have = std::path::Path::new("/usr/sbin/postfix").exists();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        if !have || !root {
            assert!(
                std::env::var("CI").is_err(),
                "Postfix is missing (or not root): .ci/run installs Debian's postfix"
            );
            eprintln!(
                "NOTICE: Debian's postfix is not installed (or not root): the Postfix bounce test is skipped"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("facteur-postfix-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let pf = dir.path();
        let sh = format!(
            r#"set -e
pf={pf}
chmod 755 $pf
mkdir -p $pf/etc $pf/spool $pf/data
chown postfix:postfix $pf/data
cp /etc/postfix/master.cf $pf/etc/master.cf
cat > $pf/etc/main.cf <<CF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.facteur.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtputf8_enable = no
maillog_file = $pf/maillog
transport_maps = texthash:$pf/etc/transport
smtp_tls_security_level = none
default_transport = error:5.7.1 this test Postfix sends nowhere else
CF
: > $pf/etc/transport
touch /etc/postfix/main.cf
# The default instance must list this directory; earlier runs' directories that are gone leave.
dirs="$pf/etc"
for d in $(postconf -h alternate_config_directories 2>/dev/null | tr ',' ' '); do
  [ -d "$d" ] && dirs="$dirs $d"
done
postconf -e "alternate_config_directories = $dirs"
postconf -c $pf/etc -M# smtp/inet >/dev/null 2>&1 || true
postconf -c $pf/etc -M "127.0.0.1:{port}/inet = 127.0.0.1:{port} inet n - n - - smtpd"
postconf -c $pf/etc -F '*/*/chroot = n'
postfix -c $pf/etc set-permissions >/dev/null 2>&1 || true
postfix -c $pf/etc check
postfix -c $pf/etc start
"#,
            pf = pf.display()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&sh)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "starting Postfix: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Some(Postfix { dir, addr });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Postfix did not open port {port}");
    }

    /// Sends mail for `domain` to `to` (Facteur's relay listener).
    async fn route(&self, domain: &str, to: std::net::SocketAddr) {
        let pf = self.dir.path();
        let transport = pf.join("etc/transport");
        let mut table = std::fs::read_to_string(&transport).unwrap();
        table.push_str(&format!("{domain} smtp:[{}]:{}\n", to.ip(), to.port()));
        std::fs::write(&transport, table).unwrap();
        let out = std::process::Command::new("postfix")
            .args(["-c", &pf.join("etc").to_string_lossy(), "reload"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("postfix")
            .args(["-c", &self.dir.path().join("etc").to_string_lossy(), "stop"])
            .output();
    }
}

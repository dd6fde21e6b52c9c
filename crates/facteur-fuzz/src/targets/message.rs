//! Fuzz targets of facteur-message: the Mailjet SMTP headers (`mime-mj-headers`: extract,
//! strip, read the parts, rebuild the body, add the trace headers), the Send API v3.1 request
//! (`send-json`: parse, validate, compose what passed), composition itself from hostile fields
//! (`mime-compose`: through the API's validation and straight to `compose`) and delivery status
//! notifications (`mime-dsn`).
//!
//! Every message Facteur writes must pass the SMTP intake's own DATA checks (no bare CR or LF,
//! no NUL, no line over 998 octets) and arrive unchanged through dot-stuffing: that is checked
//! on every composed message, whatever went in.

use facteur_mailjet::mj_headers::{extract, parts, replace_body};
use facteur_mailjet::send::{MessageSpec, add_url_tags, parse_request, valid_email};
use facteur_message::compose::{Attachment, Composed, Mailbox, compose, mime_body};
use facteur_message::limits::{self, *};
use facteur_message::{
    Dsn, DsnAction, DsnRecipient, ReceivedInfo, build_dsn, field_name, fields, header_section,
    header_value, normalize_on_accept,
};
use facteur_smtp::client::dot_stuff;
use facteur_smtp::data::{DataReceiver, check_body};

use super::smtp::b64;
use crate::Target;

pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "mime-mj-headers",
            seeds: mj_seeds(),
            dict: MJ_DICT.to_vec(),
            run: mj_headers,
        },
        Target {
            name: "send-json",
            seeds: send_seeds(),
            dict: SEND_DICT.to_vec(),
            run: send_json,
        },
        Target {
            name: "mime-compose",
            seeds: compose_seeds(),
            dict: COMPOSE_DICT.to_vec(),
            run: mime_compose,
        },
        Target {
            name: "mime-dsn",
            seeds: dsn_seeds(),
            dict: COMPOSE_DICT.to_vec(),
            run: dsn,
        },
    ]
}

/// The message would pass the SMTP intake's DATA checks, and dot-stuffed for DATA it is read
/// back exactly, ending at its end.
fn assert_smtp_safe(raw: &[u8], what: &str) {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    assert!(
        raw.ends_with(b"\r\n"),
        "{what}: no CRLF at the end:\n{}",
        shown()
    );
    if let Err(e) = check_body(raw) {
        panic!("{what}: {e:?}:\n{}", shown());
    }
    let wire = dot_stuff(raw);
    let mut r = DataReceiver::new(usize::MAX);
    assert_eq!(
        r.ingest(&wire),
        Some(wire.len()),
        "{what}: DATA ended early"
    );
    assert_eq!(r.finish().as_deref(), Ok(raw), "{what}: changed in transit");
}

/// The bytes as the SMTP intake would pass them: CRLF line ends, no NUL, lines cut at 998.
fn smtp_clean(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut line = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            0 => {}
            b'\r' | b'\n' => {
                if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                out.extend_from_slice(b"\r\n");
                line = 0;
            }
            b => {
                if line == 998 {
                    out.extend_from_slice(b"\r\n");
                    line = 0;
                }
                out.push(b);
                line += 1;
            }
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn is_mailjet(name: &[u8]) -> bool {
    let n = name.to_ascii_lowercase();
    (n.starts_with(b"x-mj-") && n.len() > 5) || (n.starts_with(b"x-mailjet-") && n.len() > 10)
}

// ---------------------------------------------------------------------------------------------
// mime-mj-headers

fn mj_headers(data: &[u8]) {
    mj_pipeline(data, false);
    let clean = smtp_clean(data);
    assert_eq!(check_body(&clean), Ok(()));
    mj_pipeline(&clean, true);
}

/// What the SMTP intake does with a message (crates/facteur/src/smtp.rs and the engine's submit), checked. `clean`: the
/// message passed the DATA checks, so everything made from it must too.
fn mj_pipeline(raw: &[u8], clean: bool) {
    let body = match extract(raw) {
        Err(e) => {
            // The text of a `550 5.6.0` reply: one line, and the reply within 512 octets.
            assert!(!e.contains(char::is_control), "control character in {e:?}");
            assert!(e.len() <= 400, "error too long for a reply line: {e:?}");
            return;
        }
        Ok((mj, stripped)) => {
            assert!(!limits::too_long(&mj.custom_id, MAX_CUSTOM_ID));
            assert!(!limits::too_long(&mj.event_payload, MAX_EVENT_PAYLOAD));
            assert!(limits::campaign_error(&mj.campaign).is_none());
            assert!(
                mj.vars
                    .as_object()
                    .is_some_and(|o| o.len() <= MAX_VARIABLES)
            );
            assert!(limits::PRIORITIES.contains(&(mj.priority as i64)));
            match &mj.template {
                None => {}
                Some(facteur_mailjet::TemplateRef::Id(id)) => assert!(*id > 0, "template id {id}"),
                Some(facteur_mailjet::TemplateRef::Name(t)) => {
                    assert!(!t.is_empty() && !t.contains(char::is_control));
                    assert!(!limits::too_long(t, MAX_TEMPLATE_NAME));
                }
            }
            if let Some(to) = &mj.error_reporting {
                assert!(valid_email(&to.email), "{to:?}");
            }
            match stripped {
                None => raw.to_vec(),
                Some(s) => {
                    assert!(s.len() <= raw.len());
                    // (With bare LFs the header section can end elsewhere once fields are
                    // removed; the SMTP intake never passes those.)
                    if clean {
                        let left = fields(header_section(&s))
                            .filter_map(field_name)
                            .any(is_mailjet);
                        assert!(!left, "a Mailjet header was kept");
                        assert_eq!(check_body(&s), Ok(()), "stripping broke lines");
                    }
                    s
                }
            }
        }
    };
    // A template applied: the message's own parts, a new body under its headers.
    let p = parts(&body);
    let new_body = mime_body(
        p.text.as_deref().unwrap_or_default(),
        p.html.as_deref().unwrap_or_default(),
        &p.attachments,
        &p.inline,
    );
    let rebuilt = replace_body(&body, p.subject.as_deref(), new_body);
    if clean {
        assert_smtp_safe(&rebuilt, "replace_body");
    }
    let _ = header_value(&body, "subject");
    let info = ReceivedInfo {
        helo: "client.example",
        peer_ip: "192.0.2.1",
        hostname: "mx.facteur.test",
        esmtp: true,
        tls: true,
        authenticated: true,
        now: 1_795_000_000,
    };
    let accepted = normalize_on_accept(&body, &info, || "id@mx.facteur.test".into());
    if clean {
        assert_eq!(check_body(&accepted), Ok(()), "trace headers broke lines");
    }
}

const MJ_DICT: &[&[u8]] = &[
    b"X-MJ-Vars: ",
    b"X-MJ-TemplateID: ",
    b"X-MJ-TemplateLanguage: 1\r\n",
    b"X-MJ-CustomID: ",
    b"X-MJ-EventPayload: ",
    b"X-Mailjet-Campaign: ",
    b"X-Mailjet-Prio: ",
    b"X-Mailjet-TrackOpen: 1\r\n",
    b"X-MJ-TemplateErrorReporting: ",
    b"X-MJ-TemplateErrorDeliver: deliver\r\n",
    b"X-MJ-MonitoringCategory: ",
    b"X-Mailjet-DeduplicateCampaign: 1\r\n",
    b"{\"a\": 1}",
    b"{",
    b"}",
    b"\"k\": \"v\", ",
    b"Subject: ",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"Content-Type: text/html; charset=utf-8\r\n",
    b"Content-Type: text/plain\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename=\"a.pdf\"\r\n",
    b"Content-Disposition: inline\r\n",
    b"Content-ID: <logo>\r\n",
    b"filename*=UTF-8''%C3%A9t%C3%A9%0D%0A.txt",
    b"=?utf-8?Q?=C3=A9t=C3=A9?=",
    b"=?utf-8?B?w6l0w6k=?=",
    b"\r\n--b\r\n",
    b"\r\n--b--\r\n",
    b"\r\n\r\n",
    b"\r\n ",
    b"\r\n\t",
    b"=0D=0A",
    b"=\r\n",
    b"MIME-Version: 1.0\r\n",
];

fn mj_seeds() -> Vec<Vec<u8>> {
    let many_vars: Vec<String> = (0..40).map(|i| format!("\"v{i}\": {i}")).collect();
    vec![
        b"From: shop@example.com\r\nTo: ada@example.net\r\nSubject: Order {{var:n}}\r\n\
X-MJ-TemplateLanguage: 1\r\nX-MJ-Vars: {\"n\": 42,\r\n \"name\": \"Ada\"}\r\nX-MJ-CustomID: order-42\r\n\
X-Mailjet-Prio: 3\r\nx-mailjet-campaign: Spring sale\r\nX-Other: kept\r\n\r\nHello {{var:name}}\r\n"
            .to_vec(),
        b"From: a@b.c\r\nX-MJ-TemplateID: 12\r\nX-MJ-TemplateErrorReporting: ops@b.c\r\n\
X-MJ-TemplateErrorDeliver: deliver\r\nX-MJ-EventPayload: {\"order\": 1}\r\n\r\nbody\r\n"
            .to_vec(),
        b"From: a@b.c\r\nSubject: =?utf-8?Q?Commande_=C3=A9t=C3=A9?=\r\nX-MJ-TemplateLanguage: 1\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nBonjour {{var:name:\"=C3=A9\"}}=\r\n suite\r\n--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<p>Bonjour</p><img src=\"cid:logo\">\r\n--b2--\r\n--b1\r\n\
Content-Type: image/png\r\nContent-Disposition: inline\r\nContent-ID: <logo>\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename*=UTF-8''factur%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQ=\r\n--b1--\r\n"
            .to_vec(),
        format!(
            "From: a@b.c\r\nX-MJ-Vars: {{{}}}\r\nX-MJ-MonitoringCategory: welcome\r\nX-Mailjet-TrackClick: 0\r\n\r\nx\r\n",
            many_vars.join(", ")
        )
        .into_bytes(),
        b"Subject: no mailjet headers\r\n\r\nbody\r\n".to_vec(),
        b"X-MJ-TemplateID: Welcome mail\r\nX-Mailjet-DeduplicateCampaign: 1\r\nX-Mailjet-Campaign: c\r\n\r\n".to_vec(),
        b"From: a@b.c\r\nContent-Type: text/html\r\nX-MJ-TemplateLanguage: yes\r\n\r\n<p>{% if var:x %}x{% endif %}</p>\r\n".to_vec(),
    ]
}

// ---------------------------------------------------------------------------------------------
// send-json

/// What passed validation obeys the limits, and composes (as crates/facteur api/send.rs does)
/// into a message the SMTP intake would accept.
fn compose_spec(spec: &MessageSpec) {
    assert!(!limits::too_long(&spec.options.custom_id, MAX_CUSTOM_ID));
    assert!(!limits::too_long(
        &spec.options.event_payload,
        MAX_EVENT_PAYLOAD
    ));
    assert!(limits::campaign_error(&spec.options.campaign).is_none());
    assert!(limits::PRIORITIES.contains(&(spec.options.priority as i64)));
    assert!(
        spec.options
            .vars
            .as_object()
            .is_some_and(|v| v.len() <= MAX_VARIABLES)
    );
    assert!(match &spec.options.template {
        None => true,
        Some(facteur_mailjet::TemplateRef::Id(id)) => *id > 0,
        Some(facteur_mailjet::TemplateRef::Name(_)) => false,
    });
    for (name, value) in &spec.headers {
        assert!(!name.is_empty() && name.len() <= MAX_HEADER_NAME);
        assert!(!value.contains(['\r', '\n', '\0']));
    }
    for m in spec.to.iter().chain(&spec.cc).chain(&spec.bcc) {
        assert!(valid_email(&m.email), "{m:?}");
    }
    let _ = spec.envelope_recipients();
    let default_from = Mailbox {
        name: String::new(),
        email: "default@facteur.test".into(),
    };
    let from = spec.from.as_ref().unwrap_or(&default_from);
    let html = add_url_tags(
        spec.html.as_deref().unwrap_or_default(),
        &spec.options.url_tags,
    );
    let raw = compose(&Composed {
        from: Some(from),
        sender: spec.sender.as_ref(),
        to: &spec.to,
        cc: &spec.cc,
        reply_to: spec.reply_to.as_ref(),
        subject: spec.subject.as_deref().unwrap_or_default(),
        text: spec.text.as_deref().unwrap_or_default(),
        html: &html,
        message_id: "0196f1c3a5b27c2e9d1f@facteur.test",
        date: 1_795_000_000,
        headers: &spec.headers,
        attachments: &spec.attachments,
        inline: &spec.inline,
    });
    assert_smtp_safe(&raw, "compose");
}

fn send_json(data: &[u8]) {
    let Ok(request) = parse_request(data) else {
        return;
    };
    for message in &request.messages {
        match message {
            Ok(spec) => compose_spec(spec),
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
}

const SEND_DICT: &[&[u8]] = &[
    b"{\"Messages\":[",
    b"]}",
    b"{\"Email\":\"a@b.c\"}",
    b"\"From\":",
    b"\"To\":[",
    b"\"Cc\":[",
    b"\"Bcc\":[",
    b"\"Sender\":",
    b"\"ReplyTo\":",
    b"\"Name\":\"",
    b"\"Subject\":\"",
    b"\"TextPart\":\"",
    b"\"HTMLPart\":\"",
    b"\"TemplateID\":",
    b"\"TemplateLanguage\":true,",
    b"\"TemplateErrorReporting\":",
    b"\"Variables\":{",
    b"\"Headers\":{",
    b"\"Attachments\":[{\"ContentType\":\"text/plain\",\"Filename\":\"a.txt\",\"Base64Content\":\"",
    b"\"InlinedAttachments\":[{\"ContentType\":\"image/png\",\"Filename\":\"i.png\",\"ContentID\":\"",
    b"\"CustomID\":\"",
    b"\"EventPayload\":\"",
    b"\"CustomCampaign\":\"",
    b"\"DeduplicateCampaign\":true,",
    b"\"TrackOpens\":\"enabled\",",
    b"\"Priority\":",
    b"\"URLTags\":\"utm_source=mj&utm_medium=email\",",
    b"\"Globals\":{",
    b"\"SandboxMode\":true,",
    b"\\r",
    b"\\n",
    b"\\u0000",
    b"\\r.\\r",
    b"\\r\\n.\\r\\n",
    b"\\n.\\n",
    b"\\u00e9",
    b"\\ud83d\\ude00",
    b"\\\"",
    b"<a href=\\\"https://x.test/?a=1#f\\\">",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e400",
    b"9223372036854775808",
    b"[",
    b"{",
    b"}",
    b",",
    b":",
    b"\"",
];

fn send_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = vec![
        br#"{"Messages":[{"From":{"Email":"shop@example.com","Name":"Shop"},"To":[{"Email":"ada@example.net","Name":"Ada"}],"Subject":"Your order","TextPart":"Hello Ada,\r\nyour order has shipped.","HTMLPart":"<h3>Hello Ada</h3><p><a href=\"https://shop.example.com/o/1\">Track</a></p>","CustomID":"order-1","URLTags":"utm_source=mj&utm_medium=email"}]}"#.to_vec(),
        br#"{"SandboxMode":false,"Globals":{"From":{"Email":"g@example.com"},"Headers":{"X-A":"1"},"Subject":"G"},"Messages":[{"To":[{"Email":"x@example.net"}],"TextPart":"t","Headers":{"X-B":"2"}},{"To":[{"Email":"y@example.net"}],"Cc":[{"Email":"z@example.net"}],"Bcc":[{"Email":"audit@example.org"}],"HTMLPart":"<p>h</p>","Priority":3,"CustomCampaign":"spring","DeduplicateCampaign":true}]}"#.to_vec(),
        br#"{"Messages":[{"From":{"Email":"a@b.c"},"To":[{"Email":"d@e.f"}],"TemplateID":12,"TemplateLanguage":true,"Variables":{"name":"Ada","items":[1,2,3],"nested":{"k":"v"}},"TemplateErrorReporting":{"Email":"ops@b.c"},"TemplateErrorDeliver":true,"EventPayload":"{\"x\":1}","TrackOpens":"disabled","TrackClicks":"enabled","MonitoringCategory":"welcome"}]}"#.to_vec(),
        br#"{"Messages":[{"From":{"Email":"a@b.c"},"To":[{"Email":"d@e.f"}],"Subject":"Invoice \u00e9t\u00e9","TextPart":"See attached","HTMLPart":"<img src=\"cid:logo\">","Attachments":[{"ContentType":"application/pdf","Filename":"facture.pdf","Base64Content":"JVBERi0xLjQ="}],"InlinedAttachments":[{"ContentType":"image/png","Filename":"logo.png","ContentID":"logo","Base64Content":"iVBORw0KGgo="}],"Headers":{"Reply-To":"support@b.c","X-Order":"42"}}]}"#.to_vec(),
        br#"{"Messages":[{"From":{"Email":"shop@example.com"},"To":[{"Email":"ada@example.net"}],"TextPart":"end\r.\rMAIL FROM:<ceo@bank.example>\r\n\u0000","HTMLPart":"<p>\n.\n</p>"}]}"#.to_vec(),
        br#"{"Messages":[{"From":{"Email":"bad"},"To":[],"Priority":9,"Htmlpart":"typo"}]}"#.to_vec(),
        br#"{"Messages":{}}"#.to_vec(),
    ];
    seeds.push(
        format!(
            r#"{{"Messages":[{{"From":{{"Email":"a@b.c"}},"To":[{{"Email":"d@e.f"}}],"TextPart":"{}","Subject":"{}"}}]}}"#,
            "x".repeat(1200),
            "\\u00e9".repeat(100)
        )
        .into_bytes(),
    );
    seeds
}

// ---------------------------------------------------------------------------------------------
// mime-compose

/// The input as fields separated by U+001F: subject, text, HTML, From name, To, header name,
/// header value, attachment type, filename, attachment bytes, Content-ID, URLTags, CustomID,
/// Reply-To. They go through the Send API (validated, then composed) and straight to
/// `compose` (which must be safe on its own: templates and reports call it too).
fn mime_compose(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let mut f: Vec<&str> = input.split('\u{1f}').collect();
    f.resize(14, "");
    let content = f[9].as_bytes().to_vec();

    // Straight to compose.
    let from = Mailbox {
        name: f[3].to_string(),
        email: "shop@example.com".into(),
    };
    let to = [Mailbox::parse(f[4]).unwrap_or_else(|| Mailbox {
        name: f[4].to_string(),
        email: "ada@example.net".into(),
    })];
    let reply_to = Mailbox::parse(f[13]);
    let headers = [(f[5].to_string(), f[6].to_string())];
    let attachments = [Attachment {
        content_type: f[7].to_string(),
        filename: f[8].to_string(),
        content: content.clone(),
        content_id: None,
    }];
    let inline = [Attachment {
        content_type: "image/png".into(),
        filename: f[8].to_string(),
        content: content.clone(),
        content_id: Some(f[10].to_string()),
    }];
    let raw = compose(&Composed {
        from: Some(&from),
        sender: None,
        to: &to,
        cc: &to,
        reply_to: reply_to.as_ref(),
        subject: f[0],
        text: f[1],
        html: &add_url_tags(f[2], f[11]),
        message_id: f[12],
        date: 1_795_000_000,
        headers: &headers,
        attachments: &attachments,
        inline: &inline,
    });
    assert_smtp_safe(&raw, "compose");

    // Through the Send API: the whole message, and one with only the text fields (fewer
    // validation errors, so more of them reach compose).
    let request = serde_json::json!({
        "Messages": [
            {
                "From": {"Email": "shop@example.com", "Name": f[3]},
                "To": [{"Email": f[4]}],
                "ReplyTo": {"Email": f[13]},
                "Subject": f[0],
                "TextPart": f[1],
                "HTMLPart": f[2],
                "Headers": {f[5]: f[6]},
                "Attachments": [{"ContentType": f[7], "Filename": f[8], "Base64Content": b64(&content)}],
                "InlinedAttachments": [{"ContentType": "image/png", "Filename": "i.png", "ContentID": f[10], "Base64Content": b64(&content)}],
                "URLTags": f[11],
                "CustomID": f[12],
                "EventPayload": f[12],
                "CustomCampaign": f[12],
            },
            {
                "From": {"Email": "shop@example.com", "Name": f[3]},
                "To": [{"Email": "ada@example.net", "Name": f[4]}],
                "Subject": f[0],
                "TextPart": f[1],
                "HTMLPart": f[2],
                "Headers": {"X-Value": f[6]},
            },
        ]
    });
    send_json(&serde_json::to_vec(&request).unwrap_or_default());
}

const COMPOSE_DICT: &[&[u8]] = &[
    b"\x1f",
    b"\x1f\x1f",
    b"\r.\r",
    b"\n.\n",
    b"\r\n.\r\n",
    b"MAIL FROM:<ceo@bank.example>\r\n",
    b"Bcc: victim@x.test",
    b"\r\nX-Injected: 1\r\n",
    b"Name <a@b.c>",
    b"a@b.c",
    b"\"",
    b"<",
    b">",
    b"=?utf-8?Q?",
    b"?=",
    b"\xc3\xa9",
    b"\xe2\x80\xa8",
    b"\xc2\x85",
    b"\x7f",
    b"\x01",
    b"text/plain",
    b"text/html; charset=utf-8",
    b"message/rfc822",
    b"utm_source=a&b=c",
    b"<a href=\"https://x.test/p?q=1#top\">",
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

fn compose_seeds() -> Vec<Vec<u8>> {
    let join = |fields: &[&str]| fields.join("\u{1f}").into_bytes();
    vec![
        join(&[
            "Your order",
            "Hello Ada,\r\nyour order has shipped.\r\n",
            "<p>Hello <a href=\"https://shop.example.com/o/1\">Ada</a></p>",
            "Boutique Été",
            "ada@example.net",
            "X-Order",
            "42",
            "application/pdf",
            "facture été.pdf",
            "%PDF-1.4",
            "logo",
            "utm_source=mj",
            "order-1",
            "support@example.com",
        ]),
        join(&[
            "Hi\r\nBcc: victim@x.test",
            "end\r.\rMAIL FROM:<ceo@bank.example>\r\n\0",
            "<p>\n.\n</p>\r.\r",
            "Evil\r\nBcc: x@y.z",
            "t@b.c",
            "X-H\r\nX-Q",
            "v\r\nX-Inj: 1\0",
            "text/plain\r\nX-A: b",
            "f\r\nX-F: 1\".txt",
            "a\r.\rQUIT\r\n\0",
            "c\r\nX-C: 1",
            "a=1\r\nb",
            "m\r\nX-M: 1@x",
            "r@x.test",
        ]),
        join(&["s", &"w ".repeat(700), &"é".repeat(900), &"n".repeat(300)]),
    ]
}

// ---------------------------------------------------------------------------------------------
// mime-dsn

/// A delivery status notification from a remote reply and an original message: fields as in
/// `mime-compose` (diagnostic, remote MTA, recipient, original message).
fn dsn(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let mut f: Vec<&str> = input.split('\u{1f}').collect();
    f.resize(4, "");
    let original = smtp_clean(f[3].as_bytes());
    let recipient = if valid_email(f[2]) {
        f[2]
    } else {
        "rcpt@example.net"
    };
    let out = build_dsn(&Dsn {
        reporting_mta: "mx.facteur.test",
        original_sender: "sender@example.com",
        original_envelope_id: 42,
        arrival_date: 1_795_000_000,
        now: 1_795_000_100,
        recipients: vec![
            DsnRecipient {
                address: recipient.to_string(),
                action: DsnAction::Failed,
                status: "5.1.1".into(),
                remote_mta: Some("mx.example.net".into()).filter(|_| f[1].is_empty()),
                diagnostic: f[0].to_string(),
            },
            DsnRecipient {
                address: "other@example.net".into(),
                action: DsnAction::Delayed,
                status: "4.4.1".into(),
                remote_mta: None,
                diagnostic: f[1].to_string(),
            },
        ],
        original_message: &original,
        message_id: "dsn1@mx.facteur.test".into(),
        boundary: "BOUNDARY-dsn1".into(),
    });
    assert_smtp_safe(&out, "build_dsn");
}

fn dsn_seeds() -> Vec<Vec<u8>> {
    let join = |fields: &[&str]| fields.join("\u{1f}").into_bytes();
    vec![
        join(&[
            "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown",
            "",
            "nobody@example.net",
            "From: a@b.c\r\nSubject: Hello\r\n\r\nsecret body\r\n",
        ]),
        join(&[
            "550-5.7.1 first line\n550 5.7.1 second\0line",
            "connection timed out",
            "bad address",
            "Subject: =?utf-8?Q?=C3=A9t=C3=A9?=\r\nX-Long: yyyy\r\n\r\n",
        ]),
    ]
}

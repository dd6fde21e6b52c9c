//! Fuzz targets of facteur-smtp: the inbound session state machine fed whole conversations
//! (`smtp-session`), the DATA receiver and dot-stuffing (`smtp-data`), SASL PLAIN/LOGIN decoding
//! (`smtp-auth`) and the client's reply reader (`smtp-reply`).
//!
//! Besides "never panics", each target checks properties that matter for security: a spooled
//! body always passes the intake's own checks, nothing is spooled for a client that may not
//! send, every reply is well-formed lines, a dot-stuffed body never ends DATA early, and the
//! result never depends on how the bytes were split into reads.

use std::sync::Arc;

use facteur_smtp::client::{ReplyReader, dot_stuff};
use facteur_smtp::data::{DataReceiver, check_body};
use facteur_smtp::{
    Action, AuthOutcome, Envelope, PeerInfo, Reply, Session, SessionConfig, SpoolOutcome, auth,
};

use crate::{Rng, Target};

pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "smtp-session",
            seeds: session_seeds(),
            dict: SESSION_DICT.to_vec(),
            run: session,
        },
        Target {
            name: "smtp-data",
            seeds: data_seeds(),
            dict: DATA_DICT.to_vec(),
            run: data,
        },
        Target {
            name: "smtp-auth",
            seeds: auth_seeds(),
            dict: AUTH_DICT.to_vec(),
            run: sasl,
        },
        Target {
            name: "smtp-reply",
            seeds: reply_seeds(),
            dict: REPLY_DICT.to_vec(),
            run: replies,
        },
    ]
}

/// Standard base64 with padding (the fuzz crate has no base64 dependency of its own).
pub(crate) fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A seeded generator that depends only on the input: the reads an input is split into are
/// the same every time it is replayed.
pub(crate) fn rng_for(data: &[u8]) -> Rng {
    // FNV-1a.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    Rng::new(h)
}

/// `data` cut at up to 8 offsets derived from it.
pub(crate) fn split<'a>(data: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = (0..rng.below(9))
        .map(|_| rng.below(data.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for cut in cuts {
        out.push(&data[from..cut]);
        from = cut;
    }
    out.push(&data[from..]);
    out
}

// ---------------------------------------------------------------------------------------------
// smtp-session

const MAX_SIZE: usize = 4096;
const MAX_RCPTS: usize = 3;

/// What one conversation did, to compare two ways of reading it.
#[derive(Debug, PartialEq, Default)]
struct Transcript {
    output: Vec<u8>,
    spooled: Vec<(Envelope, Vec<u8>)>,
    auth_attempts: Vec<(String, String)>,
    closed: bool,
    starttls: bool,
}

struct Peer {
    info: PeerInfo,
    cfg: Arc<SessionConfig>,
}

/// The first byte of a session input picks the listener and the client: bits 0–1 the peer
/// (trusted, plain, TLS, plain), bit 2 submission, bit 3 plaintext AUTH allowed, bit 4 no
/// STARTTLS, bit 5 a shutdown at the end, bit 6 a timeout at the end.
fn peer(flags: u8) -> Peer {
    let info = PeerInfo {
        trusted: flags & 3 == 0,
        tls: flags & 3 == 2,
    };
    let cfg = Arc::new(SessionConfig {
        hostname: "mx.fuzz.test".into(),
        max_message_size: MAX_SIZE,
        max_recipients: MAX_RCPTS,
        max_errors: 8,
        starttls: flags & 16 == 0,
        allow_plaintext_auth: flags & 8 != 0,
        submission: flags & 4 != 0,
        inbound_domains: if flags & 32 != 0 {
            vec!["bounces.fuzz.test".into()]
        } else {
            Vec::new()
        },
        inbound_local_parts: vec!["bounce+".into(), "fbl".into()],
    });
    Peer { info, cfg }
}

/// Every reply is lines of `DDD SP text CRLF` or `DDD - text CRLF`, at most 512 octets
/// (RFC 5321 4.5.3.1.5), with no CR or LF inside: nothing the client sends can forge a reply.
fn check_replies(bytes: &[u8]) {
    assert!(bytes.ends_with(b"\r\n"), "reply without CRLF: {bytes:?}");
    for line in bytes[..bytes.len() - 2].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        assert!(
            line.len() >= 4
                && line[..3].iter().all(u8::is_ascii_digit)
                && matches!(line[3], b' ' | b'-'),
            "malformed reply line {text:?}"
        );
        assert!(!line.contains(&b'\r'), "bare CR in reply {text:?}");
        assert!(
            line.len() + 2 <= 512,
            "reply line over 512 octets: {text:?}"
        );
    }
}

/// Runs one conversation read in `chunks`, answering the session's requests.
fn converse(p: &Peer, chunks: &[&[u8]], flags: u8) -> Transcript {
    let mut session = Session::new(p.cfg.clone(), p.info);
    let mut t = Transcript::default();
    let mut tls = p.info.tls;
    let mut authenticated = false;
    let mut queue: std::collections::VecDeque<Action> = session.greeting().into();
    let mut chunks = chunks.iter();
    loop {
        while let Some(action) = queue.pop_front() {
            assert!(!t.closed, "action after Close: {action:?}");
            let more = match action {
                Action::Send(bytes) => {
                    check_replies(&bytes);
                    t.output.extend_from_slice(&bytes);
                    continue;
                }
                Action::Close => {
                    t.closed = true;
                    assert!(session.is_closed());
                    continue;
                }
                Action::StartTls => {
                    assert!(!tls, "STARTTLS on a TLS connection");
                    assert!(p.cfg.starttls, "STARTTLS when not offered");
                    t.starttls = true;
                    tls = true;
                    session.tls_established()
                }
                Action::Authenticate { username, password } => {
                    assert!(
                        tls || p.cfg.allow_plaintext_auth,
                        "credentials taken over plain text"
                    );
                    assert!(!authenticated, "second AUTH in one session");
                    t.auth_attempts.push((username.clone(), password.clone()));
                    let outcome = match (username.as_str(), password.as_str()) {
                        ("key", "secret") => AuthOutcome::Success,
                        (_, "throttle") => AuthOutcome::Throttled,
                        (_, "unavailable") => AuthOutcome::Unavailable,
                        _ => AuthOutcome::Invalid,
                    };
                    authenticated = outcome == AuthOutcome::Success;
                    let more = session.auth_result(outcome);
                    if authenticated {
                        assert_eq!(session.authenticated_as(), Some("key"));
                    }
                    more
                }
                Action::Spool { envelope, body } => {
                    assert!(
                        p.info.trusted || authenticated,
                        "spooled for a client that may not send: {envelope:?}"
                    );
                    assert_eq!(
                        envelope.authenticated_as.is_some(),
                        authenticated,
                        "{envelope:?}"
                    );
                    assert_eq!(envelope.tls, tls);
                    assert!(!envelope.rcpts.is_empty() && envelope.rcpts.len() <= MAX_RCPTS);
                    assert!(body.len() <= MAX_SIZE, "body over the size limit");
                    assert_eq!(check_body(&body), Ok(()), "spooled body fails the checks");
                    let outcome = if body.starts_with(b"FAIL") {
                        SpoolOutcome::Failed
                    } else if body.starts_with(b"REJECT") {
                        SpoolOutcome::Rejected(Reply::dynamic(550, "5.6.0", "refused".into()))
                    } else {
                        SpoolOutcome::Queued(format!("Q{}", t.spooled.len() + 1))
                    };
                    t.spooled.push((envelope, body));
                    session.spool_result(outcome)
                }
            };
            for (i, a) in more.into_iter().enumerate() {
                queue.insert(i, a);
            }
        }
        let Some(chunk) = chunks.next() else { break };
        let actions = session.ingest(chunk);
        if t.closed {
            assert!(actions.is_empty(), "a closed session answered: {actions:?}");
        }
        queue.extend(actions);
    }
    let end = if flags & 32 != 0 {
        session.shutdown()
    } else if flags & 64 != 0 {
        session.timeout()
    } else {
        Vec::new()
    };
    if !end.is_empty() {
        assert!(!t.closed);
        assert!(matches!(end.last(), Some(Action::Close)), "{end:?}");
        for a in end {
            if let Action::Send(bytes) = a {
                check_replies(&bytes);
                assert!(bytes.starts_with(b"421 "));
                t.output.extend_from_slice(&bytes);
            }
        }
        t.closed = true;
    }
    t
}

fn session(data: &[u8]) {
    let Some((&flags, conversation)) = data.split_first() else {
        return;
    };
    let p = peer(flags);
    let whole = converse(&p, &[conversation], flags);
    let mut rng = rng_for(data);
    let chunks = split(conversation, &mut rng);
    let split_run = converse(&p, &chunks, flags);
    // Bytes pipelined after STARTTLS are dropped, and which bytes that is depends on the
    // reads: only conversations without STARTTLS must not depend on them.
    if !whole.starttls && !split_run.starttls {
        assert!(
            whole == split_run,
            "the reads change the conversation:\nwhole: {:?}\nsplit at {:?}: {:?}",
            String::from_utf8_lossy(&whole.output),
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            String::from_utf8_lossy(&split_run.output),
        );
    }
}

const SESSION_DICT: &[&[u8]] = &[
    b"EHLO client.test\r\n",
    b"HELO client.test\r\n",
    b"EHLO ",
    b"MAIL FROM:<",
    b"MAIL FROM:<sender@example.com>",
    b"MAIL FROM:<>",
    b" SIZE=",
    b" BODY=8BITMIME",
    b" SMTPUTF8",
    b"RCPT TO:<",
    b"RCPT TO:<rcpt@example.net>\r\n",
    b" NOTIFY=SUCCESS,FAILURE",
    b" ORCPT=rfc822;a@b.c",
    b"DATA\r\n",
    b"BDAT ",
    b"BDAT 10 LAST\r\n",
    b"BDAT 0 LAST\r\n",
    b"BDAT 5\r\n",
    b" LAST",
    b"AUTH PLAIN",
    b"AUTH PLAIN AGtleQBzZWNyZXQ=\r\n",
    b"AUTH LOGIN\r\n",
    b"AUTH LOGIN a2V5\r\n",
    b"a2V5\r\n",
    b"c2VjcmV0\r\n",
    b"AGtleQB0aHJvdHRsZQ==\r\n",
    b"*\r\n",
    b"=\r\n",
    b"AUTH CRAM-MD5\r\n",
    b"STARTTLS\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"VRFY a\r\n",
    b"EXPN a\r\n",
    b"HELP\r\n",
    b"QUIT\r\n",
    b"\r\n.\r\n",
    b"\r\n..\r\n",
    b"\r.\r",
    b"\n.\n",
    b"Subject: x\r\n\r\n",
    b"@",
    b">",
    b"<",
    b":",
    b"\xc3\xa9",
    b"FAIL",
    b"REJECT",
    b"4096",
    b"99999999999999999999",
];

fn session_seeds() -> Vec<Vec<u8>> {
    let plain = b64(b"\0key\0secret");
    let conversations: Vec<(u8, String)> = vec![
        // Trusted relay client, DATA with dot-stuffing, then a second message.
        (
            0,
            "EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n\
             Subject: hi\r\n\r\nhello\r\n..dot\r\n.\r\nMAIL FROM:<> SIZE=100\r\nRCPT TO:<c@example.net>\r\n\
             RCPT TO:<d@example.net>\r\nDATA\r\nFrom: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"
                .into(),
        ),
        // TLS submission with AUTH PLAIN and BDAT chunks.
        (
            2 | 4,
            format!(
                "EHLO client.test\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<key@example.com> BODY=8BITMIME\r\n\
                 RCPT TO:<x@example.net>\r\nBDAT 12\r\nSubject: a\r\n\r\nBDAT 4 LAST\r\nhi\r\nQUIT\r\n"
            ),
        ),
        // Plain submission: STARTTLS, then AUTH LOGIN with the challenge answers.
        (
            1 | 4,
            "EHLO client.test\r\nMAIL FROM:<a@b.c>\r\nSTARTTLS\r\nEHLO client.test\r\nAUTH LOGIN\r\na2V5\r\n\
             c2VjcmV0\r\nMAIL FROM:<a@b.c> SMTPUTF8\r\nRCPT TO:<\u{e9}@b.c>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
                .into(),
        ),
        // Plain submission with plaintext AUTH allowed, wrong then throttled password.
        (
            1 | 4 | 8,
            "EHLO c\r\nAUTH PLAIN\r\nAGtleQB3cm9uZw==\r\nAUTH LOGIN a2V5\r\nd3Jvbmc=\r\n\
             AUTH PLAIN AGtleQB0aHJvdHRsZQ==\r\nNOOP\r\n"
                .into(),
        ),
        // Untrusted relay client: refused at RCPT; smuggling attempts in DATA.
        (
            1,
            "HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nRSET\r\nVRFY x\r\nHELP\r\n"
                .into(),
        ),
        (
            0,
            "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nbody\n.\r\nMAIL FROM:<ceo@bank.example>\r\n\
             RCPT TO:<v@c.d>\r\nDATA\r\nsmuggled\r\n.\r\n\r\n.\r\nQUIT\r\n"
                .into(),
        ),
        (
            0,
            "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nbody\r.\rMAIL FROM:<x@y.z>\r\n.\r\n\
             BDAT 10\r\nDATA\r\nRCPT TO:<e@f.g>\r\nBDAT 0 LAST\r\n"
                .into(),
        ),
        // Errors: unknown commands, long lines, NUL, too many recipients, too large; a trusted
        // client, then a shutdown.
        (
            32,
            format!(
                "EHLO c\r\nFOO\r\nMAIL FROM:<{}@b.c>\r\nMAIL FROM:<a@b.c> SIZE=999999\r\nMAIL FROM:<a@b.c>\r\n\
                 RCPT TO:<1@b.c>\r\nRCPT TO:<2@b.c>\r\nRCPT TO:<3@b.c>\r\nRCPT TO:<4@b.c>\r\nNOOP\0\r\n{}\r\n\
                 BDAT 5000 LAST\r\n{}",
                "l".repeat(70),
                "X".repeat(600),
                "y".repeat(5000)
            ),
        ),
        (
            1 | 4 | 64,
            "EHLO c\r\nAUTH PLAIN\r\n*\r\nMAIL FROM:<a@b.c>\r\nSTARTTLS\r\nSTARTTLS\r\n".into(),
        ),
        (
            2 | 16,
            "EHLO c\r\nSTARTTLS\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\nAUTH PLAIN bm9udWw=\r\nDATA\r\n".into(),
        ),
        (
            0,
            "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nFAIL\r\n.\r\n\
             MAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nREJECT\r\n.\r\nQUIT\r\n"
                .into(),
        ),
    ];
    conversations
        .into_iter()
        .map(|(flags, c)| {
            let mut v = vec![flags];
            v.extend_from_slice(c.as_bytes());
            v
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// smtp-data

fn receive(
    chunks: &[&[u8]],
) -> (
    Result<Vec<u8>, facteur_smtp::data::BodyError>,
    Option<usize>,
) {
    let mut r = DataReceiver::new(1 << 16);
    let mut offset = 0;
    for chunk in chunks {
        if let Some(n) = r.ingest(chunk) {
            return (r.finish(), Some(offset + n));
        }
        offset += chunk.len();
    }
    (r.finish(), None)
}

fn data(input: &[u8]) {
    let mut rng = rng_for(input);
    // The end of data and the body do not depend on the reads.
    let whole = receive(&[input]);
    let chunks = split(input, &mut rng);
    assert_eq!(
        receive(&chunks),
        whole,
        "reads {:?}",
        chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
    );
    if let (Ok(body), Some(_)) = &whole {
        assert_eq!(check_body(body), Ok(()), "DATA accepted what BDAT refuses");
    }
    // Whatever a stored body holds, dot-stuffed it ends DATA exactly at its end (nothing can
    // be smuggled to the next hop), and a body that passes the checks arrives unchanged.
    let wire = dot_stuff(input);
    let (got, end) = receive(&[&wire]);
    assert_eq!(end, Some(wire.len()), "dot-stuffed body ended DATA early");
    if check_body(input).is_ok() {
        let mut want = input.to_vec();
        if !want.is_empty() && !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        if want.len() <= 1 << 16 {
            assert_eq!(got, Ok(want), "dot-stuffing changed the body");
        }
    } else {
        assert!(got.is_err(), "a body refused by BDAT passed DATA");
    }
}

const DATA_DICT: &[&[u8]] = &[
    b"\r\n.\r\n",
    b".\r\n",
    b"..",
    b"\r\n..\r\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b".\n",
    b"\r\n\r\n",
    b"Subject: x\r\n",
    b"MAIL FROM:<a@b.c>\r\n",
];

fn data_seeds() -> Vec<Vec<u8>> {
    vec![
        b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n".to_vec(),
        b"..x\r\n...\r\n.\r\n".to_vec(),
        b".\r\n".to_vec(),
        b"Subject: a\r\n\r\nbody\n.\r\nMAIL FROM:<a@b.c>\r\n\r\n.\r\n".to_vec(),
        b"a\r.\rb\r\n.\r\n".to_vec(),
        [b"x".repeat(998), b"\r\n.\r\n".to_vec()].concat(),
        [b"x".repeat(999), b"\r\n.\r\n".to_vec()].concat(),
        b"a\0b\r\n.\r\n".to_vec(),
        b"From: a\r\nTo: b\r\n\r\n\xc3\xa9t\xc3\xa9\r\n-- \r\nsig\r\n".to_vec(),
    ]
}

// ---------------------------------------------------------------------------------------------
// smtp-auth

fn sasl(input: &[u8]) {
    let line = String::from_utf8_lossy(input);
    let _ = auth::decode_response(&line);
    let _ = auth::decode_login(&line);
    if let Ok((user, pass)) = auth::decode_plain(&line) {
        assert!(!user.is_empty() && !user.contains('\0') && !pass.contains('\0'));
    }
    // The input as a client's SASL PLAIN response: decoded to what it holds.
    let encoded = b64(input);
    let parts: Vec<&[u8]> = input.split(|&b| b == 0).collect();
    let want = match parts[..] {
        [_, user, pass] if !user.is_empty() => {
            match (std::str::from_utf8(user), std::str::from_utf8(pass)) {
                (Ok(u), Ok(p)) => Some((u.to_string(), p.to_string())),
                _ => None,
            }
        }
        _ => None,
    };
    let got = auth::decode_plain(&format!("{encoded}\r\n")).ok();
    assert_eq!(got, want, "PLAIN {encoded}");
    // And as a LOGIN step.
    let login = auth::decode_login(&encoded).ok();
    if !encoded.is_empty() {
        assert_eq!(login.as_deref(), std::str::from_utf8(input).ok());
    }
}

const AUTH_DICT: &[&[u8]] = &[
    b"\0",
    b"=",
    b"==",
    b"*",
    b"+",
    b"/",
    b"AGtleQBzZWNyZXQ=",
    b"a2V5",
    b" ",
    b"\r\n",
    b"key",
    b"secret",
];

fn auth_seeds() -> Vec<Vec<u8>> {
    vec![
        b"AGtleQBzZWNyZXQ=".to_vec(),
        b"YWRtaW4Aa2V5AHNlY3JldA==".to_vec(),
        b"\0key\0secret".to_vec(),
        b"admin\0key\0secret".to_vec(),
        b"\0\0".to_vec(),
        b"*".to_vec(),
        b"=".to_vec(),
        b"a2V5".to_vec(),
        b"!!!".to_vec(),
        "\0cl\u{e9}\0mot de passe".as_bytes().to_vec(),
    ]
}

// ---------------------------------------------------------------------------------------------
// smtp-reply

fn read_replies(chunks: &[&[u8]]) -> (Vec<(u16, [u8; 3], String)>, bool) {
    let mut r = ReplyReader::default();
    let mut out = Vec::new();
    for chunk in chunks {
        r.push(chunk);
        loop {
            match r.next_reply() {
                Ok(Some(reply)) => out.push((reply.code, reply.esc, reply.message)),
                Ok(None) => break,
                Err(e) => {
                    assert!(!e.contains(['\r', '\n']) || e.starts_with("malformed reply"));
                    return (out, true);
                }
            }
        }
    }
    (out, false)
}

fn replies(input: &[u8]) {
    let whole = read_replies(&[input]);
    let mut rng = rng_for(input);
    let chunks = split(input, &mut rng);
    let split_run = read_replies(&chunks);
    if !whole.1 && !split_run.1 {
        assert_eq!(whole, split_run, "the reads change the replies");
    }
}

const REPLY_DICT: &[&[u8]] = &[
    b"250-",
    b"250 ",
    b"220 ",
    b"354 ",
    b"421 ",
    b"550 5.1.1 ",
    b"2.0.0 ",
    b"5.7.1 ",
    b"\r\n",
    b"PIPELINING",
    b"SIZE 10240000",
    b"8BITMIME",
    b"STARTTLS",
    b"AUTH PLAIN LOGIN",
    b"CHUNKING",
    b"SMTPUTF8",
    b"ENHANCEDSTATUSCODES",
];

fn reply_seeds() -> Vec<Vec<u8>> {
    vec![
        b"220 mx.example.net ESMTP ready\r\n".to_vec(),
        b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n".to_vec(),
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n".to_vec(),
        b"550 5.1.1 <a@b.c>: Recipient address rejected: User unknown\r\n".to_vec(),
        b"421-4.7.0 Try again later\r\n421 4.7.0 closing\r\n".to_vec(),
        b"250 2.0.0 Ok: queued as 4Bx\n".to_vec(),
        b"452 4.5.3 Too many recipients\r\n221 2.0.0 Bye\r\n".to_vec(),
    ]
}

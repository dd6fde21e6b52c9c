//! The inbound session driven through a table of edge cases (../shared/reference/test-peers.md).
//! Every case is run whole and again split at every byte offset: the replies must not change.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use facteur_smtp::{Action, AuthOutcome, PeerInfo, Session, SessionConfig, SpoolOutcome};

#[derive(Clone, Copy)]
enum Peer {
    /// Plain connection from a trusted network (no AUTH needed).
    Trusted,
    /// Plain connection, untrusted.
    Plain,
    /// TLS connection, untrusted (must AUTH).
    Tls,
}

struct Run {
    output: String,
    spooled: Vec<(facteur_smtp::Envelope, Vec<u8>)>,
    closed: bool,
    tls_started: bool,
}

fn config(submission: bool) -> Arc<SessionConfig> {
    Arc::new(SessionConfig {
        hostname: "mx.test".into(),
        max_message_size: 2000,
        max_recipients: 3,
        max_errors: 6,
        starttls: true,
        allow_plaintext_auth: false,
        submission,
        inbound_domains: if submission {
            vec![]
        } else {
            vec!["bounces.test".into()]
        },
        inbound_local_parts: vec!["bounce+".into(), "fbl".into()],
    })
}

fn perform(session: &mut Session, actions: Vec<Action>, run: &mut Run) {
    let mut queue: std::collections::VecDeque<Action> = actions.into();
    while let Some(action) = queue.pop_front() {
        let more = match action {
            Action::Send(bytes) => {
                run.output.push_str(&String::from_utf8(bytes).unwrap());
                continue;
            }
            Action::Close => {
                run.closed = true;
                continue;
            }
            Action::StartTls => {
                run.tls_started = true;
                session.tls_established()
            }
            Action::Authenticate { username, password } => {
                session.auth_result(match (username.as_str(), password.as_str()) {
                    ("key", "secret") => AuthOutcome::Success,
                    (_, "throttle") => AuthOutcome::Throttled,
                    _ => AuthOutcome::Invalid,
                })
            }
            Action::Spool { envelope, body } => {
                if body.starts_with(b"FAILSPOOL") {
                    session.spool_result(SpoolOutcome::Failed)
                } else {
                    run.spooled.push((envelope, body));
                    session.spool_result(SpoolOutcome::Queued(format!("Q{}", run.spooled.len())))
                }
            }
        };
        for (i, a) in more.into_iter().enumerate() {
            queue.insert(i, a);
        }
    }
}

fn run_chunks(peer: Peer, submission: bool, chunks: &[&[u8]]) -> Run {
    let info = match peer {
        Peer::Trusted => PeerInfo {
            trusted: true,
            tls: false,
        },
        Peer::Plain => PeerInfo {
            trusted: false,
            tls: false,
        },
        Peer::Tls => PeerInfo {
            trusted: false,
            tls: true,
        },
    };
    let mut session = Session::new(config(submission), info);
    let mut run = Run {
        output: String::new(),
        spooled: vec![],
        closed: false,
        tls_started: false,
    };
    let greeting = session.greeting();
    perform(&mut session, greeting, &mut run);
    for chunk in chunks {
        let actions = session.ingest(chunk);
        perform(&mut session, actions, &mut run);
    }
    run
}

/// Final reply lines ("250 2.1.0 …"), continuation lines of multi-line replies left out.
fn final_lines(output: &str) -> Vec<&str> {
    output
        .split("\r\n")
        .filter(|l| !l.is_empty() && l.as_bytes().get(3) != Some(&b'-'))
        .collect()
}

struct Case {
    name: &'static str,
    peer: Peer,
    submission: bool,
    input: Vec<u8>,
    /// Expected start of each final reply line, in order (greeting included).
    expect: &'static [&'static str],
    closed: bool,
    spooled: usize,
    /// False where bytes after a split legitimately arrive after the TLS handshake.
    split: bool,
}

fn case(
    name: &'static str,
    peer: Peer,
    input: impl AsRef<[u8]>,
    expect: &'static [&'static str],
) -> Case {
    let spooled = expect
        .iter()
        .filter(|e| e.starts_with("250 2.0.0 Ok: queued"))
        .count();
    Case {
        name,
        peer,
        submission: true,
        input: input.as_ref().to_vec(),
        expect,
        closed: false,
        spooled,
        split: true,
    }
}

impl Case {
    fn relay(mut self) -> Self {
        self.submission = false;
        self
    }
    fn whole_only(mut self) -> Self {
        self.split = false;
        self
    }
    fn closes(mut self) -> Self {
        self.closed = true;
        self
    }
}

fn plain_auth(user: &str, pass: &str) -> String {
    STANDARD.encode(format!("\0{user}\0{pass}"))
}

fn cases() -> Vec<Case> {
    use Peer::*;
    let auth_ok = format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain_auth("key", "secret"));
    let big_line = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(5000));
    let long_local = format!("EHLO c\r\nMAIL FROM:<{}@d.example>\r\n", "l".repeat(65));
    let body_long_line = format!(
        "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\n{}\r\n.\r\nQUIT\r\n",
        "z".repeat(999)
    );
    let oversize = format!(
        "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\n{}.\r\nNOOP\r\n",
        "0123456789012345678\r\n".repeat(120)
    );
    vec![
        case("greeting and quit", Trusted, "QUIT\r\n", &["220 mx.test ESMTP", "221 2.0.0"]).closes(),
        case("ehlo without domain", Trusted, "EHLO\r\n", &["220", "501 5.5.4"]),
        case("mail before ehlo", Trusted, "MAIL FROM:<a@b.c>\r\n", &["220", "503 5.5.1"]),
        case("lower case verbs", Trusted, "ehlo c\r\nmail from:<a@b.c>\r\nrcpt to:<r@d.e>\r\nquit\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "221"]).closes(),
        case("unknown verb", Trusted, "FOO bar\r\n", &["220", "500 5.5.2"]),
        case("command line too long", Trusted, big_line, &["220", "500 5.5.2 Error: line too long", "250 2.0.0"]),
        case("mail junk after address", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c> junk\r\n", &["220", "250 HELP", "55"]),
        case("null sender", Trusted, "EHLO c\r\nMAIL FROM:<>\r\n", &["220", "250 HELP", "250 2.1.0"]),
        case("nested mail", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n", &["220", "250 HELP", "250 2.1.0", "503 5.5.1"]),
        case("size above limit", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c> SIZE=999999\r\n", &["220", "250 HELP", "552 5.3.4"]),
        case("unknown mail parameter", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c> FOO=BAR\r\n", &["220", "250 HELP", "555 5.5.4"]),
        case("local part over 64", Trusted, long_local, &["220", "250 HELP", "501 5.1.3"]),
        case("utf8 address without SMTPUTF8", Trusted, "EHLO c\r\nMAIL FROM:<jos\u{e9}@b.c>\r\n", &["220", "250 HELP", "553 5.6.7"]),
        case("utf8 address with SMTPUTF8", Trusted, "EHLO c\r\nMAIL FROM:<jos\u{e9}@b.c> SMTPUTF8\r\nRCPT TO:<\u{e9}l\u{e8}ve@\u{e9}cole.fr>\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5"]),
        case("rcpt before mail", Trusted, "EHLO c\r\nRCPT TO:<r@d.e>\r\n", &["220", "250 HELP", "503 5.5.1"]),
        case("rcpt not an address", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<not an address>\r\n", &["220", "250 HELP", "250 2.1.0", "501 5.1.3"]),
        case("too many recipients", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@d.e>\r\nRCPT TO:<2@d.e>\r\nRCPT TO:<3@d.e>\r\nRCPT TO:<4@d.e>\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3"]),
        case("data without recipients", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nDATA\r\n", &["220", "250 HELP", "250 2.1.0", "554 5.5.1"]),
        case("data before mail", Trusted, "EHLO c\r\nDATA\r\n", &["220", "250 HELP", "503 5.5.1"]),
        case("rset mid transaction", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRSET\r\nRCPT TO:<r@d.e>\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.0.0", "503 5.5.1"]),
        case("ehlo mid transaction resets", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nEHLO c\r\nRCPT TO:<r@d.e>\r\n", &["220", "250 HELP", "250 2.1.0", "250 HELP", "503 5.5.1"]),
        case("pipelined transaction", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nRCPT TO:<s@d.e>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "250 2.1.5", "354", "250 2.0.0 Ok: queued as Q1", "221"]).closes(),
        case("two messages in one session", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\ny\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 Ok: queued as Q1", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 Ok: queued as Q2"]),
        case("body line over 998", Trusted, body_long_line, &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "554 5.6.0", "221"]).closes(),
        case("bare LF in body", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\na\nb\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "550 5.5.2"]),
        case("smuggling LF.CRLF", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nhi\n.\r\nMAIL FROM:<evil@b.c>\r\nRCPT TO:<victim@d.e>\r\nDATA\r\nspoof\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "550 5.5.2"]),
        case("smuggling CRLF.LF", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nhi\r\n.\nMAIL FROM:<evil@b.c>\r\nRCPT TO:<victim@d.e>\r\nDATA\r\nspoof\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "550 5.5.2"]),
        case("smuggling CR.CR", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nhi\r.\rMAIL FROM:<evil@b.c>\r\nDATA\r\nspoof\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "550 5.5.2"]),
        case("bare CR in body", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\na\rb\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "550 5.5.2"]),
        case("NUL in body", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\na\0b\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "554 5.6.0"]),
        case("NUL in command", Trusted, "EHLO c\0\r\n", &["220", "500 5.5.2"]),
        case("8bit body without 8BITMIME", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nd\u{e9}j\u{e0}\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 Ok: queued"]),
        case("oversize without SIZE read to end", Trusted, oversize, &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "552 5.3.4", "250 2.0.0"]),
        case("bdat last", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nBDAT 4\r\nab\r\nBDAT 3 LAST\r\nc\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "250 2.0.0 4 octets", "250 2.0.0 Ok: queued"]),
        case("bdat without transaction consumes chunk", Trusted, "EHLO c\r\nBDAT 6 LAST\r\nNOOP\r\nNOOP\r\n", &["220", "250 HELP", "503 5.5.1", "250 2.0.0"]),
        case("data after bdat", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nBDAT 3\r\nab\nDATA\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "250 2.0.0", "503 5.5.1"]),
        case("vrfy and help and noop", Trusted, "VRFY x\r\nHELP\r\nNOOP\r\n", &["220", "252 2.5.0", "214 2.0.0", "250 2.0.0"]),
        case("too many errors", Trusted, "A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\n", &["220", "500", "500", "500", "500", "500", "500", "421 4.7.0"]).closes(),
        case("spool failure is temporary", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nFAILSPOOL\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "354", "451 4.3.0"]),
        // Submission rules (RFC 3207, 4954).
        case("mail before starttls", Plain, "EHLO c\r\nMAIL FROM:<a@b.c>\r\n", &["220", "250 HELP", "530 5.7.0 Must issue a STARTTLS"]),
        case("auth before starttls", Plain, format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain_auth("key", "secret")), &["220", "250 HELP", "530 5.7.0"]),
        case("starttls pipelined command discarded", Plain, "EHLO c\r\nSTARTTLS\r\nNOOP\r\nEHLO c\r\n", &["220", "250 HELP", "220 2.0.0"]).whole_only(),
        case("mail after starttls without new ehlo", Plain, "EHLO c\r\nSTARTTLS\r\n", &["220", "250 HELP", "220 2.0.0"]),
        case("starttls twice", Tls, "EHLO c\r\nSTARTTLS\r\n", &["220", "250 HELP", "503 5.5.1"]),
        case("rcpt with tls but no auth", Tls, "EHLO c\r\nMAIL FROM:<a@b.c>\r\n", &["220", "250 HELP", "530 5.7.0 Authentication required"]),
        case("auth plain ok then send", Tls, format!("{auth_ok}MAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nx\r\n.\r\n"), &["220", "250 HELP", "235 2.7.0", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 Ok: queued"]),
        case("auth plain in two steps", Tls, format!("EHLO c\r\nAUTH PLAIN\r\n{}\r\n", plain_auth("key", "secret")), &["220", "250 HELP", "334", "235 2.7.0"]),
        case("auth login", Tls, format!("EHLO c\r\nAUTH LOGIN\r\n{}\r\n{}\r\n", STANDARD.encode("key"), STANDARD.encode("secret")), &["220", "250 HELP", "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0"]),
        case("wrong password", Tls, format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain_auth("key", "nope")), &["220", "250 HELP", "535 5.7.8"]),
        case("auth not base64", Tls, "EHLO c\r\nAUTH PLAIN !!!notbase64\r\n", &["220", "250 HELP", "501 5.5.2"]),
        case("auth cancelled", Tls, "EHLO c\r\nAUTH LOGIN\r\n*\r\n", &["220", "250 HELP", "334", "501 5.7.0"]),
        case("unknown mechanism", Tls, "EHLO c\r\nAUTH CRAM-MD5\r\n", &["220", "250 HELP", "504 5.5.4"]),
        case("auth twice", Tls, format!("{auth_ok}AUTH PLAIN {}\r\n", plain_auth("key", "secret")), &["220", "250 HELP", "235 2.7.0", "503 5.5.1"]),
        case("auth throttled closes", Tls, format!("EHLO c\r\nAUTH PLAIN {}\r\nNOOP\r\n", plain_auth("key", "throttle")), &["220", "250 HELP", "421 4.7.0"]).closes(),
        // Relay listener: never an open relay.
        case("relay port refuses unauthenticated rcpt", Plain, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\n", &["220", "250 HELP", "250 2.1.0", "554 5.7.1"]).relay(),
        // The bounce domain takes mail from anyone on the relay port, and only for itself.
        case("relay port takes mail for the bounce domain from anyone", Plain, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bounce+1@Bounces.Test>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nSubject: x\r\n\r\nreport\r\n.\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "554 5.7.1", "354", "250 2.0.0 Ok: queued"]).relay(),
        case("a trusted client sends bounce-domain mail in its own transaction", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nRCPT TO:<fbl@bounces.test>\r\nRSET\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<fbl@bounces.test>\r\nRCPT TO:<r@d.e>\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5", "452 4.5.3", "250 2.0.0", "250 2.1.0", "250 2.1.5", "452 4.5.3"]).relay(),
        case("the bounce domain takes only its own mailboxes", Plain, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<anyone@bounces.test>\r\nRCPT TO:<bounceX@bounces.test>\r\nRCPT TO:<Bounce+abc@bounces.test>\r\n", &["220", "250 HELP", "250 2.1.0", "550 5.1.1", "550 5.1.1", "250 2.1.5"]).relay(),
        case("the submission port has no bounce domain", Tls, "EHLO c\r\nMAIL FROM:<>\r\n", &["220", "250 HELP", "530 5.7.0"]),
        case("relay port trusted network relays", Trusted, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\n", &["220", "250 HELP", "250 2.1.0", "250 2.1.5"]).relay(),
    ]
}

#[test]
fn edge_case_table_at_every_split() {
    let cases = cases();
    assert!(cases.len() >= 30);
    for c in &cases {
        let whole = run_chunks(c.peer, c.submission, &[&c.input]);
        let lines = final_lines(&whole.output);
        assert_eq!(
            lines.len(),
            c.expect.len(),
            "{}: replies {:?}",
            c.name,
            lines
        );
        for (line, want) in lines.iter().zip(c.expect) {
            assert!(
                line.starts_with(want),
                "{}: got {line:?}, want {want:?} in {lines:?}",
                c.name
            );
        }
        assert_eq!(whole.closed, c.closed, "{}: closed", c.name);
        assert_eq!(whole.spooled.len(), c.spooled, "{}: spooled", c.name);
        for at in (1..c.input.len()).filter(|_| c.split) {
            let (a, b) = c.input.split_at(at);
            let split = run_chunks(c.peer, c.submission, &[a, b]);
            assert_eq!(split.output, whole.output, "{}: split at {at}", c.name);
            assert_eq!(split.spooled, whole.spooled, "{}: split at {at}", c.name);
        }
    }
}

#[test]
fn byte_by_byte_transaction() {
    let input = b"EHLO c\r\nMAIL FROM:<a@b.c> BODY=8BITMIME\r\nRCPT TO:<r@d.e>\r\nDATA\r\n..dot\r\nline\r\n.\r\n";
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    let run = run_chunks(Peer::Trusted, true, &chunks);
    assert_eq!(run.spooled.len(), 1);
    let (env, body) = &run.spooled[0];
    assert_eq!(body, b".dot\r\nline\r\n");
    assert_eq!(env.mail_from, "a@b.c");
    assert_eq!(env.rcpts, vec!["r@d.e".to_string()]);
    assert!(env.body_8bit && env.esmtp);
    assert!(!env.inbound);
}

#[test]
fn mail_for_the_bounce_domain_is_marked_inbound() {
    let input =
        b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bounce+1@bounces.test.>\r\nDATA\r\nreport\r\n.\r\n";
    let run = run_chunks(Peer::Plain, false, &[input]);
    assert_eq!(run.spooled.len(), 1, "{}", run.output);
    let (env, _) = &run.spooled[0];
    assert!(env.inbound);
    assert_eq!(env.mail_from, "");
}

#[test]
fn starttls_discards_pipelined_input_and_restarts() {
    let run = run_chunks(
        Peer::Plain,
        true,
        &[
            b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.c>\r\n",
            b"MAIL FROM:<a@b.c>\r\n",
        ],
    );
    assert!(run.tls_started);
    // The pipelined MAIL was dropped; the one after the handshake needs a new EHLO.
    assert_eq!(
        final_lines(&run.output).last().copied().map(|l| &l[..9]),
        Some("503 5.5.1")
    );
}

#[test]
fn ehlo_advertises_auth_only_after_tls() {
    let plain = run_chunks(Peer::Plain, true, &[b"EHLO c\r\n"]);
    assert!(plain.output.contains("STARTTLS") && !plain.output.contains("AUTH"));
    let tls = run_chunks(Peer::Tls, true, &[b"EHLO c\r\n"]);
    assert!(!tls.output.contains("STARTTLS") && tls.output.contains("AUTH PLAIN LOGIN"));
    for ext in [
        "PIPELINING",
        "SIZE 2000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(tls.output.contains(ext), "{ext}");
    }
}

#[test]
fn authenticated_key_reaches_envelope() {
    let input = format!(
        "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@d.e>\r\nDATA\r\nx\r\n.\r\n",
        plain_auth("key", "secret")
    );
    let run = run_chunks(Peer::Tls, true, &[input.as_bytes()]);
    assert_eq!(run.spooled[0].0.authenticated_as.as_deref(), Some("key"));
    assert!(run.spooled[0].0.tls);
}

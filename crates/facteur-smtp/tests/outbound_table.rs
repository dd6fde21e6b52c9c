//! The outbound session driven through scripted server conversations. Each script is a list of
//! server writes (the first is the greeting; each later one is sent once the client has written
//! and waits for a reply). Every case is run with each server write fed whole, then split at
//! every byte offset, then byte by byte: what the client writes and the results must not change.

use std::collections::VecDeque;

use facteur_smtp::outbound::{
    Capabilities, Failure, MailEnvelope, OutboundConfig, OutboundSession, Output, TlsPolicy,
    TransactionOutcome, TransactionResult,
};

#[derive(Clone)]
struct Mail {
    from: &'static str,
    rcpts: Vec<&'static str>,
    smtputf8: bool,
    eightbit: bool,
}

fn mail(rcpts: &[&'static str]) -> Mail {
    Mail {
        from: "a@b.c",
        rcpts: rcpts.to_vec(),
        smtputf8: false,
        eightbit: false,
    }
}

const BODY_SIZE: usize = 120;

impl Mail {
    fn envelope<'a>(&'a self, rcpts: &'a [&'a str]) -> MailEnvelope<'a> {
        MailEnvelope {
            mail_from: self.from,
            rcpts,
            size: Some(BODY_SIZE),
            smtputf8: self.smtputf8,
            eightbit: self.eightbit,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum End {
    /// The server closes when its script is over.
    Eof,
    /// The server stops answering: the I/O layer times out.
    Timeout,
}

struct Case {
    name: String,
    tls: TlsPolicy,
    server: Vec<String>,
    mails: Vec<Mail>,
    quit: bool,
    end: End,
    expect: Vec<String>,
    /// Bytes come early in this script: a split exactly between two replies of one server
    /// write makes the second look like a timely answer (no I/O layer can tell), so those
    /// splits (and the byte-by-byte run) are left out.
    early: bool,
}

fn case(name: &'static str, server: &[&str], mails: Vec<Mail>, expect: &[&str]) -> Case {
    Case {
        name: name.to_string(),
        tls: TlsPolicy::Opportunistic,
        server: server.iter().map(|s| s.to_string()).collect(),
        mails,
        quit: false,
        end: End::Eof,
        expect: expect.iter().map(|e| e.to_string()).collect(),
        early: false,
    }
}

impl Case {
    fn tls(mut self, tls: TlsPolicy) -> Self {
        self.tls = tls;
        self
    }
    fn quit(mut self) -> Self {
        self.quit = true;
        self
    }
    fn timeout(mut self) -> Self {
        self.end = End::Timeout;
        self
    }
    fn early(mut self) -> Self {
        self.early = true;
        self
    }
}

fn caps_line(c: &Capabilities) -> String {
    let mut words = vec!["ready".to_string()];
    if c.pipelining {
        words.push("PIPELINING".into());
    }
    if c.starttls {
        words.push("STARTTLS".into());
    }
    if let Some(size) = c.size {
        words.push(format!("SIZE={size}"));
    }
    if c.eightbitmime {
        words.push("8BITMIME".into());
    }
    if c.smtputf8 {
        words.push("SMTPUTF8".into());
    }
    if c.chunking {
        words.push("CHUNKING".into());
    }
    if c.enhanced_status_codes {
        words.push("ENHANCEDSTATUSCODES".into());
    }
    words.join(" ")
}

/// `ready`: the session is ready for another transaction once the result is out.
fn done_line(r: &TransactionResult, rcpts: &[&str], ready: bool) -> String {
    assert_eq!(r.rcpts.len(), rcpts.len(), "one result per recipient");
    let outcome = match r.outcome {
        TransactionOutcome::Delivered => "delivered".to_string(),
        TransactionOutcome::Refused(phase) => format!("refused at {phase}"),
    };
    let reuse = if ready { "reusable" } else { "not reusable" };
    let each: Vec<String> = rcpts
        .iter()
        .zip(&r.rcpts)
        .map(|(addr, res)| {
            let esc = if res.reply.esc[0] != 0 {
                format!(
                    " {}.{}.{}",
                    res.reply.esc[0], res.reply.esc[1], res.reply.esc[2]
                )
            } else {
                String::new()
            };
            format!(
                "{addr}: {} {}{esc} {}",
                res.phase,
                res.reply.code,
                res.reply.message.replace('\n', " / ")
            )
        })
        .collect();
    format!("done {outcome}, {reuse}; {}", each.join("; "))
}

/// Splits server write `i` into the reads the client sees.
type Reads<'a> = &'a dyn Fn(usize, &[u8]) -> Vec<Vec<u8>>;

/// Runs a case, the server's writes read as `pieces` says.
fn run(c: &Case, pieces: Reads<'_>) -> Vec<String> {
    let mut session = OutboundSession::new(OutboundConfig {
        helo: "client.test".into(),
        tls: c.tls,
    });
    let mut log: Vec<String> = Vec::new();
    let mut queue: VecDeque<Output> = VecDeque::new();
    let mut turns: VecDeque<Vec<Vec<u8>>> = c
        .server
        .iter()
        .enumerate()
        .map(|(i, t)| pieces(i, t.as_bytes()))
        .collect();
    let mut reads: VecDeque<Vec<u8>> = VecDeque::new();
    let mut mails = c.mails.iter();
    let mut current: Vec<&str> = Vec::new();
    let mut quit_sent = false;
    let mut closed = false;
    for _ in 0..10_000 {
        while let Some(output) = queue.pop_front() {
            assert!(!closed, "{}: output after close: {output:?}", c.name);
            match output {
                Output::Send(bytes) => {
                    let text = String::from_utf8(bytes).unwrap();
                    assert!(text.ends_with("\r\n"), "{}: {text:?}", c.name);
                    let cmds: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
                    log.push(format!("> {}", cmds.join(" | ")));
                }
                Output::SendBody => log.push("> <body>".into()),
                Output::StartTls => {
                    log.push("tls".into());
                    queue.extend(session.tls_established());
                }
                Output::Close => {
                    log.push("close".into());
                    closed = true;
                }
                Output::Ready(caps) => log.push(caps_line(&caps)),
                Output::Done(result) => log.push(done_line(&result, &current, session.is_ready())),
                Output::Failed(failure) => log.push(format!("failed {failure}")),
            }
        }
        if closed {
            break;
        }
        if let Some(read) = reads.pop_front() {
            queue.extend(session.receive(&read));
            continue;
        }
        if session.is_ready() {
            if let Some(m) = mails.next() {
                current = m.rcpts.clone();
                queue.extend(session.send_mail(&m.envelope(&current)));
                continue;
            }
            if c.quit && !quit_sent {
                quit_sent = true;
                queue.extend(session.quit());
                continue;
            }
            log.push("idle".into());
            break;
        }
        match turns.pop_front() {
            Some(turn) => reads.extend(turn),
            None if c.end == End::Timeout => {
                log.push("timeout".into());
                queue.extend(session.timeout());
            }
            None => {
                log.push("eof".into());
                queue.extend(session.closed());
            }
        }
    }
    if !turns.is_empty() {
        log.push(format!("unused server writes: {}", turns.len()));
    }
    log
}

/// Offsets inside `turn` that fall exactly after a complete reply.
fn reply_boundaries(turn: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(lf) = turn[start..].iter().position(|&b| b == b'\n') {
        let line = &turn[start..start + lf + 1];
        start += lf + 1;
        if line.get(3) != Some(&b'-') {
            out.push(start);
        }
    }
    out
}

fn check(c: &Case) {
    let whole = run(c, &|_, t| vec![t.to_vec()]);
    let matches = whole.len() == c.expect.len()
        && whole
            .iter()
            .zip(&c.expect)
            .all(|(got, want)| match want.strip_suffix('*') {
                Some(prefix) => got.starts_with(prefix),
                None => got == want,
            });
    assert!(
        matches,
        "{}:\n got: {whole:#?}\nwant: {:#?}",
        c.name, c.expect
    );
    for (turn_index, turn) in c.server.iter().enumerate() {
        let turn = turn.as_bytes();
        let skip = if c.early {
            reply_boundaries(turn)
        } else {
            vec![]
        };
        for at in (1..turn.len()).filter(|at| !skip.contains(at)) {
            let split = run(c, &|i, t| {
                if i == turn_index {
                    vec![t[..at].to_vec(), t[at..].to_vec()]
                } else {
                    vec![t.to_vec()]
                }
            });
            assert_eq!(
                split, whole,
                "{}: server write {turn_index} split at {at}",
                c.name
            );
        }
    }
    if !c.early {
        let bytewise = run(c, &|_, t| t.chunks(1).map(<[u8]>::to_vec).collect());
        assert_eq!(bytewise, whole, "{}: byte by byte", c.name);
    }
}

const GREETING: &str = "220 mx.test ESMTP\r\n";
/// An ESMTP server with PIPELINING.
const EHLO_PIPE: &str = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n";
const READY_PIPE: &str =
    "ready PIPELINING SIZE=1000000 8BITMIME SMTPUTF8 CHUNKING ENHANCEDSTATUSCODES";
/// An ESMTP server without PIPELINING.
const EHLO_PLAIN: &str = "250-mx.test\r\n250-8BITMIME\r\n250 SIZE\r\n";
const READY_PLAIN: &str = "ready SIZE=0 8BITMIME";
const EHLO_TLS: &str = "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n";

const C_EHLO: &str = "> EHLO client.test";
const C_PIPE: &str = "> MAIL FROM:<a@b.c> SIZE=120 | RCPT TO:<r@d.e> | DATA";
const C_MAIL: &str = "> MAIL FROM:<a@b.c> SIZE=120";
const C_RCPT: &str = "> RCPT TO:<r@d.e>";

fn cases() -> Vec<Case> {
    let r = || vec![mail(&["r@d.e"])];
    let three = || vec![mail(&["r@d.e", "bad@d.e", "s@d.e"])];
    let long_reply = format!(
        "250-mx.test\r\n{}250 end\r\n",
        "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n".repeat(130)
    );
    let long_line = format!("220 {}\r\n", "y".repeat(9000));
    let mut v = vec![
        // Delivery.
        case(
            "pipelined delivery",
            &[
                GREETING,
                EHLO_PIPE,
                "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n",
                "250 2.0.0 queued as X\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 queued as X",
                "idle",
            ],
        ),
        case(
            "not pipelined delivery",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 2.1.0 ok\r\n",
                "250 2.1.5 ok\r\n",
                "354 go ahead\r\n",
                "250 2.0.0 queued\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 queued",
                "idle",
            ],
        ),
        case(
            "replies without enhanced codes",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "250 ok\r\n",
                "354 go\r\n",
                "250 queued\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 queued",
                "idle",
            ],
        ),
        case(
            "multi-line replies at every phase",
            &[
                "220-mx.test ESMTP\r\n220-no UCE\r\n220 welcome\r\n",
                EHLO_PLAIN,
                "250-2.1.0 sender\r\n250 2.1.0 ok\r\n",
                "250-2.1.5 first\r\n250 2.1.5 ok\r\n",
                "550-5.1.1 no such\r\n550-5.1.1 user\r\n550 5.1.1 here\r\n",
                "250 2.1.5 ok\r\n",
                "354-first\r\n354 go ahead\r\n",
                "250-2.0.0 queued\r\n250 2.0.0 as X\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> RCPT TO:<bad@d.e>",
                "> RCPT TO:<s@d.e>",
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 queued / as X; bad@d.e: RCPT 550 5.1.1 no such / user / here; s@d.e: end of data 250 2.0.0 queued / as X",
                "idle",
            ],
        ),
        case(
            "two deliveries on one connection",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 2.0.0 one\r\n",
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 2.0.0 two\r\n",
            ],
            vec![mail(&["r@d.e"]), mail(&["r@d.e"])],
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 one",
                C_PIPE,
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 two",
                "idle",
            ],
        ),
        case(
            "quit",
            &[GREETING, EHLO_PIPE, "221 2.0.0 bye\r\n"],
            vec![],
            &[C_EHLO, READY_PIPE, "> QUIT", "close"],
        )
        .quit(),
        case(
            "quit and the server just closes",
            &[GREETING, EHLO_PIPE],
            vec![],
            &[C_EHLO, READY_PIPE, "> QUIT", "eof", "close"],
        )
        .quit(),
        case(
            "null sender, utf8 and 8bit parameters",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 ok\r\n",
            ],
            vec![Mail {
                from: "",
                rcpts: vec!["\u{e9}l\u{e8}ve@\u{e9}cole.fr"],
                smtputf8: true,
                eightbit: true,
            }],
            &[
                C_EHLO,
                READY_PIPE,
                "> MAIL FROM:<> SMTPUTF8 BODY=8BITMIME SIZE=120 | RCPT TO:<\u{e9}l\u{e8}ve@\u{e9}cole.fr> | DATA",
                "> <body>",
                "done delivered, reusable; \u{e9}l\u{e8}ve@\u{e9}cole.fr: end of data 250 ok",
                "idle",
            ],
        ),
        case(
            "smtputf8 required but not offered",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "250 ok\r\n",
                "354 go\r\n",
                "250 ok\r\n",
            ],
            vec![
                Mail {
                    from: "jos\u{e9}@b.c",
                    rcpts: vec!["r@d.e", "s@d.e"],
                    smtputf8: true,
                    eightbit: false,
                },
                mail(&["r@d.e"]),
            ],
            &[
                C_EHLO,
                READY_PLAIN,
                "done refused at local, reusable; r@d.e: local 553 5.6.7 the message needs SMTPUTF8, which the server does not offer; s@d.e: local 553 5.6.7 the message needs SMTPUTF8, which the server does not offer",
                C_MAIL,
                C_RCPT,
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 ok",
                "idle",
            ],
        ),
        // Greeting.
        case(
            "greeting 554",
            &[GREETING.replace("220", "554").as_str()],
            r(),
            &["failed greeting refused: 554 mx.test ESMTP", "close"],
        ),
        case(
            "greeting 421",
            &["421 4.3.2 busy, come back later\r\n"],
            r(),
            &[
                "failed greeting refused: 421 4.3.2 busy, come back later",
                "close",
            ],
        ),
        case(
            "greeting 3xx",
            &["354 what\r\n"],
            r(),
            &["failed greeting: unexpected reply 354 what", "close"],
        ),
        case(
            "greeting is not SMTP",
            &["HTTP/1.1 400 Bad Request\r\n"],
            r(),
            &["failed greeting: malformed reply*", "close"],
        ),
        case(
            "greeting code out of range",
            &["999 what\r\n"],
            r(),
            &["failed greeting: unexpected reply 999 what", "close"],
        ),
        case(
            "no greeting",
            &[],
            r(),
            &["timeout", "failed no reply in time (greeting)", "close"],
        )
        .timeout(),
        case(
            "closed before the greeting",
            &[],
            r(),
            &["eof", "failed connection closed (greeting)", "close"],
        ),
        case(
            "greeting without line end then close",
            &["220 mx.test"],
            r(),
            &["eof", "failed connection closed (greeting)", "close"],
        ),
        case(
            "over-long reply",
            &[GREETING, long_reply.as_str()],
            r(),
            &[C_EHLO, "failed EHLO: reply longer than 8192 bytes", "close"],
        ),
        case(
            "over-long line",
            &[long_line.as_str()],
            r(),
            &["failed greeting: reply longer than 8192 bytes", "close"],
        ),
        // EHLO and HELO.
        case(
            "EHLO refused: HELO",
            &[
                GREETING,
                "502 5.5.2 EHLO? never heard of it\r\n",
                "250 mx.test\r\n",
                "250 ok\r\n",
                "250 ok\r\n",
                "354 go\r\n",
                "250 ok\r\n",
            ],
            vec![Mail {
                eightbit: true,
                ..mail(&["r@d.e"])
            }],
            &[
                C_EHLO,
                "> HELO client.test",
                "ready",
                "> MAIL FROM:<a@b.c>",
                C_RCPT,
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 ok",
                "idle",
            ],
        ),
        case(
            "EHLO and HELO refused",
            &[GREETING, "500 5.5.1 what\r\n", "554 5.7.1 go away\r\n"],
            r(),
            &[
                C_EHLO,
                "> HELO client.test",
                "failed HELO refused: 554 5.7.1 go away",
                "close",
            ],
        ),
        case(
            "HELO 4xx",
            &[GREETING, "500 what\r\n", "451 4.3.0 later\r\n"],
            r(),
            &[
                C_EHLO,
                "> HELO client.test",
                "failed HELO refused: 451 4.3.0 later",
                "close",
            ],
        ),
        case(
            "EHLO 4xx",
            &[GREETING, "421 4.3.0 closing\r\n"],
            r(),
            &[C_EHLO, "failed EHLO refused: 421 4.3.0 closing", "close"],
        ),
        case(
            "EHLO 3xx",
            &[GREETING, "354 eh\r\n"],
            r(),
            &[C_EHLO, "failed EHLO: unexpected reply 354 eh", "close"],
        ),
        case(
            "EHLO keywords in any case, SIZE without a limit",
            &[
                GREETING,
                "250-mx.test\r\n250-pipelining\r\n250-Size\r\n250-8bitmime\r\n250 X-UNKNOWN 1 2\r\n",
            ],
            vec![],
            &[C_EHLO, "ready PIPELINING SIZE=0 8BITMIME", "idle"],
        ),
        // STARTTLS.
        case(
            "STARTTLS offered and used",
            &[
                GREETING,
                EHLO_TLS,
                "220 2.0.0 ready\r\n",
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                "> STARTTLS",
                "tls",
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 ok",
                "idle",
            ],
        ),
        case(
            "STARTTLS refused: plain text",
            &[
                GREETING,
                EHLO_TLS,
                "454 4.7.0 TLS not available\r\n",
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                "> STARTTLS",
                "ready PIPELINING STARTTLS",
                "> MAIL FROM:<a@b.c> | RCPT TO:<r@d.e> | DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 ok",
                "idle",
            ],
        ),
        case(
            "STARTTLS refused, TLS required",
            &[GREETING, EHLO_TLS, "454 4.7.0 TLS not available\r\n"],
            r(),
            &[
                C_EHLO,
                "> STARTTLS",
                "failed STARTTLS refused: 454 4.7.0 TLS not available",
                "close",
            ],
        )
        .tls(TlsPolicy::Required),
        case(
            "STARTTLS not offered, TLS required",
            &[GREETING, EHLO_PIPE],
            r(),
            &[C_EHLO, "failed the server does not offer STARTTLS", "close"],
        )
        .tls(TlsPolicy::Required),
        case(
            "STARTTLS offered, TLS disabled",
            &[GREETING, EHLO_TLS],
            vec![],
            &[C_EHLO, "ready PIPELINING STARTTLS", "idle"],
        )
        .tls(TlsPolicy::Disabled),
        case(
            "STARTTLS 421",
            &[GREETING, EHLO_TLS, "421 4.7.0 bye\r\n"],
            r(),
            &[
                C_EHLO,
                "> STARTTLS",
                "failed STARTTLS refused: 421 4.7.0 bye",
                "close",
            ],
        ),
        case(
            "STARTTLS answered 250",
            &[GREETING, EHLO_TLS, "250 sure\r\n"],
            r(),
            &[
                C_EHLO,
                "> STARTTLS",
                "failed STARTTLS: unexpected reply 250 sure",
                "close",
            ],
        ),
        case(
            "STARTTLS response injection",
            &[
                GREETING,
                EHLO_TLS,
                "220 2.0.0 ready\r\n250-mx.test\r\n250 PIPELINING\r\n",
            ],
            r(),
            &[
                C_EHLO,
                "> STARTTLS",
                "failed STARTTLS: the server sent more after its 220 to STARTTLS",
                "close",
            ],
        )
        .early(),
        case(
            "EHLO after TLS refused: HELO",
            &[
                GREETING,
                EHLO_TLS,
                "220 go\r\n",
                "502 no\r\n",
                "250 mx.test\r\n",
            ],
            vec![],
            &[
                C_EHLO,
                "> STARTTLS",
                "tls",
                C_EHLO,
                "> HELO client.test",
                "ready",
                "idle",
            ],
        )
        .tls(TlsPolicy::Required),
        // MAIL.
        case(
            "MAIL 4xx, pipelined",
            &[
                GREETING,
                EHLO_PIPE,
                "451 4.3.0 try later\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n",
                "250 2.0.0 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> RSET",
                "done refused at MAIL, reusable; r@d.e: MAIL 451 4.3.0 try later",
                "idle",
            ],
        ),
        case(
            "MAIL 5xx, not pipelined",
            &[
                GREETING,
                EHLO_PLAIN,
                "550 5.7.1 sender refused\r\n",
                "250 2.0.0 ok\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                "> RSET",
                "done refused at MAIL, reusable; r@d.e: MAIL 550 5.7.1 sender refused; bad@d.e: MAIL 550 5.7.1 sender refused; s@d.e: MAIL 550 5.7.1 sender refused",
                "idle",
            ],
        ),
        case(
            "MAIL 421, pipelined",
            &[GREETING, EHLO_PIPE, "421 4.4.2 closing\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "done refused at MAIL, not reusable; r@d.e: MAIL 421 4.4.2 closing",
                "close",
            ],
        ),
        case(
            "MAIL 3xx",
            &[GREETING, EHLO_PLAIN, "354 eh\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                "failed MAIL: unexpected reply 354 eh",
                "close",
            ],
        ),
        // RCPT.
        case(
            "some recipients refused, pipelined",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n451 4.2.0 mailbox busy\r\n354 go\r\n",
                "250 2.0.0 queued\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PIPE,
                "> MAIL FROM:<a@b.c> SIZE=120 | RCPT TO:<r@d.e> | RCPT TO:<bad@d.e> | RCPT TO:<s@d.e> | DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 queued; bad@d.e: RCPT 550 5.1.1 no such user; s@d.e: RCPT 451 4.2.0 mailbox busy",
                "idle",
            ],
        ),
        case(
            "some recipients refused, not pipelined",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "550 5.1.1 no such user\r\n",
                "550 5.1.1 no such user\r\n",
                "250 ok\r\n",
                "354 go\r\n",
                "250 2.0.0 queued\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> RCPT TO:<bad@d.e>",
                "> RCPT TO:<s@d.e>",
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: RCPT 550 5.1.1 no such user; bad@d.e: RCPT 550 5.1.1 no such user; s@d.e: end of data 250 2.0.0 queued",
                "idle",
            ],
        ),
        case(
            "every recipient refused, pipelined",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n",
                "250 2.0.0 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> RSET",
                "done refused at RCPT, reusable; r@d.e: RCPT 550 5.1.1 no such user",
                "idle",
            ],
        ),
        case(
            "every recipient refused, pipelined, and still 354",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n451 4.3.0 later\r\n354 go\r\n",
                "554 5.5.1 no valid recipients\r\n",
                "250 2.0.0 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> .",
                "> RSET",
                "done refused at RCPT, reusable; r@d.e: RCPT 451 4.3.0 later",
                "idle",
            ],
        ),
        case(
            "every recipient refused, not pipelined",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "550 5.1.1 no\r\n",
                "550 5.1.1 no\r\n",
                "550 5.1.1 no\r\n",
                "250 2.0.0 ok\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> RCPT TO:<bad@d.e>",
                "> RCPT TO:<s@d.e>",
                "> RSET",
                "done refused at RCPT, reusable; r@d.e: RCPT 550 5.1.1 no; bad@d.e: RCPT 550 5.1.1 no; s@d.e: RCPT 550 5.1.1 no",
                "idle",
            ],
        ),
        case(
            "RCPT 421 after an accepted recipient",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "250 ok\r\n",
                "421 4.4.2 closing\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> RCPT TO:<bad@d.e>",
                "done refused at RCPT, not reusable; r@d.e: RCPT 421 4.4.2 closing; bad@d.e: RCPT 421 4.4.2 closing; s@d.e: RCPT 421 4.4.2 closing",
                "close",
            ],
        ),
        case(
            "RCPT 2xx other than 250",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "251 2.1.5 forwarded\r\n",
                "354 go\r\n",
                "250 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> DATA",
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 ok",
                "idle",
            ],
        ),
        // DATA.
        case(
            "DATA 4xx, not pipelined",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "250 ok\r\n",
                "451 4.3.0 no\r\n",
                "250 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> DATA",
                "> RSET",
                "done refused at DATA, reusable; r@d.e: DATA 451 4.3.0 no",
                "idle",
            ],
        ),
        case(
            "DATA 5xx, pipelined, refused recipient keeps its reply",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n554 5.3.4 too big\r\n",
                "250 ok\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PIPE,
                "> MAIL FROM:<a@b.c> SIZE=120 | RCPT TO:<r@d.e> | RCPT TO:<bad@d.e> | RCPT TO:<s@d.e> | DATA",
                "> RSET",
                "done refused at DATA, reusable; r@d.e: DATA 554 5.3.4 too big; bad@d.e: RCPT 550 5.1.1 no; s@d.e: DATA 554 5.3.4 too big",
                "idle",
            ],
        ),
        case(
            "DATA answered 250",
            &[
                GREETING,
                EHLO_PLAIN,
                "250 ok\r\n",
                "250 ok\r\n",
                "250 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "> DATA",
                "failed DATA: unexpected reply 250 ok",
                "close",
            ],
        ),
        // End of data.
        case(
            "end of data 4xx",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "451 4.3.0 deferred once\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "done refused at end of data, reusable; r@d.e: end of data 451 4.3.0 deferred once",
                "idle",
            ],
        ),
        case(
            "end of data 5xx to every accepted recipient",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n",
                "550 5.7.1 spam\r\n",
            ],
            three(),
            &[
                C_EHLO,
                READY_PIPE,
                "> MAIL FROM:<a@b.c> SIZE=120 | RCPT TO:<r@d.e> | RCPT TO:<bad@d.e> | RCPT TO:<s@d.e> | DATA",
                "> <body>",
                "done refused at end of data, reusable; r@d.e: end of data 550 5.7.1 spam; bad@d.e: RCPT 550 5.1.1 no; s@d.e: end of data 550 5.7.1 spam",
                "idle",
            ],
        ),
        case(
            "end of data 421",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "421 4.3.0 shutting down\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "done refused at end of data, not reusable; r@d.e: end of data 421 4.3.0 shutting down",
                "close",
            ],
        ),
        case(
            "end of data never answered",
            &[GREETING, EHLO_PIPE, "250 ok\r\n250 ok\r\n354 go\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "timeout",
                "failed no reply in time (end of data)",
                "close",
            ],
        )
        .timeout(),
        case(
            "closed mid transaction",
            &[GREETING, EHLO_PLAIN, "250 ok\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "eof",
                "failed connection closed (RCPT)",
                "close",
            ],
        ),
        case(
            "closed in the middle of a pipelined group",
            &[GREETING, EHLO_PIPE, "250 ok\r\n250 ok\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "eof",
                "failed connection closed (DATA)",
                "close",
            ],
        ),
        // RSET and reuse.
        case(
            "reuse after RSET",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n",
                "250 2.0.0 reset\r\n",
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 2.0.0 queued\r\n",
            ],
            vec![mail(&["r@d.e"]), mail(&["r@d.e"])],
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> RSET",
                "done refused at RCPT, reusable; r@d.e: RCPT 550 5.1.1 no",
                C_PIPE,
                "> <body>",
                "done delivered, reusable; r@d.e: end of data 250 2.0.0 queued",
                "idle",
            ],
        ),
        case(
            "RSET refused",
            &[GREETING, EHLO_PLAIN, "550 5.7.1 no\r\n", "500 what\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                "> RSET",
                "done refused at MAIL, not reusable; r@d.e: MAIL 550 5.7.1 no",
                "close",
            ],
        ),
        case(
            "RSET never answered: the result stands",
            &[GREETING, EHLO_PLAIN, "550 5.7.1 no\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                "> RSET",
                "timeout",
                "done refused at MAIL, not reusable; r@d.e: MAIL 550 5.7.1 no",
                "close",
            ],
        )
        .timeout(),
        case(
            "RSET answered with garbage: the result stands",
            &[GREETING, EHLO_PLAIN, "550 5.7.1 no\r\n", "what?\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                "> RSET",
                "done refused at MAIL, not reusable; r@d.e: MAIL 550 5.7.1 no",
                "close",
            ],
        ),
        // Malformed and early replies.
        case(
            "malformed reply mid transaction",
            &[GREETING, EHLO_PLAIN, "250 ok\r\n", "25O ok\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                C_RCPT,
                "failed RCPT: malformed reply*",
                "close",
            ],
        ),
        case(
            "reply before its command, not pipelined",
            &[GREETING, EHLO_PLAIN, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n"],
            r(),
            &[
                C_EHLO,
                READY_PLAIN,
                C_MAIL,
                "failed RCPT: the server sent more than the replies it owed",
                "close",
            ],
        )
        .early(),
        case(
            "EHLO answered before it was sent",
            &[format!("{GREETING}{EHLO_PLAIN}").as_str()],
            r(),
            &[
                "failed EHLO: the server sent more than the replies it owed",
                "close",
            ],
        )
        .early(),
        case(
            "354 with the end-of-data reply",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "failed end of data: the server sent more than the replies it owed",
                "close",
            ],
        )
        .early(),
        case(
            "more replies than commands in a pipelined group",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n451 4.3.0 no\r\n250 extra\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "done refused at DATA, not reusable; r@d.e: DATA 451 4.3.0 no",
                "close",
            ],
        )
        .early(),
        case(
            "a second reply after the end of data",
            &[
                GREETING,
                EHLO_PIPE,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                "250 ok\r\n250 surprise\r\n",
            ],
            r(),
            &[
                C_EHLO,
                READY_PIPE,
                C_PIPE,
                "> <body>",
                "done delivered, not reusable; r@d.e: end of data 250 ok",
                "close",
            ],
        )
        .early(),
        case(
            "bytes after the EHLO reply",
            &[GREETING, "250-mx.test\r\n250 PIPELINING\r\n421 idle\r\n"],
            r(),
            &[
                C_EHLO,
                "failed EHLO: the server sent data nobody asked for",
                "close",
            ],
        )
        .early(),
    ];
    v.extend(class_table());
    v
}

/// Every reply class at every transaction phase, pipelined and not; the other phases say yes.
fn class_table() -> Vec<Case> {
    let mut v = Vec::new();
    for pipelined in [true, false] {
        for code in ["250 2.0.0 fine", "451 4.3.0 later", "550 5.7.1 no"] {
            for phase in ["MAIL", "RCPT", "DATA", "end of data"] {
                let say = |p: &str, ok: &str| {
                    if p == phase {
                        format!("{code}\r\n")
                    } else {
                        format!("{ok}\r\n")
                    }
                };
                let (mail_r, rcpt_r, data_r, eod_r) = (
                    say("MAIL", "250 ok"),
                    say("RCPT", "250 ok"),
                    say("DATA", "354 go"),
                    say("end of data", "250 ok"),
                );
                let positive = |r: &str| r.starts_with('2');
                let mut server = vec![GREETING.to_string()];
                let mut expect = vec![C_EHLO.to_string()];
                let refused = |at: &str, reply: &str| {
                    format!(
                        "done refused at {at}, reusable; r@d.e: {at} {}",
                        reply.trim_end()
                    )
                };
                let delivered_or_not = |eod: &str| {
                    if positive(eod) {
                        format!(
                            "done delivered, reusable; r@d.e: end of data {}",
                            eod.trim_end()
                        )
                    } else {
                        refused("end of data", eod)
                    }
                };
                if pipelined {
                    server.push(EHLO_PIPE.into());
                    expect.push(READY_PIPE.into());
                    server.push(format!("{mail_r}{rcpt_r}{data_r}"));
                    expect.push(C_PIPE.into());
                    let accepted = positive(&mail_r) && positive(&rcpt_r);
                    if positive(&data_r) {
                        expect.push(format!(
                            "failed DATA: unexpected reply {}",
                            data_r.trim_end()
                        ));
                        expect.push("close".into());
                    } else if data_r.starts_with("354") && accepted {
                        expect.push("> <body>".into());
                        server.push(eod_r.clone());
                        expect.push(delivered_or_not(&eod_r));
                        expect.push("idle".into());
                    } else if data_r.starts_with("354") {
                        expect.push("> .".into());
                        server.push("554 5.5.1 no valid recipients\r\n".into());
                        expect.push("> RSET".into());
                        server.push("250 2.0.0 reset\r\n".into());
                        let (at, reply) = if positive(&mail_r) {
                            ("RCPT", &rcpt_r)
                        } else {
                            ("MAIL", &mail_r)
                        };
                        expect.push(refused(at, reply));
                        expect.push("idle".into());
                    } else {
                        expect.push("> RSET".into());
                        server.push("250 2.0.0 reset\r\n".into());
                        expect.push(refused("DATA", &data_r));
                        expect.push("idle".into());
                    }
                } else {
                    server.push(EHLO_PLAIN.into());
                    expect.push(READY_PLAIN.into());
                    let reset = |server: &mut Vec<String>, expect: &mut Vec<String>, done| {
                        expect.push("> RSET".into());
                        server.push("250 2.0.0 reset\r\n".into());
                        expect.push(done);
                        expect.push("idle".into());
                    };
                    server.push(mail_r.clone());
                    expect.push(C_MAIL.into());
                    if !positive(&mail_r) {
                        reset(&mut server, &mut expect, refused("MAIL", &mail_r));
                    } else {
                        server.push(rcpt_r.clone());
                        expect.push(C_RCPT.into());
                        if !positive(&rcpt_r) {
                            reset(&mut server, &mut expect, refused("RCPT", &rcpt_r));
                        } else {
                            server.push(data_r.clone());
                            expect.push("> DATA".into());
                            if positive(&data_r) {
                                expect.push(format!(
                                    "failed DATA: unexpected reply {}",
                                    data_r.trim_end()
                                ));
                                expect.push("close".into());
                            } else if !data_r.starts_with("354") {
                                reset(&mut server, &mut expect, refused("DATA", &data_r));
                            } else {
                                expect.push("> <body>".into());
                                server.push(eod_r.clone());
                                expect.push(delivered_or_not(&eod_r));
                                expect.push("idle".into());
                            }
                        }
                    }
                }
                let mut c = case("", &[], vec![mail(&["r@d.e"])], &[]);
                c.name = format!("{code} at {phase}, pipelined: {pipelined}");
                c.server = server;
                c.expect = expect;
                v.push(c);
            }
        }
    }
    v
}

#[test]
fn scripted_servers_at_every_split() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for c in &cases {
        check(c);
    }
}

#[test]
fn bytes_during_the_tls_handshake_are_refused() {
    let mut s = OutboundSession::new(OutboundConfig {
        helo: "client.test".into(),
        tls: TlsPolicy::Opportunistic,
    });
    s.receive(GREETING.as_bytes());
    s.receive(EHLO_TLS.as_bytes());
    assert_eq!(s.receive(b"220 go\r\n"), vec![Output::StartTls]);
    let out = s.receive(b"250 injected\r\n");
    assert!(matches!(out[0], Output::Failed(_)), "{out:?}");
    assert_eq!(out[1], Output::Close);
    assert!(s.is_closed() && s.tls_established().is_empty());
}

#[test]
fn send_mail_when_not_ready() {
    let mut s = OutboundSession::new(OutboundConfig {
        helo: "client.test".into(),
        tls: TlsPolicy::Disabled,
    });
    let env = MailEnvelope {
        mail_from: "a@b.c",
        rcpts: &["r@d.e"],
        size: None,
        smtputf8: false,
        eightbit: false,
    };
    let out = s.send_mail(&env);
    assert!(matches!(out[..], [Output::Failed(_)]), "{out:?}");
    // The session is unchanged: the greeting is still expected.
    s.receive(GREETING.as_bytes());
    let out = s.receive(EHLO_PIPE.as_bytes());
    assert!(matches!(out[..], [Output::Ready(_)]), "{out:?}");
    s.send_mail(&env);
    assert!(!s.answered());
    s.receive(b"250 ok\r\n");
    assert!(s.answered());
}

// ---------------------------------------------------------------------------------------------
// Arbitrary server bytes and events: never a panic, and the outputs stay coherent.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const CODES: &[&str] = &[
    "220", "221", "250", "251", "354", "421", "450", "451", "452", "454", "500", "501", "502",
    "503", "550", "552", "553", "554", "000", "199", "399", "999", "25", "2500", "abc",
];
const TEXTS: &[&str] = &[
    "",
    "ok",
    "mx.test",
    "2.0.0 ok",
    "5.1.1 no such user",
    "4.3.0 later",
    "PIPELINING",
    "STARTTLS",
    "SMTPUTF8",
    "8BITMIME",
    "SIZE 100",
    "SIZE x",
    "CHUNKING",
    "\u{e9}t\u{e9}",
    "\0",
    "\r",
    "5.1.",
    "9.9.9.9 odd",
];

fn random_reply(rng: &mut Rng, out: &mut Vec<u8>) {
    let lines = 1 + rng.below(4);
    let code = rng.pick(CODES);
    for i in 0..lines {
        let code = if rng.below(8) == 0 {
            rng.pick(CODES)
        } else {
            code
        };
        out.extend_from_slice(code.as_bytes());
        let sep: &[u8] = if i + 1 == lines {
            rng.pick(&[&b" "[..], b" ", b" ", b"", b"-"])
        } else {
            rng.pick(&[&b"-"[..], b"-", b"-", b" "])
        };
        out.extend_from_slice(sep);
        out.extend_from_slice(rng.pick(TEXTS).as_bytes());
        if rng.below(50) == 0 {
            out.extend(std::iter::repeat_n(b'x', rng.below(10_000)));
        }
        out.extend_from_slice(rng.pick(&[&b"\r\n"[..], b"\r\n", b"\r\n", b"\n", b"\r", b""]));
    }
}

/// What a server could answer to a command (or "greeting", or "." for the end of data).
fn answer(rng: &mut Rng, cmd: &str) -> String {
    let options: &[&str] = match cmd {
        "greeting" => &[
            "220 mx.test ESMTP\r\n",
            "220-mx.test\r\n220 hi\r\n",
            "554 5.7.1 no\r\n",
        ],
        "EHLO" => &[
            "250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 SIZE 10\r\n",
            "250-mx.test\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n",
            "250-mx.test\r\n250 8BITMIME\r\n",
            "250-mx.test\r\n250 STARTTLS\r\n",
            "502 5.5.2 no\r\n",
        ],
        "HELO" => &["250 mx.test\r\n", "250 mx.test\r\n", "550 no\r\n"],
        "STARTTLS" => &["220 2.0.0 go\r\n", "220 2.0.0 go\r\n", "454 4.7.0 no\r\n"],
        "MAIL" => &[
            "250 2.1.0 ok\r\n",
            "250 2.1.0 ok\r\n",
            "250 2.1.0 ok\r\n",
            "451 4.3.0 later\r\n",
            "550 5.7.1 no\r\n",
        ],
        "RCPT" => &[
            "250 2.1.5 ok\r\n",
            "250 2.1.5 ok\r\n",
            "550 5.1.1 no\r\n",
            "451 4.2.0 busy\r\n",
            "421 4.4.2 bye\r\n",
        ],
        "DATA" => &[
            "354 go\r\n",
            "354 go\r\n",
            "354 go\r\n",
            "554 5.5.1 no valid recipients\r\n",
            "451 4.3.0 no\r\n",
        ],
        "." => &[
            "250 2.0.0 queued\r\n",
            "250 2.0.0 queued\r\n",
            "250-2.0.0 queued\r\n250 2.0.0 as X\r\n",
            "451 4.3.0 later\r\n",
            "550 5.7.1 spam\r\n",
            "421 4.3.0 bye\r\n",
        ],
        "RSET" => &["250 2.0.0 ok\r\n", "250 2.0.0 ok\r\n", "500 no\r\n"],
        "QUIT" => &["221 2.0.0 bye\r\n"],
        _ => &["500 5.5.2 what\r\n"],
    };
    rng.pick(options).to_string()
}

/// Replies a server could well send.
const GOOD: &[&str] = &[
    "220 mx.test ESMTP\r\n",
    "220 2.0.0 ready for TLS\r\n",
    "250 ok\r\n",
    "250 ok\r\n",
    "250 2.1.5 ok\r\n",
    "250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 SIZE 10\r\n",
    "250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    "250-mx.test\r\n250 8BITMIME\r\n",
    "354 go ahead\r\n",
    "354 go ahead\r\n",
    "250 2.0.0 queued\r\n",
    "451 4.3.0 later\r\n",
    "550 5.1.1 no such user\r\n",
    "554 5.5.1 no valid recipients\r\n",
    "502 5.5.2 no\r\n",
    "421 4.4.2 bye\r\n",
    "221 2.0.0 bye\r\n",
];

fn random_bytes(rng: &mut Rng, out: &mut Vec<u8>) {
    for _ in 0..rng.below(40) {
        out.push(rng.pick(b"0123456789 -.\r\n\0\xff\xe9Aa"));
    }
}

#[test]
fn arbitrary_server_bytes_never_panic() {
    let rcpt_sets: &[&[&str]] = &[
        &["r@d.e"],
        &["r@d.e"],
        &["r@d.e", "s@d.e", "t@d.e"],
        &["r@d.e", "s@d.e", "t@d.e"],
        &[],
        &["\u{e9}@d.e"],
    ];
    for seed in 1..=20_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let tls = rng.pick(&[
            TlsPolicy::Disabled,
            TlsPolicy::Opportunistic,
            TlsPolicy::Required,
        ]);
        let mut s = OutboundSession::new(OutboundConfig {
            helo: "client.test".into(),
            tls,
        });
        let mut closed = false;
        let mut rcpts: &[&str] = &[];
        let mut busy_with_mail = false;
        let mut tls_pending = false;
        // Replies the scripted server owes, from what the client wrote.
        let mut owed: VecDeque<String> = VecDeque::from([answer(&mut rng, "greeting")]);
        for _ in 0..100 {
            // For each output, whether the session was ready right after the call that gave it.
            let mut ready_after: Vec<bool> = Vec::new();
            let out = match rng.below(100) {
                _ if tls_pending && rng.below(5) != 0 => {
                    tls_pending = false;
                    s.tls_established()
                }
                _ if s.is_ready() && rng.below(10) < 7 || rng.below(60) == 0 => {
                    let these = rng.pick(rcpt_sets);
                    let env = MailEnvelope {
                        mail_from: "a@b.c",
                        rcpts: these,
                        size: Some(rng.below(1000)),
                        smtputf8: rng.below(8) == 0,
                        eightbit: rng.below(2) == 0,
                    };
                    let was_ready = s.is_ready();
                    let out = s.send_mail(&env);
                    if was_ready {
                        busy_with_mail = true;
                        rcpts = these;
                    }
                    out
                }
                0 => s.quit(),
                1 => s.timeout(),
                2 => s.closed(),
                3 => s.tls_established(),
                n => {
                    let mut bytes = Vec::new();
                    match n {
                        4..=5 => random_bytes(&mut rng, &mut bytes),
                        6..=8 => random_reply(&mut rng, &mut bytes),
                        9..=10 => bytes.extend_from_slice(rng.pick(GOOD).as_bytes()),
                        _ => {
                            // Some of the owed replies, now and then one of them mangled.
                            for _ in 0..1 + rng.below(owed.len().max(1)) {
                                let Some(reply) = owed.pop_front() else { break };
                                if rng.below(40) == 0 {
                                    random_reply(&mut rng, &mut bytes);
                                } else {
                                    bytes.extend_from_slice(reply.as_bytes());
                                }
                            }
                        }
                    }
                    // Arbitrary reads of those bytes.
                    let mut outs = Vec::new();
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let n = 1 + rng.below(rest.len());
                        let these = s.receive(&rest[..n]);
                        ready_after.extend(these.iter().map(|_| s.is_ready()));
                        outs.extend(these);
                        rest = &rest[n..];
                    }
                    outs
                }
            };
            ready_after.resize(out.len(), s.is_ready());
            tls_pending |= out.contains(&Output::StartTls);
            for o in &out {
                match o {
                    Output::Send(bytes) => {
                        for line in String::from_utf8_lossy(bytes).split_terminator("\r\n") {
                            let cmd = line.split(' ').next().unwrap_or("").to_string();
                            owed.push_back(answer(&mut rng, &cmd));
                        }
                    }
                    Output::SendBody => owed.push_back(answer(&mut rng, ".")),
                    Output::StartTls | Output::Close => owed.clear(),
                    _ => {}
                }
            }
            for (i, o) in out.iter().enumerate() {
                match o {
                    Output::Failed(Failure::NotReady) => {}
                    _ => assert!(!closed, "seed {seed}: {o:?} after close"),
                }
                match o {
                    Output::Close => closed = true,
                    Output::Failed(Failure::NotReady) => {}
                    Output::Failed(_) => {
                        assert_eq!(out.get(i + 1), Some(&Output::Close), "seed {seed}")
                    }
                    Output::Done(r) => {
                        assert!(busy_with_mail, "seed {seed}: result without a transaction");
                        busy_with_mail = false;
                        assert_eq!(r.rcpts.len(), rcpts.len(), "seed {seed}");
                        // A connection given up on is closed right away.
                        assert_eq!(
                            ready_after[i],
                            out.get(i + 1) != Some(&Output::Close),
                            "seed {seed}"
                        );
                    }
                    Output::Send(bytes) => {
                        assert!(bytes.ends_with(b"\r\n"), "seed {seed}");
                    }
                    _ => {}
                }
            }
            assert_eq!(closed, s.is_closed(), "seed {seed}");
        }
    }
}

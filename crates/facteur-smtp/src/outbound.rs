//! One outbound SMTP connection as a pure state machine (RFC 5321, 3207, 2920, 1870, 6152, 6531).
//!
//! The I/O layer connects, then feeds whatever the server sent to [`OutboundSession::receive`]
//! and performs the returned [`Output`]s in order: write bytes ([`Output::Send`]), write the
//! message body ([`Output::SendBody`]: the body it holds, through [`crate::client::dot_stuff`], so
//! the session never copies it), upgrade to TLS ([`Output::StartTls`], then call
//! [`OutboundSession::tls_established`]), close ([`Output::Close`]). The other outputs are
//! results: [`Output::Ready`] once greeting, EHLO (or HELO) and STARTTLS are done,
//! [`Output::Done`] when a transaction started with [`OutboundSession::send_mail`] has ended,
//! [`Output::Failed`] when the connection is lost. Events the session cannot see itself are fed in
//! with [`OutboundSession::closed`] and [`OutboundSession::timeout`].
//!
//! Replies are framed and parsed by [`crate::client::ReplyReader`] (smtp-proto's parser) one
//! complete line at a time, so the results do not depend on how the bytes were split. Every byte
//! the server sends must answer a command already written: bytes that arrive before the command
//! they would answer (in one read with the previous reply, or while the session is idle or in the
//! TLS handshake) are a protocol error, as is a reply whose code makes no sense where it comes.
//!
//! In a transaction, a 4xx/5xx to MAIL applies to every recipient, one to RCPT to that recipient,
//! one to DATA or after the body to every recipient accepted at RCPT; with no recipient accepted
//! no body is sent. A refused transaction is followed by RSET, whose reply only decides whether
//! the connection can be reused. A 421 at any point ends the connection. A message that needs
//! SMTPUTF8 is not sent to a server that does not offer it: 553 5.6.7, phase [`Phase::Local`].

use std::fmt;

use crate::client::{ReplyReader, Response};

/// Longest reply accepted, all lines and line ends included (smtp-proto caps the text at 4096).
pub const MAX_REPLY_LEN: usize = 8192;
/// Longest protocol error detail (replies are quoted in it).
const MAX_DETAIL: usize = 300;

/// When STARTTLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Never (plain text even when STARTTLS is offered).
    Disabled,
    /// When offered; if the server then refuses STARTTLS, go on in plain text.
    #[default]
    Opportunistic,
    /// Always: a server that does not offer STARTTLS, or refuses it, is a failure.
    Required,
}

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Our name in EHLO/HELO.
    pub helo: String,
    pub tls: TlsPolicy,
}

/// What the server announced in its EHLO reply (all false after HELO).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub pipelining: bool,
    pub starttls: bool,
    /// SIZE is offered, with the server's fixed limit (0: none given).
    pub size: Option<u64>,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    pub chunking: bool,
    pub enhanced_status_codes: bool,
}

impl Capabilities {
    /// The extensions of an EHLO reply's text (its first line is the server's name).
    pub fn from_ehlo(text: &str) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in text.lines().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "STARTTLS" => caps.starttls = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eightbitmime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "CHUNKING" => caps.chunking = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                _ => {}
            }
        }
        caps
    }
}

/// One message to send: the body itself stays with the I/O layer (see [`Output::SendBody`]).
#[derive(Debug, Clone, Copy)]
pub struct MailEnvelope<'a> {
    /// Reverse path; empty for the null sender.
    pub mail_from: &'a str,
    pub rcpts: &'a [&'a str],
    /// Size of the body, declared with SIZE= when the server offers SIZE.
    pub size: Option<usize>,
    /// An address is not ASCII: the server must offer SMTPUTF8, or nothing is sent (5.6.7).
    pub smtputf8: bool,
    /// The body has 8-bit bytes: BODY=8BITMIME when the server offers 8BITMIME.
    pub eightbit: bool,
}

/// The step of the conversation a reply answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The server's greeting on connect.
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Mail,
    Rcpt,
    Data,
    /// The reply after the message body.
    EndOfData,
    Rset,
    Quit,
    /// Between transactions.
    Idle,
    /// Decided by this client without asking the server (SMTPUTF8 needed but not offered):
    /// the reply is made up here.
    Local,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::Helo => "HELO",
            Phase::StartTls => "STARTTLS",
            Phase::Mail => "MAIL",
            Phase::Rcpt => "RCPT",
            Phase::Data => "DATA",
            Phase::EndOfData => "end of data",
            Phase::Rset => "RSET",
            Phase::Quit => "QUIT",
            Phase::Idle => "idle",
            Phase::Local => "local",
        })
    }
}

/// What a reply means for a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the server took responsibility for the message.
    Delivered,
    /// 4xx (or anything else that is not 2xx or 5xx): try again later.
    Deferred,
    /// 5xx: give up.
    Bounced,
}

impl Verdict {
    pub fn of(code: u16) -> Verdict {
        match code / 100 {
            2 => Verdict::Delivered,
            5 => Verdict::Bounced,
            _ => Verdict::Deferred,
        }
    }
}

/// The reply that decided one recipient's fate, and the phase it answered: its RCPT reply if
/// that refused it, else the MAIL refusal, the DATA refusal or the end-of-data reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptResult {
    pub phase: Phase,
    pub reply: Response<String>,
}

impl RcptResult {
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.reply.code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionOutcome {
    /// The end of data was answered 2xx: every recipient accepted at RCPT has the message.
    Delivered,
    /// No message was delivered: refused at this phase (RCPT: every recipient was refused;
    /// Local: not sent at all).
    Refused(Phase),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResult {
    /// One per recipient, in the envelope's order.
    pub rcpts: Vec<RcptResult>,
    pub outcome: TransactionOutcome,
}

/// Why the connection ended without (or before) a transaction result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server refused the session (greeting, EHLO then HELO, a required STARTTLS) or said
    /// 421 before a transaction.
    Refused {
        phase: Phase,
        reply: Response<String>,
    },
    /// The server said something that is not SMTP, or not at the right time.
    Protocol { phase: Phase, detail: String },
    /// TLS is required and the server does not offer STARTTLS.
    TlsUnavailable,
    /// The I/O layer gave up waiting.
    Timeout { phase: Phase },
    /// The connection was closed by the server or broke.
    Closed { phase: Phase },
    /// [`OutboundSession::send_mail`] was called while the session was busy or closed; the
    /// session is unchanged.
    NotReady,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused { phase, reply } => {
                write!(f, "{phase} refused: {}", summary(reply))
            }
            Failure::Protocol { phase, detail } => write!(f, "{phase}: {detail}"),
            Failure::TlsUnavailable => f.write_str("the server does not offer STARTTLS"),
            Failure::Timeout { phase } => write!(f, "no reply in time ({phase})"),
            Failure::Closed { phase } => write!(f, "connection closed ({phase})"),
            Failure::NotReady => f.write_str("the session is not ready for a transaction"),
        }
    }
}

/// What the I/O layer must do or know, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes (one or more commands).
    Send(Vec<u8>),
    /// Write the current transaction's body, dot-stuffed and with its end-of-data line
    /// ([`crate::client::dot_stuff`]).
    SendBody,
    /// Upgrade the stream to TLS, then call [`OutboundSession::tls_established`].
    StartTls,
    /// Close the connection (after writing what came before).
    Close,
    /// The session is open: transactions may start.
    Ready(Capabilities),
    /// The transaction ended.
    Done(TransactionResult),
    /// The connection is lost (a [`Output::Close`] follows).
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxStep {
    Mail,
    Rcpt,
    Data,
    EndOfData,
}

#[derive(Debug)]
struct Transaction {
    /// RCPT commands still to write one by one (without PIPELINING).
    rcpts: Vec<String>,
    count: usize,
    pipelined: bool,
    step: TxStep,
    mail: Option<Response<String>>,
    replies: Vec<Response<String>>,
    /// The reply that applies to every accepted (or not yet asked) recipient: a DATA refusal,
    /// the end-of-data reply, a 421.
    last: Option<(Phase, Response<String>)>,
}

/// After the outcome is known: what is still outstanding before the connection is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cleanup {
    /// An empty message ended after a 354 that no accepted recipient justified.
    Dot,
    Rset,
}

#[derive(Debug)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    AwaitTls,
    Ready,
    Transaction(Box<Transaction>),
    /// The result is known; failures from here on only make the connection not reusable.
    Cleanup(Box<TransactionResult>, Cleanup),
    Quit,
    Closed,
}

/// How a transaction ends once its result is known.
enum End {
    Ready,
    Rset,
    Dot,
    Close,
}

pub struct OutboundSession {
    cfg: OutboundConfig,
    state: State,
    caps: Capabilities,
    tls: bool,
    /// Bytes received; those from `pos` on are not yet handed to the reply reader (at most a
    /// partial line once processed).
    buf: Vec<u8>,
    pos: usize,
    reader: ReplyReader,
    /// Bytes of the reply being read that the reader already holds.
    reply_len: usize,
    /// Replies still expected for commands written.
    outstanding: usize,
    answered: bool,
    out: Vec<Output>,
}

impl fmt::Debug for OutboundSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSession")
            .field("state", &self.state)
            .field("caps", &self.caps)
            .field("tls", &self.tls)
            .field("outstanding", &self.outstanding)
            .finish_non_exhaustive()
    }
}

impl OutboundSession {
    /// A session for a connection just opened: it waits for the greeting.
    pub fn new(cfg: OutboundConfig) -> OutboundSession {
        OutboundSession {
            cfg,
            state: State::Greeting,
            caps: Capabilities::default(),
            tls: false,
            buf: Vec::new(),
            pos: 0,
            reader: ReplyReader::default(),
            reply_len: 0,
            outstanding: 1,
            answered: false,
            out: Vec::new(),
        }
    }

    /// STARTTLS succeeded.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Idle: [`OutboundSession::send_mail`] may be called.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The server answered (with a well-formed reply) since the last
    /// [`OutboundSession::send_mail`]. A reused connection that fails before that was probably
    /// closed by the server meanwhile, and the transaction may be tried again on a new one.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Bytes read from the server.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<Output> {
        if !self.is_closed() {
            self.buf.extend_from_slice(bytes);
            self.process();
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
        std::mem::take(&mut self.out)
    }

    /// The TLS handshake after [`Output::StartTls`] succeeded: EHLO again (RFC 3207 4.2).
    pub fn tls_established(&mut self) -> Vec<Output> {
        if matches!(self.state, State::AwaitTls) {
            self.tls = true;
            self.caps = Capabilities::default();
            self.state = State::Ehlo;
            let ehlo = format!("EHLO {}\r\n", self.cfg.helo);
            self.write(ehlo.into_bytes(), 1);
        }
        std::mem::take(&mut self.out)
    }

    /// The connection was closed by the server, or broke (a read or write failed).
    pub fn closed(&mut self) -> Vec<Output> {
        let phase = self.phase();
        self.fail(Failure::Closed { phase });
        std::mem::take(&mut self.out)
    }

    /// The I/O layer waited too long for the server.
    pub fn timeout(&mut self) -> Vec<Output> {
        let phase = self.phase();
        self.fail(Failure::Timeout { phase });
        std::mem::take(&mut self.out)
    }

    /// Starts a transaction: MAIL, RCPT for each recipient, DATA and the body (all commands in
    /// one write when the server offers PIPELINING). Ends with [`Output::Done`].
    pub fn send_mail(&mut self, env: &MailEnvelope<'_>) -> Vec<Output> {
        if !self.is_ready() {
            self.out.push(Output::Failed(Failure::NotReady));
            return std::mem::take(&mut self.out);
        }
        self.answered = false;
        if env.rcpts.is_empty() || (env.smtputf8 && !self.caps.smtputf8) {
            // Nothing is sent: RFC 6531 3.2 forbids sending a message that needs SMTPUTF8 to a
            // server that does not offer it.
            let reply = Response {
                code: 553,
                esc: [5, 6, 7],
                message: "the message needs SMTPUTF8, which the server does not offer".into(),
            };
            let rcpts = env
                .rcpts
                .iter()
                .map(|_| RcptResult {
                    phase: Phase::Local,
                    reply: reply.clone(),
                })
                .collect();
            self.out.push(Output::Done(TransactionResult {
                rcpts,
                outcome: TransactionOutcome::Refused(Phase::Local),
            }));
            return std::mem::take(&mut self.out);
        }
        let mut mail = format!("MAIL FROM:<{}>", env.mail_from);
        if env.smtputf8 && self.caps.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if env.eightbit && self.caps.eightbitmime {
            mail.push_str(" BODY=8BITMIME");
        }
        if let (Some(_), Some(size)) = (self.caps.size, env.size) {
            mail.push_str(&format!(" SIZE={size}"));
        }
        mail.push_str("\r\n");
        let pipelined = self.caps.pipelining;
        let mut tx = Transaction {
            rcpts: Vec::new(),
            count: env.rcpts.len(),
            pipelined,
            step: TxStep::Mail,
            mail: None,
            replies: Vec::with_capacity(env.rcpts.len()),
            last: None,
        };
        if pipelined {
            // MAIL, every RCPT and DATA in one write (RFC 2920 3.1: DATA may end the group).
            let mut batch = mail.into_bytes();
            for rcpt in env.rcpts {
                batch.extend_from_slice(format!("RCPT TO:<{rcpt}>\r\n").as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            self.state = State::Transaction(Box::new(tx));
            self.write(batch, env.rcpts.len() + 2);
        } else {
            tx.rcpts = env.rcpts.iter().rev().map(|r| r.to_string()).collect();
            self.state = State::Transaction(Box::new(tx));
            self.write(mail.into_bytes(), 1);
        }
        std::mem::take(&mut self.out)
    }

    /// Ends the session politely: QUIT when idle, else just close.
    pub fn quit(&mut self) -> Vec<Output> {
        match self.state {
            State::Ready => {
                self.state = State::Quit;
                self.write(b"QUIT\r\n".to_vec(), 1);
            }
            State::Closed => {}
            // A transaction in progress fails.
            _ => {
                let phase = self.phase();
                self.fail(Failure::Closed { phase });
            }
        }
        std::mem::take(&mut self.out)
    }

    fn phase(&self) -> Phase {
        match &self.state {
            State::Greeting => Phase::Greeting,
            State::Ehlo => Phase::Ehlo,
            State::Helo => Phase::Helo,
            State::StartTls | State::AwaitTls => Phase::StartTls,
            State::Ready | State::Closed => Phase::Idle,
            State::Transaction(tx) => match tx.step {
                TxStep::Mail => Phase::Mail,
                TxStep::Rcpt => Phase::Rcpt,
                TxStep::Data => Phase::Data,
                TxStep::EndOfData => Phase::EndOfData,
            },
            State::Cleanup(_, Cleanup::Dot) => Phase::EndOfData,
            State::Cleanup(_, Cleanup::Rset) => Phase::Rset,
            State::Quit => Phase::Quit,
        }
    }

    /// Received bytes not yet consumed as (part of) a reply.
    fn has_input(&self) -> bool {
        self.buf.len() > self.pos || self.reply_len > 0
    }

    /// Writes commands that expect `replies` replies.
    fn write(&mut self, bytes: Vec<u8>, replies: usize) {
        self.emit(Some(bytes), replies);
    }

    /// Writes `bytes`, or the body when None. Bytes already received cannot answer what is
    /// written now: if there are any, the server spoke out of turn.
    fn emit(&mut self, bytes: Option<Vec<u8>>, replies: usize) {
        if self.has_input() {
            return self.protocol_error("the server sent more than the replies it owed".into());
        }
        self.outstanding = replies;
        match (bytes, self.out.last_mut()) {
            (Some(bytes), Some(Output::Send(buf))) => buf.extend_from_slice(&bytes),
            (Some(bytes), _) => self.out.push(Output::Send(bytes)),
            (None, _) => self.out.push(Output::SendBody),
        }
    }

    fn protocol_error(&mut self, detail: String) {
        let phase = self.phase();
        self.fail(Failure::Protocol { phase, detail });
    }

    /// The connection is over. Once a transaction's result is known it is still reported
    /// (the connection is just not reusable).
    fn fail(&mut self, failure: Failure) {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Closed => return,
            State::Cleanup(result, _) => self.out.push(Output::Done(*result)),
            State::Quit => {}
            _ => self.out.push(Output::Failed(failure)),
        }
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.out.push(Output::Close);
        self.outstanding = 0;
        self.buf.clear();
        self.pos = 0;
        self.reader = ReplyReader::default();
        self.reply_len = 0;
    }

    /// The next complete reply, one line at a time through the reply reader so that the length
    /// cap is the same however the bytes were split.
    fn next_reply(&mut self) -> Result<Option<Response<String>>, String> {
        loop {
            let rest = &self.buf[self.pos..];
            let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                if self.reply_len + rest.len() > MAX_REPLY_LEN {
                    return Err(format!("reply longer than {MAX_REPLY_LEN} bytes"));
                }
                return Ok(None);
            };
            if self.reply_len + lf + 1 > MAX_REPLY_LEN {
                return Err(format!("reply longer than {MAX_REPLY_LEN} bytes"));
            }
            let line = &rest[..=lf];
            // The reader rescans what it holds on each call: ask only after a line that can end
            // a reply (its 4th byte is not `-`), so a long multi-line reply costs linear time.
            let last_line = line.get(3) != Some(&b'-');
            self.reader.push(line);
            self.pos += lf + 1;
            self.reply_len += lf + 1;
            if !last_line {
                continue;
            }
            match self.reader.next_reply() {
                Ok(Some(reply)) => {
                    self.reply_len = 0;
                    return Ok(Some(reply));
                }
                Ok(None) => continue,
                Err(e) => return Err(truncate(e)),
            }
        }
    }

    fn process(&mut self) {
        loop {
            if self.is_closed() {
                return;
            }
            if self.outstanding == 0 {
                if self.has_input() {
                    self.protocol_error("the server sent data nobody asked for".into());
                }
                return;
            }
            match self.next_reply() {
                Ok(None) => return,
                Ok(Some(reply)) => {
                    self.outstanding -= 1;
                    self.answered = true;
                    self.on_reply(reply);
                }
                Err(detail) => return self.protocol_error(detail),
            }
        }
    }

    fn unexpected(&mut self, reply: &Response<String>) {
        let detail = format!("unexpected reply {}", summary(reply));
        self.protocol_error(truncate(detail));
    }

    fn on_reply(&mut self, reply: Response<String>) {
        let class = reply_class(&reply);
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Transaction(tx) => return self.transaction_reply(tx, reply, class),
            State::Cleanup(result, step) => return self.cleanup_reply(result, step, &reply),
            state => self.state = state,
        }
        match self.state {
            State::Greeting => match class {
                Some(2) => {
                    self.state = State::Ehlo;
                    let ehlo = format!("EHLO {}\r\n", self.cfg.helo);
                    self.write(ehlo.into_bytes(), 1);
                }
                Some(4 | 5) => self.refused(Phase::Greeting, reply),
                _ => self.unexpected(&reply),
            },
            State::Ehlo => match class {
                Some(2) => {
                    self.caps = Capabilities::from_ehlo(&reply.message);
                    self.after_hello();
                }
                // Not an ESMTP server: HELO (RFC 5321 3.2).
                Some(5) => {
                    self.state = State::Helo;
                    let helo = format!("HELO {}\r\n", self.cfg.helo);
                    self.write(helo.into_bytes(), 1);
                }
                Some(4) => self.refused(Phase::Ehlo, reply),
                _ => self.unexpected(&reply),
            },
            State::Helo => match class {
                Some(2) => {
                    self.caps = Capabilities::default();
                    self.after_hello();
                }
                Some(4 | 5) => self.refused(Phase::Helo, reply),
                _ => self.unexpected(&reply),
            },
            State::StartTls => match class {
                Some(2) if reply.code == 220 => {
                    if self.has_input() {
                        // Anything sent with the 220 was sent in clear text (CVE-2011-0411).
                        return self.protocol_error(
                            "the server sent more after its 220 to STARTTLS".into(),
                        );
                    }
                    self.state = State::AwaitTls;
                    self.out.push(Output::StartTls);
                }
                Some(4) if reply.code == 421 => self.refused(Phase::StartTls, reply),
                Some(4 | 5) if self.cfg.tls == TlsPolicy::Required => {
                    self.refused(Phase::StartTls, reply)
                }
                // Opportunistic TLS: go on in plain text with the first EHLO's extensions.
                Some(4 | 5) => self.ready(),
                _ => self.unexpected(&reply),
            },
            State::Quit => self.close(),
            // Replies are only read while one is outstanding.
            _ => self.unexpected(&reply),
        }
    }

    /// The reply to the empty message's dot or to RSET after a refused transaction: whatever
    /// it is, the result stands; only the connection's reuse depends on it.
    fn cleanup_reply(
        &mut self,
        result: Box<TransactionResult>,
        step: Cleanup,
        reply: &Response<String>,
    ) {
        match (step, reply_class(reply)) {
            (Cleanup::Dot, Some(_)) if reply.code != 421 => {
                self.state = State::Cleanup(result, Cleanup::Rset);
                self.write(b"RSET\r\n".to_vec(), 1);
            }
            (Cleanup::Rset, Some(2)) => self.done(*result, End::Ready),
            _ => self.done(*result, End::Close),
        }
    }

    fn refused(&mut self, phase: Phase, reply: Response<String>) {
        self.fail(Failure::Refused { phase, reply });
    }

    /// EHLO or HELO was accepted: STARTTLS, or ready.
    fn after_hello(&mut self) {
        if !self.tls && self.cfg.tls != TlsPolicy::Disabled && self.caps.starttls {
            self.state = State::StartTls;
            self.write(b"STARTTLS\r\n".to_vec(), 1);
        } else if !self.tls && self.cfg.tls == TlsPolicy::Required {
            self.fail(Failure::TlsUnavailable);
        } else {
            self.ready();
        }
    }

    fn ready(&mut self) {
        if self.has_input() {
            return self.protocol_error("the server sent data nobody asked for".into());
        }
        self.state = State::Ready;
        self.out.push(Output::Ready(self.caps));
    }

    fn transaction_reply(
        &mut self,
        mut tx: Box<Transaction>,
        reply: Response<String>,
        class: Option<u16>,
    ) {
        let step = tx.step;
        let closing = reply.code == 421;
        match (step, class) {
            (TxStep::Mail, Some(2 | 4 | 5)) => {
                let accepted = class == Some(2);
                tx.mail = Some(reply);
                if closing {
                    return self.finish(tx, End::Close);
                }
                if tx.pipelined {
                    tx.step = TxStep::Rcpt;
                    self.state = State::Transaction(tx);
                } else if accepted {
                    tx.step = TxStep::Rcpt;
                    self.next_rcpt(tx);
                } else {
                    self.finish(tx, End::Rset);
                }
            }
            (TxStep::Rcpt, Some(2 | 4 | 5)) => {
                if closing {
                    tx.last = Some((Phase::Rcpt, reply.clone()));
                    tx.replies.push(reply);
                    return self.finish(tx, End::Close);
                }
                tx.replies.push(reply);
                if tx.replies.len() < tx.count {
                    if tx.pipelined {
                        self.state = State::Transaction(tx);
                    } else {
                        self.next_rcpt(tx);
                    }
                } else if tx.pipelined {
                    tx.step = TxStep::Data;
                    self.state = State::Transaction(tx);
                } else if accepted(&tx) {
                    tx.step = TxStep::Data;
                    self.state = State::Transaction(tx);
                    self.write(b"DATA\r\n".to_vec(), 1);
                } else {
                    self.finish(tx, End::Rset);
                }
            }
            (TxStep::Data, _) if reply.code == 354 => {
                if accepted(&tx) {
                    tx.step = TxStep::EndOfData;
                    self.state = State::Transaction(tx);
                    self.emit(None, 1);
                } else {
                    // Pipelined: a server that says 354 with no valid recipient gets an empty
                    // message it must refuse.
                    self.finish(tx, End::Dot);
                }
            }
            (TxStep::Data, Some(4 | 5)) => {
                tx.last = Some((Phase::Data, reply));
                self.finish(tx, if closing { End::Close } else { End::Rset });
            }
            (TxStep::EndOfData, Some(2 | 4 | 5)) => {
                tx.last = Some((Phase::EndOfData, reply));
                self.finish(tx, if closing { End::Close } else { End::Ready });
            }
            _ => {
                self.state = State::Transaction(tx);
                self.unexpected(&reply);
            }
        }
    }

    /// Without PIPELINING: the next RCPT.
    fn next_rcpt(&mut self, mut tx: Box<Transaction>) {
        let rcpt = tx.rcpts.pop().unwrap_or_default();
        self.state = State::Transaction(tx);
        self.write(format!("RCPT TO:<{rcpt}>\r\n").into_bytes(), 1);
    }

    /// The transaction's outcome is known.
    fn finish(&mut self, tx: Box<Transaction>, end: End) {
        let result = result_of(&tx);
        self.done(result, end);
    }

    fn done(&mut self, result: TransactionResult, end: End) {
        match end {
            End::Ready if !self.has_input() => {
                self.state = State::Ready;
                self.out.push(Output::Done(result));
            }
            End::Rset | End::Dot => {
                let (cleanup, command): (_, &[u8]) = match end {
                    End::Dot => (Cleanup::Dot, b".\r\n"),
                    _ => (Cleanup::Rset, b"RSET\r\n"),
                };
                self.state = State::Cleanup(Box::new(result), cleanup);
                self.write(command.to_vec(), 1);
            }
            // Closing (421, a refused RSET), or bytes nobody asked for came with the last reply.
            End::Ready | End::Close => {
                self.out.push(Output::Done(result));
                self.close();
            }
        }
    }
}

/// 2, 4 or 5 (or 3 and 1), None for a code that is not SMTP.
fn reply_class(reply: &Response<String>) -> Option<u16> {
    (100..600).contains(&reply.code).then_some(reply.code / 100)
}

fn accepted(tx: &Transaction) -> bool {
    tx.mail.as_ref().is_some_and(|m| m.code / 100 == 2)
        && tx.replies.iter().any(|r| r.code / 100 == 2)
}

fn result_of(tx: &Transaction) -> TransactionResult {
    let positive = |r: &Response<String>| r.code / 100 == 2;
    if let Some(mail) = tx.mail.as_ref().filter(|m| !positive(m)) {
        return TransactionResult {
            rcpts: (0..tx.count)
                .map(|_| RcptResult {
                    phase: Phase::Mail,
                    reply: mail.clone(),
                })
                .collect(),
            outcome: TransactionOutcome::Refused(Phase::Mail),
        };
    }
    let last = tx.last.as_ref().map(|(phase, reply)| RcptResult {
        phase: *phase,
        reply: reply.clone(),
    });
    let rcpts = (0..tx.count)
        .map(|i| match (tx.replies.get(i), &last) {
            (Some(r), Some(last)) if positive(r) => last.clone(),
            (Some(r), _) => RcptResult {
                phase: Phase::Rcpt,
                reply: r.clone(),
            },
            // Not asked (the server closed with 421 first).
            (None, Some(last)) => last.clone(),
            (None, None) => RcptResult {
                phase: Phase::Rcpt,
                reply: Response {
                    code: 451,
                    esc: [4, 4, 2],
                    message: "no reply".into(),
                },
            },
        })
        .collect();
    let outcome = match &last {
        Some(last) if last.phase == Phase::EndOfData && positive(&last.reply) => {
            TransactionOutcome::Delivered
        }
        _ if !tx.replies.iter().any(positive) => TransactionOutcome::Refused(Phase::Rcpt),
        Some(last) => TransactionOutcome::Refused(last.phase),
        None => TransactionOutcome::Refused(Phase::Rcpt),
    };
    TransactionResult { rcpts, outcome }
}

/// `550 5.1.1 text` on one line.
fn summary(reply: &Response<String>) -> String {
    let text = reply
        .message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let s = if reply.esc[0] != 0 {
        format!(
            "{} {}.{}.{} {}",
            reply.code, reply.esc[0], reply.esc[1], reply.esc[2], text
        )
    } else {
        format!("{} {}", reply.code, text)
    };
    truncate(s)
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

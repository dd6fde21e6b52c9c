//! The inbound SMTP session as a pure state machine (RFC 5321, 3207, 4954, 1870, 2920, 3030,
//! 6152, 6531, 2034).
//!
//! The I/O layer calls [`Session::ingest`] with whatever bytes arrived and performs the returned
//! [`Action`]s in order. Two actions need an answer before the session goes on:
//! [`Action::Authenticate`] (answer with [`Session::auth_result`]) and [`Action::Spool`] (answer
//! with [`Session::spool_result`], only once the message is durably stored). Input that arrives
//! meanwhile is buffered, which is what makes PIPELINING work. After [`Action::StartTls`] the I/O
//! layer upgrades the stream and calls [`Session::tls_established`]; bytes pipelined after
//! STARTTLS are discarded (CVE-2011-0411).

use std::sync::Arc;

use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, Request};

use crate::auth::{self, SaslError};
use crate::data::{self, BodyError, DataReceiver};
use crate::reply::{self, Reply};

/// Longest command line, CRLF included (RFC 5321 4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest AUTH command or SASL response line (RFC 4954 4).
pub const MAX_AUTH_LINE: usize = 12288;
/// Longest local part (RFC 5321 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// Per-listener settings of the session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Name in the greeting, EHLO reply and Received header.
    pub hostname: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Error replies after which the session is closed with 421.
    pub max_errors: usize,
    /// STARTTLS is offered (plain listener with a certificate).
    pub starttls: bool,
    /// AUTH is accepted without TLS (the operator's explicit choice; off by default).
    pub allow_plaintext_auth: bool,
    /// Submission listener: a client that may not send is refused at MAIL with 530. On a relay
    /// listener (port 25) it is refused at RCPT with 554 5.7.1.
    pub submission: bool,
    /// Domains whose mail this listener takes from anyone, for Facteur itself (the bounce
    /// domain), lower case. A transaction is for them or for relaying, never both.
    pub inbound_domains: Vec<String>,
    /// The local parts taken at those domains (lower case; one ending in `+` is a prefix, as
    /// `bounce+`); any other gets 550 5.1.1.
    pub inbound_local_parts: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_errors: 20,
            starttls: true,
            allow_plaintext_auth: false,
            submission: true,
            inbound_domains: Vec::new(),
            inbound_local_parts: Vec::new(),
        }
    }
}

/// What the I/O layer knows about the client when it connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerInfo {
    /// The client address is in the trusted networks: it may relay without AUTH.
    pub trusted: bool,
    /// The connection is already TLS (implicit-TLS listener).
    pub tls: bool,
}

/// The envelope of an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub helo: String,
    /// EHLO was used (ESMTP), for the Received header's "with" clause.
    pub esmtp: bool,
    /// Reverse path; empty for the null sender.
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub smtputf8: bool,
    pub body_8bit: bool,
    /// The API key the client authenticated with.
    pub authenticated_as: Option<String>,
    pub tls: bool,
    /// For an inbound domain (bounces and reports), not to be relayed.
    pub inbound: bool,
}

/// What the I/O layer must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes (one or more replies).
    Send(Vec<u8>),
    /// Upgrade the stream to TLS, then call [`Session::tls_established`].
    StartTls,
    /// Check credentials, then call [`Session::auth_result`].
    Authenticate { username: String, password: String },
    /// Store the message durably, then call [`Session::spool_result`].
    Spool { envelope: Envelope, body: Vec<u8> },
    /// Close the connection (after writing what came before).
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Success,
    Invalid,
    /// Too many failures from this client address.
    Throttled,
    /// The credential store could not be read.
    Unavailable,
    /// The credentials are right but may not be used (a suspended key): this reply.
    Refused(Reply),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolOutcome {
    Queued(String),
    Failed,
    /// The message was read but refused (e.g. a malformed X-MJ-Vars header): this reply.
    Rejected(Reply),
}

#[derive(Debug)]
enum State {
    Command,
    Data(DataReceiver),
    Bdat {
        remaining: usize,
        last: bool,
        refuse: Option<Reply>,
    },
    SaslPlain,
    SaslLoginUser,
    SaslLoginPass(String),
    AwaitAuth(String),
    AwaitSpool,
    AwaitTls,
    Closed,
}

#[derive(Debug)]
struct Transaction {
    mail_from: String,
    smtputf8: bool,
    body_8bit: bool,
    rcpts: Vec<String>,
    /// Chunks received with BDAT so far (DATA is then refused).
    bdat: Option<Vec<u8>>,
    bdat_error: Option<BodyError>,
    /// Set by the first recipient: the transaction is for an inbound domain (or not).
    inbound: Option<bool>,
}

#[derive(Debug)]
pub struct Session {
    cfg: Arc<SessionConfig>,
    peer: PeerInfo,
    buf: Vec<u8>,
    state: State,
    helo: Option<(String, bool)>,
    user: Option<String>,
    tx: Option<Transaction>,
    errors: usize,
    /// An over-long line is being skipped up to its LF.
    skipping_line: bool,
    out: Vec<Action>,
}

impl Session {
    pub fn new(cfg: Arc<SessionConfig>, peer: PeerInfo) -> Self {
        Session {
            cfg,
            peer,
            buf: Vec::new(),
            state: State::Command,
            helo: None,
            user: None,
            tx: None,
            errors: 0,
            skipping_line: false,
            out: Vec::new(),
        }
    }

    /// The 220 greeting to send on connect.
    pub fn greeting(&self) -> Vec<Action> {
        vec![Action::Send(reply::greeting(&self.cfg.hostname).to_bytes())]
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// True while a message body is being received (the I/O layer applies the DATA deadline).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_) | State::Bdat { .. })
    }

    /// The API key this session authenticated with, if any.
    pub fn authenticated_as(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Feeds bytes read from the client.
    pub fn ingest(&mut self, bytes: &[u8]) -> Vec<Action> {
        if !self.is_closed() {
            self.buf.extend_from_slice(bytes);
            self.process();
        }
        std::mem::take(&mut self.out)
    }

    pub fn auth_result(&mut self, outcome: AuthOutcome) -> Vec<Action> {
        if let State::AwaitAuth(user) = std::mem::replace(&mut self.state, State::Command) {
            match outcome {
                AuthOutcome::Success => {
                    self.user = Some(user);
                    self.reply(reply::AUTH_OK);
                }
                AuthOutcome::Invalid => self.reply(reply::AUTH_INVALID),
                AuthOutcome::Unavailable => self.reply(reply::AUTH_TEMPORARY),
                AuthOutcome::Refused(r) => self.reply(r),
                AuthOutcome::Throttled => self.close_with(reply::AUTH_THROTTLED),
            }
            self.process();
        }
        std::mem::take(&mut self.out)
    }

    pub fn spool_result(&mut self, outcome: SpoolOutcome) -> Vec<Action> {
        if matches!(self.state, State::AwaitSpool) {
            self.state = State::Command;
            self.tx = None;
            match outcome {
                SpoolOutcome::Queued(id) => self.reply(reply::queued(&id)),
                SpoolOutcome::Failed => self.reply(reply::SPOOL_FAILED),
                SpoolOutcome::Rejected(r) => self.reply(r),
            }
            self.process();
        }
        std::mem::take(&mut self.out)
    }

    /// The TLS handshake after STARTTLS succeeded: the session starts over (RFC 3207 4.2).
    pub fn tls_established(&mut self) -> Vec<Action> {
        if matches!(self.state, State::AwaitTls) {
            self.state = State::Command;
            self.peer.tls = true;
            self.helo = None;
            self.tx = None;
            self.buf.clear();
            self.process();
        }
        std::mem::take(&mut self.out)
    }

    /// The client was idle (or too slow in DATA) for too long.
    pub fn timeout(&mut self) -> Vec<Action> {
        if !self.is_closed() {
            self.close_with(reply::TIMEOUT);
        }
        std::mem::take(&mut self.out)
    }

    /// The server is stopping: 421 (RFC 5321 3.8).
    pub fn shutdown(&mut self) -> Vec<Action> {
        if !self.is_closed() {
            self.close_with(reply::SHUTTING_DOWN);
        }
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, bytes: &[u8]) {
        if let Some(Action::Send(buf)) = self.out.last_mut() {
            buf.extend_from_slice(bytes);
        } else {
            self.out.push(Action::Send(bytes.to_vec()));
        }
    }

    fn reply(&mut self, r: Reply) {
        self.send(&r.to_bytes());
        if r.is_error() && r.code != 421 && r != reply::TOO_MANY_RCPTS {
            self.errors += 1;
            if self.errors >= self.cfg.max_errors {
                self.close_with(reply::TOO_MANY_ERRORS);
            }
        }
    }

    fn close_with(&mut self, r: Reply) {
        self.send(&r.to_bytes());
        self.out.push(Action::Close);
        self.state = State::Closed;
        self.buf.clear();
    }

    /// Takes one LF-terminated line off the buffer, enforcing `limit`. None: wait for more bytes.
    fn take_line(&mut self, limit: impl Fn(&[u8]) -> usize) -> Option<Vec<u8>> {
        loop {
            let lf = self.buf.iter().position(|&b| b == b'\n');
            if self.skipping_line {
                match lf {
                    Some(lf) => {
                        self.buf.drain(..=lf);
                        self.skipping_line = false;
                        continue;
                    }
                    None => {
                        self.buf.clear();
                        return None;
                    }
                }
            }
            let Some(lf) = lf else {
                if self.buf.len() > limit(&self.buf) {
                    self.buf.clear();
                    self.skipping_line = true;
                    self.reply(reply::LINE_TOO_LONG);
                }
                return None;
            };
            let line: Vec<u8> = self.buf.drain(..=lf).collect();
            if line.len() > limit(&line) {
                self.reply(reply::LINE_TOO_LONG);
                if self.is_closed() {
                    return None;
                }
                continue;
            }
            return Some(line);
        }
    }

    fn process(&mut self) {
        loop {
            match &mut self.state {
                State::Command => {
                    let Some(line) = self.take_line(command_limit) else {
                        return;
                    };
                    self.command(&line);
                }
                State::Data(receiver) => {
                    if self.buf.is_empty() {
                        return;
                    }
                    match receiver.ingest(&self.buf) {
                        Some(n) => {
                            self.buf.drain(..n);
                            let State::Data(receiver) =
                                std::mem::replace(&mut self.state, State::Command)
                            else {
                                unreachable!()
                            };
                            match receiver.finish() {
                                Ok(body) => self.spool(body),
                                Err(e) => {
                                    self.tx = None;
                                    self.reply(e.reply());
                                }
                            }
                        }
                        None => {
                            self.buf.clear();
                            return;
                        }
                    }
                }
                State::Bdat { remaining, .. } => {
                    let n = (*remaining).min(self.buf.len());
                    if n == 0 && *remaining > 0 {
                        return;
                    }
                    *remaining -= n;
                    let done = *remaining == 0;
                    let chunk: Vec<u8> = self.buf.drain(..n).collect();
                    self.bdat_bytes(&chunk);
                    if done {
                        self.bdat_end();
                    }
                }
                State::SaslPlain | State::SaslLoginUser | State::SaslLoginPass(_) => {
                    let Some(line) = self.take_line(|_| MAX_AUTH_LINE) else {
                        return;
                    };
                    self.sasl_response(&line);
                }
                State::AwaitAuth(_) | State::AwaitSpool | State::AwaitTls | State::Closed => return,
            }
        }
    }

    fn command(&mut self, line: &[u8]) {
        if line.contains(&0) {
            return self.reply(reply::NUL_IN_COMMAND);
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(e) => return self.reply(parse_error(e)),
        };
        match request {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to),
            Request::Data => self.data(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
            Request::StartTls => self.starttls(),
            Request::Rset => {
                self.tx = None;
                self.reply(reply::RSET_OK);
            }
            Request::Noop { .. } => self.reply(reply::OK),
            Request::Vrfy { .. } => self.reply(reply::VRFY),
            Request::Help { .. } => self.reply(reply::HELP),
            Request::Quit => self.close_with(reply::BYE),
            Request::Lhlo { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.reply(reply::NOT_IMPLEMENTED),
        }
    }

    fn hello(&mut self, host: String, esmtp: bool) {
        self.tx = None;
        self.helo = Some((host, esmtp));
        if !esmtp {
            return self.reply(reply::helo(&self.cfg.hostname));
        }
        let mut lines = vec![
            self.cfg.hostname.clone(),
            "PIPELINING".into(),
            format!("SIZE {}", self.cfg.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
        ];
        if self.cfg.starttls && !self.peer.tls {
            lines.push("STARTTLS".into());
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{line}\r\n"));
        }
        self.send(out.as_bytes());
    }

    fn auth_offered(&self) -> bool {
        self.user.is_none() && (self.peer.tls || self.cfg.allow_plaintext_auth)
    }

    fn may_send(&self) -> bool {
        self.user.is_some() || self.peer.trusted
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<String>) {
        if self.helo.is_none() {
            return self.reply(reply::HELO_FIRST);
        }
        if self.tx.is_some() {
            return self.reply(reply::NESTED_MAIL);
        }
        if self.cfg.submission && !self.may_send() {
            let r = if !self.peer.tls && self.cfg.starttls {
                reply::STARTTLS_FIRST
            } else {
                reply::AUTH_REQUIRED
            };
            return self.reply(r);
        }
        if from.size > self.cfg.max_message_size {
            return self.reply(reply::SIZE_EXCEEDED);
        }
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if let Err(r) = check_address(&from.address, smtputf8) {
            return self.reply(if r == reply::BAD_RECIPIENT {
                reply::BAD_SENDER
            } else {
                r
            });
        }
        self.reply(reply::sender_ok(&from.address));
        self.tx = Some(Transaction {
            mail_from: from.address,
            smtputf8,
            body_8bit: from.flags & MAIL_BODY_8BITMIME != 0,
            rcpts: Vec::new(),
            bdat: None,
            bdat_error: None,
            inbound: None,
        });
    }

    fn rcpt(&mut self, to: smtp_proto::RcptTo<String>) {
        let may_send = self.may_send();
        let max = self.cfg.max_recipients;
        let Some(tx) = self.tx.as_mut() else {
            return self.reply(reply::NEED_MAIL);
        };
        if to.address.is_empty() {
            return self.reply(reply::NOT_FQ_RECIPIENT);
        }
        let inbound = is_inbound(&to.address, &self.cfg.inbound_domains);
        if inbound && !local_part_taken(&to.address, &self.cfg.inbound_local_parts) {
            return self.reply(reply::NO_SUCH_INBOUND_MAILBOX);
        }
        if !may_send && !inbound {
            return self.reply(reply::RELAY_DENIED);
        }
        if let Err(r) = check_address(&to.address, tx.smtputf8) {
            return self.reply(r);
        }
        if tx.inbound.is_some_and(|was| was != inbound) {
            return self.reply(reply::SEPARATE_TRANSACTION);
        }
        if tx.rcpts.len() >= max {
            return self.reply(reply::TOO_MANY_RCPTS);
        }
        let r = reply::recipient_ok(&to.address);
        tx.inbound = Some(inbound);
        tx.rcpts.push(to.address);
        self.reply(r);
    }

    /// Why a message body may not start now (DATA or BDAT), if it may not.
    fn body_refusal(&self) -> Option<Reply> {
        match &self.tx {
            _ if self.helo.is_none() => Some(reply::HELO_FIRST),
            None => Some(reply::NEED_MAIL),
            Some(tx) if tx.rcpts.is_empty() => Some(reply::NEED_RCPT),
            Some(_) => None,
        }
    }

    fn data(&mut self) {
        if let Some(r) = self.body_refusal() {
            return self.reply(r);
        }
        if self.tx.as_ref().is_some_and(|tx| tx.bdat.is_some()) {
            return self.reply(reply::DATA_AFTER_BDAT);
        }
        self.reply(reply::START_DATA);
        self.state = State::Data(DataReceiver::new(self.cfg.max_message_size));
    }

    fn bdat(&mut self, chunk_size: usize, last: bool) {
        let refuse = self.body_refusal();
        if refuse.is_none()
            && let Some(tx) = self.tx.as_mut()
        {
            tx.bdat.get_or_insert_with(Vec::new);
        }
        self.state = State::Bdat {
            remaining: chunk_size,
            last,
            refuse,
        };
        if chunk_size == 0 {
            self.bdat_end();
        }
    }

    fn bdat_bytes(&mut self, chunk: &[u8]) {
        let max = self.cfg.max_message_size;
        if let State::Bdat { refuse: None, .. } = self.state
            && let Some(tx) = self.tx.as_mut()
            && let Some(body) = tx.bdat.as_mut()
            && tx.bdat_error.is_none()
        {
            if body.len() + chunk.len() > max {
                tx.bdat_error = Some(BodyError::TooLarge);
                *body = Vec::new();
            } else {
                body.extend_from_slice(chunk);
            }
        }
    }

    /// The whole chunk announced by BDAT has been read.
    fn bdat_end(&mut self) {
        let State::Bdat {
            last,
            refuse,
            remaining,
        } = std::mem::replace(&mut self.state, State::Command)
        else {
            return;
        };
        debug_assert_eq!(remaining, 0);
        if let Some(r) = refuse {
            return self.reply(r);
        }
        let Some(tx) = self.tx.as_mut() else { return };
        let size = tx.bdat.as_ref().map_or(0, Vec::len);
        if !last {
            return self.reply(reply::chunk_ok(size));
        }
        let body = tx.bdat.take().unwrap_or_default();
        let checked = match tx.bdat_error {
            Some(e) => Err(e),
            None => data::check_body(&body),
        };
        match checked {
            Ok(()) => self.spool(body),
            Err(e) => {
                self.tx = None;
                self.reply(e.reply());
            }
        }
    }

    fn spool(&mut self, body: Vec<u8>) {
        let Some(tx) = self.tx.as_ref() else { return };
        let (helo, esmtp) = self.helo.clone().unwrap_or_default();
        let envelope = Envelope {
            helo,
            esmtp,
            mail_from: tx.mail_from.clone(),
            rcpts: tx.rcpts.clone(),
            smtputf8: tx.smtputf8,
            body_8bit: tx.body_8bit,
            authenticated_as: self.user.clone(),
            tls: self.peer.tls,
            inbound: tx.inbound == Some(true),
        };
        self.state = State::AwaitSpool;
        self.out.push(Action::Spool { envelope, body });
    }

    fn auth(&mut self, mechanism: u64, initial: String) {
        if self.helo.is_none() {
            return self.reply(reply::HELO_FIRST);
        }
        if self.user.is_some() {
            return self.reply(reply::ALREADY_AUTHENTICATED);
        }
        if self.tx.is_some() {
            return self.reply(reply::AUTH_IN_TRANSACTION);
        }
        if !self.peer.tls && !self.cfg.allow_plaintext_auth {
            return self.reply(reply::STARTTLS_FIRST);
        }
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => {
                self.state = State::SaslPlain;
                self.reply(reply::AUTH_EMPTY_CHALLENGE);
            }
            AUTH_PLAIN => self.sasl_plain(&initial),
            AUTH_LOGIN if initial.is_empty() => {
                self.state = State::SaslLoginUser;
                self.reply(reply::AUTH_USERNAME);
            }
            AUTH_LOGIN => match auth::decode_login(&initial) {
                Ok(user) => {
                    self.state = State::SaslLoginPass(user);
                    self.reply(reply::AUTH_PASSWORD);
                }
                Err(e) => self.sasl_error(e),
            },
            _ => self.reply(reply::AUTH_UNKNOWN_MECHANISM),
        }
    }

    fn sasl_plain(&mut self, response: &str) {
        match auth::decode_plain(response) {
            Ok((username, password)) => self.authenticate(username, password),
            Err(e) => self.sasl_error(e),
        }
    }

    fn sasl_response(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line).into_owned();
        match std::mem::replace(&mut self.state, State::Command) {
            State::SaslPlain => self.sasl_plain(&line),
            State::SaslLoginUser => match auth::decode_login(&line) {
                Ok(user) => {
                    self.state = State::SaslLoginPass(user);
                    self.reply(reply::AUTH_PASSWORD);
                }
                Err(e) => self.sasl_error(e),
            },
            State::SaslLoginPass(user) => match auth::decode_login(&line) {
                Ok(password) => self.authenticate(user, password),
                Err(e) => self.sasl_error(e),
            },
            other => self.state = other,
        }
    }

    fn sasl_error(&mut self, e: SaslError) {
        self.state = State::Command;
        self.reply(match e {
            SaslError::Cancelled => reply::AUTH_CANCELLED,
            SaslError::BadBase64 => reply::AUTH_BAD_BASE64,
            SaslError::Malformed => reply::AUTH_MALFORMED,
        });
    }

    fn authenticate(&mut self, username: String, password: String) {
        self.state = State::AwaitAuth(username.clone());
        self.out.push(Action::Authenticate { username, password });
    }

    fn starttls(&mut self) {
        if self.peer.tls {
            return self.reply(reply::TLS_ALREADY_ACTIVE);
        }
        if !self.cfg.starttls {
            return self.reply(reply::TLS_UNAVAILABLE);
        }
        self.reply(reply::READY_TLS);
        // Anything pipelined after STARTTLS was sent in clear text: never act on it.
        self.buf.clear();
        self.state = State::AwaitTls;
        self.out.push(Action::StartTls);
    }
}

fn command_limit(line: &[u8]) -> usize {
    if line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ") {
        MAX_AUTH_LINE
    } else {
        MAX_COMMAND_LINE
    }
}

fn parse_error(e: smtp_proto::Error) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => reply::UNKNOWN_COMMAND,
        E::InvalidSenderAddress => reply::BAD_SENDER,
        E::InvalidRecipientAddress => reply::BAD_RECIPIENT,
        E::SyntaxError {
            syntax: "EHLO domain",
        } => reply::EHLO_SYNTAX,
        E::SyntaxError { syntax } => reply::syntax(syntax),
        E::InvalidParameter { param } => reply::invalid_parameter(param),
        E::UnsupportedParameter { param } => reply::unsupported_parameter(&param),
        E::NeedsMoreData { .. } | E::ResponseTooLong | E::InvalidResponse { .. } => {
            reply::UNKNOWN_COMMAND
        }
    }
}

/// Local-part length and the SMTPUTF8 rule (RFC 6531 3.4) for an envelope address.
/// Whether an address is in one of the inbound domains.
fn is_inbound(address: &str, domains: &[String]) -> bool {
    if domains.is_empty() {
        return false;
    }
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let domain = domain.trim_end_matches('.');
    domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

/// Whether the local part of an inbound address is one the listener takes.
fn local_part_taken(address: &str, taken: &[String]) -> bool {
    let Some((local, _)) = address.rsplit_once('@') else {
        return false;
    };
    let local = local.to_ascii_lowercase();
    taken.iter().any(|t| match t.strip_suffix('+') {
        Some(prefix) => local.starts_with(&format!("{prefix}+")),
        None => local == *t,
    })
}

fn check_address(address: &str, smtputf8: bool) -> Result<(), Reply> {
    if let Some(at) = address.rfind('@')
        && at > MAX_LOCAL_PART
    {
        return Err(reply::LOCAL_PART_TOO_LONG);
    }
    if !address.is_ascii() && !smtputf8 {
        return Err(reply::NEEDS_SMTPUTF8);
    }
    Ok(())
}

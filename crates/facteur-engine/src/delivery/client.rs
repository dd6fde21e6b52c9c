//! The outbound SMTP client: sockets, TLS and timeouts around
//! [`facteur_smtp::outbound::OutboundSession`], which holds the protocol (greeting, EHLO with
//! HELO fallback, opportunistic STARTTLS, transactions pipelined when the server offers
//! PIPELINING, RSET after a refused one). This file reads, feeds the session and performs what
//! it asks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use facteur_smtp::client::Response;
use facteur_smtp::client::dot_stuff;
pub use facteur_smtp::outbound::{Capabilities, Phase, TransactionResult, Verdict};
use facteur_smtp::outbound::{
    Failure, MailEnvelope, OutboundConfig, OutboundSession, Output, TlsPolicy,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::io::MaybeTls;

#[derive(Debug)]
pub enum ClientError {
    /// Could not connect or the connection broke: try another host or later.
    Network(String),
    /// The server answered something that is not SMTP.
    Protocol(String),
    /// The server refused at connection level (greeting or EHLO): its reply.
    Refused(Response<String>),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Network(e) => write!(f, "{e}"),
            ClientError::Protocol(e) => write!(f, "protocol error: {e}"),
            ClientError::Refused(r) => write!(f, "{}", format_reply(r)),
        }
    }
}

/// `550 5.1.1 text` on one line.
pub fn format_reply(r: &Response<String>) -> String {
    let text = r.message.split_whitespace().collect::<Vec<_>>().join(" ");
    if r.esc[0] != 0 {
        format!("{} {}.{}.{} {}", r.code, r.esc[0], r.esc[1], r.esc[2], text)
    } else {
        format!("{} {}", r.code, text)
    }
}

/// Where the session stopped needing I/O.
enum Stop {
    Ready,
    Done(TransactionResult),
    Closed,
}

/// What the handshake after STARTTLS needs.
struct TlsTarget {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

pub struct SmtpClient {
    stream: MaybeTls<TlsStream<TcpStream>>,
    session: OutboundSession,
    pub remote: String,
    timeout: Duration,
}

impl SmtpClient {
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        helo: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Result<SmtpClient, ClientError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Network(format!("connect to {host}[{addr}] timed out")))?
            .map_err(|e| ClientError::Network(format!("connect to {host}[{addr}]: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let policy = if tls.is_some() {
            TlsPolicy::Opportunistic
        } else {
            TlsPolicy::Disabled
        };
        let target = tls.map(|config| TlsTarget {
            config,
            name: ServerName::try_from(host.to_string())
                .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into())),
        });
        let mut client = SmtpClient {
            stream: MaybeTls::Plain(tcp),
            session: OutboundSession::new(OutboundConfig {
                helo: helo.to_string(),
                tls: policy,
            }),
            remote: format!("{host}[{}]", addr.ip()),
            timeout,
        };
        match client.drive(Vec::new(), &[], target.as_ref()).await? {
            Stop::Ready => Ok(client),
            Stop::Done(_) | Stop::Closed => Err(ClientError::Network(format!(
                "{} closed the connection",
                client.remote
            ))),
        }
    }

    /// One mail transaction. Network and protocol errors are `Err`; refusals are in the
    /// per-recipient results. After `Ok`, [`SmtpClient::reusable`] says whether the connection
    /// is ready for the next MAIL (a completed transaction resets the session; a refused one
    /// is followed by RSET).
    pub async fn send(
        &mut self,
        mail_from: &str,
        rcpts: &[&str],
        body: &[u8],
        smtputf8: bool,
        eightbit: bool,
    ) -> Result<TransactionResult, ClientError> {
        let envelope = MailEnvelope {
            mail_from,
            rcpts,
            size: Some(body.len()),
            smtputf8,
            eightbit,
        };
        let outputs = self.session.send_mail(&envelope);
        match self.drive(outputs, body, None).await? {
            Stop::Done(result) => Ok(result),
            Stop::Ready | Stop::Closed => Err(ClientError::Network(format!(
                "{} closed the connection",
                self.remote
            ))),
        }
    }

    /// Whether the server answered anything during the last transaction.
    pub fn answered(&self) -> bool {
        self.session.answered()
    }

    /// The connection may carry another transaction.
    pub fn reusable(&self) -> bool {
        self.session.is_ready()
    }

    /// QUIT, and wait for the reply (or the timeout) before closing.
    pub async fn quit(mut self) {
        let outputs = self.session.quit();
        let _ = self.drive(outputs, &[], None).await;
    }

    /// Performs the session's outputs, reading whenever it waits for the server, until a
    /// result (ready, a transaction's end) or the connection's end.
    async fn drive(
        &mut self,
        first: Vec<Output>,
        body: &[u8],
        tls: Option<&TlsTarget>,
    ) -> Result<Stop, ClientError> {
        let mut queue: VecDeque<Output> = first.into();
        let mut stop = None;
        let mut failure = None;
        let mut closed = false;
        // What the I/O layer saw go wrong, for the error message.
        let mut io_error: Option<String> = None;
        let mut buf = [0u8; 8192];
        loop {
            while let Some(output) = queue.pop_front() {
                match output {
                    Output::Send(bytes) => {
                        if let Err(e) = self.write(&bytes).await {
                            queue = self.io_failed(e, &mut io_error).into();
                        }
                    }
                    Output::SendBody => {
                        if let Err(e) = self.write(&dot_stuff(body)).await {
                            queue = self.io_failed(e, &mut io_error).into();
                        }
                    }
                    Output::StartTls => {
                        self.upgrade(tls).await?;
                        queue.extend(self.session.tls_established());
                    }
                    Output::Close => {
                        closed = true;
                        self.stream = MaybeTls::Detached;
                    }
                    Output::Ready(_) => stop = Some(Stop::Ready),
                    Output::Done(result) => stop = Some(Stop::Done(result)),
                    Output::Failed(f) => failure = Some(f),
                }
            }
            if let Some(f) = failure {
                return Err(self.error(f, io_error));
            }
            if let Some(stop) = stop {
                return Ok(stop);
            }
            if closed {
                return Ok(Stop::Closed);
            }
            let read = tokio::time::timeout(self.timeout, self.stream.read(&mut buf)).await;
            let outputs = match read {
                Ok(Ok(n)) if n > 0 => self.session.receive(&buf[..n]),
                Ok(Ok(_)) => {
                    io_error = Some(format!("{} closed the connection", self.remote));
                    self.session.closed()
                }
                Ok(Err(e)) => {
                    io_error = Some(format!("read from {}: {e}", self.remote));
                    self.session.closed()
                }
                Err(_) => {
                    io_error = Some(format!("{} did not answer in time", self.remote));
                    self.session.timeout()
                }
            };
            queue.extend(outputs);
        }
    }

    /// A write failed: the session learns the connection is gone.
    fn io_failed(&mut self, e: WriteError, io_error: &mut Option<String>) -> Vec<Output> {
        match e {
            WriteError::Timeout => {
                *io_error = Some(format!("write to {} timed out", self.remote));
                self.session.timeout()
            }
            WriteError::Io(e) => {
                *io_error = Some(format!("write to {}: {e}", self.remote));
                self.session.closed()
            }
        }
    }

    fn error(&self, failure: Failure, io_error: Option<String>) -> ClientError {
        match failure {
            Failure::Refused { reply, .. } => ClientError::Refused(reply),
            Failure::Protocol { .. } => ClientError::Protocol(failure.to_string()),
            Failure::TlsUnavailable => {
                ClientError::Network(format!("{} does not offer STARTTLS", self.remote))
            }
            Failure::Timeout { .. } => ClientError::Network(
                io_error.unwrap_or_else(|| format!("{} did not answer in time", self.remote)),
            ),
            Failure::Closed { .. } | Failure::NotReady => ClientError::Network(
                io_error.unwrap_or_else(|| format!("{} closed the connection", self.remote)),
            ),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        tokio::time::timeout(self.timeout, async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
        .map_err(|_| WriteError::Timeout)?
        .map_err(WriteError::Io)
    }

    async fn upgrade(&mut self, tls: Option<&TlsTarget>) -> Result<(), ClientError> {
        let Some(target) = tls else {
            return Err(ClientError::Protocol(
                "STARTTLS without TLS settings".into(),
            ));
        };
        let MaybeTls::Plain(tcp) = std::mem::replace(&mut self.stream, MaybeTls::Detached) else {
            return Err(ClientError::Protocol("STARTTLS on a TLS connection".into()));
        };
        let connector = TlsConnector::from(target.config.clone());
        let tls = tokio::time::timeout(self.timeout, connector.connect(target.name.clone(), tcp))
            .await
            .map_err(|_| {
                ClientError::Network(format!("TLS handshake with {} timed out", self.remote))
            })?
            .map_err(|e| {
                ClientError::Network(format!("TLS handshake with {}: {e}", self.remote))
            })?;
        self.stream = MaybeTls::Tls(Box::new(tls));
        Ok(())
    }
}

enum WriteError {
    Timeout,
    Io(std::io::Error),
}

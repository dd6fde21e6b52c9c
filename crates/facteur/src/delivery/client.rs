//! The outbound SMTP client: greeting, EHLO (HELO fallback), opportunistic STARTTLS, then
//! transactions with pipelined MAIL/RCPT when the server offers PIPELINING (RFC 2920).
//! Protocol pieces (reply parsing, dot-stuffing) come from `facteur-smtp`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use facteur_smtp::client::Response;
use facteur_smtp::client::{ReplyReader, dot_stuff};
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

#[derive(Debug, Default, Clone, Copy)]
pub struct Capabilities {
    pub pipelining: bool,
    pub starttls: bool,
    pub smtputf8: bool,
    pub eightbitmime: bool,
}

/// Replies of one transaction.
#[derive(Debug)]
pub struct TransactionReplies {
    pub mail: Response<String>,
    /// One reply per recipient, in order; empty if MAIL was refused.
    pub rcpts: Vec<Response<String>>,
    /// The reply after the message data (or to DATA itself if it was refused); None when no
    /// recipient was accepted.
    pub data: Option<Response<String>>,
}

pub struct SmtpClient {
    stream: MaybeTls<TlsStream<TcpStream>>,
    reader: ReplyReader,
    pub caps: Capabilities,
    pub tls: bool,
    pub remote: String,
    timeout: Duration,
    /// A reply was read during the current transaction (a kept connection that fails before
    /// this is stale and the transaction may be retried on a fresh one).
    answered: bool,
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
        let mut client = SmtpClient {
            stream: MaybeTls::Plain(tcp),
            reader: ReplyReader::default(),
            caps: Capabilities::default(),
            tls: false,
            remote: format!("{host}[{}]", addr.ip()),
            timeout,
            answered: false,
        };
        let greeting = client.read_reply().await?;
        if greeting.code / 100 != 2 {
            return Err(ClientError::Refused(greeting));
        }
        client.hello(helo).await?;
        if client.caps.starttls
            && let Some(config) = tls
        {
            let r = client.command(b"STARTTLS\r\n").await?;
            if r.code == 220 {
                let MaybeTls::Plain(tcp) =
                    std::mem::replace(&mut client.stream, MaybeTls::Detached)
                else {
                    return Err(ClientError::Protocol("STARTTLS on a TLS connection".into()));
                };
                let name = ServerName::try_from(host.to_string())
                    .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
                let tls =
                    tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, tcp))
                        .await
                        .map_err(|_| {
                            ClientError::Network(format!(
                                "TLS handshake with {} timed out",
                                client.remote
                            ))
                        })?
                        .map_err(|e| {
                            ClientError::Network(format!(
                                "TLS handshake with {}: {e}",
                                client.remote
                            ))
                        })?;
                client.stream = MaybeTls::Tls(Box::new(tls));
                client.tls = true;
                client.hello(helo).await?;
            }
        }
        Ok(client)
    }

    async fn hello(&mut self, helo: &str) -> Result<(), ClientError> {
        let r = self.command(format!("EHLO {helo}\r\n").as_bytes()).await?;
        if r.code == 250 {
            self.caps = Capabilities::default();
            for line in r.message.lines().skip(1) {
                let kw = line
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match kw.as_str() {
                    "PIPELINING" => self.caps.pipelining = true,
                    "STARTTLS" => self.caps.starttls = true,
                    "SMTPUTF8" => self.caps.smtputf8 = true,
                    "8BITMIME" => self.caps.eightbitmime = true,
                    _ => {}
                }
            }
            return Ok(());
        }
        let r = self.command(format!("HELO {helo}\r\n").as_bytes()).await?;
        if r.code != 250 {
            return Err(ClientError::Refused(r));
        }
        self.caps = Capabilities::default();
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let remote = &self.remote;
        tokio::time::timeout(self.timeout, async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
        .map_err(|_| ClientError::Network(format!("write to {remote} timed out")))?
        .map_err(|e| ClientError::Network(format!("write to {remote}: {e}")))
    }

    async fn read_reply(&mut self) -> Result<Response<String>, ClientError> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(r) = self.reader.next_reply().map_err(ClientError::Protocol)? {
                self.answered = true;
                return Ok(r);
            }
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut buf))
                .await
                .map_err(|_| {
                    ClientError::Network(format!("{} did not answer in time", self.remote))
                })?
                .map_err(|e| ClientError::Network(format!("read from {}: {e}", self.remote)))?;
            if n == 0 {
                return Err(ClientError::Network(format!(
                    "{} closed the connection",
                    self.remote
                )));
            }
            self.reader.push(&buf[..n]);
        }
    }

    async fn command(&mut self, line: &[u8]) -> Result<Response<String>, ClientError> {
        self.write(line).await?;
        self.read_reply().await
    }

    /// One mail transaction. Network errors are `Err`; refusals are in the replies. Whatever
    /// the outcome, a connection that returns `Ok` is ready for the next MAIL (a completed
    /// transaction resets the session; a refused one is followed by RSET).
    pub async fn send(
        &mut self,
        mail_from: &str,
        rcpts: &[&str],
        body: &[u8],
        smtputf8: bool,
        eightbit: bool,
    ) -> Result<TransactionReplies, ClientError> {
        self.answered = false;
        let mut mail = format!("MAIL FROM:<{mail_from}>");
        if smtputf8 && self.caps.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if eightbit && self.caps.eightbitmime {
            mail.push_str(" BODY=8BITMIME");
        }
        mail.push_str("\r\n");
        if self.caps.pipelining {
            // MAIL, every RCPT and DATA in one write (RFC 2920 3.1: DATA may end the group).
            let mut batch = mail.into_bytes();
            for r in rcpts {
                batch.extend_from_slice(format!("RCPT TO:<{r}>\r\n").as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            self.write(&batch).await?;
            let mail_reply = self.read_reply().await?;
            let mut rcpt_replies = Vec::with_capacity(rcpts.len());
            for _ in rcpts {
                rcpt_replies.push(self.read_reply().await?);
            }
            let data = self.read_reply().await?;
            let accepted =
                mail_reply.code / 100 == 2 && rcpt_replies.iter().any(|r| r.code / 100 == 2);
            if mail_reply.code / 100 != 2 {
                rcpt_replies.clear();
            }
            if data.code != 354 {
                let _ = self.command(b"RSET\r\n").await;
                let data = accepted.then_some(data);
                return Ok(TransactionReplies {
                    mail: mail_reply,
                    rcpts: rcpt_replies,
                    data,
                });
            }
            if !accepted {
                // A server that says 354 with no valid recipient gets an empty message it must refuse.
                let _ = self.command(b".\r\n").await;
                let _ = self.command(b"RSET\r\n").await;
                return Ok(TransactionReplies {
                    mail: mail_reply,
                    rcpts: rcpt_replies,
                    data: None,
                });
            }
            self.write(&dot_stuff(body)).await?;
            let done = self.read_reply().await?;
            return Ok(TransactionReplies {
                mail: mail_reply,
                rcpts: rcpt_replies,
                data: Some(done),
            });
        }
        let mail_reply = self.command(mail.as_bytes()).await?;
        let mut rcpt_replies = Vec::new();
        if mail_reply.code / 100 == 2 {
            for r in rcpts {
                rcpt_replies.push(
                    self.command(format!("RCPT TO:<{r}>\r\n").as_bytes())
                        .await?,
                );
            }
        }
        if mail_reply.code / 100 != 2 || !rcpt_replies.iter().any(|r| r.code / 100 == 2) {
            let _ = self.command(b"RSET\r\n").await;
            return Ok(TransactionReplies {
                mail: mail_reply,
                rcpts: rcpt_replies,
                data: None,
            });
        }
        let data = self.command(b"DATA\r\n").await?;
        if data.code != 354 {
            let _ = self.command(b"RSET\r\n").await;
            return Ok(TransactionReplies {
                mail: mail_reply,
                rcpts: rcpt_replies,
                data: Some(data),
            });
        }
        self.write(&dot_stuff(body)).await?;
        let done = self.read_reply().await?;
        Ok(TransactionReplies {
            mail: mail_reply,
            rcpts: rcpt_replies,
            data: Some(done),
        })
    }

    /// Whether the server answered anything during the last transaction.
    pub fn answered(&self) -> bool {
        self.answered
    }
}

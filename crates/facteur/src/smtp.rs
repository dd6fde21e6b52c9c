//! SMTP listeners: accept connections, apply per-address limits, run the pure session from
//! `facteur-smtp` over plain TCP or TLS, and answer its actions (credential checks, spooling).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use facteur_smtp::{
    Action, AuthOutcome, Envelope, PeerInfo, Session, SessionConfig, SpoolOutcome, reply,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

use facteur_engine::config::ListenerKind;
use facteur_engine::io::MaybeTls;
use facteur_engine::limits::Refusal;
use facteur_engine::metrics::Metrics;
use facteur_engine::submit::{
    Authority, Content, Origin, Problem, SmtpTrace, Submission, SubmitError,
};
use facteur_engine::{AuthDenied, Engine};
use tokio_rustls::TlsAcceptor;

type Stream = MaybeTls<TlsStream<TcpStream>>;

/// What every SMTP listener shares: the engine, the TLS acceptor and each kind's session
/// settings.
pub struct SmtpListeners {
    engine: Arc<Engine>,
    tls: TlsAcceptor,
    sessions: [Arc<SessionConfig>; 3],
}

impl SmtpListeners {
    pub fn new(engine: Arc<Engine>, tls: TlsAcceptor) -> SmtpListeners {
        let cfg = &engine.cfg;
        let session = |starttls: bool, submission: bool| {
            Arc::new(SessionConfig {
                hostname: cfg.hostname.clone(),
                max_message_size: cfg.max_message_size,
                max_recipients: cfg.max_recipients,
                max_errors: cfg.max_errors,
                starttls,
                allow_plaintext_auth: cfg.allow_plaintext_auth,
                submission,
                // Mail for the bounce domain comes to the relay listener (its MX), from anyone.
                inbound_domains: if submission {
                    Vec::new()
                } else {
                    cfg.bounce_domain.iter().cloned().collect()
                },
                // VERP return paths, a feedback-loop address, and the two every mail domain
                // must have (RFC 5321 4.5.1, RFC 2142).
                inbound_local_parts: ["bounce+", "fbl", "abuse", "postmaster"]
                    .map(String::from)
                    .to_vec(),
            })
        };
        // In `ListenerKind` order: submission, smtps, relay.
        let sessions = [
            session(true, true),
            session(false, true),
            session(true, false),
        ];
        SmtpListeners {
            engine,
            tls,
            sessions,
        }
    }

    fn session_config(&self, kind: ListenerKind) -> Arc<SessionConfig> {
        self.sessions[kind as usize].clone()
    }
}

pub async fn serve(
    listener: TcpListener,
    kind: ListenerKind,
    smtp: Arc<SmtpListeners>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = &smtp.engine;
    let mut accept_errors = 0u32;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    accept_errors = 0;
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(connection(tcp, peer, kind, smtp.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: wait for descriptors to free up instead of spinning.
                    Metrics::inc(&app.metrics.accept_errors_total);
                    accept_errors += 1;
                    if accept_errors == 1 || accept_errors.is_multiple_of(100) {
                        tracing::warn!(error = %e, listener = kind.name(), "accept failed; lower max_connections or raise the file descriptor limit (ulimit -n)");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// What one connection knows beyond the session: who the client is.
struct Client {
    peer: SocketAddr,
    account_id: Option<i64>,
    /// Set by AUTH (not by a trusted network): the key is checked again for each message, so
    /// that suspending it stops sessions already open.
    authenticated: bool,
}

enum Flow {
    Closed,
    StartTls,
}

async fn connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    kind: ListenerKind,
    smtp: Arc<SmtpListeners>,
    shutdown: watch::Receiver<bool>,
) {
    let app = &smtp.engine;
    let _guard = match app.connections.acquire(peer.ip()) {
        Ok(guard) => guard,
        Err(refusal) => {
            Metrics::inc(&app.metrics.connections_refused_total);
            let r = match refusal {
                Refusal::PerIp => reply::TOO_MANY_CONNECTIONS,
                Refusal::Total => reply::SERVER_BUSY,
            };
            let _ =
                tokio::time::timeout(Duration::from_secs(2), tcp.write_all(&r.to_bytes())).await;
            return;
        }
    };
    Metrics::inc(&app.metrics.smtp_connections_total);
    let trusted = app
        .cfg
        .trusted_networks
        .iter()
        .any(|n| n.contains(peer.ip()));
    let mut client = Client {
        peer,
        account_id: if trusted {
            app.trusted_account_id
        } else {
            None
        },
        authenticated: false,
    };
    let mut stream: Stream = if kind == ListenerKind::Smtps {
        match tokio::time::timeout(Duration::from_secs(30), smtp.tls.accept(tcp)).await {
            Ok(Ok(tls)) => MaybeTls::Tls(Box::new(tls)),
            _ => return,
        }
    } else {
        MaybeTls::Plain(tcp)
    };
    let mut session = Session::new(
        smtp.session_config(kind),
        PeerInfo {
            trusted,
            tls: kind == ListenerKind::Smtps,
        },
    );
    let mut actions = session.greeting();
    loop {
        match drive(
            &mut session,
            &mut stream,
            actions,
            &mut client,
            app,
            shutdown.clone(),
        )
        .await
        {
            Flow::Closed => return,
            Flow::StartTls => {
                let MaybeTls::Plain(tcp) = stream else { return };
                match tokio::time::timeout(Duration::from_secs(30), smtp.tls.accept(tcp)).await {
                    Ok(Ok(tls)) => stream = MaybeTls::Tls(Box::new(tls)),
                    _ => return,
                }
                actions = session.tls_established();
            }
        }
    }
}

async fn drive(
    session: &mut Session,
    stream: &mut Stream,
    initial: Vec<Action>,
    client: &mut Client,
    app: &Arc<Engine>,
    mut shutdown: watch::Receiver<bool>,
) -> Flow {
    let mut pending: VecDeque<Action> = initial.into();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut data_started: Option<Instant> = None;
    // Outside DATA, a client has `idle_timeout` from the server's last reply to finish its next
    // command: a byte now and then without a line end does not keep a session open.
    let mut replied_at = Instant::now();
    loop {
        while let Some(action) = pending.pop_front() {
            match action {
                Action::Send(bytes) => out.extend_from_slice(&bytes),
                Action::Close => {
                    let _ = stream.write_all(&out).await;
                    let _ = stream.shutdown().await;
                    return Flow::Closed;
                }
                Action::StartTls => {
                    if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                        return Flow::Closed;
                    }
                    return Flow::StartTls;
                }
                Action::Authenticate { username, password } => {
                    let outcome = authenticate(app, client, &username, &password).await;
                    pending.extend(session.auth_result(outcome));
                }
                Action::Spool { envelope, body } => {
                    let outcome = accept(app, client, envelope, body).await;
                    pending.extend(session.spool_result(outcome));
                }
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                return Flow::Closed;
            }
            out.clear();
            replied_at = Instant::now();
        }
        let wait = if session.in_data() {
            let started = *data_started.get_or_insert_with(Instant::now);
            app.cfg
                .data_timeout
                .saturating_sub(started.elapsed())
                .min(app.cfg.idle_timeout)
        } else {
            data_started = None;
            app.cfg.idle_timeout.saturating_sub(replied_at.elapsed())
        };
        tokio::select! {
            read = tokio::time::timeout(wait, stream.read(&mut buf)) => match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Flow::Closed,
                Ok(Ok(n)) => pending.extend(session.ingest(&buf[..n])),
                Err(_) => pending.extend(session.timeout()),
            },
            _ = shutdown.changed() => pending.extend(session.shutdown()),
        }
    }
}

async fn authenticate(
    app: &Engine,
    client: &mut Client,
    username: &str,
    password: &str,
) -> AuthOutcome {
    let ip = client.peer.ip();
    match app.check_key(username, password, Some(ip)).await {
        Ok(account) => {
            app.auth_limiter.succeeded(ip);
            Metrics::inc(&app.metrics.auth_successes_total);
            client.account_id = Some(account.id);
            client.authenticated = true;
            AuthOutcome::Success
        }
        Err(AuthDenied::Suspended) => AuthOutcome::Refused(facteur_smtp::Reply::dynamic(
            535,
            "5.7.8",
            facteur_engine::SUSPENDED.into(),
        )),
        Err(AuthDenied::Invalid) => AuthOutcome::Invalid,
        Err(AuthDenied::Throttled) => AuthOutcome::Throttled,
        Err(AuthDenied::Unavailable(e)) => {
            tracing::error!(error = %e, "credential check failed");
            AuthOutcome::Unavailable
        }
    }
}

async fn accept(app: &Engine, client: &Client, envelope: Envelope, body: Vec<u8>) -> SpoolOutcome {
    let refuse = |code: u16, status: &'static str, why: String| {
        tracing::info!(client = %client.peer, reason = %why, "message refused");
        SpoolOutcome::Rejected(facteur_smtp::Reply::dynamic(code, status, why))
    };
    if envelope.inbound {
        // For the bounce domain: a bounce, a complaint, or something kept for an operator.
        return match app
            .receive_report(
                &client.peer.ip().to_string(),
                &envelope.mail_from,
                &envelope.rcpts,
                body,
            )
            .await
        {
            Ok(id) => SpoolOutcome::Queued(format!("report {id}")),
            Err(e) => {
                tracing::error!(error = %e, client = %client.peer, "cannot record bounce-domain mail; replied 451");
                Metrics::inc(&app.metrics.messages_spool_failures_total);
                SpoolOutcome::Failed
            }
        };
    }
    // Mailjet's X-MJ-* headers become the message's options, and leave the message.
    let (options, stripped) = match facteur_mailjet::mj_headers::extract(&body) {
        Ok(read) => read,
        Err(why) => return refuse(550, "5.6.0", why),
    };
    let body = stripped.unwrap_or(body);
    let submission = Submission {
        account_id: client.account_id,
        authority: Authority {
            recheck_active: client.authenticated,
            may_set_sender: true,
        },
        origin: Origin::Smtp(SmtpTrace {
            helo: envelope.helo,
            peer_ip: client.peer.ip().to_string(),
            esmtp: envelope.esmtp,
            tls: envelope.tls,
            authenticated: envelope.authenticated_as.is_some(),
        }),
        mail_from: Some(envelope.mail_from),
        recipients: envelope.rcpts,
        content: Content::Raw(body),
        options,
        sandbox: false,
    };
    match app.submit(submission).await {
        Ok(accepted) => SpoolOutcome::Queued(accepted.receipt.message_id.to_string()),
        Err(SubmitError::Invalid(problems)) if problems.contains(&Problem::Suspended) => {
            tracing::info!(client = %client.peer, "message refused: the API key was suspended during the session");
            SpoolOutcome::Rejected(facteur_smtp::Reply::dynamic(
                550,
                "5.7.1",
                facteur_engine::SUSPENDED.into(),
            ))
        }
        Err(SubmitError::Invalid(problems))
            if problems.iter().any(|p| {
                matches!(
                    p,
                    Problem::FromNotValidated(_) | Problem::SenderNotValidated(_)
                )
            }) =>
        {
            let why = problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            refuse(550, "5.7.1", why)
        }
        Err(e @ SubmitError::Invalid(_)) => refuse(550, "5.6.0", e.to_string()),
        Err(e @ SubmitError::TooBig { .. }) => refuse(552, "5.3.4", e.to_string()),
        Err(SubmitError::Unavailable(e)) => {
            tracing::error!(error = %e, client = %client.peer, "spool failed; replied 451");
            Metrics::inc(&app.metrics.messages_spool_failures_total);
            SpoolOutcome::Failed
        }
    }
}

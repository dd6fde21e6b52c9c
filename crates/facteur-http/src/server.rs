//! The HTTP listener: serves the route table (`crate::routes`), health and Prometheus metrics.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that every resource a client
//! can hold is bounded: connections per address and in all (shared with SMTP), the time to send
//! the headers (`http_header_timeout`), the body (`http_body_timeout`), and silence on the
//! socket (`http_idle_timeout`). Every error, including the ones hyper writes by itself for a
//! request it cannot parse (400, 414, 431), has a JSON body.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

use crate::auth::ClientIp;
use crate::errors::ApiError;
use facteur_engine::Engine;
use facteur_engine::limits::Refusal;
use facteur_engine::metrics::Metrics;

/// Longest request target (path and query) answered; longer gets 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names, values) in one request; more gets 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields in one request; more gets 431.
pub const MAX_HEADERS: usize = 100;

pub fn router(app: Arc<Engine>) -> Router {
    crate::routes::router(&app)
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "No such endpoint: /openapi.json lists them all",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed on this endpoint: /openapi.json lists the methods",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(app.cfg.http_max_body))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard_request,
        ))
        .with_state(app)
}

pub async fn serve(listener: TcpListener, app: Arc<Engine>, shutdown: watch::Receiver<bool>) {
    serve_with(listener, app, shutdown, None).await
}

/// The same routes over TLS (`https`): the handshake must end within `http_header_timeout`;
/// answers carry Strict-Transport-Security when `hsts` is on, and session cookies are `Secure`.
pub async fn serve_tls(
    listener: TcpListener,
    app: Arc<Engine>,
    shutdown: watch::Receiver<bool>,
    tls: tokio_rustls::TlsAcceptor,
) {
    serve_with(listener, app, shutdown, Some(tls)).await
}

/// Marks a request that came over TLS.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

async fn serve_with(
    listener: TcpListener,
    app: Arc<Engine>,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let router = router(app.clone());
    let mut connections = JoinSet::new();
    let mut accept_errors = 0u32;
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    accept_errors = 0;
                    match app.connections.acquire(peer.ip()) {
                        Ok(guard) => {
                            Metrics::inc(&app.metrics.http_connections_total);
                            let (app, router, shutdown) = (app.clone(), router.clone(), shutdown.clone());
                            let tls = tls.clone();
                            connections.spawn(async move {
                                let _ = tcp.set_nodelay(true);
                                match tls {
                                    None => connection(tcp, peer, app, router, shutdown, false).await,
                                    Some(tls) => {
                                        let wait = app.cfg.http_header_timeout;
                                        match tokio::time::timeout(wait, tls.accept(tcp)).await {
                                            Ok(Ok(stream)) => connection(stream, peer, app, router, shutdown, true).await,
                                            Ok(Err(e)) => tracing::debug!(client = %peer, error = %e, "TLS handshake failed (https)"),
                                            Err(_) => tracing::debug!(client = %peer, "TLS handshake too slow (https)"),
                                        }
                                    }
                                }
                                drop(guard);
                            });
                        }
                        Err(refusal) => {
                            Metrics::inc(&app.metrics.connections_refused_total);
                            tokio::spawn(refuse(tcp, refusal));
                        }
                    }
                }
                Err(e) => {
                    // EMFILE and friends: wait for descriptors to free up instead of spinning.
                    Metrics::inc(&app.metrics.accept_errors_total);
                    accept_errors += 1;
                    if accept_errors == 1 || accept_errors.is_multiple_of(100) {
                        tracing::warn!(error = %e, listener = "http", "accept failed; lower max_connections or raise the file descriptor limit (ulimit -n)");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    // In-flight requests finish (each connection was told to close after its response).
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    tcp: S,
    peer: SocketAddr,
    app: Arc<Engine>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    over_tls: bool,
) {
    let ip = ClientIp(peer.ip());
    let hsts = over_tls && app.cfg.hsts;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ip);
            if over_tls {
                req.extensions_mut().insert(OverTls);
            }
            let mut router = router.clone();
            async move {
                use tower::Service;
                let mut response = router.call(req.map(Body::new)).await;
                if hsts && let Ok(r) = &mut response {
                    r.headers_mut().insert(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static("max-age=31536000"),
                    );
                }
                response
            }
        });
    let io = TokioIo::new(GuardedIo::new(tcp, app.cfg.http_idle_timeout));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(app.cfg.http_header_timeout)
        // Larger than MAX_URI_BYTES and MAX_HEADER_BYTES, so that those limits answer first
        // with a JSON body; this one only stops a client from filling memory.
        .max_buf_size(MAX_HEADER_BYTES + MAX_URI_BYTES + 64 * 1024)
        // hyper's own header limit (100, MAX_HEADERS) is kept: it parses into arrays on the
        // stack, where any other limit allocates two arrays of that many headers per request
        // (a fifth of a tiny request's cost). A request with more is hyper's 431, answered
        // with a JSON body like the others.
        .serve_connection(io, service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                if e.is_timeout() {
                    Metrics::inc(&app.metrics.http_timeouts_total);
                }
                tracing::debug!(client = %peer, error = %e, "http connection ended");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answers a connection over the limits with a 503 and closes it.
async fn refuse(mut tcp: TcpStream, refusal: Refusal) {
    let why = match refusal {
        Refusal::PerIp => {
            "Too many connections from your address (max_connections_per_ip): close some and try again"
        }
        Refusal::Total => {
            "The server has too many open connections (max_connections): try again shortly"
        }
    };
    let body =
        serde_json::json!({"ErrorInfo": "", "ErrorMessage": why, "StatusCode": 503}).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// Before any handler: the URI and header limits (414, 431 with JSON bodies), then the whole
/// body read under `http_body_timeout` (408), so that a handler never waits on a slow client.
async fn guard_request(State(app): State<Arc<Engine>>, req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("The request target is longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES || req.headers().len() > MAX_HEADERS {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "Request headers over the limits ({MAX_HEADERS} fields, {MAX_HEADER_BYTES} bytes)"
            ),
        )
        .into_response();
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let max = app.cfg.http_max_body;
    if declared.is_some_and(|n| n > max as u64) || (declared.unwrap_or(0) == 0 && !chunked) {
        // Too large by its own declaration (the route's extractor answers 413 in the route's
        // shape without reading it), or no body at all.
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(app.cfg.http_body_timeout, collect(body, max)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            ApiError::bad_request(format!("Cannot read the request body: {e}")).into_response()
        }
        Err(_) => {
            Metrics::inc(&app.metrics.http_timeouts_total);
            let mut r = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "The request body did not arrive within {} s (http_body_timeout)",
                    app.cfg.http_body_timeout.as_secs()
                ),
            )
            .into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// Reads a body, stopping one byte past `max`: the route's extractor then sees it is too large
/// and answers 413 in its own shape. A body that came in one frame is passed on as it is, not
/// copied.
async fn collect(mut body: Body, max: usize) -> Result<axum::body::Bytes, axum::Error> {
    let mut chunks: Vec<axum::body::Bytes> = Vec::new();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if len + data.len() > max {
                chunks.push(data.slice(..max + 1 - len));
                break;
            }
            len += data.len();
            chunks.push(data);
        }
    }
    Ok(match chunks.len() {
        0 => axum::body::Bytes::new(),
        1 => chunks.remove(0),
        _ => chunks.concat().into(),
    })
}

/// A socket that fails reads after `idle` of silence, and that gives JSON bodies to the
/// responses hyper writes on its own for requests it cannot parse (`400`, `414`, `431` with an
/// empty body).
struct GuardedIo<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// A rewritten response still to be written, and how much of it is.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> GuardedIo<S> {
    fn new(inner: S, idle: Duration) -> Self {
        GuardedIo {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            replacement: None,
        }
    }

    fn active(&mut self) {
        let next = Instant::now() + self.idle;
        // Resetting a timer costs; do it only when it moved by a meaningful amount.
        if next.saturating_duration_since(self.deadline.deadline()) > Duration::from_millis(250) {
            self.deadline.as_mut().reset(next);
        }
    }

    /// Writes what remains of a replacement response.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.replacement {
            if *done == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The JSON response that replaces one of hyper's empty automatic error responses.
fn rewrite_automatic_response(buf: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(buf).ok()?;
    let rest = head.strip_prefix("HTTP/1.1 ")?;
    let (status, message) = match rest.get(..3)? {
        "400" => (400, "The request is not valid HTTP/1.1"),
        "414" => (414, "The request target is too long"),
        "431" => (431, "The request headers are too large"),
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    if !lower.ends_with("\r\n\r\n") || !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = serde_json::json!({"ErrorInfo": "", "ErrorMessage": message, "StatusCode": status})
        .to_string();
    let reason = head.lines().next()?.strip_prefix("HTTP/1.1 ")?;
    Some(
        format!(
            "HTTP/1.1 {reason}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle HTTP connection closed (http_idle_timeout)",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        if let Some(replacement) = rewrite_automatic_response(buf) {
            this.replacement = Some((replacement, 0));
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.active();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    // Whole buffers only, so that an automatic response arrives in one write and is seen.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_automatic_response;

    #[test]
    fn hyper_automatic_errors_get_json_bodies() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite_automatic_response(head).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let body = out.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["StatusCode"], 431);
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
        // A response of the application (with a body) is left alone.
        assert!(
            rewrite_automatic_response(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n")
                .is_none()
        );
        assert!(
            rewrite_automatic_response(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none()
        );
    }
}

//! The HTTP listener: health, Prometheus metrics and the REST API.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::api::routes())
        .layer(axum::extract::DefaultBodyLimit::max(app.cfg.http_max_body))
        .with_state(app)
}

pub async fn serve(listener: TcpListener, app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        let _ = shutdown.changed().await;
    });
    if let Err(e) = server.await {
        tracing::error!(error = %e, "http server failed");
    }
}

async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    match app.store.queue_len().await {
        Ok(n) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "queue": n})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "error": e.to_string()})),
        ),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let mut out = String::new();
    app.metrics.render(&mut out);
    if let Ok(n) = app.store.queue_len().await {
        crate::metrics::gauge(
            &mut out,
            "queue_entries",
            "Queue rows (message x domain) not yet final",
            n,
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

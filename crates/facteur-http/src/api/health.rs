//! `/healthz` and `/metrics`: public, for load balancers and Prometheus.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use facteur_engine::Engine;
use facteur_engine::metrics::Metrics;

/// `ok` only when the store answers a read and can write (a write that fails, e.g. on a full
/// disk, makes it `unavailable` with the error, and `/metrics` counts it).
pub(crate) async fn healthz(State(app): State<Arc<Engine>>) -> impl IntoResponse {
    let queue = app.store.queue_len().await;
    let write = app.store.write_probe(facteur_engine::time::now_ms()).await;
    match (queue, write) {
        (Ok(n), Ok(())) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "queue": n})),
        ),
        (Err(e), _) | (_, Err(e)) => {
            Metrics::inc(&app.metrics.store_failures_total);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "error": e.to_string()})),
            )
        }
    }
}

pub(crate) async fn metrics(State(app): State<Arc<Engine>>) -> impl IntoResponse {
    let mut out = String::new();
    app.metrics.render(&mut out);
    if let Ok(n) = app.store.queue_len().await {
        facteur_engine::metrics::gauge(
            &mut out,
            "queue_entries",
            "Queue rows (message x domain) not yet final",
            n,
        );
    }
    facteur_engine::metrics::counter(
        &mut out,
        "store_write_failures_total",
        "Store writes that failed (disk full, read-only, database unreachable)",
        app.store.write_failures(),
    );
    facteur_engine::metrics::gauge(
        &mut out,
        "connections_open",
        "Connections open on every listener (SMTP and HTTP)",
        app.connections.open() as i64,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

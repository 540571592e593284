//! Operations: `/healthz` (the process answers), `/readyz` (the database
//! answers), `/metrics` (Prometheus text; on its own listener with
//! `--metrics-listen`, so it need not be reachable where the API is), and
//! the per-request metrics.
//!
//! HTTP metrics, labelled by method, matched route (never the raw path, to
//! bound cardinality) and status:
//! - `http_requests_total` (counter)
//! - `http_request_duration_seconds` (histogram)
//!
//! Sync health, read from the database at each scrape (so every server
//! process sharing it reports the same; see [`crate::users::store::SyncHealth`]):
//! - `fieldsync_devices_not_synced{hours}`: devices not revoked that have
//!   not synced within `--stale-device-hours`
//! - `fieldsync_jobs_with_rejected_changes`
//! - `fieldsync_outbox_backlog` (pending messages), `fieldsync_outbox_failed`

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Json;

/// `/healthz` and `/readyz`, on the main listener.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `/metrics`: on the main listener, or alone on `--metrics-listen`.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(render_metrics))
}

#[derive(Serialize)]
struct StatusBody {
    status: &'static str,
}

async fn healthz() -> Json<StatusBody> {
    Json(StatusBody { status: "ok" })
}

async fn readyz(State(state): State<AppState>) -> Result<Json<StatusBody>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(StatusBody { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::Unavailable)
        }
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    let mut body = state.metrics.render();
    // Gauges of this database, written here rather than into the
    // process-wide recorder (which several apps in one process share).
    let hours = state.settings.stale_device_hours;
    match crate::users::service::health(&state, hours).await {
        Ok(h) => body.push_str(&health_text(&h, hours)),
        Err(e) => tracing::warn!(error = %e, "sync health unavailable for /metrics"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

fn health_text(h: &crate::users::store::SyncHealth, hours: u32) -> String {
    format!(
        "# HELP fieldsync_devices_not_synced Devices (not revoked) without a sync in the last `hours` hours.\n\
         # TYPE fieldsync_devices_not_synced gauge\n\
         fieldsync_devices_not_synced{{hours=\"{hours}\"}} {}\n\
         # HELP fieldsync_jobs_with_rejected_changes Jobs with a rejected change on record.\n\
         # TYPE fieldsync_jobs_with_rejected_changes gauge\n\
         fieldsync_jobs_with_rejected_changes {}\n\
         # HELP fieldsync_outbox_backlog Outbound messages waiting to be sent.\n\
         # TYPE fieldsync_outbox_backlog gauge\n\
         fieldsync_outbox_backlog {}\n\
         # HELP fieldsync_outbox_failed Outbound messages that failed for good.\n\
         # TYPE fieldsync_outbox_failed gauge\n\
         fieldsync_outbox_failed {}\n",
        h.stale_devices, h.jobs_with_rejections, h.outbox_pending, h.outbox_failed
    )
}

/// Buckets for request latency, in seconds (1 ms .. 30 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide Prometheus recorder (one per process, however many
/// apps a test process runs). Histograms whose names end in `_seconds` get
/// [`LATENCY_BUCKETS`].
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only this one's"
                );
            }
            handle
        })
        .clone()
}

/// Middleware: counts requests and records their latency.
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

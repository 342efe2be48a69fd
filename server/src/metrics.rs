//! What an operator watches, in Prometheus text format at `GET /metrics` (the `metrics` crate's
//! facade, rendered by `metrics-exporter-prometheus`; no listener of its own).
//!
//! - `fieldsync_http_requests_total{kind, status}`: every request, by kind (sync, api, page,
//!   ops) and status; `fieldsync_http_bytes_{in,out}_total{kind}`;
//! - `fieldsync_sync_round_trips_total{outcome}`: ok, refused (4xx), busy (503), error (5xx);
//! - `fieldsync_changes_total{outcome}` (accepted changes), `fieldsync_documents_refused_total{reason}`;
//! - `fieldsync_apply_seconds`: a sync's writes from submission to commit; `fieldsync_lock_wait_seconds`:
//!   the part spent waiting for the writer;
//! - `fieldsync_open_connections`; `fieldsync_store_bytes` and `fieldsync_last_backup_timestamp_seconds`,
//!   read at each scrape.
//!
//! `/metrics` answers only when `metrics-token` is set, to a request bearing it from one of
//! `metrics-networks` (loopback by default): it tells how busy the branch is.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "fieldsync_http_requests_total";
pub const BYTES_IN: &str = "fieldsync_http_bytes_in_total";
pub const BYTES_OUT: &str = "fieldsync_http_bytes_out_total";
pub const ROUND_TRIPS: &str = "fieldsync_sync_round_trips_total";
pub const CHANGES: &str = "fieldsync_changes_total";
pub const REFUSED: &str = "fieldsync_documents_refused_total";
pub const APPLY_SECONDS: &str = "fieldsync_apply_seconds";
pub const LOCK_WAIT_SECONDS: &str = "fieldsync_lock_wait_seconds";
pub const OPEN_CONNECTIONS: &str = "fieldsync_open_connections";
pub const STORE_BYTES: &str = "fieldsync_store_bytes";
pub const LAST_BACKUP: &str = "fieldsync_last_backup_timestamp_seconds";

/// The process's recorder (one per process, however many servers a test runs in it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            PrometheusBuilder::new().set_buckets(&buckets).ok()?.install_recorder().ok()
        })
        .as_ref()
}

/// The kind of a request, by its path: few values, so the labels stay few.
pub fn kind(path: &str) -> &'static str {
    match path {
        "/api/v1/sync" => "sync",
        "/healthz" | "/readyz" | "/metrics" => "ops",
        p if p.starts_with("/api/") => "api",
        _ => "page",
    }
}

/// A sync round trip's outcome by its answer's status.
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        503 => "busy",
        400..=499 => "refused",
        _ => "error",
    }
}

/// Counts one request and its bytes.
pub fn request(path: &str, status: u16, bytes_in: u64, bytes_out: u64) {
    let kind = kind(path);
    metrics::counter!(REQUESTS, "kind" => kind, "status" => status.to_string()).increment(1);
    metrics::counter!(BYTES_IN, "kind" => kind).increment(bytes_in);
    metrics::counter!(BYTES_OUT, "kind" => kind).increment(bytes_out);
    if kind == "sync" {
        metrics::counter!(ROUND_TRIPS, "outcome" => outcome(status)).increment(1);
    }
}

/// The scrape: the gauges read now, then everything rendered.
pub fn render(store_bytes: u64, last_backup_ms: Option<i64>) -> String {
    let Some(handle) = handle() else { return String::new() };
    metrics::gauge!(STORE_BYTES).set(store_bytes as f64);
    metrics::gauge!(LAST_BACKUP).set(last_backup_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
    handle.run_upkeep();
    handle.render()
}

#[cfg(test)]
mod tests {
    #[test]
    fn kinds_and_outcomes_are_few() {
        assert_eq!(super::kind("/api/v1/sync"), "sync");
        assert_eq!(super::kind("/api/v1/photos/ab/upload"), "api");
        assert_eq!(super::kind("/visits/x/y"), "page");
        assert_eq!(super::kind("/metrics"), "ops");
        assert_eq!([200, 422, 503, 500].map(super::outcome), ["ok", "refused", "busy", "error"]);
    }
}

//! What an operator watches, in Prometheus text format at `GET /metrics` (the `metrics` crate's
//! facade, rendered by `metrics-exporter-prometheus`; no listener of its own).
//!
//! - `fieldsync_http_requests_total{kind, status}`: every request, by kind (sync, api, page,
//!   ops) and status; `fieldsync_http_bytes_{in,out}_total{kind}`;
//! - `fieldsync_sync_round_trips_total{outcome}`: ok, refused (4xx), busy (503), error (5xx);
//! - `fieldsync_changes_total{outcome}` (accepted changes), `fieldsync_documents_refused_total{reason}`;
//! - `fieldsync_apply_seconds`: a sync's writes from submission to commit; `fieldsync_lock_wait_seconds`:
//!   the part spent waiting for the writer; `fieldsync_write_lock_held_seconds`: each batch's time
//!   under the write lock;
//! - `fieldsync_open_connections`; `fieldsync_store_bytes` and `fieldsync_last_backup_timestamp_seconds`,
//!   read at each scrape;
//! - PostgreSQL: `fieldsync_db_pool_connections`, `fieldsync_db_pool_idle`, `fieldsync_db_replicas`
//!   and, per replica, `fieldsync_db_replica_lag_seconds{replica}` / `_lag_bytes{replica}`.
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
/// How long each batch of sync writes held the store's write lock: the part of the work no second
/// writer (thread or instance) can share, which bounds the store's write throughput.
pub const LOCK_HELD_SECONDS: &str = "fieldsync_write_lock_held_seconds";
pub const OPEN_CONNECTIONS: &str = "fieldsync_open_connections";
pub const STORE_BYTES: &str = "fieldsync_store_bytes";
/// PostgreSQL: the connections this instance's pool holds, and how many of them are idle.
pub const POOL_CONNECTIONS: &str = "fieldsync_db_pool_connections";
pub const POOL_IDLE: &str = "fieldsync_db_pool_idle";
pub const LAST_BACKUP: &str = "fieldsync_last_backup_timestamp_seconds";
/// PostgreSQL: the primary's streaming replicas, and each one's lag (time and bytes of WAL).
pub const REPLICAS: &str = "fieldsync_db_replicas";
pub const REPLICA_LAG_SECONDS: &str = "fieldsync_db_replica_lag_seconds";
pub const REPLICA_LAG_BYTES: &str = "fieldsync_db_replica_lag_bytes";

use crate::store::postgres::db::{DatabaseStatus, Replica};

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
pub fn render(store_bytes: u64, last_backup_ms: Option<i64>, database: Option<&DatabaseStatus>) -> String {
    let Some(handle) = handle() else { return String::new() };
    metrics::gauge!(STORE_BYTES).set(store_bytes as f64);
    if let Some(db) = database {
        metrics::gauge!(POOL_CONNECTIONS).set(db.connections as f64);
        metrics::gauge!(POOL_IDLE).set(db.idle as f64);
    }
    metrics::gauge!(LAST_BACKUP).set(last_backup_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
    handle.run_upkeep();
    let mut text = handle.render();
    if let Some(db) = database {
        text.push_str(&replicas(&db.replicas));
    }
    text
}

/// The sum of a histogram's observations so far in this process (benchmarks read it), or `None`
/// when nothing was observed.
pub fn histogram_sum(name: &str) -> Option<f64> {
    let text = handle()?.render();
    let prefix = format!("{name}_sum ");
    text.lines().find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
}

/// The replicas' gauges, written for this scrape only: a replica that has gone leaves no stale
/// line behind (a registered gauge would keep its last value).
fn replicas(replicas: &[Replica]) -> String {
    let mut out = format!("# TYPE {REPLICAS} gauge\n{REPLICAS} {}\n", replicas.len());
    let seconds = replicas.iter().filter_map(|r| Some((r.name.as_str(), r.lag_seconds?)));
    gauge_lines(&mut out, REPLICA_LAG_SECONDS, seconds);
    let bytes = replicas.iter().filter_map(|r| Some((r.name.as_str(), r.lag_bytes? as f64)));
    gauge_lines(&mut out, REPLICA_LAG_BYTES, bytes);
    out
}

/// One gauge's lines by replica (none, not even its type, when no replica has a value).
fn gauge_lines<'a>(out: &mut String, metric: &str, values: impl Iterator<Item = (&'a str, f64)>) {
    use std::fmt::Write;
    for (i, (replica, value)) in values.enumerate() {
        if i == 0 {
            let _ = writeln!(out, "# TYPE {metric} gauge");
        }
        let _ = writeln!(out, "{metric}{{replica=\"{}\"}} {value}", label(replica));
    }
}

/// A label value in the text format: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
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

    #[test]
    fn replicas_are_written_with_their_names_escaped_and_unknown_lags_left_out() {
        use super::Replica;
        let replica = |name: &str, seconds, bytes| Replica {
            name: name.into(),
            state: "streaming".into(),
            lag_seconds: seconds,
            lag_bytes: bytes,
        };
        let text = super::replicas(&[replica("dc-2", Some(1.5), Some(4096)), replica("a\"b\\c\nd", Some(0.0), None)]);
        assert!(text.contains("fieldsync_db_replicas 2\n"), "{text}");
        assert!(text.contains("fieldsync_db_replica_lag_seconds{replica=\"dc-2\"} 1.5\n"), "{text}");
        assert!(text.contains("fieldsync_db_replica_lag_bytes{replica=\"dc-2\"} 4096\n"), "{text}");
        assert!(text.contains(r#"fieldsync_db_replica_lag_seconds{replica="a\"b\\c\nd"} 0"#), "escaped: {text}");
        assert_eq!(text.lines().filter(|l| l.contains("lag_bytes{")).count(), 1, "an unknown lag is left out: {text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), 3, "{text}");
        let none = super::replicas(&[]);
        assert_eq!(none, "# TYPE fieldsync_db_replicas gauge\nfieldsync_db_replicas 0\n");
    }
}

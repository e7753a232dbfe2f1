//! Prometheus metrics in the text exposition format, from plain atomics (no registry crate needed).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A latency histogram with fixed buckets (seconds).
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            bounds: LATENCY_BOUNDS,
            buckets: LATENCY_BOUNDS.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: std::time::Duration) {
        let s = d.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(self.bounds) {
            if s <= *bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, bound) in self.buckets.iter().zip(self.bounds) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    pub ingest_requests: Counter,
    pub ingest_rejected: Counter,
    pub ingest_matches_received: Counter,
    pub ingest_matches_stored: Counter,
    pub ingest_matches_duplicate: Counter,
    pub ingest_retries: Counter,
    pub signals_created: Counter,
    pub signals_updated: Counter,
    pub backend_signals: Counter,
    pub auth_failures: Counter,
    pub http_requests: Counter,
    pub http_client_errors: Counter,
    pub http_server_errors: Counter,
    pub ingest_inflight: AtomicU64,
    pub ingest_latency: Histogram,
    pub notifications_queued: Counter,
    pub notifications_delivered: Counter,
    pub notifications_failed: Counter,
    pub notifications_retries: Counter,
    pub notifications_rate_limited: Counter,
    pub notifications_lease_lost: Counter,
    /// From queued to delivered.
    pub notification_latency: Histogram,
    pub login_failures: Counter,
    pub login_lockouts: Counter,
    pub login_throttled: Counter,
    pub connections_refused: Counter,
    pub connections_open: AtomicU64,
    pub requests_timed_out: Counter,
    pub retention_purged: Counter,
    pub retention_errors: Counter,
}

/// Writes one counter in the exposition format.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

pub fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

impl Metrics {
    pub fn render(&self, out: &mut String, pool_size: u32, pool_idle: usize) {
        counter(
            out,
            "rampart_server_ingest_requests_total",
            "Ingest requests received.",
            self.ingest_requests.get(),
        );
        counter(
            out,
            "rampart_server_ingest_rejected_total",
            "Ingest requests refused (4xx).",
            self.ingest_rejected.get(),
        );
        counter(
            out,
            "rampart_server_ingest_matches_received_total",
            "Rule matches received from agents.",
            self.ingest_matches_received.get(),
        );
        counter(
            out,
            "rampart_server_ingest_matches_stored_total",
            "Rule matches stored (new).",
            self.ingest_matches_stored.get(),
        );
        counter(
            out,
            "rampart_server_ingest_matches_duplicate_total",
            "Rule matches already stored (re-sent by an agent), ignored.",
            self.ingest_matches_duplicate.get(),
        );
        counter(
            out,
            "rampart_server_ingest_retries_total",
            "Ingest transactions retried after a database conflict.",
            self.ingest_retries.get(),
        );
        counter(
            out,
            "rampart_server_signals_created_total",
            "Signals created.",
            self.signals_created.get(),
        );
        counter(
            out,
            "rampart_server_signals_updated_total",
            "Existing signals extended.",
            self.signals_updated.get(),
        );
        counter(
            out,
            "rampart_server_backend_rule_triggers_total",
            "Backend rule evaluations that raised or extended a signal.",
            self.backend_signals.get(),
        );
        counter(
            out,
            "rampart_server_auth_failures_total",
            "Requests refused for credentials.",
            self.auth_failures.get(),
        );
        counter(
            out,
            "rampart_server_http_requests_total",
            "HTTP requests served.",
            self.http_requests.get(),
        );
        counter(
            out,
            "rampart_server_http_client_errors_total",
            "HTTP 4xx responses.",
            self.http_client_errors.get(),
        );
        counter(
            out,
            "rampart_server_http_server_errors_total",
            "HTTP 5xx responses.",
            self.http_server_errors.get(),
        );
        gauge(
            out,
            "rampart_server_ingest_inflight",
            "Ingest requests being processed (queue depth).",
            self.ingest_inflight.load(Ordering::Relaxed) as f64,
        );
        gauge(
            out,
            "rampart_server_connections_open",
            "Client connections open.",
            self.connections_open.load(Ordering::Relaxed) as f64,
        );
        gauge(
            out,
            "rampart_server_db_pool_connections",
            "Database pool connections open.",
            pool_size as f64,
        );
        gauge(
            out,
            "rampart_server_db_pool_idle",
            "Idle database pool connections.",
            pool_idle as f64,
        );
        self.ingest_latency.render(
            out,
            "rampart_server_ingest_seconds",
            "Ingest request latency.",
        );
        for (name, help, c) in [
            (
                "rampart_server_notifications_queued_total",
                "Notifications queued in the outbox (one per signal event and channel).",
                &self.notifications_queued,
            ),
            (
                "rampart_server_notifications_delivered_total",
                "Notifications delivered (the receiver accepted them).",
                &self.notifications_delivered,
            ),
            (
                "rampart_server_notifications_failed_total",
                "Notifications given up on (an error that cannot heal, or too many attempts).",
                &self.notifications_failed,
            ),
            (
                "rampart_server_notifications_retries_total",
                "Delivery attempts that failed and were rescheduled.",
                &self.notifications_retries,
            ),
            (
                "rampart_server_notifications_rate_limited_total",
                "Deliveries postponed by a channel's rate limit.",
                &self.notifications_rate_limited,
            ),
            (
                "rampart_server_notifications_lease_lost_total",
                "Deliveries whose lease expired before they were recorded (another worker retries them).",
                &self.notifications_lease_lost,
            ),
            (
                "rampart_server_login_failures_total",
                "Sign-ins with a wrong user name or password.",
                &self.login_failures,
            ),
            (
                "rampart_server_login_lockouts_total",
                "User names or client addresses locked out of signing in after repeated failures.",
                &self.login_lockouts,
            ),
            (
                "rampart_server_login_throttled_total",
                "Sign-ins refused (429) without a password check: backoff or lockout.",
                &self.login_throttled,
            ),
            (
                "rampart_server_connections_refused_total",
                "Connections closed on arrival: too many open, in total or from one address.",
                &self.connections_refused,
            ),
            (
                "rampart_server_requests_timed_out_total",
                "Requests that did not finish within the request timeout (408).",
                &self.requests_timed_out,
            ),
            (
                "rampart_server_retention_purged_rows_total",
                "Rows deleted by retention (signals, matches, snapshots, deliveries, audit entries).",
                &self.retention_purged,
            ),
            (
                "rampart_server_retention_errors_total",
                "Retention runs that stopped on a database error (the next run continues).",
                &self.retention_errors,
            ),
        ] {
            counter(out, name, help, c.get());
        }
        self.notification_latency.render(
            out,
            "rampart_server_notification_delivery_seconds",
            "Time from queueing a notification to its delivery.",
        );
    }
}

/// Serves `GET /metrics` (no authentication) from `source` on `listener`: the agent's local endpoint, bound
/// to loopback by default.
pub async fn serve_local(
    listener: tokio::net::TcpListener,
    source: crate::state::MetricsSource,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::http::header;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let source = source.clone();
            async move {
                let mut out = String::new();
                source(&mut out);
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    out,
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_exposition_format() {
        let m = super::Metrics::default();
        m.ingest_requests.add(3);
        m.ingest_latency
            .observe(std::time::Duration::from_millis(3));
        let mut out = String::new();
        m.render(&mut out, 2, 1);
        assert!(out.contains("# TYPE rampart_server_ingest_requests_total counter\nrampart_server_ingest_requests_total 3\n"));
        assert!(out.contains("rampart_server_ingest_seconds_bucket{le=\"0.005\"} 1"));
        assert!(out.contains("rampart_server_ingest_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(out.contains("rampart_server_ingest_seconds_count 1"));
    }
}

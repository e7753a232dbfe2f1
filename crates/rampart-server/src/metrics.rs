//! The server's metrics: `prometheus-client` metrics in one registry (rampart-metrics), rendered at
//! `/metrics` in the Prometheus text format with the names and help texts the docs and dashboards use.

use rampart_metrics::{register, Counter, Gauge, LatencyHistogram, Registry};

/// The server's counters.
#[derive(Debug, Default)]
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
    pub ingest_inflight: Gauge,
    pub ingest_latency: LatencyHistogram,
    pub notifications_queued: Counter,
    pub notifications_delivered: Counter,
    pub notifications_failed: Counter,
    pub notifications_retries: Counter,
    pub notifications_rate_limited: Counter,
    pub notifications_lease_lost: Counter,
    /// From queued to delivered.
    pub notification_latency: LatencyHistogram,
    pub login_failures: Counter,
    pub login_lockouts: Counter,
    pub login_throttled: Counter,
    pub connections_refused: Counter,
    pub connections_open: Gauge,
    pub requests_timed_out: Counter,
    pub retention_purged: Counter,
    pub retention_errors: Counter,
    db_pool_connections: Gauge,
    db_pool_idle: Gauge,
    /// Built at the first scrape from clones of the metrics above (they share their values).
    registry: std::sync::OnceLock<Registry>,
}

impl Metrics {
    /// Appends the exposition text; the pool's size and idle connections are read by the caller.
    pub fn render(&self, out: &mut String, pool_size: u32, pool_idle: usize) {
        self.db_pool_connections.set(i64::from(pool_size));
        self.db_pool_idle.set(pool_idle as i64);
        let registry = self.registry.get_or_init(|| {
            let mut r = Registry::default();
            self.register(&mut r);
            r
        });
        rampart_metrics::render(registry, out);
    }

    /// In the order `/metrics` has always listed them.
    fn register(&self, r: &mut Registry) {
        register(
            r,
            "rampart_server_ingest_requests_total",
            "Ingest requests received.",
            self.ingest_requests.clone(),
        );
        register(
            r,
            "rampart_server_ingest_rejected_total",
            "Ingest requests refused (4xx).",
            self.ingest_rejected.clone(),
        );
        register(
            r,
            "rampart_server_ingest_matches_received_total",
            "Rule matches received from agents.",
            self.ingest_matches_received.clone(),
        );
        register(
            r,
            "rampart_server_ingest_matches_stored_total",
            "Rule matches stored (new).",
            self.ingest_matches_stored.clone(),
        );
        register(
            r,
            "rampart_server_ingest_matches_duplicate_total",
            "Rule matches already stored (re-sent by an agent), ignored.",
            self.ingest_matches_duplicate.clone(),
        );
        register(
            r,
            "rampart_server_ingest_retries_total",
            "Ingest transactions retried after a database conflict.",
            self.ingest_retries.clone(),
        );
        register(
            r,
            "rampart_server_signals_created_total",
            "Signals created.",
            self.signals_created.clone(),
        );
        register(
            r,
            "rampart_server_signals_updated_total",
            "Existing signals extended.",
            self.signals_updated.clone(),
        );
        register(
            r,
            "rampart_server_backend_rule_triggers_total",
            "Backend rule evaluations that raised or extended a signal.",
            self.backend_signals.clone(),
        );
        register(
            r,
            "rampart_server_auth_failures_total",
            "Requests refused for credentials.",
            self.auth_failures.clone(),
        );
        register(
            r,
            "rampart_server_http_requests_total",
            "HTTP requests served.",
            self.http_requests.clone(),
        );
        register(
            r,
            "rampart_server_http_client_errors_total",
            "HTTP 4xx responses.",
            self.http_client_errors.clone(),
        );
        register(
            r,
            "rampart_server_http_server_errors_total",
            "HTTP 5xx responses.",
            self.http_server_errors.clone(),
        );
        register(
            r,
            "rampart_server_ingest_inflight",
            "Ingest requests being processed (queue depth).",
            self.ingest_inflight.clone(),
        );
        register(
            r,
            "rampart_server_connections_open",
            "Client connections open.",
            self.connections_open.clone(),
        );
        register(
            r,
            "rampart_server_db_pool_connections",
            "Database pool connections open.",
            self.db_pool_connections.clone(),
        );
        register(
            r,
            "rampart_server_db_pool_idle",
            "Idle database pool connections.",
            self.db_pool_idle.clone(),
        );
        self.ingest_latency.register(
            r,
            "rampart_server_ingest_seconds",
            "Ingest request latency.",
        );
        register(
            r,
            "rampart_server_notifications_queued_total",
            "Notifications queued in the outbox (one per signal event and channel).",
            self.notifications_queued.clone(),
        );
        register(
            r,
            "rampart_server_notifications_delivered_total",
            "Notifications delivered (the receiver accepted them).",
            self.notifications_delivered.clone(),
        );
        register(
            r,
            "rampart_server_notifications_failed_total",
            "Notifications given up on (an error that cannot heal, or too many attempts).",
            self.notifications_failed.clone(),
        );
        register(
            r,
            "rampart_server_notifications_retries_total",
            "Delivery attempts that failed and were rescheduled.",
            self.notifications_retries.clone(),
        );
        register(
            r,
            "rampart_server_notifications_rate_limited_total",
            "Deliveries postponed by a channel's rate limit.",
            self.notifications_rate_limited.clone(),
        );
        register(r, "rampart_server_notifications_lease_lost_total", "Deliveries whose lease expired before they were recorded (another worker retries them).", self.notifications_lease_lost.clone());
        register(
            r,
            "rampart_server_login_failures_total",
            "Sign-ins with a wrong user name or password.",
            self.login_failures.clone(),
        );
        register(
            r,
            "rampart_server_login_lockouts_total",
            "User names or client addresses locked out of signing in after repeated failures.",
            self.login_lockouts.clone(),
        );
        register(
            r,
            "rampart_server_login_throttled_total",
            "Sign-ins refused (429) without a password check: backoff or lockout.",
            self.login_throttled.clone(),
        );
        register(
            r,
            "rampart_server_connections_refused_total",
            "Connections closed on arrival: too many open, in total or from one address.",
            self.connections_refused.clone(),
        );
        register(
            r,
            "rampart_server_requests_timed_out_total",
            "Requests that did not finish within the request timeout (408).",
            self.requests_timed_out.clone(),
        );
        register(
            r,
            "rampart_server_retention_purged_rows_total",
            "Rows deleted by retention (signals, matches, snapshots, deliveries, audit entries).",
            self.retention_purged.clone(),
        );
        register(
            r,
            "rampart_server_retention_errors_total",
            "Retention runs that stopped on a database error (the next run continues).",
            self.retention_errors.clone(),
        );
        self.notification_latency.register(
            r,
            "rampart_server_notification_delivery_seconds",
            "Time from queueing a notification to its delivery.",
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_exposition_format() {
        let m = super::Metrics::default();
        m.ingest_requests.inc_by(3);
        m.ingest_latency
            .observe(std::time::Duration::from_millis(3));
        let mut out = String::new();
        m.render(&mut out, 2, 1);
        assert!(out.contains("# HELP rampart_server_ingest_requests_total Ingest requests received.\n# TYPE rampart_server_ingest_requests_total counter\nrampart_server_ingest_requests_total 3\n"), "{out}");
        assert!(out.contains("# TYPE rampart_server_db_pool_connections gauge\nrampart_server_db_pool_connections 2\n"), "{out}");
        assert!(
            out.contains("rampart_server_ingest_seconds_bucket{le=\"0.005\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("rampart_server_ingest_seconds_bucket{le=\"0.0025\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("rampart_server_ingest_seconds_count 1"),
            "{out}"
        );
        // Rendering twice shows current values from the same registry.
        m.ingest_requests.inc();
        let mut again = String::new();
        m.render(&mut again, 2, 1);
        assert!(
            again.contains("rampart_server_ingest_requests_total 4\n"),
            "{again}"
        );
    }
}

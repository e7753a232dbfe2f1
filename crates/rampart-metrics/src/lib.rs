//! Rampart's metrics, shared by the agent and the server: a [`Registry`] of `prometheus-client` metrics,
//! its text exposition (Prometheus text format 0.0.4, what both `/metrics` endpoints have always served),
//! values read at scrape time from state owned elsewhere ([`Sampled`]), and a local `/metrics` endpoint
//! ([`serve`]) that needs neither axum nor the server.

mod sampled;
mod serve;

pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::{Metric, Registry};

use prometheus_client::metrics::MetricType;
pub use sampled::{Sample, Sampled};
pub use serve::{serve, Render};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The registry's metrics in the Prometheus text format, appended to `out`.
pub fn render(registry: &Registry, out: &mut String) {
    // Writing into a String cannot fail; a metric whose encoding fails would be a bug in the metric.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(out, registry) {
        tracing::error!("metrics: encoding failed: {e}");
    }
}

/// `prometheus-client` names a counter by its family and appends `_total` itself; Rampart's code and docs
/// name the sample (`rampart_x_total`), so registration takes that name and strips the suffix.
pub fn family_name(sample_name: &str) -> &str {
    sample_name.strip_suffix("_total").unwrap_or(sample_name)
}

/// Registers `metric` under its sample name (a counter's ends in `_total`). `prometheus-client` ends every
/// help text with a period; Rampart's already have one.
pub fn register(registry: &mut Registry, name: &str, help: &str, metric: impl Metric + Clone) {
    let name = match metric.metric_type() {
        MetricType::Counter => family_name(name),
        _ => name,
    };
    registry.register(name, help.strip_suffix('.').unwrap_or(help), metric);
}

/// The latency buckets (seconds) of every Rampart latency histogram: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`], observed in [`Duration`](std::time::Duration)s.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new(LATENCY_BUCKETS))
    }
}

impl LatencyHistogram {
    pub fn observe(&self, d: std::time::Duration) {
        self.0.observe(d.as_secs_f64());
    }

    pub fn register(&self, registry: &mut Registry, name: &str, help: &str) {
        register(registry, name, help, self.0.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::EncodeLabelSet;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Channel {
        kind: String,
    }

    #[test]
    fn renders_counter_gauge_and_labelled_family_exactly() {
        let mut registry = Registry::default();
        let requests = Counter::<u64>::default();
        register(
            &mut registry,
            "rampart_test_requests_total",
            "Requests served.",
            requests.clone(),
        );
        let open = Gauge::<i64>::default();
        register(
            &mut registry,
            "rampart_test_open",
            "Connections open.",
            open.clone(),
        );
        let sent = Family::<Channel, Counter>::default();
        register(
            &mut registry,
            "rampart_test_sent_total",
            "Notifications sent.",
            sent.clone(),
        );
        requests.inc_by(3);
        open.set(2);
        sent.get_or_create(&Channel {
            kind: "slack".into(),
        })
        .inc();
        let mut out = String::new();
        render(&registry, &mut out);
        assert_eq!(
            out,
            "# HELP rampart_test_requests_total Requests served.\n\
             # TYPE rampart_test_requests_total counter\n\
             rampart_test_requests_total 3\n\
             # HELP rampart_test_open Connections open.\n\
             # TYPE rampart_test_open gauge\n\
             rampart_test_open 2\n\
             # HELP rampart_test_sent_total Notifications sent.\n\
             # TYPE rampart_test_sent_total counter\n\
             rampart_test_sent_total{kind=\"slack\"} 1\n"
        );
    }

    #[test]
    fn renders_latency_histogram_buckets_cumulatively() {
        let mut registry = Registry::default();
        let h = LatencyHistogram::default();
        h.register(&mut registry, "rampart_test_seconds", "Latency.");
        h.observe(std::time::Duration::from_millis(3));
        let mut out = String::new();
        render(&registry, &mut out);
        assert!(
            out.contains("# TYPE rampart_test_seconds histogram\n"),
            "{out}"
        );
        assert!(
            out.contains("rampart_test_seconds_bucket{le=\"0.0025\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("rampart_test_seconds_bucket{le=\"0.005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("rampart_test_seconds_bucket{le=\"+Inf\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("rampart_test_seconds_count 1\n"), "{out}");
    }
}

//! Metrics read when scraped, from state their owner keeps anyway (a queue length behind its lock, a
//! kernel counter): a `prometheus-client` collector around a closure.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

type Read = dyn Fn(&mut Sample<'_>) -> std::fmt::Result + Send + Sync;

/// A collector calling `read` at every scrape; register it with `Registry::register_collector`.
pub struct Sampled(Box<Read>);

impl Sampled {
    pub fn new(
        read: impl Fn(&mut Sample<'_>) -> std::fmt::Result + Send + Sync + 'static,
    ) -> Box<Sampled> {
        Box::new(Sampled(Box::new(read)))
    }
}

impl std::fmt::Debug for Sampled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampled")
    }
}

impl Collector for Sampled {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        (self.0)(&mut Sample(encoder))
    }
}

/// One scrape of a [`Sampled`] collector.
pub struct Sample<'a>(DescriptorEncoder<'a>);

impl Sample<'_> {
    /// A counter, by its sample name (`..._total`).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> std::fmt::Result {
        let c = ConstCounter::new(value);
        let m = self
            .0
            .encode_descriptor(crate::family_name(name), help, None, c.metric_type())?;
        c.encode(m)
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: i64) -> std::fmt::Result {
        let g = ConstGauge::new(value);
        let m = self
            .0
            .encode_descriptor(name, help, None, g.metric_type())?;
        g.encode(m)
    }
}

#[cfg(test)]
mod tests {
    use crate::{render, Registry, Sampled};

    #[test]
    fn reads_values_at_each_scrape() {
        let value = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let mut registry = Registry::default();
        let v = value.clone();
        registry.register_collector(Sampled::new(move |s| {
            let n = v.load(std::sync::atomic::Ordering::Relaxed);
            s.counter("rampart_test_sent_total", "Sent.", n)?;
            s.gauge("rampart_test_queue", "Queued.", n as i64 * 2)
        }));
        value.store(5, std::sync::atomic::Ordering::Relaxed);
        let mut out = String::new();
        render(&registry, &mut out);
        assert_eq!(
            out,
            "# HELP rampart_test_sent_total Sent.\n\
             # TYPE rampart_test_sent_total counter\n\
             rampart_test_sent_total 5\n\
             # HELP rampart_test_queue Queued.\n\
             # TYPE rampart_test_queue gauge\n\
             rampart_test_queue 10\n"
        );
    }
}

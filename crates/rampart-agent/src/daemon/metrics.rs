//! The agent's own metrics (kernel events, rule evaluations, process cache), updated by the run loop and
//! read by `/metrics` and by the status report the server stores.

use rampart_api::agents::{ReportedWorkload, StatusReport};
use rampart_metrics::{register, Counter, Gauge, Registry};

use crate::runtime::Agent;
use crate::source::EventSource;
use rampart_model::behavior::Workload;

#[derive(Debug, Default)]
pub struct AgentMetrics {
    delivered: Counter,
    dropped: Counter,
    malformed: Counter,
    evaluated: Counter,
    matched: Counter,
    cache_entries: Gauge,
}

impl AgentMetrics {
    pub fn register(&self, r: &mut Registry) {
        for (name, help, c) in [
            (
                "rampart_agent_events_total",
                "Kernel events delivered to the agent.",
                &self.delivered,
            ),
            (
                "rampart_agent_events_dropped_total",
                "Kernel events dropped (ring buffer full).",
                &self.dropped,
            ),
            (
                "rampart_agent_events_malformed_total",
                "Kernel records that failed to decode.",
                &self.malformed,
            ),
            (
                "rampart_agent_rule_evaluations_total",
                "Events evaluated against the rules.",
                &self.evaluated,
            ),
            (
                "rampart_agent_rule_matches_total",
                "Rule matches.",
                &self.matched,
            ),
        ] {
            register(r, name, help, c.clone());
        }
        register(
            r,
            "rampart_agent_process_cache_entries",
            "Processes in the cache.",
            self.cache_entries.clone(),
        );
    }

    /// Copies the agent's own counters (the probe and the detector count; these mirror them).
    pub fn update(&self, agent: &Agent) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = EventSource::stats(agent.probe());
        let d = agent.detector().stats();
        self.delivered.inner().store(s.delivered, Relaxed);
        self.dropped.inner().store(s.dropped_total(), Relaxed);
        self.malformed.inner().store(s.malformed, Relaxed);
        self.evaluated.inner().store(d.evaluated, Relaxed);
        self.matched.inner().store(d.matched, Relaxed);
        self.cache_entries
            .set(agent.pipeline().cache_stats().entries as i64);
    }

    /// The agent's health as the server stores it: the same counters the metrics endpoint shows, and the
    /// workloads the agent profiles (the server takes their snapshots only).
    pub fn status_report(&self, kernel_release: &str, workloads: &[Workload]) -> StatusReport {
        StatusReport {
            kernel_release: kernel_release.into(),
            events_delivered: self.delivered.get() as i64,
            events_dropped: self.dropped.get() as i64,
            workloads: workloads
                .iter()
                .map(|w| ReportedWorkload {
                    id: w.id.clone(),
                    image_name: w.image_name.clone(),
                    image_tag: w.image_tag.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_agent_metrics_by_their_documented_names() {
        let m = AgentMetrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        m.delivered
            .inner()
            .store(7, std::sync::atomic::Ordering::Relaxed);
        m.cache_entries.set(3);
        let mut out = String::new();
        rampart_metrics::render(&r, &mut out);
        assert!(
            out.starts_with(
                "# HELP rampart_agent_events_total Kernel events delivered to the agent.\n\
                 # TYPE rampart_agent_events_total counter\n\
                 rampart_agent_events_total 7\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with(
                "# TYPE rampart_agent_process_cache_entries gauge\n\
                 rampart_agent_process_cache_entries 3\n"
            ),
            "{out}"
        );
        let status = m.status_report("6.18", &[]);
        assert_eq!((status.events_delivered, status.events_dropped), (7, 0));
    }
}

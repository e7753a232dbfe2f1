//! What the daemon sends the server besides its status: matches, anomalies and protection notices (through
//! the reporter's spool), and the metadata of its loaded rules.

use rampart_model::Event;
use rampart_secl::Match;
use serde_json::json;

use crate::profiles::Anomaly;
use crate::protect::{KillReport, ProtectNotice};
use crate::report::Reporter;
use crate::runtime::{self, Agent, Output};

/// Sends matches to the reporter's spool.
pub(super) struct ReportOutput<'a> {
    pub reporter: &'a Reporter,
    pub hostname: String,
}

impl Output for ReportOutput<'_> {
    fn matched(&mut self, m: &Match, kills: &[KillReport], event: &Event) -> std::io::Result<()> {
        // A spool failure is counted and logged loudly by the reporter; the agent keeps protecting.
        let _ = self.reporter.submit(&runtime::match_json(m, kills, event));
        Ok(())
    }

    fn anomaly(&mut self, a: &Anomaly, event: &Event) -> std::io::Result<()> {
        let _ = self.reporter.submit(&anomaly_json(a, event));
        Ok(())
    }

    fn protection_notice(&mut self, notice: &ProtectNotice) -> std::io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut v = runtime::notice_json(notice);
        // The server needs an id and a time for every match.
        v["event"] = json!({"type": "active_protection", "timestamp": now as u64,
                            "id": format!("disarm-{}-{now}", notice.rule), "hostname": self.hostname});
        let _ = self.reporter.submit(&v);
        Ok(())
    }
}

/// An anomaly as a match: the event's fields as any match has them, the synthetic rule, and what was new
/// and against which profile.
pub fn anomaly_json(a: &Anomaly, event: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(event).unwrap_or_default();
    let rule = rampart_policy::builtin::ANOMALY;
    v["rule"] = json!({
        "id": rule.id, "version": rule.version, "description": rule.description, "tags": rule.tag_map(),
    });
    v["anomaly"] = json!({
        "behavior": a.behavior,
        "profile": {"id": a.profile_id, "image_name": a.image_name, "image_tag": a.image_tag,
                    "url": format!("/api/v1/profiles/{}", a.profile_id)},
    });
    v["actions"] = json!([]);
    v
}

/// The metadata of the loaded rules and of the anomaly rule, for the server: it keeps them as this agent's
/// report (rules the server's configuration defines show the server's own metadata).
pub fn rules_metadata(agent: &Agent) -> Vec<serde_json::Value> {
    let mut rules: Vec<serde_json::Value> = agent
        .detector()
        .rules()
        .rules()
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "version": r.meta.version, "description": r.meta.description,
                "severity": r.meta.severity().unwrap_or(""), "tags": r.meta.tags,
                "remediation": r.meta.remediation, "policy": r.meta.policy,
            })
        })
        .collect();
    let anomaly = rampart_policy::builtin::ANOMALY;
    rules.push(json!({
        "id": anomaly.id, "version": anomaly.version, "description": anomaly.description,
        "severity": anomaly.severity(), "tags": anomaly.tag_map(), "remediation": anomaly.remediation,
        "policy": anomaly.policy,
    }));
    rules
}

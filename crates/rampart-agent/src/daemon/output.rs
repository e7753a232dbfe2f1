//! What the daemon sends the server besides its status: matches, anomalies and protection notices (through
//! the reporter's spool), and the metadata of its loaded rules.

use rampart_api::agents::RuleMetadata;
use rampart_api::report::{AnomalyReport, MatchReport, ProfileRef};
use rampart_model::Event;
use rampart_policy::report::{builtin_header, event_body};
use rampart_secl::Match;
use serde_json::{Map, Value};

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
        let _ = self
            .reporter
            .submit(&runtime::match_report(m, kills, event));
        Ok(())
    }

    fn anomaly(&mut self, a: &Anomaly, event: &Event) -> std::io::Result<()> {
        let _ = self.reporter.submit(&anomaly_report(a, event));
        Ok(())
    }

    fn protection_notice(&mut self, notice: &ProtectNotice) -> std::io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        // The server needs an id and a time for every match.
        let mut event = runtime::notice_event();
        event.insert("timestamp".into(), now.into());
        event.insert("id".into(), format!("disarm-{}-{now}", notice.rule).into());
        event.insert("hostname".into(), self.hostname.clone().into());
        let _ = self.reporter.submit(&runtime::notice_report(notice, event));
        Ok(())
    }
}

/// An anomaly as a match: the event's fields as any match has them, the anomaly rule, and what was new
/// and against which profile.
pub fn anomaly_report(a: &Anomaly, event: &Event) -> MatchReport {
    let behavior = serde_json::to_value(&a.behavior).unwrap_or(Value::Object(Map::new()));
    MatchReport {
        actions: Some(Vec::new()),
        anomaly: Some(AnomalyReport {
            behavior,
            profile: ProfileRef::new(a.profile_id, &a.image_name, &a.image_tag),
        }),
        ..MatchReport::for_event(
            builtin_header(&rampart_policy::builtin::ANOMALY),
            event_body(event),
        )
    }
}

/// The metadata of the loaded rules and of the anomaly rule, for the server: it keeps them as this agent's
/// report (rules the server's configuration defines show the server's own metadata).
pub fn rules_metadata(agent: &Agent) -> Vec<RuleMetadata> {
    let mut rules: Vec<RuleMetadata> = agent
        .detector()
        .rules()
        .rules()
        .iter()
        .map(|r| RuleMetadata {
            id: r.id.clone(),
            version: r.meta.version.clone(),
            description: r.meta.description.clone(),
            severity: r.meta.severity().unwrap_or("").into(),
            tags: r.meta.tags.clone(),
            remediation: r.meta.remediation.clone(),
            policy: r.meta.policy.clone(),
        })
        .collect();
    let anomaly = rampart_policy::builtin::ANOMALY;
    rules.push(RuleMetadata {
        id: anomaly.id.into(),
        version: anomaly.version.into(),
        description: anomaly.description.into(),
        severity: anomaly.severity().into(),
        tags: anomaly.tag_map(),
        remediation: anomaly.remediation.into(),
        policy: anomaly.policy.into(),
    });
    rules
}

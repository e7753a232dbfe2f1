//! Putting a notification together: the signal's values and the templates in force.

use serde_json::Value;

use super::context;
use super::message::Notification;
use super::rules::SignalEvent;
use super::template::TemplateSpec;
use crate::signals::Signal;

/// `templates`: the most specific first (rule, then channel); the defaults fill in the rest.
pub fn compose(
    public_url: &str,
    signal: &Signal,
    matched: Value,
    event: SignalEvent,
    severity: &str,
    delivery_id: i64,
    templates: &[Option<&TemplateSpec>],
) -> Result<Notification, String> {
    let (title, body) = Notification::templates(templates)?;
    Ok(Notification {
        delivery_id,
        event,
        signal_id: signal.id,
        severity: severity.to_string(),
        last_seen: signal.last_seen,
        vars: context::vars(public_url, signal, matched, delivery_id, event, severity),
        title,
        body,
    })
}

//! Notifications: when a signal is created, escalates or is archived, the rules that match it queue one
//! delivery per channel in the outbox, in the same transaction as the signal change; a worker sends them
//! (Slack, PagerDuty, webhooks, email, Teams, Opsgenie) with retries, backoff and per-channel rate limits.
//!
//! - `rules`, `registry`: which signals notify which channels.
//! - `outbox`, `worker`, `backoff`, `ratelimit`: queueing and delivery.
//! - `template`, `vars`, `context`, `render`, `escape`, `message`, `compose`: what a message says, escaped
//!   for each format.
//! - `channels/*`: the vendors' request shapes; `egress`: which addresses they may reach (SSRF).
//! - `store`, `api`: the REST API.

pub mod api;
pub mod backoff;
pub mod channels;
pub mod compose;
pub mod context;
pub mod egress;
pub mod escape;
pub mod message;
pub mod outbox;
pub mod ratelimit;
pub mod registry;
pub mod render;
pub mod rules;
pub mod store;
pub mod template;
pub mod vars;
pub mod worker;

use crate::config::{NotifyConfig, ServerConfig};

/// Notification state shared by the ingest path, the API and the worker.
pub struct Service {
    pub rules: registry::RuleCache,
    pub senders: channels::Senders,
    pub limits: ratelimit::RateLimits,
    /// Woken when rows are queued, so that the worker does not wait for its next poll.
    pub wake: tokio::sync::Notify,
    /// Names this process in leases.
    pub worker_id: String,
    listen_url: std::sync::OnceLock<String>,
}

impl Service {
    pub fn new(config: &NotifyConfig) -> anyhow::Result<Service> {
        Ok(Service {
            rules: Default::default(),
            senders: channels::Senders::new(
                config.request_timeout,
                std::sync::Arc::new(egress::Egress::new(config.allow_nets.clone())),
            )?,
            limits: Default::default(),
            wake: Default::default(),
            worker_id: format!(
                "{}-{}-{:08x}",
                hostname(),
                std::process::id(),
                rand::random::<u32>()
            ),
            listen_url: Default::default(),
        })
    }

    /// The address the server listens on, the fallback base of signal links.
    pub fn set_listen_url(&self, url: String) {
        let _ = self.listen_url.set(url);
    }

    pub fn public_url(&self, config: &ServerConfig) -> String {
        config
            .notifications
            .public_url
            .clone()
            .or_else(|| self.listen_url.get().cloned())
            .unwrap_or_else(|| format!("http://{}", config.listen))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "rampart".into())
}

//! Security profiles: activity snapshots from agents (of workloads they reported, rate-limited:
//! `acceptance`) merged into one profile per (image name, image tag) (or per host service and version),
//! with a commonality score per behaviour; learning until enough snapshots or time and enough distinct
//! agents, then stable (keeping the behaviours enough agents saw: `quorum`) and immutable, and pushed to
//! agents for anomaly detection; suppression
//! suggestions for signals whose behaviour the workload's profile already holds; exports as JSON and as a
//! lockdown policy; activity dumps on request.

pub mod acceptance;
pub mod api;
pub mod export;
pub mod quorum;
pub mod store;
pub mod suggest;

/// Promotes the learning profiles whose time is up, every minute (so a profile becomes stable by age even
/// if its workload stopped sending snapshots).
pub async fn maintain(state: crate::AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = store::promote_due(&state).await {
            tracing::warn!("promoting security profiles: {}", e.message);
        }
    }
}

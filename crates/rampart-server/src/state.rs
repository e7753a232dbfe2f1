//! State shared by every request handler.

use std::sync::Arc;

use crate::backend_rules::Registry;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::storage::Db;

/// Extra metrics text appended to `/metrics` (e.g. the agent's, when `rampart up` runs both).
pub type MetricsSource = Arc<dyn Fn(&mut String) + Send + Sync>;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: ServerConfig,
    pub metrics: Metrics,
    pub rules: Registry,
    pub notify: crate::notify::Service,
    pub extra_metrics: std::sync::Mutex<Vec<MetricsSource>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
